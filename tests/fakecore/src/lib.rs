//! A fake FreeSWITCH switch core for the mod_rustflow harness.
//!
//! It exports exactly the C functions of `include/rustflow_abi.h`, no
//! more and no fewer (tests/harness/tests/load.rs checks both ways; so `mod_rustflow.so`
//! resolves its undefined symbols against this library when both are dlopen'd, this one with
//! RTLD_GLOBAL), plus `fakecore_*` control functions the harness drives it with:
//! configuration XML, global variables, simulated sessions with a script (remote hangup on
//! the Nth playback or after N ms), an ordered record of every core call per session (JSON
//! objects `{"fn": ..., args...}`), the log lines, the tab-completion strings, and a list of
//! contract violations (wrong log format, bad pointers, double frees) that tests assert empty.
//!
//! Calls reach each other across threads as in the switch: by uuid
//! (`switch_core_session_perform_locate`, a read lock per thread that the same thread
//! releases; a call is usable inside its application or under such a lock, nowhere else),
//! and by CF_BREAK, which ends a play or sleep at its next 20 ms frame. Legs originated with
//! no A-leg (a queue's agents) follow a core-wide script: see `detached.rs`.
//!
//! Strings handed to the harness are `CString::into_raw` and come back through
//! `fakecore_free_string`. Strings handed to the module as "dup" results are malloc'd, since
//! the module frees them with free().

mod detached;
mod dialstring;
mod ivr;
mod xml;

use parking_lot::{Condvar, Mutex};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::ptr;
use std::sync::LazyLock;
use std::thread::ThreadId;
use std::time::{Duration, Instant};
use xml::{SwitchXml, Tree};

// ---- the subset header's items, from the shared bindings (freeswitch-sys) ------------------
//
// No hand-written mirrors: the structs are the bindings' own types and the constants are read
// from them, so a change of include/rustflow_abi.h reaches the fake core through the compiler.

use freeswitch_sys as ffi;

const STATUS_SUCCESS: c_int = ffi::switch_status_t::SWITCH_STATUS_SUCCESS.0 as c_int;
const STATUS_FALSE: c_int = ffi::switch_status_t::SWITCH_STATUS_FALSE.0 as c_int;
const STATUS_GENERR: c_int = ffi::switch_status_t::SWITCH_STATUS_GENERR.0 as c_int;
const STATUS_BREAK: c_int = ffi::switch_status_t::SWITCH_STATUS_BREAK.0 as c_int;
const CHANNEL_ID_SESSION: c_int = ffi::switch_text_channel_t::SWITCH_CHANNEL_ID_SESSION.0 as c_int;
const CS_EXECUTE: c_int = ffi::switch_channel_state_t::CS_EXECUTE.0 as c_int;
const CS_HANGUP: c_int = ffi::switch_channel_state_t::CS_HANGUP.0 as c_int;
const STATUS_NOUNLOAD: c_int = ffi::switch_status_t::SWITCH_STATUS_NOUNLOAD.0 as c_int;
/// A state the module never names (so not in the subset header): the fake core's own answer
/// for a parked channel, compared only with the header's states.
const CS_HIBERNATE: c_int = 8;
const APPLICATION_INTERFACE: c_int =
    ffi::switch_module_interface_name_t::SWITCH_APPLICATION_INTERFACE.0 as c_int;
const API_INTERFACE: c_int = ffi::switch_module_interface_name_t::SWITCH_API_INTERFACE.0 as c_int;
const CAUSE_NORMAL_CLEARING: c_int =
    ffi::switch_call_cause_t::SWITCH_CAUSE_NORMAL_CLEARING.0 as c_int;

fn export_vars_variable() -> &'static str {
    ffi::SWITCH_EXPORT_VARS_VARIABLE
        .to_str()
        .expect("SWITCH_EXPORT_VARS_VARIABLE is ASCII")
}

type ApplicationInterface = ffi::switch_application_interface_t;
type ApiInterface = ffi::switch_api_interface_t;
pub type StreamHandle = ffi::switch_stream_handle_t;
pub type InputArgs = ffi::switch_input_args_t;

unsafe extern "C" {
    fn fakecore_c_log_printf(
        channel: c_int,
        file: *const c_char,
        func: *const c_char,
        line: c_int,
        userdata: *const c_char,
        level: c_int,
        fmt: *const c_char,
        ...
    );
    fn fakecore_c_stream_write(
        handle: *mut StreamHandle,
        fmt: *const c_char,
        ...
    ) -> ffi::switch_status_t;
}

// ---- the core's state -------------------------------------------------------------------

const POOL_MAGIC: u64 = 0x706f_6f6c_6661_6b65;
const MODULE_MAGIC: u64 = 0x6d6f_6475_6c65_2121;
const SESSION_MAGIC: u64 = 0x7365_7373_696f_6e21;
const CHANNEL_MAGIC: u64 = 0x6368_616e_6e65_6c21;

/// The memory pool handed to `load` (opaque to the module; sized so each one is a distinct
/// allocation).
struct FakePool {
    _unique: u64,
}

/// `switch_loadable_module_interface_t` (opaque to the module).
struct FakeModule {
    magic: u64,
    name: String,
    apps: Vec<*mut ApplicationInterface>,
    apis: Vec<*mut ApiInterface>,
}

#[derive(Default)]
struct Core {
    pools: Vec<usize>,
    modules: Vec<usize>,
    /// Modules whose shutdown refused the unload, with their pools: out of the tables, never
    /// freed, as the switch keeps them (their code stays mapped).
    kept: Vec<(usize, usize)>,
    config: Option<xml::Element>,
    trees: HashMap<usize, Tree>,
    xml_opened: u64,
    xml_freed: u64,
    globals: BTreeMap<String, String>,
    logs: Vec<Value>,
    errors: Vec<String>,
    complete: Vec<String>,
    record: Vec<Value>,
    /// Loaded FreeSWITCH modules, for switch_loadable_module_exists and applications.
    loaded_modules: BTreeSet<String>,
    /// Events created and neither fired nor destroyed (addresses).
    live_events: Vec<usize>,
    /// Events fired, in order: `{"id", "subclass", "headers": [[name, value]..]}`.
    fired_events: Vec<Value>,
    /// Reserved custom event subclasses: (owner, subclass).
    reserved_subclasses: BTreeSet<(String, String)>,
    /// The switch's hard log level (`switch_core_session_ctl(SCSC_LOGLEVEL)`).
    hard_log_level: c_int,
}

/// Modules a FreeSWITCH with the usual configuration has loaded; tests remove some.
const DEFAULT_MODULES: &[&str] = &[
    "mod_sofia",
    "mod_dptools",
    "mod_commands",
    "mod_conference",
    "mod_valet_parking",
    "mod_sndfile",
    "mod_tone_stream",
    "mod_local_stream",
    "mod_http_cache",
    "mod_flite",
    "mod_pocketsphinx",
];

impl Core {
    fn fresh() -> Core {
        Core {
            loaded_modules: DEFAULT_MODULES.iter().map(|m| m.to_string()).collect(),
            // What the stock switch.conf.xml sets (`loglevel` debug).
            hard_log_level: LOG_DEBUG,
            ..Core::default()
        }
    }
}

// SAFETY: Core holds addresses (usize) and Trees (Send); the raw pointers inside FakeModule are
// reached only through those addresses while the lock is held.
unsafe impl Send for Core {}

static CORE: LazyLock<Mutex<Core>> = LazyLock::new(|| Mutex::new(Core::fresh()));

fn core() -> parking_lot::MutexGuard<'static, Core> {
    CORE.lock()
}

fn violation(message: String) {
    core().errors.push(message);
}

/// A simulated call. `switch_core_session_t *` points at this; `switch_channel_t *` at its
/// `channel` field.
#[repr(C)]
pub struct FakeSession {
    magic: u64,
    channel: FakeChannel,
    uuid: CString,
    state: Mutex<SessionState>,
    /// The A-leg that originated this B-leg (NULL for calls the harness created and for legs
    /// originated with no session).
    parent: *const FakeSession,
    /// A leg `switch_ivr_originate` answered with no session (a queue's agent leg): it has no
    /// parent and no application; whoever holds a read lock may use it.
    detached: bool,
    /// The harness is running an application on this call (fakecore_session_exec): while it
    /// runs, the call cannot go away, so any thread may use it without a read lock.
    in_app: std::sync::atomic::AtomicBool,
    /// Wakes a media call waiting on this session (a hangup or CF_BREAK from another thread).
    wake: Condvar,
}

impl FakeSession {
    /// A leg some originate answered (with or without an A-leg), as opposed to a harness call.
    fn is_leg(&self) -> bool {
        !self.parent.is_null() || self.detached
    }

    fn uuid_text(&self) -> String {
        self.uuid.to_string_lossy().into_owned()
    }
}

#[repr(C)]
struct FakeChannel {
    magic: u64,
    session: *const FakeSession,
}

struct Script {
    /// The caller hangs up when this play_file (1-based) starts.
    hangup_on_play: Option<u64>,
    /// The caller hangs up this long after the session was created.
    hangup_after: Option<Duration>,
    /// Cause of a scripted (remote) hangup.
    remote_cause: c_int,
    /// How long each play_file takes (real time).
    play: Duration,
    /// Every play_file waits until the harness opens this gate (a playback that lasts until
    /// the test says so, to hold calls in flight deterministically).
    play_gate: Option<String>,
    /// Keys the caller enters, one entry per prompt (switch_play_and_get_digits try);
    /// a missing entry is silence. `"hangup"` hangs up during that prompt.
    digits: VecDeque<String>,
    /// DTMF already queued before the first prompt (switch_channel_flush_dtmf drops it).
    queued_dtmf: String,
    /// Speech results, one per switch_ivr_play_and_detect_speech: a string (the result)
    /// or `{"status": N, "result"?: ..}`; missing = nothing recognised.
    speech: VecDeque<Value>,
    /// Originate outcome per dialled target (`user/1000@dom`), `"default"` for the rest.
    originate: BTreeMap<String, String>,
    /// The caller hangs up when the module first calls this core function.
    hangup_on_call: Option<String>,
    /// How long a bridge lasts, and who hangs up at its end (`callee` or `caller`).
    bridge: Duration,
    bridge_end_caller: bool,
    /// How long a recording, park, conference or valet park lasts.
    record: Duration,
    block: Duration,
    /// The session's own log level (`session_loglevel`); 0 as a new session has.
    loglevel: c_int,
    /// Pickup keys (`group@domain`) with a call ringing in them, for the `pickup` app.
    pickup_ringing: Vec<String>,
}

struct SessionState {
    vars: BTreeMap<String, String>,
    profile: BTreeMap<String, String>,
    state: c_int,
    cause: Option<c_int>,
    answered: bool,
    pre_answered: bool,
    ring_ready: bool,
    plays: u64,
    created: Instant,
    script: Script,
    record: Vec<Value>,
    /// B-legs this session originated (addresses of FakeSession).
    blegs: Vec<usize>,
    /// Files of running switch_ivr_record_session recordings.
    recordings: Vec<String>,
    /// Files of running switch_ivr_displace_session playbacks.
    displaces: Vec<String>,
    inband_dtmf: bool,
    /// Strings "allocated from the session pool" for the module (freed with the session).
    pool_strings: Vec<CString>,
    hangup_on_call_done: bool,
    /// Read locks held on the session, one entry per lock, by the thread that took it
    /// (originate's answer, switch_core_session_perform_locate).
    locks: Vec<ThreadId>,
    /// CF_BREAK's value (0 = clear): set from any thread, consumed by the next media frame.
    break_flag: u32,
    /// A detached leg: the caller it was bridged to (once at most).
    bridged_to: Option<String>,
    /// A detached leg: how long it talks once bridged (None: the caller's `bridge_ms`).
    talk: Option<Duration>,
    /// switch_core_event_hook_add_state_change hooks (function addresses), called when the
    /// session's state changes to hangup, on the thread that hung it up.
    state_hooks: Vec<usize>,
    /// A detached leg: whether the caller ends the conversation (None: the caller's
    /// `bridge_end`).
    talk_end_caller: Option<bool>,
}

impl SessionState {
    fn up(&self) -> bool {
        self.state < CS_HANGUP
    }

    fn remote_hangup(&mut self, why: &str) {
        if self.up() {
            self.state = CS_HANGUP;
            self.cause = Some(self.script.remote_cause);
            self.record.push(
                json!({"event": "remote_hangup", "cause": self.script.remote_cause, "why": why}),
            );
        }
    }

    /// Applies a time-scripted hangup that is due.
    fn poll(&mut self) {
        if let Some(after) = self.script.hangup_after {
            if self.created.elapsed() >= after {
                self.remote_hangup("hangup_after_ms");
            }
        }
    }

    fn lookup(&self, name: &str) -> Option<String> {
        self.vars
            .get(name)
            .or_else(|| self.profile.get(name))
            .cloned()
            .or_else(|| core().globals.get(name).cloned())
    }
}

/// Reads a C string argument; NULL is `None`.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string valid for the call.
unsafe fn text(p: *const c_char) -> Option<String> {
    if p.is_null() {
        None
    } else {
        // SAFETY: the caller guarantees a valid NUL-terminated string.
        Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    }
}

/// # Safety
/// `p` is NULL or points at a readable u64.
unsafe fn session_from(p: *const c_void, func: &str) -> Option<&'static FakeSession> {
    if p.is_null() {
        violation(format!("{func}: NULL session"));
        return None;
    }
    let s = p as *const FakeSession;
    // SAFETY: the caller passes a pointer the core handed out; the magic check catches others.
    if unsafe { (*s).magic } != SESSION_MAGIC {
        violation(format!("{func}: not a live session pointer"));
        return None;
    }
    // SAFETY: checked above; sessions live until fakecore_session_free, after the app returned.
    let s = unsafe { &*s };
    check_usable(s, func, "").then_some(s)
}

/// Whether the module may touch the session on this thread now: inside the call's application
/// (the call cannot go away meanwhile), or holding a read lock on it. Anything else is a
/// violation: in FreeSWITCH the session may be freed under the caller.
fn check_usable(s: &FakeSession, func: &str, what: &str) -> bool {
    let me = std::thread::current().id();
    let st = s.state.lock();
    // A leg handed to an application (switch_ivr_session_transfer) is that thread's to use,
    // as a call is its application's.
    let own_thread = !s.is_leg() || APP_SESSION.with(|a| a.get()) == ptr::from_ref(s) as usize;
    if st.locks.contains(&me) || (own_thread && s.in_app.load(std::sync::atomic::Ordering::SeqCst))
    {
        return true;
    }
    let why = match (s.is_leg(), st.locks.is_empty()) {
        (true, true) => "after switch_core_session_rwunlock (or its hangup)",
        (false, true) => "outside its application without switch_core_session_locate",
        (_, false) => "by a thread holding no read lock on it (the lock is another thread's)",
    };
    drop(st);
    violation(format!(
        "{func}: {what}{} {} used {why}",
        if s.is_leg() { "leg" } else { "session" },
        s.uuid_text()
    ));
    false
}

/// A session pointer the harness passes back (no lock needed: the harness owns its calls).
///
/// # Safety
/// `p` is NULL or points at a readable u64.
unsafe fn harness_session(p: *const c_void, func: &str) -> Option<&'static FakeSession> {
    let s = p as *const FakeSession;
    // SAFETY: the harness passes pointers the core handed out; the magic check catches others.
    if s.is_null() || unsafe { (*s).magic } != SESSION_MAGIC {
        violation(format!("{func}: not a live session pointer"));
        return None;
    }
    // SAFETY: checked above.
    Some(unsafe { &*s })
}

/// # Safety
/// `p` is NULL or points at a readable u64.
unsafe fn channel_from(p: *const c_void, func: &str) -> Option<&'static FakeSession> {
    if p.is_null() {
        violation(format!("{func}: NULL channel"));
        return None;
    }
    let c = p as *const FakeChannel;
    // SAFETY: as in session_from.
    if unsafe { (*c).magic } != CHANNEL_MAGIC {
        violation(format!("{func}: not a live channel pointer"));
        return None;
    }
    // SAFETY: a live channel points back at its live session.
    let s = unsafe { &*(*c).session };
    check_usable(s, func, "channel of ").then_some(s)
}

fn malloc_string(s: &str) -> *mut c_char {
    let bytes = s.as_bytes();
    // SAFETY: allocating len + 1 bytes and writing exactly that many.
    unsafe {
        let p = libc::malloc(bytes.len() + 1) as *mut u8;
        if p.is_null() {
            return ptr::null_mut();
        }
        ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len());
        *p.add(bytes.len()) = 0;
        p as *mut c_char
    }
}

fn to_c_string(value: &Value) -> *mut c_char {
    CString::new(value.to_string()).map_or(ptr::null_mut(), CString::into_raw)
}

// ---- module registration ---------------------------------------------------------------

/// # Safety
/// `name` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_loadable_module_create_module_interface(
    pool: *mut c_void,
    name: *const c_char,
) -> *mut c_void {
    // SAFETY: C string argument from the module.
    let name = unsafe { text(name) };
    let mut core = core();
    core.record
        .push(json!({"fn": "switch_loadable_module_create_module_interface", "name": name}));
    if !core.pools.contains(&(pool as usize)) {
        core.errors
            .push("create_module_interface: pool is not the one given to load".into());
        return ptr::null_mut();
    }
    let module = Box::into_raw(Box::new(FakeModule {
        magic: MODULE_MAGIC,
        name: name.unwrap_or_default(),
        apps: Vec::new(),
        apis: Vec::new(),
    }));
    core.modules.push(module as usize);
    module as *mut c_void
}

/// # Safety
/// `module` is NULL or a pointer from switch_loadable_module_create_module_interface.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_loadable_module_create_interface(
    module: *mut c_void,
    iname: c_int,
) -> *mut c_void {
    let mut core = core();
    core.record
        .push(json!({"fn": "switch_loadable_module_create_interface", "iname": iname}));
    if !core.modules.contains(&(module as usize)) {
        core.errors
            .push("create_interface: not a live module interface".into());
        return ptr::null_mut();
    }
    let module = module as *mut FakeModule;
    // SAFETY: zeroed allocations of the exact struct sizes, as the switch's pool hands out;
    // the module pointer is live (checked above) and only touched under the core lock.
    unsafe {
        match iname {
            APPLICATION_INTERFACE => {
                let app =
                    libc::calloc(1, size_of::<ApplicationInterface>()) as *mut ApplicationInterface;
                (*app).parent = module.cast();
                (*module).apps.push(app);
                app as *mut c_void
            }
            API_INTERFACE => {
                let api = libc::calloc(1, size_of::<ApiInterface>()) as *mut ApiInterface;
                (*api).parent = module.cast();
                (*module).apis.push(api);
                api as *mut c_void
            }
            other => {
                core.errors.push(format!(
                    "create_interface: interface type {other} is not supported by the fake core"
                ));
                ptr::null_mut()
            }
        }
    }
}

/// # Safety
/// `string` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_console_set_complete(string: *const c_char) -> c_int {
    // SAFETY: C string argument from the module.
    let s = unsafe { text(string) };
    let mut core = core();
    core.record
        .push(json!({"fn": "switch_console_set_complete", "string": s}));
    match s {
        Some(s) => {
            core.complete.push(s);
            STATUS_SUCCESS
        }
        None => {
            core.errors
                .push("switch_console_set_complete: NULL string".into());
            STATUS_FALSE
        }
    }
}

// ---- configuration -----------------------------------------------------------------

/// # Safety
/// `file_path` is NULL or a NUL-terminated string; `node` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_xml_open_cfg(
    file_path: *const c_char,
    node: *mut *mut SwitchXml,
    params: *mut c_void,
) -> *mut SwitchXml {
    // SAFETY: C string argument from the module.
    let file = unsafe { text(file_path) };
    let mut core = core();
    core.record
        .push(json!({"fn": "switch_xml_open_cfg", "file": file, "params": !params.is_null()}));
    if node.is_null() {
        core.errors
            .push("switch_xml_open_cfg: NULL node out-pointer".into());
        return ptr::null_mut();
    }
    let found = core.config.as_ref().and_then(|doc| {
        doc.find_configuration(file.as_deref().unwrap_or(""))
            .map(|_| doc.clone())
    });
    let Some(doc) = found else {
        // SAFETY: node is writable (checked non-NULL).
        unsafe { *node = ptr::null_mut() };
        return ptr::null_mut();
    };
    let tree = Tree::build(&doc);
    let root = tree.root;
    let cfg = find_cfg_node(root, file.as_deref().unwrap_or(""));
    // SAFETY: node is writable (checked non-NULL).
    unsafe { *node = cfg };
    core.xml_opened += 1;
    core.trees.insert(root as usize, tree);
    root
}

fn find_cfg_node(node: *mut SwitchXml, name: &str) -> *mut SwitchXml {
    if node.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: walking a tree the core just built and still owns.
    unsafe {
        if CStr::from_ptr((*node).name).to_bytes() == b"configuration"
            && attr_value(node, "name") == Some(name.to_string())
        {
            return node;
        }
        let mut child = (*node).child;
        while !child.is_null() {
            let found = find_cfg_node(child, name);
            if !found.is_null() {
                return found;
            }
            child = (*child).ordered;
        }
    }
    ptr::null_mut()
}

/// # Safety
/// `node` is a live node.
unsafe fn attr_value(node: *const SwitchXml, name: &str) -> Option<String> {
    // SAFETY: the attr array is NULL-terminated name/value pairs owned by the node's tree.
    unsafe { attr_ptr(node, name).map(|p| CStr::from_ptr(p).to_string_lossy().into_owned()) }
}

/// # Safety
/// `node` is a live node.
unsafe fn attr_ptr(node: *const SwitchXml, name: &str) -> Option<*const c_char> {
    // SAFETY: as in attr_value.
    unsafe {
        let mut a = (*node).attr;
        while !(*a).is_null() {
            if CStr::from_ptr(*a).to_bytes() == name.as_bytes() {
                return Some(*a.add(1));
            }
            a = a.add(2);
        }
    }
    None
}

fn live_node(core: &Core, node: *const SwitchXml) -> bool {
    core.trees.values().any(|t| t.contains(node))
}

/// # Safety
/// `name` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_xml_child(
    xml: *mut SwitchXml,
    name: *const c_char,
) -> *mut SwitchXml {
    // SAFETY: C string argument from the module.
    let name = unsafe { text(name) };
    let mut core = core();
    core.record
        .push(json!({"fn": "switch_xml_child", "name": name}));
    if xml.is_null() {
        return ptr::null_mut();
    }
    if !live_node(&core, xml) {
        core.errors
            .push("switch_xml_child: node is not part of an open XML tree (freed?)".into());
        return ptr::null_mut();
    }
    let Some(name) = name else {
        core.errors.push("switch_xml_child: NULL name".into());
        return ptr::null_mut();
    };
    // SAFETY: xml is a live node (checked); its links stay within its tree.
    unsafe {
        let mut c = (*xml).child;
        while !c.is_null() && CStr::from_ptr((*c).name).to_bytes() != name.as_bytes() {
            c = (*c).sibling;
        }
        c
    }
}

/// # Safety
/// `attr` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_xml_attr_soft(
    xml: *mut SwitchXml,
    attr: *const c_char,
) -> *const c_char {
    static EMPTY: &CStr = c"";
    // SAFETY: C string argument from the module.
    let name = unsafe { text(attr) };
    let mut core = core();
    core.record
        .push(json!({"fn": "switch_xml_attr_soft", "attr": name}));
    if xml.is_null() {
        return EMPTY.as_ptr();
    }
    if !live_node(&core, xml) {
        core.errors
            .push("switch_xml_attr_soft: node is not part of an open XML tree (freed?)".into());
        return EMPTY.as_ptr();
    }
    // SAFETY: xml is a live node (checked).
    unsafe {
        name.and_then(|n| attr_ptr(xml, &n))
            .unwrap_or(EMPTY.as_ptr())
    }
}

/// # Safety
/// Pointer arguments are ones the core handed out (or NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_xml_free(xml: *mut SwitchXml) {
    let mut core = core();
    core.record.push(json!({"fn": "switch_xml_free"}));
    if xml.is_null() {
        return;
    }
    if core.trees.remove(&(xml as usize)).is_some() {
        core.xml_freed += 1;
    } else if live_node(&core, xml) {
        core.errors.push(
            "switch_xml_free: called on a node that is not the root switch_xml_open_cfg returned"
                .into(),
        );
    } else {
        core.errors
            .push("switch_xml_free: unknown pointer (double free?)".into());
    }
}

// ---- logging -----------------------------------------------------------------------------

/// `switch_log_printf`: a tail jump into the C-variadic implementation (variadic.c), so the
/// symbol is exported by this cdylib with the arguments untouched.
#[cfg(target_arch = "x86_64")]
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub extern "C" fn switch_log_printf() {
    core::arch::naked_asm!("jmp {}", sym fakecore_c_log_printf)
}

/// See the x86_64 version.
#[cfg(target_arch = "aarch64")]
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub extern "C" fn switch_log_printf() {
    core::arch::naked_asm!("b {}", sym fakecore_c_log_printf)
}

const LOG_DISABLE: c_int = ffi::switch_log_level_t::SWITCH_LOG_DISABLE.0;
const LOG_DEBUG: c_int = ffi::switch_log_level_t::SWITCH_LOG_DEBUG.0;
const SCSC_LOGLEVEL: c_int = ffi::switch_session_ctl_t::SCSC_LOGLEVEL.0 as c_int;

/// `switch_core_session_ctl`, the one command the module sends (SCSC_LOGLEVEL), as the switch
/// does it: `*val >= SWITCH_LOG_DISABLE` sets the hard log level (at most DEBUG); `*val`
/// becomes the level in force. Tests set the level through this symbol, as `fsctl loglevel`.
///
/// # Safety
/// `val` is NULL or points at a writable int.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_core_session_ctl(cmd: c_int, val: *mut c_void) -> i32 {
    let mut core = core();
    if cmd != SCSC_LOGLEVEL {
        core.errors.push(format!(
            "switch_core_session_ctl: command {cmd} is not one the module should send"
        ));
        return -1;
    }
    if val.is_null() {
        core.errors
            .push("switch_core_session_ctl(SCSC_LOGLEVEL): NULL val".into());
        return -1;
    }
    let val = val.cast::<c_int>();
    // SAFETY: non-NULL, points at an int (the caller's contract).
    let asked = unsafe { val.read() };
    if asked >= LOG_DISABLE {
        core.hard_log_level = asked.min(LOG_DEBUG);
    }
    // SAFETY: as above.
    unsafe { val.write(core.hard_log_level) };
    0
}

/// # Safety
/// `session` is a session pointer from the core.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_core_session_get_loglevel(session: *mut c_void) -> c_int {
    // SAFETY: checked by magic.
    let Some(s) = (unsafe { session_from(session, "switch_core_session_get_loglevel") }) else {
        return 0;
    };
    with_session(s, json!({"fn": "switch_core_session_get_loglevel"}), |st| {
        st.script.loglevel
    })
}

fn level_name(level: c_int) -> &'static str {
    match level {
        7 => "DEBUG",
        6 => "INFO",
        5 => "NOTICE",
        4 => "WARNING",
        3 => "ERROR",
        2 => "CRIT",
        1 => "ALERT",
        0 => "CONSOLE",
        _ => "INVALID",
    }
}

/// Called by variadic.c with the one string argument of "%s" (NULL for any other format).
///
/// # Safety
/// Pointer arguments are NULL or NUL-terminated strings, except `userdata` with
/// SWITCH_CHANNEL_ID_SESSION, which is a session pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fakecore_log_record(
    channel: c_int,
    file: *const c_char,
    func: *const c_char,
    line: c_int,
    userdata: *const c_char,
    level: c_int,
    fmt: *const c_char,
    message: *const c_char,
) {
    // SAFETY: C string arguments from the module.
    let (file, func, fmt, message) = unsafe { (text(file), text(func), text(fmt), text(message)) };
    let uuid = if channel == CHANNEL_ID_SESSION {
        // SAFETY: with SWITCH_CHANNEL_ID_SESSION userdata is the session (checked by magic).
        unsafe {
            session_from(
                userdata as *const c_void,
                "switch_log_printf(SWITCH_CHANNEL_ID_SESSION)",
            )
        }
        .map(|s| s.uuid.to_string_lossy().into_owned())
    } else {
        // SAFETY: with other channels userdata is NULL or a uuid string.
        unsafe { text(userdata) }
    };
    let mut core = core();
    let format_ok = fmt.as_deref() == Some("%s");
    if !format_ok {
        core.errors.push(format!(
            "switch_log_printf: format {fmt:?} is not \"%s\" (at {file:?}:{line})"
        ));
    }
    if message.is_none() && format_ok {
        core.errors.push(format!(
            "switch_log_printf: NULL message (at {file:?}:{line})"
        ));
    }
    core.logs.push(json!({
        "channel": channel,
        "level": level,
        "level_name": level_name(level),
        "uuid": uuid,
        "file": file,
        "func": func,
        "line": line,
        "fmt": fmt,
        "text": if format_ok { message } else { fmt },
    }));
}

// ---- sessions and channels ---------------------------------------------------------------

/// Runs `f` on the session's state after applying a due scripted hangup; records `entry`.
fn with_session<T>(s: &FakeSession, entry: Value, f: impl FnOnce(&mut SessionState) -> T) -> T {
    let mut st = s.state.lock();
    st.poll();
    let trigger = !st.hangup_on_call_done
        && st.script.hangup_on_call.is_some()
        && entry.get("fn").and_then(Value::as_str) == st.script.hangup_on_call.as_deref();
    st.record.push(entry);
    if trigger {
        st.hangup_on_call_done = true;
        st.remote_hangup("hangup_on_call");
    }
    f(&mut st)
}

/// # Safety
/// `session` is a session pointer from the core.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_core_session_get_channel(session: *mut c_void) -> *mut c_void {
    // SAFETY: checked by magic.
    let Some(s) = (unsafe { session_from(session, "switch_core_session_get_channel") }) else {
        return ptr::null_mut();
    };
    with_session(s, json!({"fn": "switch_core_session_get_channel"}), |_| ());
    &s.channel as *const FakeChannel as *mut c_void
}

/// # Safety
/// `session` is a session pointer from the core.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_core_session_get_uuid(session: *mut c_void) -> *mut c_char {
    // SAFETY: checked by magic.
    let Some(s) = (unsafe { session_from(session, "switch_core_session_get_uuid") }) else {
        return ptr::null_mut();
    };
    with_session(s, json!({"fn": "switch_core_session_get_uuid"}), |_| ());
    s.uuid.as_ptr() as *mut c_char
}

/// SUCCESS after `apply` while the call is up; FALSE, with nothing changed, once it is gone.
fn success_if_up(st: &mut SessionState, apply: impl FnOnce(&mut SessionState)) -> c_int {
    if st.up() {
        apply(st);
        STATUS_SUCCESS
    } else {
        STATUS_FALSE
    }
}

/// Removes the first `item` from `list`: SUCCESS, or FALSE when it is not there.
fn remove_listed(list: &mut Vec<String>, item: &str) -> c_int {
    match list.iter().position(|listed| listed == item) {
        Some(i) => {
            list.remove(i);
            STATUS_SUCCESS
        }
        None => STATUS_FALSE,
    }
}

fn answer_like(channel: *mut c_void, func: &str, apply: fn(&mut SessionState)) -> c_int {
    // SAFETY: checked by magic.
    let Some(s) = (unsafe { channel_from(channel, func) }) else {
        return STATUS_FALSE;
    };
    with_session(s, json!({"fn": func}), |st| success_if_up(st, apply))
}

/// # Safety
/// Pointer arguments are ones the core handed out (or NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_channel_perform_answer(
    channel: *mut c_void,
    _file: *const c_char,
    _func: *const c_char,
    _line: c_int,
) -> c_int {
    answer_like(channel, "switch_channel_perform_answer", |st| {
        st.answered = true
    })
}

/// # Safety
/// Pointer arguments are ones the core handed out (or NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_channel_perform_pre_answer(
    channel: *mut c_void,
    _file: *const c_char,
    _func: *const c_char,
    _line: c_int,
) -> c_int {
    answer_like(channel, "switch_channel_perform_pre_answer", |st| {
        st.pre_answered = true
    })
}

/// # Safety
/// Pointer arguments are ones the core handed out (or NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_channel_perform_ring_ready_value(
    channel: *mut c_void,
    rv: c_int,
    _file: *const c_char,
    _func: *const c_char,
    _line: c_int,
) -> c_int {
    // SAFETY: checked by magic.
    let Some(s) = (unsafe { channel_from(channel, "switch_channel_perform_ring_ready_value") })
    else {
        return STATUS_FALSE;
    };
    with_session(
        s,
        json!({"fn": "switch_channel_perform_ring_ready_value", "value": rv}),
        |st| success_if_up(st, |st| st.ring_ready = true),
    )
}

/// # Safety
/// Pointer arguments are ones the core handed out (or NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_channel_perform_hangup(
    channel: *mut c_void,
    _file: *const c_char,
    _func: *const c_char,
    _line: c_int,
    cause: c_int,
) -> c_int {
    // SAFETY: checked by magic.
    let Some(s) = (unsafe { channel_from(channel, "switch_channel_perform_hangup") }) else {
        return CS_HANGUP;
    };
    let (state, changed) = with_session(
        s,
        json!({"fn": "switch_channel_perform_hangup", "cause": cause}),
        |st| {
            let changed = st.up();
            if changed {
                st.state = CS_HANGUP;
                st.cause = Some(cause);
            }
            (st.state, changed)
        },
    );
    // A media call waiting on this session (from another thread's point of view: the leg's
    // own thread) sees the hangup at once, as SIG_KILL does.
    s.wake.notify_all();
    if changed {
        ivr::fire_state_hooks(s);
    }
    state
}

/// # Safety
/// `varname` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_channel_get_variable_strdup(
    channel: *mut c_void,
    varname: *const c_char,
) -> *const c_char {
    // SAFETY: C string argument; channel checked by magic.
    let (name, s) = unsafe {
        (
            text(varname),
            channel_from(channel, "switch_channel_get_variable_strdup"),
        )
    };
    let Some(s) = s else { return ptr::null() };
    with_session(
        s,
        json!({"fn": "switch_channel_get_variable_strdup", "name": name}),
        |st| match name.and_then(|n| st.lookup(&n)) {
            Some(v) => malloc_string(&v),
            None => ptr::null_mut(),
        },
    )
}

/// # Safety
/// String arguments are NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_channel_set_variable_var_check(
    channel: *mut c_void,
    varname: *const c_char,
    value: *const c_char,
    var_check: c_int,
) -> c_int {
    // SAFETY: C string arguments; channel checked by magic.
    let (name, value, s) = unsafe {
        (
            text(varname),
            text(value),
            channel_from(channel, "switch_channel_set_variable_var_check"),
        )
    };
    let Some(s) = s else { return STATUS_FALSE };
    let entry = json!({"fn": "switch_channel_set_variable_var_check", "name": name, "value": value, "var_check": var_check != 0});
    with_session(s, entry, |st| {
        let Some(name) = name else {
            return STATUS_FALSE;
        };
        match value {
            Some(v) => st.vars.insert(name, v),
            None => st.vars.remove(&name),
        };
        STATUS_SUCCESS
    })
}

/// # Safety
/// String arguments are NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_channel_export_variable_var_check(
    channel: *mut c_void,
    varname: *const c_char,
    val: *const c_char,
    export_varname: *const c_char,
    var_check: c_int,
) -> c_int {
    // SAFETY: C string arguments; channel checked by magic.
    let (name, value, export_varname, s) = unsafe {
        (
            text(varname),
            text(val),
            text(export_varname),
            channel_from(channel, "switch_channel_export_variable_var_check"),
        )
    };
    let Some(s) = s else { return STATUS_FALSE };
    let entry = json!({
        "fn": "switch_channel_export_variable_var_check",
        "name": name, "value": value, "export_varname": export_varname, "var_check": var_check != 0,
    });
    with_session(s, entry, |st| {
        let (Some(name), Some(list)) = (name, export_varname) else {
            return STATUS_FALSE;
        };
        if list != export_vars_variable() {
            core().errors.push(format!(
                "export_variable_var_check: export_varname {list:?} is not {:?}",
                export_vars_variable()
            ));
        }
        let (local, plain) = match name.strip_prefix("nolocal:") {
            Some(rest) => (false, rest.to_string()),
            None => (true, name.clone()),
        };
        if local {
            match &value {
                Some(v) => st.vars.insert(plain.clone(), v.clone()),
                None => st.vars.remove(&plain),
            };
        }
        let listed = st.vars.get(&list).cloned().unwrap_or_default();
        if !listed.split(',').any(|n| n == name) {
            let joined = if listed.is_empty() {
                name
            } else {
                format!("{listed},{name}")
            };
            st.vars.insert(list, joined);
        }
        STATUS_SUCCESS
    })
}

/// # Safety
/// `varname` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_core_get_variable_dup(varname: *const c_char) -> *mut c_char {
    // SAFETY: C string argument.
    let name = unsafe { text(varname) };
    let mut core = core();
    core.record
        .push(json!({"fn": "switch_core_get_variable_dup", "name": name}));
    match name.and_then(|n| core.globals.get(&n).cloned()) {
        Some(v) => malloc_string(&v),
        None => ptr::null_mut(),
    }
}

/// The fake core's name: its global `switchname` (set by the harness), else `hostname`, else
/// NULL. The real core owns the string for its lifetime; here each answer is leaked (a few
/// bytes per module load).
#[unsafe(no_mangle)]
pub extern "C" fn switch_core_get_switchname() -> *const c_char {
    let core = core();
    let name = ["switchname", "hostname"]
        .into_iter()
        .find_map(|n| core.globals.get(n).cloned());
    match name.and_then(|n| CString::new(n).ok()) {
        Some(c) => Box::leak(c.into_boxed_c_str()).as_ptr(),
        None => ptr::null(),
    }
}

// ---- media -------------------------------------------------------------------------------

/// How a media wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MediaEnd {
    /// The time was up.
    Done,
    /// The call went away (hung up).
    Gone,
    /// CF_BREAK was set (and is now cleared), as on a real media frame.
    Break,
}

/// A media frame: a waiting media call looks at its session this often (a hangup or CF_BREAK
/// from another thread also wakes it at once).
const FRAME: Duration = Duration::from_millis(20);

/// How long an endless stream (`local_stream://`, `tone_stream://..;loops=-1`) plays before the
/// fake caller gives up on it and hangs up: nobody broke it, a bug recorded as a violation.
const ENDLESS_LIMIT: Duration = Duration::from_secs(60);

/// Waits `want` of real time on a session (None: an endless stream), frame by frame, ending
/// early when the call goes away (a scripted or another thread's hangup) and, when
/// `breakable`, at CF_BREAK, which it clears as FreeSWITCH's play and sleep loops do.
fn media_wait_until(s: &FakeSession, want: Option<Duration>, breakable: bool) -> MediaEnd {
    let start = Instant::now();
    let deadline = start + want.unwrap_or(ENDLESS_LIMIT);
    let mut st = s.state.lock();
    loop {
        st.poll();
        if !st.up() {
            return MediaEnd::Gone;
        }
        if breakable && st.break_flag != 0 {
            st.break_flag = 0;
            let ms = start.elapsed().as_millis() as u64;
            st.record.push(json!({"event": "break", "after_ms": ms}));
            return MediaEnd::Break;
        }
        let now = Instant::now();
        if now >= deadline {
            if want.is_none() {
                // Nobody ever ends this hold: the caller gives up, so the test ends (failing).
                st.remote_hangup("an endless stream was never broken");
                drop(st);
                violation(format!(
                    "an endless stream on {} played {}s with no CF_BREAK or hangup; the caller hung up",
                    s.uuid_text(),
                    ENDLESS_LIMIT.as_secs()
                ));
                return MediaEnd::Gone;
            }
            return MediaEnd::Done;
        }
        let mut wake_at = deadline.min(now + FRAME);
        if let Some(after) = st.script.hangup_after {
            wake_at = wake_at.min((st.created + after).max(now));
        }
        s.wake.wait_until(&mut st, wake_at);
    }
}

/// Waits `want` of real time on a session, ending early when the call goes away.
/// Returns false when the call went away.
fn media_wait(s: &FakeSession, want: Duration) -> bool {
    media_wait_until(s, Some(want), false) == MediaEnd::Done
}

/// Whether a playback never ends by itself: a `local_stream://` or a repeating
/// `tone_stream://` / `silence_stream://` (alone or in a `file_string://` list).
fn endless_stream(file: &str) -> bool {
    let files: Vec<&str> = match file.strip_prefix("file_string://") {
        Some(list) => list.split('!').collect(),
        None => vec![file],
    };
    files.iter().any(|f| {
        // A leading `{var=value,..}` applies to the file handle, not the name.
        let f = match f.strip_prefix('{').and_then(|r| r.split_once('}')) {
            Some((_, rest)) => rest,
            None => f,
        };
        f.starts_with("local_stream://")
            || (f.starts_with("tone_stream://") && f.contains("loops=-1"))
            || f.starts_with("silence_stream://-1")
    })
}

#[derive(Default)]
struct Gate {
    open: bool,
    waiting: usize,
}

static GATES: LazyLock<(Mutex<HashMap<String, Gate>>, Condvar)> =
    LazyLock::new(|| (Mutex::new(HashMap::new()), Condvar::new()));

/// How long a gated playback waits before giving up (a test bug, recorded as a violation).
const GATE_TIMEOUT: Duration = Duration::from_secs(60);

fn wait_for_gate(name: &str) {
    let (gates, opened) = &*GATES;
    let mut gates = gates.lock();
    gates.entry(name.to_string()).or_default().waiting += 1;
    opened.notify_all();
    let deadline = Instant::now() + GATE_TIMEOUT;
    while !gates.get(name).is_some_and(|g| g.open) {
        if opened.wait_until(&mut gates, deadline).timed_out() {
            drop(gates);
            violation(format!("play_gate {name:?} was never opened"));
            return;
        }
    }
    if let Some(g) = gates.get_mut(name) {
        g.waiting -= 1;
    }
    opened.notify_all();
}

/// Opens a play gate: playbacks waiting on it (and later ones) proceed.
///
/// # Safety
/// `name` is a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fakecore_gate_open(name: *const c_char) {
    // SAFETY: C string argument from the harness.
    let Some(name) = (unsafe { text(name) }) else {
        return;
    };
    let (gates, opened) = &*GATES;
    gates.lock().entry(name).or_default().open = true;
    opened.notify_all();
}

/// How many playbacks are waiting on a gate right now.
///
/// # Safety
/// `name` is a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fakecore_gate_waiting(name: *const c_char) -> c_int {
    // SAFETY: C string argument from the harness.
    let Some(name) = (unsafe { text(name) }) else {
        return 0;
    };
    let gates = GATES.0.lock();
    gates
        .get(&name)
        .map_or(0, |g| c_int::try_from(g.waiting).unwrap_or(c_int::MAX))
}

/// # Safety
/// `file` is NULL or a NUL-terminated string; `session` a session pointer from the core.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_ivr_play_file(
    session: *mut c_void,
    fh: *mut c_void,
    file: *const c_char,
    args: *mut InputArgs,
) -> c_int {
    // SAFETY: C string argument; session checked by magic.
    let (file, s) = unsafe { (text(file), session_from(session, "switch_ivr_play_file")) };
    let Some(s) = s else { return STATUS_FALSE };
    let endless = file.as_deref().is_some_and(endless_stream);
    let mut entry = json!({"fn": "switch_ivr_play_file", "file": file, "fh": !fh.is_null(), "args": !args.is_null()});
    if endless {
        // Only on streams that never end, so the record of an ordinary play stays as it was.
        entry["endless"] = Value::Bool(true);
    }
    let play = with_session(s, entry, |st| {
        if !st.up() {
            return None;
        }
        st.plays += 1;
        if st.script.hangup_on_play == Some(st.plays) {
            st.remote_hangup("hangup_on_play");
            return None;
        }
        Some((st.script.play, st.script.play_gate.clone()))
    });
    if file.is_none() {
        violation("switch_ivr_play_file: NULL file".into());
        return STATUS_GENERR;
    }
    let Some((duration, gate)) = play else {
        return STATUS_FALSE;
    };
    if let Some(gate) = gate {
        wait_for_gate(&gate);
    }
    // A CF_BREAK set before the play ends it at its first frame.
    let want = (!endless).then_some(duration);
    match media_wait_until(s, want, true) {
        MediaEnd::Done => STATUS_SUCCESS,
        MediaEnd::Gone => STATUS_FALSE,
        MediaEnd::Break => STATUS_BREAK,
    }
}

/// # Safety
/// `session` is a session pointer from the core.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_ivr_sleep(
    session: *mut c_void,
    ms: u32,
    sync: c_int,
    args: *mut InputArgs,
) -> c_int {
    // SAFETY: checked by magic.
    let Some(s) = (unsafe { session_from(session, "switch_ivr_sleep") }) else {
        return STATUS_FALSE;
    };
    let entry =
        json!({"fn": "switch_ivr_sleep", "ms": ms, "sync": sync != 0, "args": !args.is_null()});
    if !with_session(s, entry, |st| st.up()) {
        return STATUS_FALSE;
    }
    // As FreeSWITCH's sleep loop: not ready, then CF_BREAK, then the time, on every frame.
    match media_wait_until(s, Some(Duration::from_millis(u64::from(ms))), true) {
        MediaEnd::Done => STATUS_SUCCESS,
        MediaEnd::Gone => STATUS_FALSE,
        MediaEnd::Break => STATUS_BREAK,
    }
}

// ---- API streams -------------------------------------------------------------------------

/// Called by variadic.c for `stream->write_function(stream, "%s", text)`.
///
/// # Safety
/// `handle` is a stream the core created; strings are NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fakecore_stream_append(
    handle: *mut StreamHandle,
    fmt: *const c_char,
    message: *const c_char,
) -> c_int {
    // SAFETY: C string arguments from the module.
    let (fmt, message) = unsafe { (text(fmt), text(message)) };
    if fmt.as_deref() != Some("%s") {
        violation(format!(
            "stream write_function: format {fmt:?} is not \"%s\""
        ));
        return STATUS_FALSE;
    }
    let Some(message) = message else {
        violation("stream write_function: NULL string".into());
        return STATUS_FALSE;
    };
    // SAFETY: handle is the live stream of the API call in progress.
    unsafe { append_bytes(handle, message.as_bytes()) }
}

/// # Safety
/// `handle` is a stream the core created.
unsafe fn append_bytes(handle: *mut StreamHandle, bytes: &[u8]) -> c_int {
    // SAFETY: the buffer is malloc'd by the core and kept NUL-terminated, like the switch's.
    unsafe {
        let h = &mut *handle;
        let need = h.data_len + bytes.len() + 1;
        if need > h.data_size {
            let size = need.max(h.data_size * 2).max(1024);
            let p = libc::realloc(h.data, size);
            if p.is_null() {
                return STATUS_GENERR;
            }
            h.data = p;
            h.data_size = size;
            h.alloc_len = size;
        }
        let base = h.data as *mut u8;
        ptr::copy_nonoverlapping(bytes.as_ptr(), base.add(h.data_len), bytes.len());
        h.data_len += bytes.len();
        *base.add(h.data_len) = 0;
        h.end = base.add(h.data_len) as *mut c_void;
    }
    STATUS_SUCCESS
}

/// `stream->raw_write_function`.
///
/// # Safety
/// `handle` is a stream the core created; `data` is readable for `len` bytes.
unsafe extern "C" fn stream_raw_write(
    handle: *mut StreamHandle,
    data: *mut u8,
    len: usize,
) -> ffi::switch_status_t {
    if data.is_null() {
        return ffi::switch_status_t::SWITCH_STATUS_FALSE;
    }
    // SAFETY: the caller guarantees data/len; handle is live.
    let status = unsafe { append_bytes(handle, std::slice::from_raw_parts(data, len)) };
    ffi::switch_status_t(status as _)
}

// ---- control interface for the harness ---------------------------------------------------

/// Forgets logs, errors, records, completion strings, globals and the configuration.
#[unsafe(no_mangle)]
pub extern "C" fn fakecore_reset() {
    let mut core = core();
    let pools = std::mem::take(&mut core.pools);
    let modules = std::mem::take(&mut core.modules);
    let kept = std::mem::take(&mut core.kept);
    *core = Core {
        pools,
        modules,
        kept,
        ..Core::fresh()
    };
    GATES.0.lock().clear();
    ivr::reset_busy();
    detached::reset();
}

/// A new memory pool to pass to the module's `load`.
#[unsafe(no_mangle)]
pub extern "C" fn fakecore_pool_new() -> *mut c_void {
    let pool = Box::into_raw(Box::new(FakePool {
        _unique: POOL_MAGIC,
    }));
    core().pools.push(pool as usize);
    pool as *mut c_void
}

/// Describes a module interface `load` returned: `{"name", "apps": [...], "apis": [...]}`,
/// or `{"error": ...}` if it is not one the core created.
///
/// # Safety
/// `module` is any pointer; it is only dereferenced if the core created it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fakecore_module_describe(module: *mut c_void) -> *mut c_char {
    let core = core();
    if !core.modules.contains(&(module as usize)) {
        return to_c_string(
            &json!({"error": "not a module interface created by switch_loadable_module_create_module_interface"}),
        );
    }
    let m = module as *const FakeModule;
    // SAFETY: a live module (checked); interface strings are the module's, valid while loaded.
    let described = unsafe {
        let apps: Vec<Value> = (*m)
            .apps
            .iter()
            .map(|&a| {
                json!({
                    "name": text((*a).interface_name), "short_desc": text((*a).short_desc),
                    "long_desc": text((*a).long_desc), "syntax": text((*a).syntax), "flags": (*a).flags,
                    "has_function": (*a).application_function.is_some(), "parent_ok": (*a).parent == module.cast(),
                })
            })
            .collect();
        let apis: Vec<Value> = (*m)
            .apis
            .iter()
            .map(|&a| {
                json!({
                    "name": text((*a).interface_name), "desc": text((*a).desc), "syntax": text((*a).syntax),
                    "has_function": (*a).function.is_some(), "parent_ok": (*a).parent == module.cast(),
                })
            })
            .collect();
        json!({"name": (*m).name, "magic_ok": (*m).magic == MODULE_MAGIC, "apps": apps, "apis": apis})
    };
    to_c_string(&described)
}

/// What the switch does with a module whose shutdown returned `status` (`unload`): its
/// applications and APIs leave the tables either way; with SWITCH_STATUS_NOUNLOAD the module
/// is kept, interfaces, pool and library (returns 0: the library must stay mapped), otherwise
/// interfaces and pool are dropped (returns 1: the library may be closed).
///
/// # Safety
/// Pointer arguments are ones the core handed out (or NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fakecore_module_unload(
    module: *mut c_void,
    pool: *mut c_void,
    status: c_int,
) -> c_int {
    if status != STATUS_NOUNLOAD {
        // SAFETY: the caller's pointers, as fakecore_module_release takes them.
        unsafe { fakecore_module_release(module, pool) };
        return 1;
    }
    let mut core = core();
    if let Some(i) = core.modules.iter().position(|&m| m == module as usize) {
        core.modules.remove(i);
    }
    if let Some(i) = core.pools.iter().position(|&p| p == pool as usize) {
        core.pools.remove(i);
    }
    core.kept.push((module as usize, pool as usize));
    0
}

/// How many modules refused their unload and are kept.
#[unsafe(no_mangle)]
pub extern "C" fn fakecore_kept_modules() -> c_int {
    c_int::try_from(core().kept.len()).unwrap_or(c_int::MAX)
}

/// What the switch does after a module's shutdown: drops its interfaces and its pool.
/// # Safety
/// Pointer arguments are ones the core handed out (or NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fakecore_module_release(module: *mut c_void, pool: *mut c_void) {
    let mut core = core();
    if let Some(i) = core.modules.iter().position(|&m| m == module as usize) {
        core.modules.remove(i);
        // SAFETY: created by create_module_interface and now removed from the live list.
        let m = unsafe { Box::from_raw(module as *mut FakeModule) };
        for &a in &m.apps {
            // SAFETY: calloc'd by create_interface, owned by the module being released.
            unsafe { libc::free(a as *mut c_void) };
        }
        for &a in &m.apis {
            // SAFETY: as above.
            unsafe { libc::free(a as *mut c_void) };
        }
    }
    if let Some(i) = core.pools.iter().position(|&p| p == pool as usize) {
        core.pools.remove(i);
        // SAFETY: created by fakecore_pool_new and now removed from the live list.
        drop(unsafe { Box::from_raw(pool as *mut FakePool) });
    }
}

/// Sets the XML configuration document; returns NULL or an error message.
///
/// # Safety
/// `text` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fakecore_set_config_xml(xml_text: *const c_char) -> *mut c_char {
    // SAFETY: C string argument from the harness.
    let Some(src) = (unsafe { text(xml_text) }) else {
        core().config = None;
        return ptr::null_mut();
    };
    match xml::parse_document(&src) {
        Ok(doc) => {
            core().config = Some(doc);
            ptr::null_mut()
        }
        Err(e) => CString::new(e).map_or(ptr::null_mut(), CString::into_raw),
    }
}

/// Sets (or with `value` NULL removes) a global variable.
///
/// # Safety
/// Arguments are NULL or NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fakecore_set_global(name: *const c_char, value: *const c_char) {
    // SAFETY: C string arguments from the harness.
    let (Some(name), value) = (unsafe { text(name) }, unsafe { text(value) }) else {
        return;
    };
    let mut core = core();
    match value {
        Some(v) => core.globals.insert(name, v),
        None => core.globals.remove(&name),
    };
}

fn spec_string_map(spec: &Value, key: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    match spec.get(key) {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                let v = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                out.insert(k.clone(), v);
            }
        }
        Some(_) => return Err(format!("`{key}` must be an object of strings")),
    }
    Ok(out)
}

/// A fresh uuid for a session the test did not name.
fn next_uuid() -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("00000000-0000-4000-8000-{n:012x}")
}

fn new_session(spec: &Value) -> Result<*mut FakeSession, String> {
    let uuid = match spec.get("uuid") {
        Some(Value::String(s)) => s.clone(),
        None => next_uuid(),
        Some(_) => return Err("`uuid` must be a string".into()),
    };
    let vars = spec_string_map(spec, "variables")?;
    let mut profile = spec_string_map(spec, "profile")?;
    profile.insert("uuid".into(), uuid.clone());
    let empty = Map::new();
    let script = match spec.get("script") {
        None => &empty,
        Some(Value::Object(m)) => m,
        Some(_) => return Err("`script` must be an object".into()),
    };
    let script = parse_script(script)?;
    Ok(alloc_session(
        uuid,
        vars,
        profile,
        script,
        ptr::null(),
        false,
    ))
}

const SCRIPT_KEYS: &[&str] = &[
    "hangup_on_play",
    "hangup_after_ms",
    "remote_cause",
    "play_ms",
    "play_gate",
    "digits",
    "queued_dtmf",
    "speech",
    "originate",
    "hangup_on_call",
    "bridge_ms",
    "bridge_end",
    "record_ms",
    "block_ms",
    "loglevel",
    "pickup_ringing",
];

fn parse_script(script: &Map<String, Value>) -> Result<Script, String> {
    let number = |k: &str| -> Result<Option<u64>, String> {
        match script.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| format!("script `{k}` must be a non-negative integer")),
        }
    };
    let string = |k: &str| -> Result<Option<String>, String> {
        match script.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(g)) => Ok(Some(g.clone())),
            Some(_) => Err(format!("script `{k}` must be a string")),
        }
    };
    let strings = |k: &str| -> Result<Vec<String>, String> {
        let bad = || format!("script `{k}` must be an array of strings");
        match script.get(k) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| v.as_str().map(str::to_string).ok_or_else(bad))
                .collect(),
            Some(_) => Err(bad()),
        }
    };
    for k in script.keys() {
        if !SCRIPT_KEYS.contains(&k.as_str()) {
            return Err(format!("unknown script key `{k}`"));
        }
    }
    let digits = VecDeque::from(strings("digits")?);
    let pickup_ringing = strings("pickup_ringing")?;
    let speech = match script.get("speech") {
        None | Some(Value::Null) => VecDeque::new(),
        Some(Value::Array(a)) => a.iter().cloned().collect(),
        Some(_) => return Err("script `speech` must be an array".into()),
    };
    let originate = spec_string_map(&Value::Object(script.clone()), "originate")
        .map_err(|e| format!("script {e}"))?;
    for outcome in originate.values() {
        ivr::originate_cause(outcome)?;
    }
    let bridge_end_caller = match string("bridge_end")?.as_deref() {
        None | Some("callee") => false,
        Some("caller") => true,
        Some(other) => {
            return Err(format!(
                "script `bridge_end` must be \"callee\" or \"caller\", not {other:?}"
            ));
        }
    };
    Ok(Script {
        hangup_on_play: number("hangup_on_play")?,
        hangup_after: number("hangup_after_ms")?.map(Duration::from_millis),
        remote_cause: number("remote_cause")?.map_or(CAUSE_NORMAL_CLEARING, |c| c as c_int),
        play: Duration::from_millis(number("play_ms")?.unwrap_or(0)),
        play_gate: string("play_gate")?,
        digits,
        queued_dtmf: string("queued_dtmf")?.unwrap_or_default(),
        speech,
        originate,
        hangup_on_call: string("hangup_on_call")?,
        bridge: Duration::from_millis(number("bridge_ms")?.unwrap_or(0)),
        bridge_end_caller,
        record: Duration::from_millis(number("record_ms")?.unwrap_or(0)),
        block: Duration::from_millis(number("block_ms")?.unwrap_or(0)),
        loglevel: number("loglevel")?.map_or(0, |l| l.min(LOG_DEBUG as u64) as c_int),
        pickup_ringing,
    })
}

/// Live sessions by uuid, as the switch's session hash (what
/// `switch_core_session_perform_locate` searches): harness calls and every answered leg.
static SESSIONS: LazyLock<Mutex<HashMap<String, usize>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Whether `uuid` names a session that is still up or read-locked (a new leg may not take it).
fn uuid_in_use(uuid: &str) -> bool {
    let sessions = SESSIONS.lock();
    sessions.get(uuid).is_some_and(|&p| {
        // SAFETY: registered sessions are live (removed before they are freed).
        let s = unsafe { &*(p as *const FakeSession) };
        let st = s.state.lock();
        st.up() || !st.locks.is_empty()
    })
}

/// Removes the session from the uuid table (no locate finds it any more).
fn unregister(s: &FakeSession) {
    let mut sessions = SESSIONS.lock();
    let uuid = s.uuid_text();
    if sessions.get(&uuid) == Some(&(s as *const FakeSession as usize)) {
        sessions.remove(&uuid);
    }
}

/// Allocates a session: a call from the harness, a B-leg originate answered for `parent`, or
/// a `detached` leg originate answered with no session. Registered by uuid for locate.
fn alloc_session(
    uuid: String,
    vars: BTreeMap<String, String>,
    profile: BTreeMap<String, String>,
    script: Script,
    parent: *const FakeSession,
    detached: bool,
) -> *mut FakeSession {
    let uuid_c = CString::new(uuid.replace('\0', "")).unwrap_or_default();
    let session = Box::into_raw(Box::new(FakeSession {
        magic: SESSION_MAGIC,
        channel: FakeChannel {
            magic: CHANNEL_MAGIC,
            session: ptr::null(),
        },
        uuid: uuid_c,
        state: Mutex::new(SessionState {
            vars,
            profile,
            state: CS_EXECUTE,
            cause: None,
            answered: !parent.is_null(),
            pre_answered: false,
            ring_ready: false,
            plays: 0,
            created: Instant::now(),
            script,
            record: Vec::new(),
            blegs: Vec::new(),
            recordings: Vec::new(),
            displaces: Vec::new(),
            inband_dtmf: false,
            pool_strings: Vec::new(),
            hangup_on_call_done: false,
            locks: Vec::new(),
            break_flag: 0,
            bridged_to: None,
            talk: None,
            state_hooks: Vec::new(),
            talk_end_caller: None,
        }),
        parent,
        detached,
        in_app: std::sync::atomic::AtomicBool::new(false),
        wake: Condvar::new(),
    }));
    // SAFETY: just allocated; the back pointer makes channel -> session lookups work.
    unsafe { (*session).channel.session = session };
    // SAFETY: just allocated, not yet shared.
    let key = unsafe { (*session).uuid_text() };
    SESSIONS.lock().insert(key, session as usize);
    session
}

/// Creates a session from a JSON spec:
/// `{"uuid"?, "variables"?: {..}, "profile"?: {"caller_id_number": .., ..},
///   "script"?: {"hangup_on_play"?: N, "hangup_after_ms"?: N, "remote_cause"?: N, "play_ms"?: N,
///   "play_gate"?: "name"}}`.
/// Returns NULL on a bad spec (the reason goes to the error list).
///
/// # Safety
/// `spec` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fakecore_session_new(spec: *const c_char) -> *mut FakeSession {
    // SAFETY: C string argument from the harness.
    let spec = unsafe { text(spec) }.unwrap_or_else(|| "{}".into());
    let made = serde_json::from_str::<Value>(&spec)
        .map_err(|e| e.to_string())
        .and_then(|v| new_session(&v));
    match made {
        Ok(s) => s,
        Err(e) => {
            violation(format!("fakecore_session_new: {e}"));
            ptr::null_mut()
        }
    }
}

thread_local! {
    /// The session whose application runs on this thread (0: none, e.g. a module's own
    /// thread such as a queue dispatcher).
    static APP_SESSION: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Who is calling, for the record of calls other threads may make: the uuid of the call whose
/// application runs on this thread, or null for a thread with no session.
fn calling_thread() -> Value {
    let app = APP_SESSION.with(|a| a.get());
    if app == 0 {
        return Value::Null;
    }
    // SAFETY: set only while fakecore_session_exec runs that live session's application.
    Value::from(unsafe { &*(app as *const FakeSession) }.uuid_text())
}

/// Runs a registered dialplan application on the session, as the switch's execute loop does.
/// Returns 0 when it ran, -1 when no such application is registered.
///
/// # Safety
/// `session` comes from fakecore_session_new; strings are NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fakecore_session_exec(
    session: *mut FakeSession,
    app: *const c_char,
    data: *const c_char,
) -> c_int {
    // SAFETY: C string argument from the harness.
    let app = unsafe { text(app) }.unwrap_or_default();
    let function = {
        let core = core();
        core.modules.iter().find_map(|&m| {
            // SAFETY: live modules and their interfaces (under the lock).
            unsafe {
                (*(m as *const FakeModule)).apps.iter().find_map(|&a| {
                    (text((*a).interface_name).as_deref() == Some(app.as_str()))
                        .then_some((*a).application_function)
                        .flatten()
                })
            }
        })
    };
    let Some(function) = function else { return -1 };
    // SAFETY: the harness passes a live session.
    let Some(s) = (unsafe { harness_session(session as *const c_void, "fakecore_session_exec") })
    else {
        return -1;
    };
    // The switch clears CF_BREAK at the start of every application.
    s.state.lock().break_flag = 0;
    s.in_app.store(true, std::sync::atomic::Ordering::SeqCst);
    let outer = APP_SESSION.with(|a| a.replace(session as usize));
    // SAFETY: calling the module's application function with a live session, as the switch
    // does; no core lock is held, since the module calls back into the core.
    unsafe { function(session.cast(), data) };
    APP_SESSION.with(|a| a.set(outer));
    s.in_app.store(false, std::sync::atomic::Ordering::SeqCst);
    // The application is over: every B-leg it originated must have been released.
    let blegs = s.state.lock().blegs.clone();
    for b in blegs {
        // SAFETY: B-legs live until their A-leg is freed.
        let b = unsafe { &*(b as *const FakeSession) };
        if !b.state.lock().locks.is_empty() {
            violation(format!(
                "B-leg {} was never released with switch_core_session_rwunlock",
                b.uuid_text()
            ));
        }
    }
    0
}

/// `{"uuid", "state", "up", "hangup_cause", "answered", "pre_answered", "ring_ready",
///   "variables": {..}, "record": [..]}`.
///
/// # Safety
/// `session` comes from fakecore_session_new and was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fakecore_session_info(session: *mut FakeSession) -> *mut c_char {
    // SAFETY: the harness passes a live session.
    let Some(s) = (unsafe { harness_session(session as *const c_void, "fakecore_session_info") })
    else {
        return ptr::null_mut();
    };
    to_c_string(&describe_session(s))
}

fn describe_session(s: &FakeSession) -> Value {
    let st = s.state.lock();
    let blegs: Vec<Value> = st
        .blegs
        .iter()
        .map(|&b| {
            // SAFETY: B-legs live until their A-leg is freed (read without the checks of
            // session_from: a released B-leg is still described).
            let b = unsafe { &*(b as *const FakeSession) };
            let mut d = describe_session(b);
            d["released"] = Value::from(d["locks"] == 0);
            d
        })
        .collect();
    json!({
        "uuid": s.uuid.to_string_lossy(),
        "state": st.state,
        "up": st.up(),
        "hangup_cause": st.cause,
        "answered": st.answered,
        "pre_answered": st.pre_answered,
        "ring_ready": st.ring_ready,
        "variables": st.vars,
        "profile": st.profile,
        "record": st.record,
        "blegs": blegs,
        "recordings": st.recordings,
        "displaces": st.displaces,
        "inband_dtmf": st.inband_dtmf,
        "queued_dtmf": st.script.queued_dtmf,
        "digits_left": st.script.digits.len(),
        "speech_left": st.script.speech.len(),
        "locks": st.locks.len(),
        "break_flag": st.break_flag,
        "bridged_to": st.bridged_to,
        "state_hooks": st.state_hooks.len(),
    })
}

/// How long freeing a call waits for other threads' read locks, as the switch's teardown
/// waits for the session's write lock; a lock held longer is a leak (a violation).
const LOCK_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Waits until nobody holds a read lock on `s` (after it left the uuid table, so no new lock
/// can be taken); false when some lock outlived LOCK_DRAIN_TIMEOUT.
fn drain_locks(s: &FakeSession) -> bool {
    let deadline = Instant::now() + LOCK_DRAIN_TIMEOUT;
    let mut st = s.state.lock();
    while !st.locks.is_empty() {
        if s.wake.wait_until(&mut st, deadline).timed_out() && !st.locks.is_empty() {
            return false;
        }
    }
    true
}

/// Frees a session and the B-legs it originated.
///
/// # Safety
/// `session` was allocated by alloc_session and is not used afterwards.
unsafe fn free_session(session: *mut FakeSession) {
    // SAFETY: the caller's contract; B-legs are owned by their A-leg.
    unsafe {
        unregister(&*session);
        let blegs = std::mem::take(&mut (*session).state.lock().blegs);
        for b in blegs {
            free_session(b as *mut FakeSession);
        }
        // Poison the magic so later use is detected, then free.
        (*session).magic = 0;
        (*session).channel.magic = 0;
        drop(Box::from_raw(session));
    }
}

/// # Safety
/// `session` comes from fakecore_session_new; it is not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fakecore_session_free(session: *mut FakeSession) {
    // SAFETY: the harness passes a live session.
    let Some(s) = (unsafe { harness_session(session as *const c_void, "fakecore_session_free") })
    else {
        return;
    };
    // The call is over (the switch hangs it up when its dialplan ends) and leaves the uuid
    // table; the switch then waits for every read lock before it frees the session.
    {
        let mut st = s.state.lock();
        if st.up() {
            st.state = CS_HANGUP;
            st.cause.get_or_insert(CAUSE_NORMAL_CLEARING);
        }
    }
    unregister(s);
    if !drain_locks(s) {
        let holders = s.state.lock().locks.len();
        violation(format!(
            "session {} still read-locked {holders} time(s) {}s after its call ended (a lock never released with switch_core_session_rwunlock); it is leaked, not freed",
            s.uuid_text(),
            LOCK_DRAIN_TIMEOUT.as_secs()
        ));
        return;
    }
    // SAFETY: a live harness session, out of the uuid table and unlocked, freed once.
    unsafe { free_session(session) };
}

/// The far end of a call or leg hangs up now, with `cause` (what a caller putting the phone
/// down or an agent leaving does), waking whatever waits on it. Returns 1 when a call with
/// this uuid was up, else 0.
///
/// # Safety
/// `uuid` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fakecore_remote_hangup(uuid: *const c_char, cause: c_int) -> c_int {
    // SAFETY: C string argument from the harness.
    let Some(uuid) = (unsafe { text(uuid) }) else {
        return 0;
    };
    let sessions = SESSIONS.lock();
    let Some(&p) = sessions.get(&uuid) else {
        return 0;
    };
    // SAFETY: registered sessions are live; the table lock keeps this one registered.
    let s = unsafe { &*(p as *const FakeSession) };
    let mut st = s.state.lock();
    if !st.up() {
        return 0;
    }
    st.script.remote_cause = cause;
    st.remote_hangup("fakecore_remote_hangup");
    drop(st);
    s.wake.notify_all();
    1
}

/// Runs the API command `cmd` with `args` (NULL as the switch passes for no arguments).
/// Returns `{"status": N, "output": ".."}` or `{"error": "no such API"}`.
///
/// # Safety
/// Strings are NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fakecore_api(cmd: *const c_char, args: *const c_char) -> *mut c_char {
    // SAFETY: C string argument from the harness.
    let cmd = unsafe { text(cmd) }.unwrap_or_default();
    let function = {
        let core = core();
        core.modules.iter().find_map(|&m| {
            // SAFETY: live modules and their interfaces (under the lock).
            unsafe {
                (*(m as *const FakeModule)).apis.iter().find_map(|&a| {
                    (text((*a).interface_name).as_deref() == Some(cmd.as_str()))
                        .then_some((*a).function)
                        .flatten()
                })
            }
        })
    };
    let Some(function) = function else {
        return to_c_string(&json!({"error": format!("no such API: {cmd}")}));
    };
    let mut stream = StreamHandle {
        read_function: None,
        write_function: Some(fakecore_c_stream_write),
        raw_write_function: Some(stream_raw_write),
        data: ptr::null_mut(),
        end: ptr::null_mut(),
        data_size: 0,
        data_len: 0,
        alloc_len: 0,
        alloc_chunk: 1024,
        param_event: ptr::null_mut(),
    };
    // SAFETY: an empty buffer, as the switch's SWITCH_STANDARD_STREAM starts with one.
    unsafe { append_bytes(&mut stream, b"") };
    // SAFETY: calling the module's API function as switch_api_execute does, without the lock.
    let status = unsafe { function(args, ptr::null_mut(), &mut stream) };
    // SAFETY: the buffer is NUL-terminated and data_len long.
    let output = unsafe { std::slice::from_raw_parts(stream.data as *const u8, stream.data_len) };
    let output = String::from_utf8_lossy(output).into_owned();
    // SAFETY: malloc'd by append_bytes.
    unsafe { libc::free(stream.data) };
    to_c_string(&json!({"status": status.0, "output": output}))
}

/// All log lines so far, as a JSON array.
#[unsafe(no_mangle)]
pub extern "C" fn fakecore_logs() -> *mut c_char {
    to_c_string(&Value::from(core().logs.clone()))
}

/// Contract violations so far (should stay empty), as a JSON array of strings.
#[unsafe(no_mangle)]
pub extern "C" fn fakecore_errors() -> *mut c_char {
    to_c_string(&Value::from(core().errors.clone()))
}

/// Like fakecore_errors, and clears the list (for tests that provoke violations on purpose).
#[unsafe(no_mangle)]
pub extern "C" fn fakecore_take_errors() -> *mut c_char {
    to_c_string(&Value::from(std::mem::take(&mut core().errors)))
}

/// Every string passed to switch_console_set_complete, in order.
#[unsafe(no_mangle)]
pub extern "C" fn fakecore_complete_strings() -> *mut c_char {
    to_c_string(&Value::from(core().complete.clone()))
}

/// Core calls that have no session (registration, configuration, globals), in order.
#[unsafe(no_mangle)]
pub extern "C" fn fakecore_global_record() -> *mut c_char {
    to_c_string(&Value::from(core().record.clone()))
}

/// `{"opened": N, "freed": N, "live": N}` for switch_xml_open_cfg trees.
#[unsafe(no_mangle)]
pub extern "C" fn fakecore_xml_stats() -> *mut c_char {
    let core = core();
    to_c_string(
        &json!({"opened": core.xml_opened, "freed": core.xml_freed, "live": core.trees.len()}),
    )
}

/// Frees a string returned by a `fakecore_*` function.
///
/// # Safety
/// `s` is NULL or came from a `fakecore_*` function and was not freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fakecore_free_string(s: *mut c_char) {
    if !s.is_null() {
        // SAFETY: produced by CString::into_raw in this library.
        drop(unsafe { CString::from_raw(s) });
    }
}
