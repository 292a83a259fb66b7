//! Loads `mod_rustflow.so` into the fake switch core (`libfakecore.so`) and drives it the way
//! FreeSWITCH does: the module table found by name, `load` with an out-pointer and a pool, API
//! calls with a stream, the dialplan app on simulated sessions, `shutdown`.
//!
//! Artifacts: `RUSTFLOW_MODULE_SO` / `RUSTFLOW_FAKECORE_SO` name prebuilt ones; otherwise the
//! first use in a test process runs `$CARGO build -p mod_rustflow --features
//! mod_rustflow/test-hooks -p rustflow-fakecore --target-dir target/harness` (a separate target
//! dir, so the outer `cargo test` never waits on its own lock). A test binary that calls
//! [`use_release_build`] first loads the release module instead, as `make` builds it (no
//! test hooks): `RUSTFLOW_RELEASE_MODULE_SO` names a prebuilt one, otherwise `cargo build
//! --release` into the same target dir.
//!
//! The module is a process-wide singleton, so a [`Harness`] holds a process-wide lock for its
//! whole life: tests in one binary run one after another. Every `Harness` loads the module
//! and shuts it down on drop, so consecutive tests also prove repeated load/shutdown.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

// ---- constants the tests assert against ---------------------------------------------------

pub const STATUS_SUCCESS: i64 = 0;
/// `SWITCH_STATUS_NOUNLOAD`: a module's shutdown asks the switch to keep its code mapped.
pub const STATUS_NOUNLOAD: i64 = 16;
/// The stack size of FreeSWITCH's session threads (`SWITCH_THREAD_STACKSIZE`, 240 KiB).
pub const SESSION_STACK_BYTES: usize = 240 * 1024;
pub const STATUS_FALSE: i64 = 1;
pub const STATUS_GENERR: i64 = 9;
pub const CAUSE_NORMAL_CLEARING: i64 = 16;
pub const CAUSE_USER_BUSY: i64 = 17;
pub const CAUSE_NORMAL_TEMPORARY_FAILURE: i64 = 41;
pub const LOG_DEBUG: i64 = 7;
pub const LOG_INFO: i64 = 6;
pub const LOG_NOTICE: i64 = 5;
pub const LOG_WARNING: i64 = 4;
pub const LOG_ERROR: i64 = 3;
pub const LOG_CRIT: i64 = 2;

/// Core calls that only poll or look things up; [`SessionInfo::calls`] leaves them out.
pub const POLLING_CALLS: &[&str] = &[
    "switch_core_session_get_channel",
    "switch_core_session_get_uuid",
    "switch_core_session_get_loglevel",
    "switch_channel_get_state",
    "switch_ivr_parse_all_signal_data",
    "switch_channel_test_ready",
];

// ---- artifacts -------------------------------------------------------------------------------

/// The workspace root (this crate lives in tests/harness).
pub fn workspace_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

/// Paths of the two shared objects under test.
#[derive(Debug, Clone)]
pub struct Artifacts {
    pub module: PathBuf,
    pub fakecore: PathBuf,
    /// The module is the release build ([`use_release_build`]).
    pub release: bool,
}

static RELEASE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static ARTIFACTS: OnceLock<Result<Artifacts, String>> = OnceLock::new();

/// Makes this test process load the release build of the module (what `make` installs),
/// e.g. to measure stack use as FreeSWITCH runs it. Call it before anything else of the
/// harness; every test of the binary must call it (any of them may run first).
pub fn use_release_build() {
    RELEASE.store(true, std::sync::atomic::Ordering::SeqCst);
    if let Some(Ok(a)) = ARTIFACTS.get() {
        assert!(
            a.release,
            "use_release_build() after the debug module was loaded in this process"
        );
    }
}

/// Finds or builds the artifacts, once per process (a failed build fails every test of the
/// process with the same message, without building again).
pub fn artifacts() -> &'static Artifacts {
    match ARTIFACTS.get_or_init(|| {
        if RELEASE.load(std::sync::atomic::Ordering::SeqCst) {
            find_or_build(&RELEASE_BUILD)
        } else {
            find_or_build(&DEBUG_BUILD)
        }
    }) {
        Ok(a) => a,
        Err(e) => panic!("{e}"),
    }
}

/// One way to get the module under test: which prebuilt variable names it, and how cargo
/// builds it into target/harness otherwise.
struct Build {
    /// `RUSTFLOW_MODULE_SO` or `RUSTFLOW_RELEASE_MODULE_SO` (with `RUSTFLOW_FAKECORE_SO`).
    module_var: &'static str,
    /// Said while building and in a failure.
    what: &'static str,
    /// The cargo arguments that select the module's build.
    cargo_args: &'static [&'static str],
    /// Cargo's output folder for it (`debug` or `release`).
    profile_dir: &'static str,
    release: bool,
}

/// The debug module with test hooks (most tests).
const DEBUG_BUILD: Build = Build {
    module_var: "RUSTFLOW_MODULE_SO",
    what: "mod_rustflow (test-hooks) and rustflow-fakecore",
    cargo_args: &["--features", "mod_rustflow/test-hooks"],
    profile_dir: "debug",
    release: false,
};

/// The release module, as `make` builds it ([`use_release_build`]).
const RELEASE_BUILD: Build = Build {
    module_var: "RUSTFLOW_RELEASE_MODULE_SO",
    what: "the release mod_rustflow and rustflow-fakecore",
    cargo_args: &["--release"],
    profile_dir: "release",
    release: true,
};

/// The module and a fake core: the prebuilt ones the environment names, or a
/// `cargo build` of both into target/harness.
fn find_or_build(build: &Build) -> Result<Artifacts, String> {
    let prebuilt = |var: &str| {
        std::env::var_os(var)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let (Some(module), Some(fakecore)) =
        (prebuilt(build.module_var), prebuilt("RUSTFLOW_FAKECORE_SO"))
    {
        return Ok(Artifacts {
            module,
            fakecore,
            release: build.release,
        });
    }
    let root = workspace_root();
    let target_dir = root.join("target").join("harness");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!(
        "harness: building {} into {}",
        build.what,
        target_dir.display()
    );
    let out = Command::new(&cargo)
        .current_dir(&root)
        .args(["build", "-p", "mod_rustflow", "-p", "rustflow-fakecore"])
        .args(build.cargo_args)
        .arg("--target-dir")
        .arg(&target_dir)
        .output()
        .map_err(|e| format!("harness: cannot run {cargo:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "harness: building {} failed ({}):\n{}",
            build.what,
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let dir = target_dir.join(build.profile_dir);
    Ok(Artifacts {
        module: prebuilt(build.module_var).unwrap_or_else(|| dir.join("libmod_rustflow.so")),
        fakecore: prebuilt("RUSTFLOW_FAKECORE_SO").unwrap_or_else(|| dir.join("libfakecore.so")),
        release: build.release,
    })
}

// ---- the project's ABI header, read at test time (no literals for its values) ----------

/// The project's ABI-subset header.
pub const ABI_HEADER: &str = "include/rustflow_abi.h";

/// `SWITCH_API_VERSION` as the ABI-subset header defines it.
pub fn header_api_version() -> i64 {
    let header = read_header();
    header
        .lines()
        .find_map(|l| l.strip_prefix("#define SWITCH_API_VERSION"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{ABI_HEADER} defines SWITCH_API_VERSION"))
}

/// Names of the functions the ABI-subset header declares (the ones the fake core implements).
pub fn header_functions() -> Vec<String> {
    let header = read_header();
    let mut names = Vec::new();
    for line in header.lines() {
        let starts_decl = line.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
        if !starts_decl || line.starts_with("typedef") || line.starts_with("struct") {
            continue;
        }
        if let Some(open) = line.find('(') {
            let name = line[..open].split([' ', '*']).next_back().unwrap_or("");
            if !name.is_empty() {
                names.push(name.to_string());
            }
        }
    }
    names
}

fn read_header() -> String {
    let path = workspace_root().join(ABI_HEADER);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

// ---- dlopen ------------------------------------------------------------------------------------

struct Library {
    handle: *mut c_void,
    path: PathBuf,
}

// SAFETY: a dlopen handle is process-global and usable from any thread.
unsafe impl Send for Library {}
// SAFETY: as above; dlsym is thread-safe.
unsafe impl Sync for Library {}

impl Library {
    fn open(path: &Path, flags: c_int) -> Library {
        let c_path =
            CString::new(path.as_os_str().as_encoded_bytes()).expect("library path without NUL");
        // SAFETY: dlopen with a valid C string; the handle is kept for the life of the process.
        let handle = unsafe { libc::dlopen(c_path.as_ptr(), flags) };
        if handle.is_null() {
            panic!("dlopen {}: {}", path.display(), dl_error());
        }
        Library {
            handle,
            path: path.to_path_buf(),
        }
    }

    fn symbol(&self, name: &str) -> *mut c_void {
        let c_name = CString::new(name).expect("symbol name without NUL");
        // SAFETY: valid handle and C string.
        let sym = unsafe { libc::dlsym(self.handle, c_name.as_ptr()) };
        if sym.is_null() {
            panic!("dlsym {name} in {}: {}", self.path.display(), dl_error());
        }
        sym
    }

    fn has_symbol(&self, name: &str) -> bool {
        let c_name = CString::new(name).expect("symbol name without NUL");
        // SAFETY: valid handle and C string.
        !unsafe { libc::dlsym(self.handle, c_name.as_ptr()) }.is_null()
    }
}

fn dl_error() -> String {
    // SAFETY: dlerror returns NULL or a C string valid until the next dl call on this thread.
    let e = unsafe { libc::dlerror() };
    if e.is_null() {
        "unknown error".into()
    } else {
        // SAFETY: non-NULL C string from dlerror.
        unsafe { CStr::from_ptr(e) }.to_string_lossy().into_owned()
    }
}

/// The module's exported table, as the shared bindings (freeswitch-sys) declare it.
type FunctionTable = freeswitch_sys::switch_loadable_module_function_table_t;

type StrFn = unsafe extern "C" fn() -> *mut c_char;

/// The fake core's control functions.
struct CoreFns {
    reset: unsafe extern "C" fn(),
    pool_new: unsafe extern "C" fn() -> *mut c_void,
    module_describe: unsafe extern "C" fn(*mut c_void) -> *mut c_char,
    module_release: unsafe extern "C" fn(*mut c_void, *mut c_void),
    module_unload: unsafe extern "C" fn(*mut c_void, *mut c_void, c_int) -> c_int,
    kept_modules: unsafe extern "C" fn() -> c_int,
    set_config_xml: unsafe extern "C" fn(*const c_char) -> *mut c_char,
    set_global: unsafe extern "C" fn(*const c_char, *const c_char),
    session_new: unsafe extern "C" fn(*const c_char) -> *mut c_void,
    session_exec: unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char) -> c_int,
    session_info: unsafe extern "C" fn(*mut c_void) -> *mut c_char,
    session_free: unsafe extern "C" fn(*mut c_void),
    api: unsafe extern "C" fn(*const c_char, *const c_char) -> *mut c_char,
    logs: StrFn,
    errors: StrFn,
    take_errors: StrFn,
    complete_strings: StrFn,
    global_record: StrFn,
    xml_stats: StrFn,
    gate_open: unsafe extern "C" fn(*const c_char),
    gate_waiting: unsafe extern "C" fn(*const c_char) -> c_int,
    set_module: unsafe extern "C" fn(*const c_char, c_int),
    events: StrFn,
    event_stats: StrFn,
    set_busy_var: unsafe extern "C" fn(*const c_char, *const c_char, c_int),
    live_matches: unsafe extern "C" fn() -> c_int,
    set_agents: unsafe extern "C" fn(*const c_char) -> *mut c_char,
    originates: StrFn,
    detached_legs: StrFn,
    check_detached: unsafe extern "C" fn(),
    remote_hangup: unsafe extern "C" fn(*const c_char, c_int) -> c_int,
    free_string: unsafe extern "C" fn(*mut c_char),
}

/// The dlopen'd module and its exported table; replaced by [`Harness::reopen_module`].
struct ModuleLibrary {
    library: Library,
    table: *const FunctionTable,
}

impl ModuleLibrary {
    fn open(path: &Path) -> ModuleLibrary {
        let library = Library::open(path, libc::RTLD_NOW);
        let table = library.symbol("mod_rustflow_module_interface") as *const FunctionTable;
        ModuleLibrary { library, table }
    }

    fn table(&self) -> &FunctionTable {
        // SAFETY: the module's exported static table, valid while the library is open.
        unsafe { &*self.table }
    }
}

struct Loaded {
    fakecore: Library,
    module: Mutex<ModuleLibrary>,
    /// Whether the switch may close the module's library: false after a shutdown that
    /// refused the unload, until a later shutdown allows it.
    closable: std::sync::atomic::AtomicBool,
    core: CoreFns,
}

// SAFETY: function pointers and a pointer to the module's static table, valid for the process.
unsafe impl Send for Loaded {}
// SAFETY: as above.
unsafe impl Sync for Loaded {}

// The transmute targets are the CoreFns field types, spelled once there.
#[allow(clippy::missing_transmute_annotations)]
fn loaded() -> &'static Loaded {
    static LOADED: OnceLock<Loaded> = OnceLock::new();
    LOADED.get_or_init(|| {
        let a = artifacts();
        // The core first and global, so the module's undefined switch_* symbols resolve to it.
        let fakecore = Library::open(&a.fakecore, libc::RTLD_NOW | libc::RTLD_GLOBAL);
        let module = Mutex::new(ModuleLibrary::open(&a.module));
        macro_rules! f {
            ($name:literal) => {
                // SAFETY: the symbol is the fake core's function with exactly this signature.
                unsafe { std::mem::transmute::<*mut c_void, _>(fakecore.symbol($name)) }
            };
        }
        let core = CoreFns {
            reset: f!("fakecore_reset"),
            pool_new: f!("fakecore_pool_new"),
            module_describe: f!("fakecore_module_describe"),
            module_release: f!("fakecore_module_release"),
            module_unload: f!("fakecore_module_unload"),
            kept_modules: f!("fakecore_kept_modules"),
            set_config_xml: f!("fakecore_set_config_xml"),
            set_global: f!("fakecore_set_global"),
            session_new: f!("fakecore_session_new"),
            session_exec: f!("fakecore_session_exec"),
            session_info: f!("fakecore_session_info"),
            session_free: f!("fakecore_session_free"),
            api: f!("fakecore_api"),
            logs: f!("fakecore_logs"),
            errors: f!("fakecore_errors"),
            take_errors: f!("fakecore_take_errors"),
            complete_strings: f!("fakecore_complete_strings"),
            global_record: f!("fakecore_global_record"),
            xml_stats: f!("fakecore_xml_stats"),
            gate_open: f!("fakecore_gate_open"),
            gate_waiting: f!("fakecore_gate_waiting"),
            set_module: f!("fakecore_set_module"),
            events: f!("fakecore_events"),
            event_stats: f!("fakecore_event_stats"),
            set_busy_var: f!("fakecore_set_busy_var"),
            live_matches: f!("fakecore_live_matches"),
            set_agents: f!("fakecore_set_agents"),
            originates: f!("fakecore_originates"),
            detached_legs: f!("fakecore_detached_legs"),
            check_detached: f!("fakecore_check_detached"),
            remote_hangup: f!("fakecore_remote_hangup"),
            free_string: f!("fakecore_free_string"),
        };
        Loaded {
            fakecore,
            module,
            closable: std::sync::atomic::AtomicBool::new(true),
            core,
        }
    })
}

/// Whether the fake core exports `name` (the harness checks it implements the header).
pub fn fakecore_exports(name: &str) -> bool {
    loaded().fakecore.has_symbol(name)
}

/// The `switch_*` functions the fake core's library defines and exports, read from its
/// dynamic symbol table with binutils' `nm` (what `dlsym` can find, however it was written).
pub fn fakecore_switch_exports() -> Vec<String> {
    let library = &artifacts().fakecore;
    let out = Command::new("nm")
        .args(["--dynamic", "--defined-only", "--format=posix"])
        .arg(library)
        .output()
        .unwrap_or_else(|e| panic!("running nm (binutils) on {}: {e}", library.display()));
    assert!(
        out.status.success(),
        "nm {}: {}",
        library.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| name.starts_with("switch_"))
        .map(str::to_string)
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Whether the module exports `name`.
pub fn module_exports(name: &str) -> bool {
    module_library().library.has_symbol(name)
}

fn module_library() -> MutexGuard<'static, ModuleLibrary> {
    loaded()
        .module
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

fn c(s: &str) -> CString {
    CString::new(s).expect("test strings contain no NUL")
}

/// Takes a string the fake core returned.
fn take(p: *mut c_char) -> String {
    assert!(!p.is_null(), "fake core returned NULL");
    // SAFETY: a NUL-terminated string from the core, freed right after copying.
    let s = unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned();
    // SAFETY: returned by a fakecore_* function, freed once.
    unsafe { (loaded().core.free_string)(p) };
    s
}

fn take_json(p: *mut c_char) -> Value {
    let s = take(p);
    serde_json::from_str(&s).unwrap_or_else(|e| panic!("fake core returned bad JSON ({e}): {s}"))
}

// ---- the fake core -----------------------------------------------------------------------

/// One `switch_log_printf` line.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    pub level: i64,
    pub uuid: Option<String>,
    pub file: String,
    pub func: String,
    pub line: i64,
    pub text: String,
}

impl std::fmt::Display for LogLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "[{}] {} {}:{} {}",
            self.level,
            self.uuid.as_deref().unwrap_or("-"),
            self.file,
            self.line,
            self.text
        )
    }
}

/// Safe access to the fake core's recordings.
pub struct FakeCore;

impl FakeCore {
    pub fn logs() -> Vec<LogLine> {
        // SAFETY: control function without arguments.
        let v = take_json(unsafe { (loaded().core.logs)() });
        v.as_array()
            .expect("logs are an array")
            .iter()
            .map(|l| LogLine {
                level: l["level"].as_i64().unwrap_or(-1),
                uuid: l["uuid"].as_str().map(str::to_string),
                file: l["file"].as_str().unwrap_or("").to_string(),
                func: l["func"].as_str().unwrap_or("").to_string(),
                line: l["line"].as_i64().unwrap_or(-1),
                text: l["text"].as_str().unwrap_or("").to_string(),
            })
            .collect()
    }

    /// All log lines, one per line, for assertion messages.
    pub fn logs_text() -> String {
        Self::logs().iter().map(|l| format!("{l}\n")).collect()
    }

    /// The text of every ERROR line, one per line (load problems and the like).
    pub fn error_text() -> String {
        Self::logs()
            .into_iter()
            .filter(|l| l.level == LOG_ERROR)
            .map(|l| l.text + "\n")
            .collect()
    }

    /// Contract violations the core saw (wrong log format, bad pointers, double frees...).
    pub fn errors() -> Vec<String> {
        // SAFETY: control function without arguments.
        serde_json::from_value(take_json(unsafe { (loaded().core.errors)() }))
            .expect("errors are strings")
    }

    /// The violations so far, clearing the list (for tests that provoke them on purpose).
    pub fn take_errors() -> Vec<String> {
        // SAFETY: control function without arguments.
        serde_json::from_value(take_json(unsafe { (loaded().core.take_errors)() }))
            .expect("errors are strings")
    }

    /// The address of a symbol the fake core exports (to call the ABI directly in tests).
    pub fn symbol(name: &str) -> *mut c_void {
        loaded().fakecore.symbol(name)
    }

    pub fn complete_strings() -> Vec<String> {
        // SAFETY: control function without arguments.
        serde_json::from_value(take_json(unsafe { (loaded().core.complete_strings)() }))
            .expect("strings")
    }

    /// Session-less core calls (registration, configuration, globals), in order.
    pub fn global_record() -> Vec<Value> {
        // SAFETY: control function without arguments.
        serde_json::from_value(take_json(unsafe { (loaded().core.global_record)() }))
            .expect("array")
    }

    /// `{"opened", "freed", "live"}` counts of configuration trees.
    pub fn xml_stats() -> Value {
        // SAFETY: control function without arguments.
        take_json(unsafe { (loaded().core.xml_stats)() })
    }

    /// Lets playbacks of sessions scripted with `"play_gate": name` proceed.
    pub fn open_gate(name: &str) {
        // SAFETY: valid C string for the duration of the call.
        unsafe { (loaded().core.gate_open)(c(name).as_ptr()) };
    }

    /// How many playbacks wait on the gate right now.
    pub fn gate_waiting(name: &str) -> usize {
        // SAFETY: valid C string for the duration of the call.
        let n = unsafe { (loaded().core.gate_waiting)(c(name).as_ptr()) };
        usize::try_from(n).unwrap_or(0)
    }

    /// Marks a FreeSWITCH module (`mod_conference`, ...) as loaded or not. Every
    /// [`Harness::new`] restores the default set (sofia, dptools, commands, conference,
    /// valet_parking, sndfile, tone_stream, local_stream, http_cache, flite, pocketsphinx).
    pub fn set_module(name: &str, present: bool) {
        // SAFETY: valid C string for the duration of the call.
        unsafe { (loaded().core.set_module)(c(name).as_ptr(), c_int::from(present)) };
    }

    /// How many modules refused their unload (SWITCH_STATUS_NOUNLOAD) and are kept mapped.
    pub fn kept_modules() -> usize {
        // SAFETY: control function without arguments.
        usize::try_from(unsafe { (loaded().core.kept_modules)() }).unwrap_or(0)
    }

    /// Events fired so far: `[{"id", "subclass", "headers": [[name, value]..]}]`.
    pub fn events() -> Vec<Value> {
        // SAFETY: control function without arguments.
        serde_json::from_value(take_json(unsafe { (loaded().core.events)() })).expect("array")
    }

    /// `{"live": N, "reserved": [[owner, subclass]..]}`: events neither fired nor destroyed,
    /// and reserved custom subclasses.
    pub fn event_stats() -> Value {
        // SAFETY: control function without arguments.
        take_json(unsafe { (loaded().core.event_stats)() })
    }

    /// Registers (or removes) a session elsewhere in the switch whose variable `name` is
    /// `value` (what `switch_core_session_findall_matching_var` finds, e.g. `presence_id`).
    pub fn set_busy_var(name: &str, value: &str, busy: bool) {
        // SAFETY: valid C strings for the duration of the call.
        unsafe {
            (loaded().core.set_busy_var)(c(name).as_ptr(), c(value).as_ptr(), c_int::from(busy))
        };
    }

    /// Sets the switch's hard log level through the core's own `switch_core_session_ctl`
    /// (SCSC_LOGLEVEL), as `fsctl loglevel` does. [`Harness::new`] restores DEBUG, the level of
    /// the stock switch.conf.xml.
    pub fn set_hard_log_level(level: i64) {
        type Ctl = unsafe extern "C" fn(c_int, *mut c_void) -> i32;
        const SCSC_LOGLEVEL: c_int = 6;
        let symbol = FakeCore::symbol("switch_core_session_ctl");
        // SAFETY: the fake core exports switch_core_session_ctl with this signature.
        let ctl: Ctl = unsafe { std::mem::transmute::<*mut c_void, Ctl>(symbol) };
        let mut value = c_int::try_from(level).expect("a log level");
        // SAFETY: `value` is a live int for the duration of the call.
        let rc = unsafe { ctl(SCSC_LOGLEVEL, (&raw mut value).cast()) };
        assert_eq!((rc, i64::from(value)), (0, level), "fsctl loglevel {level}");
    }

    /// Scripts what dialled targets do when the module originates with no A-leg (a queue's
    /// agent calls), replacing the previous script; [`Harness::new`] clears it. Keys are the
    /// dialled targets as the dial string names them (`"user/1001@example.com"`) or
    /// `"default"`; each value `{"outcome"?: "answered" | "no_answer" | "busy" | "rejected" |
    /// .. | [one per originate, the last one staying], "ring_ms"?, "talk_ms"? (once bridged;
    /// default the caller's `bridge_ms`), "hangup"?: "agent" | "caller" (who ends the
    /// conversation), "hangup_after_ms"? (the agent hangs up by itself after answering)}`.
    /// Unscripted targets answer at once.
    pub fn set_agents(agents: Value) {
        // SAFETY: valid C string for the duration of the call.
        let err = unsafe { (loaded().core.set_agents)(c(&agents.to_string()).as_ptr()) };
        if !err.is_null() {
            panic!("bad agents script: {}", take(err));
        }
    }

    /// Every originate with no A-leg so far, in call order: the arguments (`dial_string`,
    /// `parsed`, `ovars` as `[[name, value]..]`, `timelimit_sec`, `cancel_cause`: whether a
    /// cancel cause was passed, `from`: the uuid of the call whose application ran on the
    /// calling thread, null for a thread with no session) and, once it returned, `result`:
    /// `{"answered": true, "bleg", "attempts"}` or `{"answered": false, "cause", "cause_name",
    /// "cancelled", "attempts"}`.
    pub fn originates() -> Vec<Value> {
        // SAFETY: control function without arguments.
        serde_json::from_value(take_json(unsafe { (loaded().core.originates)() })).expect("array")
    }

    /// The legs answered with no A-leg, described like [`SessionInfo::raw`] (plus `locks`,
    /// `break_flag`, `bridged_to`: the caller it was bridged to).
    pub fn detached_legs() -> Vec<Value> {
        // SAFETY: control function without arguments.
        serde_json::from_value(take_json(unsafe { (loaded().core.detached_legs)() }))
            .expect("array")
    }

    /// Records a violation for every leg answered with no A-leg that is still up or
    /// read-locked ([`Harness`] does it when it is dropped).
    pub fn check_detached_legs() {
        // SAFETY: control function without arguments.
        unsafe { (loaded().core.check_detached)() };
    }

    /// The far end of the call or leg `uuid` hangs up now with `cause` (a caller putting the
    /// phone down, an agent leaving), from outside the module; false when no such call is up.
    pub fn remote_hangup(uuid: &str, cause: i64) -> bool {
        let cause = c_int::try_from(cause).expect("a hangup cause");
        // SAFETY: valid C string for the duration of the call.
        unsafe { (loaded().core.remote_hangup)(c(uuid).as_ptr(), cause) == 1 }
    }

    /// Polls `ready` every 10 ms until it holds; panics with `what` after `timeout`.
    pub fn wait_until(what: &str, timeout: std::time::Duration, mut ready: impl FnMut() -> bool) {
        let deadline = std::time::Instant::now() + timeout;
        while !ready() {
            assert!(
                std::time::Instant::now() < deadline,
                "timed out after {timeout:?} waiting for {what}"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    pub fn set_global(name: &str, value: Option<&str>) {
        let value = value.map(c);
        // SAFETY: valid C strings (or NULL) for the duration of the call.
        unsafe {
            (loaded().core.set_global)(
                c(name).as_ptr(),
                value.as_ref().map_or(std::ptr::null(), |v| v.as_ptr()),
            )
        };
    }

    /// Runs an API command; `args` None is what the switch passes for a bare command.
    pub fn api(cmd: &str, args: Option<&str>) -> ApiResult {
        let args = args.map(c);
        // SAFETY: valid C strings (or NULL) for the duration of the call.
        let v = take_json(unsafe {
            (loaded().core.api)(
                c(cmd).as_ptr(),
                args.as_ref().map_or(std::ptr::null(), |a| a.as_ptr()),
            )
        });
        if let Some(e) = v.get("error") {
            panic!("api {cmd}: {e}");
        }
        ApiResult {
            status: v["status"].as_i64().expect("status"),
            output: v["output"].as_str().expect("output").to_string(),
        }
    }
}

/// What an API call returned.
#[derive(Debug, Clone)]
pub struct ApiResult {
    pub status: i64,
    pub output: String,
}

impl ApiResult {
    /// The output parsed as JSON (panics with the output if it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.output)
            .unwrap_or_else(|e| panic!("API output is not JSON ({e}):\n{}", self.output))
    }
}

// ---- sessions ------------------------------------------------------------------------------

/// A simulated call in the fake core. Send + Sync: the core locks per session.
pub struct Session {
    ptr: usize,
}

impl Session {
    /// Creates a session from a spec (see `fakecore_session_new`): `uuid`, `variables`,
    /// `profile`, `script: {hangup_on_play, hangup_after_ms, remote_cause, play_ms, play_gate}`.
    pub fn new(spec: Value) -> Session {
        // SAFETY: valid C string.
        let p = unsafe { (loaded().core.session_new)(c(&spec.to_string()).as_ptr()) };
        assert!(
            !p.is_null(),
            "bad session spec {spec}: {:?}",
            FakeCore::errors()
        );
        Session { ptr: p as usize }
    }

    /// The `switch_core_session_t *` the module is handed (to call the ABI directly in tests).
    pub fn raw(&self) -> *mut c_void {
        self.ptr as *mut c_void
    }

    /// Executes a dialplan application, as the switch's execute loop does.
    pub fn exec(&self, app: &str, data: &str) {
        assert!(
            self.try_exec(app, data),
            "no application `{app}` is registered"
        );
    }

    /// `exec`, or false when no loaded module registers `app`.
    pub fn try_exec(&self, app: &str, data: &str) -> bool {
        // SAFETY: live session, valid C strings.
        let ran = unsafe {
            (loaded().core.session_exec)(self.ptr as *mut c_void, c(app).as_ptr(), c(data).as_ptr())
        };
        ran == 0
    }

    pub fn info(&self) -> SessionInfo {
        // SAFETY: live session.
        let v = take_json(unsafe { (loaded().core.session_info)(self.ptr as *mut c_void) });
        SessionInfo {
            uuid: v["uuid"].as_str().unwrap_or_default().to_string(),
            up: v["up"].as_bool().unwrap_or(false),
            hangup_cause: v["hangup_cause"].as_i64(),
            answered: v["answered"].as_bool().unwrap_or(false),
            variables: serde_json::from_value(v["variables"].clone()).unwrap_or_default(),
            record: serde_json::from_value(v["record"].clone()).unwrap_or_default(),
            raw: v,
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // SAFETY: live session, freed once.
        unsafe { (loaded().core.session_free)(self.ptr as *mut c_void) };
    }
}

/// A session's state and its ordered record of core calls.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub uuid: String,
    pub up: bool,
    pub hangup_cause: Option<i64>,
    pub answered: bool,
    pub variables: BTreeMap<String, String>,
    pub record: Vec<Value>,
    /// Everything `fakecore_session_info` reported: also `profile`, `blegs` (each described
    /// the same way, plus `released`), `recordings`, `displaces`, `inband_dtmf`,
    /// `queued_dtmf`, `digits_left`, `speech_left`.
    pub raw: Value,
}

impl SessionInfo {
    /// The record without the polling calls of [`POLLING_CALLS`].
    pub fn calls(&self) -> Vec<Value> {
        self.record
            .iter()
            .filter(|e| !e["fn"].as_str().is_some_and(|f| POLLING_CALLS.contains(&f)))
            .cloned()
            .collect()
    }

    /// The record without polling calls and without variable reads/writes (media and call
    /// control only).
    pub fn call_control(&self) -> Vec<Value> {
        self.calls()
            .into_iter()
            .filter(|e| {
                !matches!(
                    e["fn"].as_str(),
                    Some(
                        "switch_channel_get_variable_strdup"
                            | "switch_channel_set_variable_var_check"
                            | "switch_channel_export_variable_var_check"
                    )
                )
            })
            .collect()
    }

    /// Variable writes in order, as (name, value) (value None = unset).
    pub fn var_writes(&self) -> Vec<(String, Option<String>)> {
        self.record
            .iter()
            .filter(|e| e["fn"] == "switch_channel_set_variable_var_check")
            .map(|e| {
                (
                    e["name"].as_str().unwrap_or("").to_string(),
                    e["value"].as_str().map(str::to_string),
                )
            })
            .collect()
    }

    pub fn var(&self, name: &str) -> Option<&str> {
        self.variables.get(name).map(String::as_str)
    }

    /// The recorded calls of core function `func`, in order.
    pub fn calls_to(&self, func: &str) -> Vec<Value> {
        self.record
            .iter()
            .filter(|e| e["fn"] == func)
            .cloned()
            .collect()
    }

    /// The one recorded call of `func` (panics with the record unless exactly one).
    pub fn only_call(&self, func: &str) -> Value {
        let calls = self.calls_to(func);
        assert_eq!(
            calls.len(),
            1,
            "expected exactly one {func}; record: {:#?}",
            self.record
        );
        calls[0].clone()
    }

    /// The B-legs this call originated (see `raw`).
    pub fn blegs(&self) -> Vec<Value> {
        self.raw["blegs"].as_array().cloned().unwrap_or_default()
    }
}

// ---- temp dirs -------------------------------------------------------------------------

/// A directory under the system temp dir, removed on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!(
            "rustflow-harness-{tag}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

// ---- the harness -----------------------------------------------------------------------

/// Escapes text for an XML attribute value.
fn xml_attr(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// The outcome of calling the module's `load`.
#[derive(Debug, Clone)]
pub struct LoadResult {
    pub status: i64,
    /// `{"name", "apps": [{name, short_desc, long_desc, syntax, flags, has_function,
    /// parent_ok}], "apis": [{name, desc, syntax, has_function, parent_ok}]}`; Null when
    /// load failed or returned no interface.
    pub interface: Value,
}

/// One test's use of the module: a temp dir with `flows/`, the config pointing at it, the
/// module loaded (after [`Harness::load`]) and shut down on drop. Holds the process-wide lock.
pub struct Harness {
    dir: TempDir,
    params: Vec<(String, String)>,
    module: Option<(*mut c_void, *mut c_void)>,
    _lock: MutexGuard<'static, ()>,
}

impl Harness {
    /// Resets the fake core and writes a config with `flows-dir` = a fresh, empty dir.
    pub fn new() -> Harness {
        static LOCK: Mutex<()> = Mutex::new(());
        let lock = LOCK.lock().unwrap_or_else(PoisonError::into_inner);
        let l = loaded();
        // SAFETY: control function without arguments.
        unsafe { (l.core.reset)() };
        let version = module_library().table().switch_api_version;
        assert_eq!(
            i64::from(version),
            header_api_version(),
            "module table switch_api_version"
        );
        let dir = TempDir::new("flows");
        std::fs::create_dir_all(dir.path().join("flows")).expect("create flows dir");
        let mut h = Harness {
            params: Vec::new(),
            dir,
            module: None,
            _lock: lock,
        };
        let flows = h.flows_dir().display().to_string();
        h.set_params(&[("flows-dir", &flows)]);
        h
    }

    /// The temp dir holding `flows/` (files placed here are outside flows-dir).
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn flows_dir(&self) -> PathBuf {
        self.dir.path().join("flows")
    }

    /// Writes `flows/<id>.json`.
    pub fn write_flow(&self, id: &str, json: &str) -> PathBuf {
        let path = self.flows_dir().join(format!("{id}.json"));
        std::fs::write(&path, json).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        path
    }

    pub fn remove_flow(&self, id: &str) {
        let path = self.flows_dir().join(format!("{id}.json"));
        std::fs::remove_file(&path).unwrap_or_else(|e| panic!("removing {}: {e}", path.display()));
    }

    /// Replaces the `<settings>` params of mod_rustflow.conf (flows-dir included).
    pub fn set_params(&mut self, params: &[(&str, &str)]) {
        self.params = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let body: String = self
            .params
            .iter()
            .map(|(k, v)| {
                format!(
                    "    <param name=\"{}\" value=\"{}\"/>\n",
                    xml_attr(k),
                    xml_attr(v)
                )
            })
            .collect();
        let xml = format!(
            "<configuration name=\"mod_rustflow.conf\" description=\"rustflow harness\">\n  <settings>\n{body}  </settings>\n</configuration>\n"
        );
        self.set_config_xml(Some(&xml));
    }

    /// Sets the whole XML configuration document (None: no configuration at all).
    pub fn set_config_xml(&mut self, xml: Option<&str>) {
        let xml = xml.map(c);
        // SAFETY: valid C string or NULL.
        let err = unsafe {
            (loaded().core.set_config_xml)(xml.as_ref().map_or(std::ptr::null(), |x| x.as_ptr()))
        };
        if !err.is_null() {
            panic!("bad config XML: {}", take(err));
        }
    }

    /// Calls the module's `load` as FreeSWITCH does; keeps the module loaded on success.
    pub fn try_load(&mut self) -> LoadResult {
        assert!(self.module.is_none(), "module already loaded");
        let l = loaded();
        // SAFETY: control function without arguments.
        let pool = unsafe { (l.core.pool_new)() };
        let mut interface: *mut c_void = std::ptr::null_mut();
        let load = module_library()
            .table()
            .load
            .expect("module table has a load function");
        // SAFETY: as FreeSWITCH calls it.
        let status = i64::from(unsafe { load((&raw mut interface).cast(), pool.cast()) }.0);
        if status != STATUS_SUCCESS || interface.is_null() {
            // SAFETY: the switch discards a failed module's interface and pool.
            unsafe { (l.core.module_release)(interface, pool) };
            return LoadResult {
                status,
                interface: Value::Null,
            };
        }
        // SAFETY: any pointer; the core checks it is one it created.
        let described = take_json(unsafe { (l.core.module_describe)(interface) });
        self.module = Some((interface, pool));
        LoadResult {
            status,
            interface: described,
        }
    }

    /// `try_load`, asserting success.
    pub fn load(&mut self) -> LoadResult {
        let r = self.try_load();
        assert_eq!(
            r.status,
            STATUS_SUCCESS,
            "load failed; logs:\n{}",
            FakeCore::logs_text()
        );
        assert!(
            r.interface.get("error").is_none(),
            "load returned a bad interface: {}",
            r.interface
        );
        r
    }

    /// Calls the module's `shutdown`, then lets the fake core do what the switch does with
    /// its status: drop the interfaces and pool, or keep the module (SWITCH_STATUS_NOUNLOAD;
    /// then [`Harness::reopen_module`] leaves the library mapped).
    pub fn shutdown(&mut self) -> i64 {
        let (interface, pool) = self.module.take().expect("module is loaded");
        let l = loaded();
        let shutdown = module_library()
            .table()
            .shutdown
            .expect("module table has a shutdown function");
        // SAFETY: as FreeSWITCH calls it.
        let status = unsafe { shutdown() }.0;
        // SAFETY: interface and pool from try_load, handed back once.
        let closable = unsafe { (l.core.module_unload)(interface, pool, status as c_int) } == 1;
        l.closable
            .store(closable, std::sync::atomic::Ordering::SeqCst);
        i64::from(status)
    }

    /// What `unload mod_rustflow` + `load mod_rustflow` do to the library: dlclose it, then
    /// dlopen it again and look the table up anew. The module must be shut down first. After
    /// a shutdown that refused the unload the library is not closed (the switch keeps it
    /// mapped), so the dlopen finds the same image.
    pub fn reopen_module(&mut self) {
        assert!(
            self.module.is_none(),
            "shut the module down before closing it"
        );
        let mut library = module_library();
        if loaded().closable.load(std::sync::atomic::Ordering::SeqCst) {
            // SAFETY: the module is shut down and said nothing of it runs any more (its
            // interfaces were released with it), as when FreeSWITCH unloads a module.
            let closed = unsafe { libc::dlclose(library.library.handle) };
            assert_eq!(closed, 0, "dlclose: {}", dl_error());
        }
        // Kept: its handle stays open for good, as the switch never closes it.
        *library = ModuleLibrary::open(&artifacts().module);
    }

    pub fn is_loaded(&self) -> bool {
        self.module.is_some()
    }

    /// `rustflow <args>` through the API interface.
    pub fn api(&self, args: &str) -> ApiResult {
        FakeCore::api("rustflow", Some(args))
    }

    /// A harness (not loaded yet) whose module keeps its contact-centre store in the test's
    /// dir (`store` = `cc.sqlite` there).
    pub fn with_cc_store() -> Harness {
        let mut h = Harness::new();
        let store = h.root().join("cc.sqlite");
        let flows = h.flows_dir().display().to_string();
        h.set_params(&[
            ("flows-dir", &flows),
            ("store", &store.display().to_string()),
        ]);
        h
    }

    /// Writes `setup` as an import file in the test's dir and runs `rustflow cc import` on it
    /// (asserting SUCCESS).
    pub fn cc_import(&self, setup: &Value) -> String {
        let file = self.root().join("cc-import.json");
        std::fs::write(&file, setup.to_string()).expect("write the import file");
        self.api_ok(&format!("cc import {}", file.display()))
    }

    /// `api`, asserting the status is SUCCESS.
    pub fn api_ok(&self, args: &str) -> String {
        let r = self.api(args);
        assert_eq!(
            r.status, STATUS_SUCCESS,
            "rustflow {args} failed:\n{}",
            r.output
        );
        r.output
    }

    /// Runs `rustflow <data>` on a new session made from `spec`; returns its final state.
    pub fn run(&self, spec: Value, data: &str) -> SessionInfo {
        let s = Session::new(spec);
        s.exec("rustflow", data);
        s.info()
    }

    /// `run` with an empty spec.
    pub fn run_flow(&self, data: &str) -> SessionInfo {
        self.run(json!({}), data)
    }

    /// Asserts the fake core saw no contract violation.
    pub fn assert_no_core_errors(&self) {
        let errors = FakeCore::errors();
        assert!(
            errors.is_empty(),
            "fake core saw contract violations:\n{}",
            errors.join("\n")
        );
    }
}

impl Default for Harness {
    fn default() -> Self {
        Harness::new()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if self.module.is_some() {
            let status = self.shutdown();
            if !std::thread::panicking() {
                assert_eq!(
                    status,
                    STATUS_SUCCESS,
                    "shutdown failed; logs:\n{}",
                    FakeCore::logs_text()
                );
            }
        }
        if !std::thread::panicking() {
            FakeCore::check_detached_legs();
            self.assert_no_core_errors();
            let xml = FakeCore::xml_stats();
            assert_eq!(xml["live"], 0, "configuration trees not freed: {xml}");
            // SAFETY: control function without arguments.
            let matches = unsafe { (loaded().core.live_matches)() };
            assert_eq!(
                matches, 0,
                "session match lists not freed with switch_console_free_matches"
            );
            let events = FakeCore::event_stats();
            assert_eq!(
                events["live"], 0,
                "events created but neither fired nor destroyed: {events}"
            );
            assert_eq!(
                events["reserved"],
                json!([]),
                "event subclasses still reserved after shutdown: {events}"
            );
        }
    }
}
