//! A module's entry points: the function table FreeSWITCH looks up by name (made by
//! [`module!`](crate::module!)), the load/shutdown trampolines, registration of dialplan
//! applications and API commands, and fs_cli tab completion.
//!
//! Every `extern "C"` function here runs its whole body inside the panic guard
//! ([`guard::edge`]): a panic becomes a log line and a failure status, never an unwind into C.

use std::ffi::{CStr, c_char};
use std::ptr::NonNull;
use std::sync::OnceLock;

use super::guard;
use super::log::{self, Level};
use super::session::{NORMAL_TEMPORARY_FAILURE, Session};
use super::stream::Stream;
use super::{Status, c_string_lossy};
use crate::ffi;

/// What a module does at load and shutdown.
pub trait Module {
    /// The module's name as FreeSWITCH knows it (`mod_example`): the file name without `.so`.
    const NAME: &'static CStr;
    /// Registers the module's interfaces; an `Err` fails the load with the message logged.
    fn load(registrar: &mut Registrar) -> Result<(), String>;
    /// Releases everything load created, and says whether FreeSWITCH may unmap the code.
    fn shutdown() -> Unload;
}

/// Whether FreeSWITCH may unmap the module's code after `shutdown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unload {
    /// Nothing of ours runs any more: unload (`SWITCH_STATUS_SUCCESS`).
    Allow,
    /// Code of ours may still run (a thread that outlives shutdown): keep the library mapped
    /// (`SWITCH_STATUS_NOUNLOAD`; FreeSWITCH then skips `dlclose`).
    Refuse,
}

/// A dialplan application.
pub trait Application {
    /// Runs on the session thread; `data` is the `data` attribute of the dialplan action.
    fn run(session: &Session<'_>, data: &str);
}

/// An API command (`fs_cli -x "NAME ARGS"`).
pub trait Api {
    /// `args` is everything after the command name; the session is set when called from a
    /// call (e.g. `${NAME(...)}` expansion).
    fn run(args: &str, session: Option<&Session<'_>>, stream: &mut Stream<'_>);
}

/// The function table FreeSWITCH resolves from the module's library by name
/// (`<module>_module_interface`); [`module!`](crate::module!) exports one.
#[repr(transparent)]
pub struct Table(ffi::switch_loadable_module_function_table_t);

impl Table {
    /// The table of module `M`: the API version of the bindings (never a literal) and the
    /// load/shutdown trampolines for `M`.
    pub const fn new<M: Module>() -> Table {
        Table(ffi::switch_loadable_module_function_table_t {
            switch_api_version: ffi::SWITCH_API_VERSION as _,
            load: Some(load::<M>),
            shutdown: Some(shutdown::<M>),
            runtime: None,
            flags: 0,
        })
    }
}

/// Exports the function table of a module: `freeswitch::module!(mod_example_module_interface,
/// Example)` where `Example: Module`. FreeSWITCH finds the table by this name, so it must be
/// the library's file name (without `.so`) followed by `_module_interface`.
#[macro_export]
macro_rules! module {
    ($table:ident, $module:ty) => {
        /// The function table FreeSWITCH looks up by name when it loads this library.
        #[unsafe(no_mangle)]
        pub static $table: $crate::module::Table = $crate::module::Table::new::<$module>();
    };
}

/// The name of the loaded module (its `Module::NAME`), for log lines and event owners.
static NAME: OnceLock<&'static CStr> = OnceLock::new();

/// The loaded module's name; `rust module` before load.
pub(crate) fn name() -> &'static CStr {
    NAME.get().copied().unwrap_or(c"rust module")
}

/// Hands out registrations on the module interface created at load.
pub struct Registrar {
    module: NonNull<ffi::switch_loadable_module_interface_t>,
}

impl Registrar {
    /// Registers a dialplan application. The strings are `'static`: FreeSWITCH keeps them.
    pub fn application<A: Application>(
        &mut self,
        name: &'static CStr,
        short_desc: &'static CStr,
        long_desc: &'static CStr,
        syntax: &'static CStr,
    ) -> Result<(), String> {
        // SAFETY: `module` is the live interface FreeSWITCH gave us at load.
        let raw = unsafe {
            ffi::switch_loadable_module_create_interface(
                self.module.as_ptr(),
                ffi::switch_module_interface_name_t::SWITCH_APPLICATION_INTERFACE,
            )
        };
        let mut app = NonNull::new(raw.cast::<ffi::switch_application_interface_t>())
            .ok_or("FreeSWITCH could not create the application interface")?;
        // SAFETY: a fresh, zeroed application interface owned by our module interface; we fill
        // its leading fields once, before FreeSWITCH can use it.
        let app = unsafe { app.as_mut() };
        app.interface_name = name.as_ptr();
        app.application_function = Some(application::<A>);
        app.short_desc = short_desc.as_ptr();
        app.long_desc = long_desc.as_ptr();
        app.syntax = syntax.as_ptr();
        // The flow decides about media (ringReady / preAnswer / answer): FreeSWITCH must not
        // pre-answer the call before the app runs.
        app.flags = ffi::switch_application_flag_enum_t::SAF_SUPPORT_NOMEDIA.0 as _;
        Ok(())
    }

    /// Registers an API command.
    pub fn api<A: Api>(
        &mut self,
        name: &'static CStr,
        desc: &'static CStr,
        syntax: &'static CStr,
    ) -> Result<(), String> {
        // SAFETY: `module` is the live interface FreeSWITCH gave us at load.
        let raw = unsafe {
            ffi::switch_loadable_module_create_interface(
                self.module.as_ptr(),
                ffi::switch_module_interface_name_t::SWITCH_API_INTERFACE,
            )
        };
        let mut api = NonNull::new(raw.cast::<ffi::switch_api_interface_t>())
            .ok_or("FreeSWITCH could not create the API interface")?;
        // SAFETY: as for applications: fresh, zeroed, ours to fill before use.
        let api = unsafe { api.as_mut() };
        api.interface_name = name.as_ptr();
        api.desc = desc.as_ptr();
        api.function = Some(api_function::<A>);
        api.syntax = syntax.as_ptr();
        Ok(())
    }
}

/// Adds or removes fs_cli completion entries (`"add rustflow show ID"`, `"del rustflow"`).
pub fn set_completion(entry: &str) {
    let entry = c_string_lossy(entry);
    // SAFETY: NUL-terminated string, copied by FreeSWITCH.
    if let Err(status) = Status::check(unsafe { ffi::switch_console_set_complete(entry.as_ptr()) })
    {
        log::global(
            Level::Debug,
            &format!(
                "{}: completion entry not accepted ({status})",
                name().to_string_lossy()
            ),
        );
    }
}

fn text_arg<'a>(raw: *const c_char) -> std::borrow::Cow<'a, str> {
    if raw.is_null() {
        return std::borrow::Cow::Borrowed("");
    }
    // SAFETY: FreeSWITCH passes NUL-terminated strings valid for the callback.
    unsafe { CStr::from_ptr(raw) }.to_string_lossy()
}

unsafe extern "C" fn load<M: Module>(
    module_interface: *mut *mut ffi::switch_loadable_module_interface_t,
    pool: *mut ffi::switch_memory_pool_t,
) -> ffi::switch_status_t {
    guard::edge("loading", || load_body::<M>(module_interface, pool))
        .unwrap_or(ffi::switch_status_t::SWITCH_STATUS_GENERR)
}

fn load_body<M: Module>(
    module_interface: *mut *mut ffi::switch_loadable_module_interface_t,
    pool: *mut ffi::switch_memory_pool_t,
) -> ffi::switch_status_t {
    let _ = NAME.set(M::NAME);
    let result = guard::catch(|| {
        guard::install_panic_hook();
        if module_interface.is_null() {
            return Err("FreeSWITCH passed no module interface slot".to_string());
        }
        // SAFETY: `pool` is the module's pool from FreeSWITCH; the name is NUL-terminated and
        // 'static (FreeSWITCH keeps it).
        let module =
            unsafe { ffi::switch_loadable_module_create_module_interface(pool, M::NAME.as_ptr()) };
        let module =
            NonNull::new(module).ok_or("FreeSWITCH could not create the module interface")?;
        // SAFETY: checked non-NULL above; FreeSWITCH reads the interface back from this slot.
        unsafe { *module_interface = module.as_ptr() };
        M::load(&mut Registrar { module })
    });
    let failure = match result {
        Ok(Ok(())) => return ffi::switch_status_t::SWITCH_STATUS_SUCCESS,
        Ok(Err(message)) => message,
        Err(panic) => format!("panic while loading: {panic}"),
    };
    log::global(
        Level::Critical,
        &format!("{}: load failed: {failure}", name().to_string_lossy()),
    );
    // Nothing of ours may stay behind in a process that unloads our code. Its answer about
    // unmapping is moot: a failed load is closed, and workers of an earlier instance whose
    // unload was refused run on the mapping FreeSWITCH kept for them.
    if let Err(panic) = guard::catch(M::shutdown) {
        log::global(
            Level::Critical,
            &format!(
                "{}: panic while cleaning up a failed load: {panic}",
                name().to_string_lossy()
            ),
        );
    }
    guard::remove_panic_hook();
    ffi::switch_status_t::SWITCH_STATUS_GENERR
}

unsafe extern "C" fn shutdown<M: Module>() -> ffi::switch_status_t {
    guard::edge("shutting down", shutdown_body::<M>)
        .unwrap_or(ffi::switch_status_t::SWITCH_STATUS_GENERR)
}

fn shutdown_body<M: Module>() -> ffi::switch_status_t {
    let result = guard::catch(M::shutdown);
    let status = match result {
        Ok(Unload::Allow) => ffi::switch_status_t::SWITCH_STATUS_SUCCESS,
        Ok(Unload::Refuse) => ffi::switch_status_t::SWITCH_STATUS_NOUNLOAD,
        Err(panic) => {
            log::global(
                Level::Critical,
                &format!(
                    "{}: panic during shutdown: {panic}",
                    name().to_string_lossy()
                ),
            );
            ffi::switch_status_t::SWITCH_STATUS_GENERR
        }
    };
    guard::remove_panic_hook();
    status
}

unsafe extern "C" fn application<A: Application>(
    raw: *mut ffi::switch_core_session_t,
    data: *const c_char,
) {
    guard::edge("a dialplan application", || {
        application_body::<A>(raw, data)
    });
}

fn application_body<A: Application>(raw: *mut ffi::switch_core_session_t, data: *const c_char) {
    // SAFETY: FreeSWITCH runs applications on the session thread with the session locked.
    let Some(session) = (unsafe { Session::from_raw(raw) }) else {
        log::global(Level::Error, "application called without a session");
        return;
    };
    let result = guard::catch(|| A::run(&session, &text_arg(data)));
    if let Err(panic) = result {
        log::session(
            &session,
            Level::Critical,
            &format!(
                "{}: panic in the application, hanging up: {panic}",
                name().to_string_lossy()
            ),
        );
        let _ = session.channel().hangup(NORMAL_TEMPORARY_FAILURE);
    }
}

unsafe extern "C" fn api_function<A: Api>(
    cmd: *const c_char,
    raw_session: *mut ffi::switch_core_session_t,
    raw_stream: *mut ffi::switch_stream_handle_t,
) -> ffi::switch_status_t {
    guard::edge("an API command", || {
        api_body::<A>(cmd, raw_session, raw_stream)
    })
    .unwrap_or(ffi::switch_status_t::SWITCH_STATUS_FALSE)
}

fn api_body<A: Api>(
    cmd: *const c_char,
    raw_session: *mut ffi::switch_core_session_t,
    raw_stream: *mut ffi::switch_stream_handle_t,
) -> ffi::switch_status_t {
    // SAFETY: FreeSWITCH passes a valid stream for the call, and a session (or NULL) that is
    // locked for the call.
    let (stream, session) =
        unsafe { (Stream::from_raw(raw_stream), Session::from_raw(raw_session)) };
    let Some(mut stream) = stream else {
        return ffi::switch_status_t::SWITCH_STATUS_FALSE;
    };
    let result = guard::catch(|| A::run(&text_arg(cmd), session.as_ref(), &mut stream));
    match result {
        Ok(()) => ffi::switch_status_t::SWITCH_STATUS_SUCCESS,
        Err(panic) => {
            log::global(
                Level::Critical,
                &format!(
                    "{}: panic in the API command: {panic}",
                    name().to_string_lossy()
                ),
            );
            stream.write("-ERR internal error (logged)\n");
            ffi::switch_status_t::SWITCH_STATUS_FALSE
        }
    }
}
