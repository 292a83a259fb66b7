//! Legs originated with no A-leg: what a queue dispatcher does (`switch_ivr_originate` with
//! session NULL, from a thread that has no session, with a cancel cause).
//!
//! What each dialled target does comes from a core-wide script the harness sets
//! (`fakecore_set_agents`), keyed by the dialled target as the dial string names it
//! (`user/1001@example.com`), `"default"` for the rest: the outcome (`answered`, `no_answer`,
//! `busy`, `rejected`, ... as for the per-session `originate` script; an array is used one
//! entry per originate, the last one staying), `ring_ms` before it, and once answered
//! `talk_ms` (how long the agent talks once bridged), `hangup` (`agent` or `caller`: who ends
//! the conversation) and `hangup_after_ms` (the agent hangs up by itself, counted from the
//! answer).
//!
//! While it rings, originate looks at the cancel cause every 20 ms, as FreeSWITCH does with no
//! A-leg, and returns that cause; the leg's `leg_timeout`, the `originate_timeout` variable or
//! `timelimit_sec` (60 s when 0) ends the ringing with NO_ANSWER. An answered leg comes back
//! read-locked for the calling thread and idle; it lives on (locatable by its uuid, the
//! `origination_uuid` of its variables) until it is hung up and unlocked, and may be bridged to
//! any caller once. Every originate, with its arguments and result, is kept for the harness
//! (`fakecore_originates`), and so is every leg (`fakecore_detached_legs`).

use super::*;
use ivr::{
    CAUSE_DESTINATION_OUT_OF_ORDER, CAUSE_NONE, CAUSE_NORMAL_TEMPORARY_FAILURE, cause_name,
    event_headers, originate_cause, record_global,
};
use std::sync::atomic::{AtomicU32, Ordering};

const CAUSE_NO_ANSWER: c_int = 19;
/// What originate rings for when neither the leg, the variables nor the caller set a limit.
const DEFAULT_RING_LIMIT: Duration = Duration::from_secs(60);

/// What one dialled target does.
#[derive(Debug, Clone)]
struct AgentScript {
    /// One per originate; the last one stays.
    outcomes: VecDeque<String>,
    ring: Duration,
    talk: Option<Duration>,
    caller_ends: Option<bool>,
    hangup_after: Option<Duration>,
}

impl Default for AgentScript {
    fn default() -> Self {
        AgentScript {
            outcomes: VecDeque::from(["answered".to_string()]),
            ring: Duration::ZERO,
            talk: None,
            caller_ends: None,
            hangup_after: None,
        }
    }
}

impl AgentScript {
    /// The outcome of this originate (the scripted sequence advances).
    fn next_outcome(&mut self) -> String {
        if self.outcomes.len() > 1 {
            self.outcomes.pop_front().unwrap_or_default()
        } else {
            self.outcomes
                .front()
                .cloned()
                .unwrap_or_else(|| "answered".into())
        }
    }
}

#[derive(Default)]
struct Book {
    agents: BTreeMap<String, AgentScript>,
    /// Legs answered with no A-leg in this test (addresses of FakeSession).
    legs: Vec<usize>,
    /// Legs of earlier tests: poisoned (a late use is a violation, not a crash) and kept
    /// allocated, as the module may still hold their pointers.
    retired: Vec<usize>,
    /// One entry per originate with no A-leg: its arguments, then its `result`.
    originates: Vec<Value>,
}

// SAFETY: addresses only; the sessions they name are Sync (their state is under a mutex).
unsafe impl Send for Book {}

static BOOK: LazyLock<Mutex<Book>> = LazyLock::new(|| Mutex::new(Book::default()));

const AGENT_KEYS: &[&str] = &["outcome", "ring_ms", "talk_ms", "hangup", "hangup_after_ms"];

fn parse_agent(target: &str, spec: &Value) -> Result<AgentScript, String> {
    let Value::Object(spec) = spec else {
        return Err(format!("agent {target:?}: must be an object"));
    };
    for k in spec.keys() {
        if !AGENT_KEYS.contains(&k.as_str()) {
            return Err(format!("agent {target:?}: unknown key `{k}`"));
        }
    }
    let millis = |k: &str| -> Result<Option<Duration>, String> {
        match spec.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .map(|n| Some(Duration::from_millis(n)))
                .ok_or_else(|| format!("agent {target:?}: `{k}` must be a non-negative integer")),
        }
    };
    let outcomes: VecDeque<String> = match spec.get("outcome") {
        None | Some(Value::Null) => VecDeque::from(["answered".to_string()]),
        Some(Value::String(o)) => VecDeque::from([o.clone()]),
        Some(Value::Array(list)) if !list.is_empty() => list
            .iter()
            .map(|o| {
                o.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("agent {target:?}: `outcome` entries must be strings"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(format!(
                "agent {target:?}: `outcome` must be a string or a non-empty array of strings"
            ));
        }
    };
    for o in &outcomes {
        originate_cause(o).map_err(|e| format!("agent {target:?}: {e}"))?;
    }
    let caller_ends = match spec.get("hangup") {
        None | Some(Value::Null) => None,
        Some(Value::String(h)) if h == "agent" => Some(false),
        Some(Value::String(h)) if h == "caller" => Some(true),
        Some(other) => {
            return Err(format!(
                "agent {target:?}: `hangup` must be \"agent\" or \"caller\", not {other}"
            ));
        }
    };
    Ok(AgentScript {
        outcomes,
        ring: millis("ring_ms")?.unwrap_or(Duration::ZERO),
        talk: millis("talk_ms")?,
        caller_ends,
        hangup_after: millis("hangup_after_ms")?,
    })
}

/// Sets what dialled targets do (replacing the previous script): a JSON object keyed by
/// target (`"user/1001@example.com"`, `"default"`), see the module documentation. Returns NULL,
/// or the reason the script is refused (nothing changes then).
///
/// # Safety
/// `spec` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fakecore_set_agents(spec: *const c_char) -> *mut c_char {
    // SAFETY: C string argument from the harness.
    let spec = unsafe { text(spec) }.unwrap_or_else(|| "{}".into());
    let parsed = serde_json::from_str::<Value>(&spec)
        .map_err(|e| format!("agents script: {e}"))
        .and_then(|v| match v {
            Value::Object(m) => m
                .iter()
                .map(|(target, s)| parse_agent(target, s).map(|a| (target.clone(), a)))
                .collect::<Result<BTreeMap<_, _>, _>>(),
            _ => Err("agents script: must be an object keyed by dialled target".into()),
        });
    match parsed {
        Ok(agents) => {
            BOOK.lock().agents = agents;
            ptr::null_mut()
        }
        Err(e) => CString::new(e).map_or(ptr::null_mut(), CString::into_raw),
    }
}

/// Forgets the script, the originates and the legs of the previous test (fakecore_reset).
pub(crate) fn reset() {
    join_transfers();
    let mut book = BOOK.lock();
    let legs = std::mem::take(&mut book.legs);
    for &leg in &legs {
        // SAFETY: detached legs are never freed (see Book::retired).
        let s = unsafe { &*(leg as *const FakeSession) };
        unregister(s);
        // Poisoned through a raw pointer: the module may still hold one (a late use is then
        // reported as "not a live session pointer").
        // SAFETY: the leg's allocation stays valid; nothing else writes its magic.
        unsafe {
            let p = leg as *mut FakeSession;
            ptr::addr_of_mut!((*p).magic).write_volatile(0);
            ptr::addr_of_mut!((*p).channel.magic).write_volatile(0);
        }
    }
    book.retired.extend(legs);
    book.agents.clear();
    book.originates.clear();
}

/// One leg of a ringing group, planned from the script.
struct Ringing {
    target: String,
    vars: Vec<(String, String)>,
    outcome: String,
    /// When the leg's outcome is known, from the start of its group.
    at: Duration,
    /// None = answered.
    cause: Option<c_int>,
    limit: Duration,
    script: AgentScript,
}

/// How a detached originate ended.
enum Rung {
    Answered(Ringing, Vec<Value>),
    Failed {
        cause: c_int,
        cancelled: bool,
        attempts: Vec<Value>,
    },
}

/// A ring limit in whole seconds from a variable (`leg_timeout`, `originate_timeout`).
fn seconds_var(vars: &[(String, String)], name: &str) -> Option<Duration> {
    vars.iter()
        .rev()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| v.trim().parse::<u64>().ok())
        .filter(|&s| s > 0)
        .map(Duration::from_secs)
}

/// Waits until `until` looking at the cancel cause every frame; the cause, if one was set.
fn ring_until(until: Instant, cancel: Option<&AtomicU32>) -> Option<c_int> {
    loop {
        if let Some(c) = cancel.map(|c| c.load(Ordering::SeqCst)).filter(|&c| c != 0) {
            return Some(c as c_int);
        }
        let now = Instant::now();
        if now >= until {
            return None;
        }
        std::thread::sleep((until - now).min(FRAME));
    }
}

fn attempt(leg: &Ringing, result: &str) -> Value {
    json!({
        "target": leg.target, "outcome": leg.outcome, "ring_ms": leg.script.ring.as_millis() as u64,
        "limit_s": leg.limit.as_secs(), "result": result,
    })
}

/// Rings the dial string's failover groups one after another, the legs of a group at once.
fn ring(
    dial: Option<Result<dialstring::DialString, String>>,
    ovars: &[(String, String)],
    timelimit_sec: u32,
    cancel: Option<&AtomicU32>,
) -> Rung {
    let Some(Ok(dial)) = dial else {
        return Rung::Failed {
            cause: CAUSE_DESTINATION_OUT_OF_ORDER,
            cancelled: false,
            attempts: Vec::new(),
        };
    };
    let caller_limit = match timelimit_sec {
        0 => DEFAULT_RING_LIMIT,
        s => Duration::from_secs(u64::from(s)),
    };
    let mut attempts = Vec::new();
    let mut last = CAUSE_DESTINATION_OUT_OF_ORDER;
    for part in &dial.parts {
        for group in &part.groups {
            let start = Instant::now();
            let legs: Vec<Ringing> = {
                let mut book = BOOK.lock();
                group
                    .iter()
                    .map(|leg| {
                        let mut vars = dial.enterprise_ultra.clone();
                        vars.extend(part.ultra.iter().cloned());
                        vars.extend(part.global.iter().cloned());
                        vars.extend(ovars.iter().cloned());
                        let limit = seconds_var(&leg.vars, "leg_timeout")
                            .or_else(|| seconds_var(&vars, "originate_timeout"))
                            .unwrap_or(caller_limit);
                        vars.extend(leg.vars.iter().cloned());
                        let script = match book.agents.get_mut(&leg.target) {
                            Some(a) => a,
                            None => book.agents.entry("default".into()).or_default(),
                        };
                        let outcome = script.next_outcome();
                        let script = script.clone();
                        let scripted = originate_cause(&outcome)
                            .unwrap_or(Some(CAUSE_NORMAL_TEMPORARY_FAILURE));
                        let (at, cause) = if script.ring > limit {
                            (limit, Some(CAUSE_NO_ANSWER))
                        } else {
                            (script.ring, scripted)
                        };
                        Ringing {
                            target: leg.target.clone(),
                            vars,
                            outcome,
                            at,
                            cause,
                            limit,
                            script,
                        }
                    })
                    .collect()
            };
            // The group ends at its first answer, or once every leg failed.
            let winner = legs
                .iter()
                .enumerate()
                .filter(|(_, l)| l.cause.is_none())
                .min_by_key(|(_, l)| l.at)
                .map(|(i, _)| i);
            let ends = match winner {
                Some(i) => legs[i].at,
                None => legs.iter().map(|l| l.at).max().unwrap_or_default(),
            };
            if let Some(cause) = ring_until(start + ends, cancel) {
                attempts.extend(legs.iter().map(|l| attempt(l, "cancelled")));
                return Rung::Failed {
                    cause,
                    cancelled: true,
                    attempts,
                };
            }
            for (i, leg) in legs.iter().enumerate() {
                let result = match (leg.cause, winner) {
                    (_, Some(w)) if w == i => "answered".to_string(),
                    (None, _) => "lost the race".to_string(),
                    (Some(c), _) => cause_name(c),
                };
                attempts.push(attempt(leg, &result));
            }
            if let Some(w) = winner {
                let leg = legs
                    .into_iter()
                    .nth(w)
                    .expect("the winner is one of the legs");
                return Rung::Answered(leg, attempts);
            }
            last = legs.iter().find_map(|l| l.cause).unwrap_or(last);
        }
    }
    Rung::Failed {
        cause: last,
        cancelled: false,
        attempts,
    }
}

/// `switch_ivr_originate` with session NULL (see the module documentation).
///
/// # Safety
/// As `switch_ivr_originate`; `cancel_cause` is NULL or a u32 that stays valid (and is written
/// only atomically) until the call returns.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn originate(
    bleg: *mut *mut c_void,
    cause: *mut c_int,
    bridgeto: *const c_char,
    timelimit_sec: u32,
    table: *const c_void,
    cid_name_override: *const c_char,
    cid_num_override: *const c_char,
    caller_profile_override: *mut c_void,
    ovars: *mut c_void,
    flags: u32,
    cancel_cause: *mut c_int,
    dh: *mut c_void,
) -> c_int {
    // SAFETY: C strings from the module.
    let (dial, cid_name, cid_num) = unsafe {
        (
            text(bridgeto),
            text(cid_name_override),
            text(cid_num_override),
        )
    };
    // SAFETY: an event the core created (checked inside), or NULL.
    let ovars_list = unsafe { event_headers(ovars, "switch_ivr_originate ovars") };
    let parsed = dial.as_deref().map(dialstring::parse);
    let from = calling_thread();
    let id = {
        let mut book = BOOK.lock();
        let id = book.originates.len();
        let mut entry = ivr::originate_entry(
            &dial,
            &parsed,
            ivr::OriginateArgs {
                timelimit_sec,
                table: !table.is_null(),
                cid_name: &cid_name,
                cid_num: &cid_num,
                caller_profile_override: !caller_profile_override.is_null(),
                ovars: &ovars_list,
                flags,
                cancel_cause: !cancel_cause.is_null(),
                dial_handle: !dh.is_null(),
            },
        );
        entry["session"] = Value::Null;
        entry["id"] = json!(id);
        entry["from"] = json!(from);
        book.originates.push(entry.clone());
        drop(book);
        record_global(entry);
        id
    };
    if bleg.is_null() || cause.is_null() {
        violation("switch_ivr_originate: NULL bleg or cause pointer".into());
        return STATUS_FALSE;
    }
    if !from.is_null() {
        // Legal, but not what a queue does: with no A-leg the ringing has no caller to wait on.
        record_global(
            json!({"event": "originate_without_session_on_an_application_thread", "id": id, "from": from}),
        );
    }
    // SAFETY: checked non-NULL; the module owns both out-parameters.
    unsafe { *bleg = ptr::null_mut() };
    let cancel = (!cancel_cause.is_null()).then(|| {
        // SAFETY: the caller's contract: a live, aligned u32 written only atomically while the
        // originate runs.
        unsafe { AtomicU32::from_ptr(cancel_cause.cast::<u32>()) }
    });
    let rung = ring(
        parsed,
        ovars_list.as_deref().unwrap_or(&[]),
        timelimit_sec,
        cancel,
    );
    let (status, result) = match rung {
        Rung::Answered(leg, attempts) => {
            match answer(leg, cid_name, cid_num) {
                Some((b, uuid)) => {
                    // SAFETY: checked non-NULL above.
                    unsafe {
                        *bleg = b as *mut c_void;
                        *cause = CAUSE_NONE;
                    }
                    (
                        STATUS_SUCCESS,
                        json!({"answered": true, "bleg": uuid, "attempts": attempts}),
                    )
                }
                None => {
                    // SAFETY: checked non-NULL above.
                    unsafe { *cause = CAUSE_NORMAL_TEMPORARY_FAILURE };
                    (
                        STATUS_FALSE,
                        json!({"answered": false, "cause": CAUSE_NORMAL_TEMPORARY_FAILURE,
                               "cause_name": cause_name(CAUSE_NORMAL_TEMPORARY_FAILURE),
                               "cancelled": false, "attempts": attempts}),
                    )
                }
            }
        }
        Rung::Failed {
            cause: c,
            cancelled,
            attempts,
        } => {
            // SAFETY: checked non-NULL above.
            unsafe { *cause = c };
            (
                STATUS_FALSE,
                json!({"answered": false, "cause": c, "cause_name": cause_name(c),
                       "cancelled": cancelled, "attempts": attempts}),
            )
        }
    };
    let mut book = BOOK.lock();
    if let Some(entry) = book.originates.get_mut(id) {
        entry["result"] = result.clone();
    }
    drop(book);
    record_global(json!({"event": "originate_result", "id": id, "result": result}));
    status
}

/// Creates the answered leg, read-locked for the calling thread; None (a violation) when its
/// `origination_uuid` is taken.
fn answer(
    leg: Ringing,
    cid_name: Option<String>,
    cid_num: Option<String>,
) -> Option<(*mut FakeSession, String)> {
    let vars: BTreeMap<String, String> = leg.vars.into_iter().collect();
    let uuid = ivr::answered_leg_uuid(&vars, "switch_ivr_originate")?;
    let mut profile = BTreeMap::new();
    profile.insert("uuid".to_string(), uuid.clone());
    profile.insert("destination_number".to_string(), leg.target.clone());
    if let Some(n) = cid_name {
        profile.insert("caller_id_name".to_string(), n);
    }
    if let Some(n) = cid_num {
        profile.insert("caller_id_number".to_string(), n);
    }
    let empty = Map::new();
    let mut script = parse_script(&empty).expect("the empty script is valid");
    script.hangup_after = leg.script.hangup_after;
    let b = alloc_session(uuid.clone(), vars, profile, script, ptr::null(), true);
    {
        // SAFETY: just allocated.
        let mut st = unsafe { &*b }.state.lock();
        st.locks.push(std::thread::current().id());
        st.talk = leg.script.talk;
        st.talk_end_caller = leg.script.caller_ends;
        st.record
            .push(json!({"event": "answered", "target": leg.target}));
    }
    BOOK.lock().legs.push(b as usize);
    Some((b, uuid))
}

/// Every originate with no A-leg so far: its arguments (as the per-session record has them,
/// with `"session": null`, `"id"`, `"from"`: the call whose application ran on the calling
/// thread, null for a thread with no session) and, once it returned, `"result"`:
/// `{"answered": true, "bleg", "attempts"}` or `{"answered": false, "cause", "cause_name",
/// "cancelled", "attempts"}`; each attempt `{"target", "outcome", "ring_ms", "limit_s",
/// "result"}`.
#[unsafe(no_mangle)]
pub extern "C" fn fakecore_originates() -> *mut c_char {
    to_c_string(&Value::from(BOOK.lock().originates.clone()))
}

/// The legs answered with no A-leg, described as fakecore_session_info describes a call.
#[unsafe(no_mangle)]
pub extern "C" fn fakecore_detached_legs() -> *mut c_char {
    let legs = BOOK.lock().legs.clone();
    let described: Vec<Value> = legs
        .iter()
        // SAFETY: detached legs are never freed.
        .map(|&p| describe_session(unsafe { &*(p as *const FakeSession) }))
        .collect();
    to_c_string(&Value::from(described))
}

/// The end of a test: every leg answered with no A-leg must be hung up (bridged and done, or
/// hung up by whoever gave up on it) and unlocked; anything else is recorded as a violation.
#[unsafe(no_mangle)]
pub extern "C" fn fakecore_check_detached() {
    let legs = BOOK.lock().legs.clone();
    for p in legs {
        // SAFETY: detached legs are never freed.
        let s = unsafe { &*(p as *const FakeSession) };
        let (up, locks) = {
            let mut st = s.state.lock();
            st.poll();
            (st.up(), st.locks.len())
        };
        if locks > 0 {
            violation(format!(
                "leg {} answered with no A-leg is still read-locked {locks} time(s) (never released with switch_core_session_rwunlock)",
                s.uuid_text()
            ));
        }
        if up {
            violation(format!(
                "leg {} answered with no A-leg is still up: nobody bridged it or hung it up",
                s.uuid_text()
            ));
        }
    }
}

/// Threads running an application on a transferred leg (joined by the harness between tests).
static TRANSFERS: Mutex<Vec<std::thread::JoinHandle<()>>> = Mutex::new(Vec::new());

/// `switch_ivr_session_transfer` as the module uses it: a leg originated with no A-leg, still
/// read-locked by the caller, handed to the inline dialplan `APP:DATA` (`originate … &app(data)`).
/// The application runs on a thread of its own, as on the leg's session thread in FreeSWITCH;
/// when it returns the leg hangs up with NORMAL_CLEARING, as a channel whose dialplan ended.
/// Anything else (a caller's session, another dialplan, no `:`) is a violation.
///
/// # Safety
/// `session` is a pointer the core handed out; strings are NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_ivr_session_transfer(
    session: *mut c_void,
    extension: *const c_char,
    dialplan: *const c_char,
    context: *const c_char,
) -> c_int {
    const FUNC: &str = "switch_ivr_session_transfer";
    // SAFETY: checked by magic; C strings from the module.
    let (s, extension, dialplan, context) = unsafe {
        (
            session_from(session, FUNC),
            text(extension),
            text(dialplan),
            text(context),
        )
    };
    let Some(s) = s else { return STATUS_FALSE };
    let entry =
        json!({"fn": FUNC, "extension": extension, "dialplan": dialplan, "context": context});
    let locked = with_session(s, entry, |st| {
        st.locks.contains(&std::thread::current().id()) && st.up()
    });
    if !s.detached {
        violation(format!(
            "{FUNC}: {} is not a leg originated with no A-leg",
            s.uuid_text()
        ));
        return STATUS_FALSE;
    }
    if !locked {
        violation(format!(
            "{FUNC}: leg {} is not read-locked by the calling thread, or is down",
            s.uuid_text()
        ));
        return STATUS_FALSE;
    }
    let target = extension.unwrap_or_default();
    let (Some("inline"), Some((app, data))) = (dialplan.as_deref(), target.split_once(':')) else {
        violation(format!(
            "{FUNC}: expected dialplan \"inline\" and extension \"APP:DATA\", got {dialplan:?} {target:?}"
        ));
        return STATUS_FALSE;
    };
    let (app, data) = (
        CString::new(app).unwrap_or_default(),
        CString::new(data).unwrap_or_default(),
    );
    let leg = session as usize;
    let thread = std::thread::Builder::new()
        .name("fakecore-leg".into())
        .spawn(move || {
            let leg = leg as *mut FakeSession;
            // SAFETY: detached legs are never freed; the module's application gets a live leg.
            let ran = unsafe { crate::fakecore_session_exec(leg, app.as_ptr(), data.as_ptr()) };
            if ran != 0 {
                violation(format!("{FUNC}: no application {app:?} is registered"));
            }
            // SAFETY: as above. The end of the inline dialplan hangs the channel up (the
            // core's own doing: no read lock involved).
            ivr::hang_up(unsafe { &*leg }, CAUSE_NORMAL_CLEARING);
        });
    match thread {
        Ok(handle) => {
            TRANSFERS.lock().push(handle);
            STATUS_SUCCESS
        }
        Err(e) => {
            violation(format!("{FUNC}: cannot start the leg's thread: {e}"));
            STATUS_FALSE
        }
    }
}

/// How long a test's end waits for the applications of transferred legs to return.
const TRANSFER_PATIENCE: Duration = Duration::from_secs(10);

/// Waits for the applications of transferred legs to return before their legs are retired;
/// one still running after [`TRANSFER_PATIENCE`] is a violation (the module left a leg's
/// thread blocked), not a hung test.
fn join_transfers() {
    let handles = std::mem::take(&mut *TRANSFERS.lock());
    let deadline = Instant::now() + TRANSFER_PATIENCE;
    for handle in handles {
        while !handle.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if handle.is_finished() {
            let _ = handle.join();
        } else {
            violation(format!(
                "switch_ivr_session_transfer: an application still runs on a transferred leg {} s after the test ended",
                TRANSFER_PATIENCE.as_secs()
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_agent_script_reads_every_key_and_refuses_the_unknown() {
        let a = parse_agent(
            "user/1001@d",
            &json!({"outcome": ["no_answer", "answered"], "ring_ms": 150, "talk_ms": 40,
                    "hangup": "caller", "hangup_after_ms": 900}),
        )
        .expect("a valid script");
        assert_eq!(a.outcomes, ["no_answer", "answered"]);
        assert_eq!(a.ring, Duration::from_millis(150));
        assert_eq!(a.talk, Some(Duration::from_millis(40)));
        assert_eq!(a.caller_ends, Some(true));
        assert_eq!(a.hangup_after, Some(Duration::from_millis(900)));
        for (bad, why) in [
            (json!({"ring": 1}), "unknown key `ring`"),
            (json!({"outcome": "maybe"}), "unknown originate outcome"),
            (json!({"outcome": []}), "non-empty array"),
            (json!({"hangup": "both"}), "`hangup` must be"),
            (
                json!({"talk_ms": -1}),
                "`talk_ms` must be a non-negative integer",
            ),
        ] {
            let e = parse_agent("user/1001@d", &bad).expect_err("refused");
            assert!(e.contains(why) && e.contains("user/1001@d"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_sequence_of_outcomes_is_used_once_each_and_the_last_one_stays() {
        let mut a = parse_agent("t", &json!({"outcome": ["busy", "no_answer", "answered"]}))
            .expect("valid");
        let seen: Vec<String> = (0..5).map(|_| a.next_outcome()).collect();
        assert_eq!(
            seen,
            ["busy", "no_answer", "answered", "answered", "answered"]
        );
    }

    #[test]
    fn ring_limits_come_from_the_leg_then_the_variables() {
        let vars = vec![
            ("originate_timeout".to_string(), "15".to_string()),
            ("leg_timeout".to_string(), "0".to_string()),
        ];
        assert_eq!(
            seconds_var(&vars, "originate_timeout"),
            Some(Duration::from_secs(15))
        );
        // 0 (or junk) is no limit of its own: the next one applies.
        assert_eq!(seconds_var(&vars, "leg_timeout"), None);
    }
}
