//! The call applications' side of the fake core: originate and bridge, digits, speech,
//! recording, park, displace, DTMF, applications run through the core, module checks, events.
//!
//! Every call is recorded on its session with its arguments (`{"fn": ..}`); what the caller
//! does is scripted per session (see `SCRIPT_KEYS` in lib.rs): keys per prompt, speech
//! results, originate outcome per dialled target, a hangup when a given function is called.
//! Blocking calls wait real time (`bridge_ms`, `record_ms`, `block_ms`) and end early when the
//! caller hangs up (`hangup_after_ms`).

use super::*;

/// Not in the subset header (the module only pushes to the bottom): a flag the fake core
/// refuses, so a module that starts using it fails loudly here.
const STACK_TOP: c_int = 2;
const EVENT_MAGIC: u64 = 0x6576_656e_7421_2121;
const EVENT_CLONE: c_int = ffi::switch_event_types_t::SWITCH_EVENT_CLONE.0 as c_int;
/// Where a "session pool" string starts inside its allocation: a free() of it aborts.
const POOL_OFFSET: usize = 16;

/// Hangup causes the fake core produces (number, FreeSWITCH name).
const CAUSES: &[(c_int, &str)] = &[
    (16, "NORMAL_CLEARING"),
    (17, "USER_BUSY"),
    (18, "NO_USER_RESPONSE"),
    (19, "NO_ANSWER"),
    (21, "CALL_REJECTED"),
    (27, "DESTINATION_OUT_OF_ORDER"),
    (41, "NORMAL_TEMPORARY_FAILURE"),
    (487, "ORIGINATOR_CANCEL"),
    (806, "USER_NOT_REGISTERED"),
];

pub(crate) fn cause_name(cause: c_int) -> String {
    CAUSES
        .iter()
        .find(|(c, _)| *c == cause)
        .map_or_else(|| format!("CAUSE_{cause}"), |(_, n)| n.to_string())
}

/// The cause of a scripted originate outcome; `None` = answered.
/// `answered`, `busy` (USER_BUSY), `no_answer` (NO_ANSWER), `no_user_response`, `rejected`
/// (CALL_REJECTED), `unregistered` (USER_NOT_REGISTERED), `failed`
/// (NORMAL_TEMPORARY_FAILURE), `out_of_order`, or `cause:N`.
pub(crate) fn originate_cause(outcome: &str) -> Result<Option<c_int>, String> {
    Ok(Some(match outcome {
        "answered" => return Ok(None),
        "busy" => 17,
        "no_user_response" => 18,
        "no_answer" => 19,
        "rejected" => 21,
        "out_of_order" => 27,
        "failed" => 41,
        "unregistered" => 806,
        other => match other.strip_prefix("cause:").map(str::parse::<c_int>) {
            Some(Ok(n)) => n,
            _ => return Err(format!("unknown originate outcome {other:?}")),
        },
    }))
}

pub(crate) fn record_global(entry: Value) {
    core().record.push(entry);
}

// ---- originate and bridge -----------------------------------------------------------------

/// `switch_ivr_originate`: parses the dial string as FreeSWITCH does, walks the failover
/// groups with the scripted outcome per target, and on an answer hands out a B-leg session
/// (read-locked: the module must `switch_core_session_rwunlock` it).
///
/// # Safety
/// Pointer arguments are NULL or valid as the real function requires.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn switch_ivr_originate(
    session: *mut c_void,
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
    if session.is_null() {
        // SAFETY: forwarded with the same contract.
        return unsafe {
            detached::originate(
                bleg,
                cause,
                bridgeto,
                timelimit_sec,
                table,
                cid_name_override,
                cid_num_override,
                caller_profile_override,
                ovars,
                flags,
                cancel_cause,
                dh,
            )
        };
    }
    // SAFETY: C strings from the module; session checked by magic.
    let (dial, cid_name, cid_num, s) = unsafe {
        (
            text(bridgeto),
            text(cid_name_override),
            text(cid_num_override),
            session_from(session, "switch_ivr_originate"),
        )
    };
    let Some(s) = s else { return STATUS_FALSE };
    // SAFETY: an event the core created (checked inside), or NULL.
    let ovars_list = unsafe { event_headers(ovars, "switch_ivr_originate ovars") };
    let parsed = dial.as_deref().map(dialstring::parse);
    let entry = originate_entry(
        &dial,
        &parsed,
        OriginateArgs {
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
    if bleg.is_null() || cause.is_null() {
        violation("switch_ivr_originate: NULL bleg or cause pointer".into());
        return STATUS_FALSE;
    }
    // SAFETY: checked non-NULL; the module owns both out-parameters.
    unsafe {
        *bleg = ptr::null_mut();
    }
    let outcome = with_session(
        s,
        entry,
        |st| -> Result<(Leg, Vec<Value>), (c_int, Vec<Value>)> {
            if !st.up() {
                return Err((CAUSE_ORIGINATOR_CANCEL, Vec::new()));
            }
            let dial = match parsed {
                Some(Ok(d)) => d,
                _ => return Err((CAUSE_DESTINATION_OUT_OF_ORDER, Vec::new())),
            };
            let mut attempts = Vec::new();
            let mut last = CAUSE_DESTINATION_OUT_OF_ORDER;
            for part in &dial.parts {
                for group in &part.groups {
                    let mut group_cause = None;
                    for leg in group {
                        let outcome = st
                            .script
                            .originate
                            .get(&leg.target)
                            .or_else(|| st.script.originate.get("default"))
                            .cloned()
                            .unwrap_or_else(|| "answered".into());
                        attempts.push(json!({"target": leg.target, "outcome": outcome}));
                        match originate_cause(&outcome)
                            .unwrap_or(Some(CAUSE_NORMAL_TEMPORARY_FAILURE))
                        {
                            None => {
                                let mut vars: Vec<(String, String)> = dial.enterprise_ultra.clone();
                                vars.extend(part.ultra.iter().cloned());
                                vars.extend(part.global.iter().cloned());
                                vars.extend(ovars_list.clone().unwrap_or_default());
                                vars.extend(leg.vars.iter().cloned());
                                return Ok((
                                    Leg {
                                        vars,
                                        target: leg.target.clone(),
                                    },
                                    attempts,
                                ));
                            }
                            Some(c) => {
                                group_cause.get_or_insert(c);
                            }
                        }
                    }
                    last = group_cause.unwrap_or(last);
                }
            }
            Err((last, attempts))
        },
    );
    match outcome {
        Ok((leg, attempts)) => {
            let vars: BTreeMap<String, String> = leg.vars.into_iter().collect();
            let Some(uuid) = answered_leg_uuid(&vars, "switch_ivr_originate") else {
                // SAFETY: checked non-NULL above.
                unsafe { *cause = CAUSE_NORMAL_TEMPORARY_FAILURE };
                return STATUS_FALSE;
            };
            let mut profile = BTreeMap::new();
            profile.insert("uuid".to_string(), uuid.clone());
            profile.insert("destination_number".to_string(), leg.target.clone());
            let empty = Map::new();
            let script = parse_script(&empty).expect("the empty script is valid");
            let b = alloc_session(
                uuid.clone(),
                vars,
                profile,
                script,
                s as *const FakeSession,
                false,
            );
            // SAFETY: just allocated; answered legs come back read-locked by the caller.
            unsafe { (*b).state.lock().locks.push(std::thread::current().id()) };
            {
                let mut st = s.state.lock();
                st.blegs.push(b as usize);
                st.record.push(json!({"event": "originate_answered", "target": leg.target, "bleg": uuid, "attempts": attempts}));
                st.vars
                    .insert("originate_disposition".into(), "SUCCESS".into());
            }
            // SAFETY: checked non-NULL above.
            unsafe {
                *bleg = b as *mut c_void;
                *cause = CAUSE_NONE;
            }
            STATUS_SUCCESS
        }
        Err((c, attempts)) => {
            {
                let mut st = s.state.lock();
                st.record
                    .push(json!({"event": "originate_failed", "cause": c, "attempts": attempts}));
                st.vars
                    .insert("originate_disposition".into(), cause_name(c));
            }
            // SAFETY: checked non-NULL above.
            unsafe { *cause = c };
            STATUS_FALSE
        }
    }
}

use dialstring::Leg;

/// The uuid of a leg that answered: its `origination_uuid` variable (from the dial string's
/// `{}`/`[]` or the ovars, as FreeSWITCH applies it), else a fresh one. `None` (a violation)
/// when that uuid belongs to a session still up or locked: FreeSWITCH refuses a duplicate.
pub(crate) fn answered_leg_uuid(vars: &BTreeMap<String, String>, func: &str) -> Option<String> {
    match vars.get("origination_uuid").filter(|u| !u.is_empty()) {
        Some(u) if uuid_in_use(u) => {
            violation(format!(
                "{func}: origination_uuid {u} is the uuid of a session still up or locked"
            ));
            None
        }
        Some(u) => Some(u.clone()),
        None => Some(next_uuid()),
    }
}

pub(crate) const CAUSE_NONE: c_int = ffi::switch_call_cause_t::SWITCH_CAUSE_NONE.0 as c_int;
pub(crate) const CAUSE_NORMAL_TEMPORARY_FAILURE: c_int =
    ffi::switch_call_cause_t::SWITCH_CAUSE_NORMAL_TEMPORARY_FAILURE.0 as c_int;
/// A cause the module never names (so not in the subset header): what the fake originate
/// answers for an unreachable target; the module passes causes through as numbers.
pub(crate) const CAUSE_DESTINATION_OUT_OF_ORDER: c_int = 27;
const CAUSE_ORIGINATOR_CANCEL: c_int =
    ffi::switch_call_cause_t::SWITCH_CAUSE_ORIGINATOR_CANCEL.0 as c_int;

/// `switch_ivr_multi_threaded_bridge`: talks for `bridge_ms` (or the detached peer's scripted
/// `talk_ms`), then the callee (or, with `bridge_end: caller` / the agent's `hangup: caller`,
/// the caller) hangs up; the peer hanging up first ends it too. The peer is a B-leg this
/// session originated, or a leg originated with no session, bridged once at most.
///
/// # Safety
/// Session pointers come from the core.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_ivr_multi_threaded_bridge(
    session: *mut c_void,
    peer_session: *mut c_void,
    dtmf_callback: *mut c_void,
    session_data: *mut c_void,
    peer_session_data: *mut c_void,
) -> c_int {
    // SAFETY: checked by magic.
    let (a, b) = unsafe {
        (
            session_from(session, "switch_ivr_multi_threaded_bridge"),
            session_from(peer_session, "switch_ivr_multi_threaded_bridge(peer)"),
        )
    };
    let (Some(a), Some(b)) = (a, b) else {
        return STATUS_FALSE;
    };
    if !ptr::eq(b.parent, a) && !b.detached {
        violation(
            "switch_ivr_multi_threaded_bridge: the peer is not a B-leg this session originated nor a leg originated with no session"
                .into(),
        );
        return STATUS_FALSE;
    }
    let peer = b.uuid_text();
    let entry = json!({
        "fn": "switch_ivr_multi_threaded_bridge", "peer": peer,
        "dtmf_callback": !dtmf_callback.is_null(), "session_data": !session_data.is_null(),
        "peer_session_data": !peer_session_data.is_null(),
    });
    let mut peer_talk = (None, None);
    if b.detached {
        let mut bst = b.state.lock();
        bst.poll();
        if let Some(earlier) = bst.bridged_to.clone() {
            drop(bst);
            with_session(a, entry, |_| ());
            violation(format!(
                "switch_ivr_multi_threaded_bridge: leg {peer} was already bridged to {earlier}"
            ));
            return STATUS_FALSE;
        }
        if !bst.up() {
            // The agent left before the bridge: nothing to join.
            drop(bst);
            with_session(a, entry, |_| ());
            return STATUS_FALSE;
        }
        bst.bridged_to = Some(a.uuid_text());
        bst.record
            .push(json!({"event": "bridged", "to": a.uuid_text()}));
        peer_talk = (bst.talk, bst.talk_end_caller);
    }
    let caller = with_session(a, entry, |st| {
        if st.up() {
            st.vars.insert("last_bridge_to".into(), peer.clone());
            Ok((st.script.bridge, st.script.bridge_end_caller))
        } else {
            Err(st.cause.unwrap_or(CAUSE_NORMAL_CLEARING))
        }
    });
    let (talk, caller_ends) = match caller {
        Ok((talk, caller_ends)) => (
            peer_talk.0.unwrap_or(talk),
            peer_talk.1.unwrap_or(caller_ends),
        ),
        Err(caller_cause) => {
            // FreeSWITCH hangs the peer up with the cause of a caller already gone.
            hang_up(b, caller_cause);
            return STATUS_SUCCESS;
        }
    };
    match talk_until(a, b, talk) {
        BridgeEnd::Done => {
            if caller_ends {
                a.state.lock().remote_hangup("bridge_end caller");
            }
            hang_up(b, CAUSE_NORMAL_CLEARING);
        }
        BridgeEnd::CallerGone => hang_up(b, CAUSE_NORMAL_CLEARING),
        // The agent hung up (its scripted time): the switch ran its hooks then, on its
        // signalling thread; here, where the hangup is noticed.
        BridgeEnd::PeerGone => fire_state_hooks(b),
    }
    STATUS_SUCCESS
}

/// How a bridge's conversation ended.
enum BridgeEnd {
    Done,
    CallerGone,
    PeerGone,
}

/// The conversation: `talk` of real time, frame by frame, unless either side hangs up first.
fn talk_until(a: &FakeSession, b: &FakeSession, talk: Duration) -> BridgeEnd {
    let deadline = Instant::now() + talk;
    loop {
        {
            let mut st = a.state.lock();
            st.poll();
            if !st.up() {
                return BridgeEnd::CallerGone;
            }
        }
        {
            let mut st = b.state.lock();
            st.poll();
            if !st.up() {
                return BridgeEnd::PeerGone;
            }
        }
        let now = Instant::now();
        if now >= deadline {
            return BridgeEnd::Done;
        }
        std::thread::sleep((deadline - now).min(FRAME));
    }
}

/// Hangs a leg up (if it is still up) with `cause`, waking whoever waits on it.
pub(crate) fn hang_up(s: &FakeSession, cause: c_int) {
    let mut st = s.state.lock();
    let changed = st.up();
    if changed {
        st.state = CS_HANGUP;
        st.cause = Some(cause);
    }
    drop(st);
    s.wake.notify_all();
    if changed {
        fire_state_hooks(s);
    }
}

/// `switch_core_session_perform_locate`: the live session with this uuid (a harness call or
/// any answered leg), read-locked for the calling thread; NULL when there is none or it is
/// hanging up, as the switch's read lock refuses a channel that is down.
///
/// # Safety
/// Strings are NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_core_session_perform_locate(
    uuid_str: *const c_char,
    file: *const c_char,
    func: *const c_char,
    line: c_int,
) -> *mut c_void {
    // SAFETY: C strings from the module.
    let (uuid, file, func) = unsafe { (text(uuid_str), text(file), text(func)) };
    let from = calling_thread();
    let sessions = SESSIONS.lock();
    let found = uuid
        .as_ref()
        .and_then(|u| sessions.get(u))
        .map(|&p| p as *const FakeSession);
    let locked = found.filter(|&p| {
        // SAFETY: registered sessions are live (they leave the table before they are freed);
        // the table lock keeps them registered while we take the read lock.
        let s = unsafe { &*p };
        let mut st = s.state.lock();
        st.poll();
        if !st.up() {
            return false;
        }
        st.locks.push(std::thread::current().id());
        st.record.push(json!({
            "fn": "switch_core_session_perform_locate", "uuid": uuid, "from": from,
        }));
        true
    });
    drop(sessions);
    record_global(json!({
        "fn": "switch_core_session_perform_locate", "uuid": uuid, "found": locked.is_some(),
        "from": from, "file": file, "func": func, "line": line,
    }));
    locked.map_or(ptr::null_mut(), |p| p as *mut c_void)
}

/// `switch_core_session_rwunlock`: releases one read lock of the calling thread; releasing a
/// lock another thread took (FreeSWITCH releases on the locking thread) or a session nobody
/// locked is a violation.
///
/// # Safety
/// `session` comes from the core.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_core_session_rwunlock(session: *mut c_void) {
    const FUNC: &str = "switch_core_session_rwunlock";
    let p = session as *const FakeSession;
    // SAFETY: any pointer; dereferenced only after the NULL check, for the magic.
    if p.is_null() || unsafe { (*p).magic } != SESSION_MAGIC {
        violation(format!("{FUNC}: not a live session pointer"));
        return;
    }
    // SAFETY: checked above.
    let s = unsafe { &*p };
    let me = std::thread::current().id();
    let mut st = s.state.lock();
    if let Some(i) = st.locks.iter().position(|t| *t == me) {
        st.locks.remove(i);
    } else if st.locks.is_empty() {
        drop(st);
        violation(format!(
            "{FUNC}: {} {} is not read-locked (released twice, or never located)",
            if s.is_leg() { "leg" } else { "session" },
            s.uuid_text()
        ));
        return;
    } else {
        st.locks.remove(0);
        drop(st);
        violation(format!(
            "{FUNC}: the read lock on {} was taken by another thread (release it on the thread that took it)",
            s.uuid_text()
        ));
        st = s.state.lock();
    }
    if s.parent.is_null() {
        st.record
            .push(json!({"fn": FUNC, "session": s.uuid_text(), "from": calling_thread()}));
        drop(st);
    } else {
        drop(st);
        // SAFETY: a B-leg's parent lives at least as long as the B-leg.
        let parent = unsafe { &*s.parent };
        parent
            .state
            .lock()
            .record
            .push(json!({"fn": FUNC, "session": s.uuid_text()}));
    }
    // A teardown may be waiting for the last lock.
    s.wake.notify_all();
}

// ---- digits and speech --------------------------------------------------------------------

/// Counts a prompt as a playback (for `hangup_on_play`); false when the caller is gone.
fn prompt_starts(st: &mut SessionState, why: &str) -> bool {
    if !st.up() {
        return false;
    }
    st.plays += 1;
    if st.script.hangup_on_play == Some(st.plays) {
        st.remote_hangup(why);
        return false;
    }
    true
}

/// `switch_play_and_get_digits`, modelled on FreeSWITCH's loop: per try, the prompt plays
/// and the next scripted entry is what the caller keys; input is valid when it has at least
/// `min` digits (or a terminator with `min` 0) and matches the regex; invalid input plays
/// the bad-input file and tries again. Sets `var_name` (and `VAR_invalid`) as FreeSWITCH does.
///
/// # Safety
/// Strings are NULL or NUL-terminated; `digit_buffer` is writable for `digit_buffer_length`.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn switch_play_and_get_digits(
    session: *mut c_void,
    min_digits: u32,
    max_digits: u32,
    max_tries: u32,
    timeout: u32,
    valid_terminators: *const c_char,
    audio_file: *const c_char,
    bad_input_audio_file: *const c_char,
    var_name: *const c_char,
    digit_buffer: *mut c_char,
    digit_buffer_length: u32,
    digits_regex: *const c_char,
    digit_timeout: u32,
    transfer_on_failure: *const c_char,
) -> c_int {
    // SAFETY: C strings from the module; session checked by magic.
    let (terminators, file, bad_file, var, regex, transfer, s) = unsafe {
        (
            text(valid_terminators),
            text(audio_file),
            text(bad_input_audio_file),
            text(var_name),
            text(digits_regex),
            text(transfer_on_failure),
            session_from(session, "switch_play_and_get_digits"),
        )
    };
    let Some(s) = s else { return STATUS_FALSE };
    let entry = json!({
        "fn": "switch_play_and_get_digits", "min": min_digits, "max": max_digits,
        "tries": max_tries, "timeout": timeout, "terminators": terminators, "file": file,
        "bad_input_file": bad_file, "var_name": var, "buffer_length": digit_buffer_length,
        "regex": regex, "digit_timeout": digit_timeout, "transfer_on_failure": transfer,
    });
    if digit_buffer.is_null() || digit_buffer_length == 0 {
        violation("switch_play_and_get_digits: no digit buffer".into());
        return STATUS_FALSE;
    }
    let compiled = match regex
        .as_deref()
        .filter(|r| !r.is_empty())
        .map(regex::Regex::new)
    {
        Some(Ok(r)) => Some(r),
        Some(Err(e)) => {
            violation(format!(
                "switch_play_and_get_digits: bad regex {regex:?}: {e}"
            ));
            None
        }
        None => None,
    };
    let write_buffer = |digits: &str| {
        let n = digits.len().min(digit_buffer_length as usize - 1);
        // SAFETY: the buffer is writable for digit_buffer_length bytes (caller's contract).
        unsafe {
            ptr::write_bytes(digit_buffer, 0, digit_buffer_length as usize);
            ptr::copy_nonoverlapping(digits.as_ptr() as *const c_char, digit_buffer, n);
        }
    };
    let terminators = terminators.unwrap_or_default();
    let var = var.filter(|v| !v.is_empty());
    with_session(s, entry, |st| {
        if let (Some(v), Some(_)) = (&var, &compiled) {
            st.vars.remove(&format!("{v}_invalid"));
        }
        let mut tries = max_tries;
        while st.up() && tries > 0 {
            write_buffer("");
            // switch_ivr_read clears the variables at the start of every read.
            st.vars.remove("read_result");
            if let Some(v) = &var {
                st.vars.remove(v);
            }
            if !prompt_starts(st, "hangup_on_play") {
                break;
            }
            let mut keys = st.script.digits.pop_front().unwrap_or_default();
            if !st.script.queued_dtmf.is_empty() {
                keys = std::mem::take(&mut st.script.queued_dtmf) + &keys;
            }
            st.record
                .push(json!({"event": "caller_keys", "keys": keys}));
            if keys == "hangup" {
                st.remote_hangup("digits: hangup");
                break;
            }
            let mut digits = String::new();
            let mut terminator = None;
            for k in keys.chars() {
                if terminators.contains(k) && terminators != "none" {
                    terminator = Some(k);
                    break;
                }
                if digits.len() as u32 >= max_digits {
                    break;
                }
                digits.push(k);
            }
            write_buffer(&digits);
            if let Some(t) = terminator {
                st.vars.insert("read_terminator_used".into(), t.to_string());
            }
            // As switch_ivr_read: read_result, and var_name = whatever was keyed, even input
            // too short to be valid.
            let result = if digits.is_empty() && terminator.is_none() {
                "timeout"
            } else if (digits.len() as u32) < min_digits {
                "failure"
            } else {
                "success"
            };
            st.vars.insert("read_result".into(), result.into());
            if let Some(v) = &var {
                if !digits.is_empty() {
                    st.vars.insert(v.clone(), digits.clone());
                }
            }
            if min_digits == 0 && digits.is_empty() && terminator.is_some() {
                return STATUS_SUCCESS;
            }
            if !digits.is_empty() && digits.len() as u32 >= min_digits {
                match &compiled {
                    None => return STATUS_SUCCESS,
                    Some(r) if r.is_match(&digits) => return STATUS_SUCCESS,
                    Some(_) => {
                        if let Some(v) = &var {
                            st.vars.remove(v);
                            st.vars.insert(format!("{v}_invalid"), digits.clone());
                        }
                    }
                }
            }
            if !st.up() {
                break;
            }
            st.record
                .push(json!({"event": "bad_input_played", "file": bad_file}));
            tries -= 1;
        }
        write_buffer("");
        STATUS_FALSE
    })
}

/// `switch_ivr_play_and_detect_speech`: the next scripted speech entry is the result
/// (allocated from the "session pool": the module must not free it).
///
/// # Safety
/// Strings are NULL or NUL-terminated; `result` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_ivr_play_and_detect_speech(
    session: *mut c_void,
    file: *const c_char,
    mod_name: *const c_char,
    grammar: *const c_char,
    result: *mut *mut c_char,
    input_timeout: u32,
    args: *mut InputArgs,
) -> c_int {
    // SAFETY: C strings from the module; session checked by magic.
    let (file, mod_name, grammar, s) = unsafe {
        (
            text(file),
            text(mod_name),
            text(grammar),
            session_from(session, "switch_ivr_play_and_detect_speech"),
        )
    };
    let Some(s) = s else { return STATUS_FALSE };
    let entry = json!({
        "fn": "switch_ivr_play_and_detect_speech", "file": file, "mod_name": mod_name,
        "grammar": grammar, "input_timeout": input_timeout, "args": !args.is_null(),
    });
    if result.is_null() {
        violation("switch_ivr_play_and_detect_speech: NULL result pointer".into());
        return STATUS_FALSE;
    }
    // SAFETY: checked non-NULL.
    unsafe { *result = ptr::null_mut() };
    let asr_loaded = mod_name
        .as_deref()
        .is_some_and(|m| core().loaded_modules.contains(&format!("mod_{m}")));
    with_session(s, entry, |st| {
        if !prompt_starts(st, "hangup_on_play") {
            return STATUS_FALSE;
        }
        if !asr_loaded {
            // FreeSWITCH: "Error starting detect speech" when no such ASR interface exists.
            return STATUS_FALSE;
        }
        let (status, text) = match st.script.speech.pop_front() {
            None => (STATUS_SUCCESS, None),
            Some(Value::String(r)) => (STATUS_SUCCESS, Some(r)),
            Some(Value::Object(o)) => (
                o.get("status").and_then(Value::as_i64).unwrap_or(0) as c_int,
                o.get("result").and_then(Value::as_str).map(str::to_string),
            ),
            Some(other) => (STATUS_SUCCESS, Some(other.to_string())),
        };
        if let Some(t) = text {
            // Session-pool memory, as FreeSWITCH's switch_core_session_strdup: the module must
            // copy it and never free() it (the offset makes a free() abort).
            let mut bytes = vec![b'#'; POOL_OFFSET];
            bytes.extend(t.replace('\0', "").bytes());
            let c = CString::new(bytes).unwrap_or_default();
            // SAFETY: checked non-NULL; the string lives in the session until it is freed;
            // POOL_OFFSET is inside the allocation.
            unsafe { *result = (c.as_ptr() as *mut c_char).add(POOL_OFFSET) };
            st.pool_strings.push(c);
        }
        status
    })
}

// ---- recording --------------------------------------------------------------------------

/// Creates the file FreeSWITCH would open for writing; false when it cannot.
fn create_file(path: &str) -> bool {
    if path.contains("://") {
        return true;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .is_ok()
}

/// # Safety
/// As for `switch_ivr_record_file`.
unsafe fn record_file(
    session: *mut c_void,
    fh: *mut c_void,
    file: *const c_char,
    args: *mut InputArgs,
    limit: u32,
    vars: *mut c_void,
    func: &str,
) -> c_int {
    // SAFETY: C string from the module; session checked by magic.
    let (file, s) = unsafe { (text(file), session_from(session, func)) };
    let Some(s) = s else { return STATUS_FALSE };
    // SAFETY: an event the core created, or NULL.
    let vars = unsafe { event_headers(vars, func) };
    let entry = json!({
        "fn": func, "file": file, "fh": !fh.is_null(), "args": !args.is_null(), "limit": limit,
        "vars": vars.map(|l| l.into_iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>()),
    });
    let Some(file) = file else {
        violation(format!("{func}: NULL file"));
        return STATUS_GENERR;
    };
    let wait = with_session(s, entry, |st| st.up().then_some(st.script.record));
    let Some(wait) = wait else {
        return STATUS_FALSE;
    };
    if !create_file(&file) {
        return STATUS_GENERR;
    }
    if media_wait(s, wait) {
        STATUS_SUCCESS
    } else {
        STATUS_FALSE
    }
}

/// # Safety
/// Strings are NULL or NUL-terminated; session from the core.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_ivr_record_file(
    session: *mut c_void,
    fh: *mut c_void,
    file: *const c_char,
    args: *mut InputArgs,
    limit: u32,
) -> c_int {
    // SAFETY: forwarded.
    unsafe {
        record_file(
            session,
            fh,
            file,
            args,
            limit,
            ptr::null_mut(),
            "switch_ivr_record_file",
        )
    }
}

/// # Safety
/// As for `switch_ivr_record_session`.
unsafe fn record_session(
    session: *mut c_void,
    file: *const c_char,
    limit: u32,
    fh: *mut c_void,
    vars: *mut c_void,
    func: &str,
) -> c_int {
    // SAFETY: C string from the module; session checked by magic.
    let (file, s) = unsafe { (text(file), session_from(session, func)) };
    let Some(s) = s else { return STATUS_FALSE };
    // SAFETY: an event the core created, or NULL.
    let vars = unsafe { event_headers(vars, func) };
    let entry = json!({
        "fn": func, "file": file, "limit": limit, "fh": !fh.is_null(),
        "vars": vars.map(|l| l.into_iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>()),
    });
    let Some(file) = file else {
        violation(format!("{func}: NULL file"));
        return STATUS_GENERR;
    };
    with_session(s, entry, |st| {
        if !st.up() {
            return STATUS_FALSE;
        }
        if !create_file(&file) {
            return STATUS_GENERR;
        }
        st.recordings.push(file);
        STATUS_SUCCESS
    })
}

/// # Safety
/// Strings are NULL or NUL-terminated; session from the core.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_ivr_record_session(
    session: *mut c_void,
    file: *const c_char,
    limit: u32,
    fh: *mut c_void,
) -> c_int {
    // SAFETY: forwarded.
    unsafe {
        record_session(
            session,
            file,
            limit,
            fh,
            ptr::null_mut(),
            "switch_ivr_record_session",
        )
    }
}

/// Stops the recording of `file` (`all`: every one); FALSE when no such recording runs.
///
/// # Safety
/// Strings are NULL or NUL-terminated; session from the core.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_ivr_stop_record_session(
    session: *mut c_void,
    file: *const c_char,
) -> c_int {
    // SAFETY: C string from the module; session checked by magic.
    let (file, s) = unsafe {
        (
            text(file),
            session_from(session, "switch_ivr_stop_record_session"),
        )
    };
    let Some(s) = s else { return STATUS_FALSE };
    let entry = json!({"fn": "switch_ivr_stop_record_session", "file": file});
    with_session(s, entry, |st| match file.as_deref() {
        Some("all") if !st.recordings.is_empty() => {
            st.recordings.clear();
            STATUS_SUCCESS
        }
        Some(f) => remove_listed(&mut st.recordings, f),
        None => STATUS_FALSE,
    })
}

// ---- park, displace, DTMF ---------------------------------------------------------------------

/// Waits `block_ms` (or until the caller hangs up) after recording `entry`; false when the
/// call was gone before.
fn block(s: &FakeSession, entry: Value) -> bool {
    let wait = with_session(s, entry, |st| st.up().then_some(st.script.block));
    match wait {
        Some(w) => {
            media_wait(s, w);
            true
        }
        None => false,
    }
}

/// # Safety
/// Strings are NULL or NUL-terminated; session from the core.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_ivr_displace_session(
    session: *mut c_void,
    file: *const c_char,
    limit: u32,
    flags: *const c_char,
) -> c_int {
    // SAFETY: C strings from the module; session checked by magic.
    let (file, flags, s) = unsafe {
        (
            text(file),
            text(flags),
            session_from(session, "switch_ivr_displace_session"),
        )
    };
    let Some(s) = s else { return STATUS_FALSE };
    let entry =
        json!({"fn": "switch_ivr_displace_session", "file": file, "limit": limit, "flags": flags});
    with_session(s, entry, |st| match file {
        Some(f) if st.up() => {
            st.displaces.push(f);
            STATUS_SUCCESS
        }
        _ => STATUS_FALSE,
    })
}

/// # Safety
/// Strings are NULL or NUL-terminated; session from the core.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_ivr_stop_displace_session(
    session: *mut c_void,
    file: *const c_char,
) -> c_int {
    // SAFETY: C string from the module; session checked by magic.
    let (file, s) = unsafe {
        (
            text(file),
            session_from(session, "switch_ivr_stop_displace_session"),
        )
    };
    let Some(s) = s else { return STATUS_FALSE };
    let entry = json!({"fn": "switch_ivr_stop_displace_session", "file": file});
    with_session(s, entry, |st| match file {
        Some(f) => remove_listed(&mut st.displaces, &f),
        None => STATUS_FALSE,
    })
}

/// # Safety
/// Session from the core.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_ivr_inband_dtmf_session(session: *mut c_void) -> c_int {
    // SAFETY: checked by magic.
    let Some(s) = (unsafe { session_from(session, "switch_ivr_inband_dtmf_session") }) else {
        return STATUS_FALSE;
    };
    with_session(s, json!({"fn": "switch_ivr_inband_dtmf_session"}), |st| {
        success_if_up(st, |st| st.inband_dtmf = true)
    })
}

/// FALSE when no in-band detection runs (FreeSWITCH finds no media bug to remove).
///
/// # Safety
/// Session from the core.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_ivr_stop_inband_dtmf_session(session: *mut c_void) -> c_int {
    // SAFETY: checked by magic.
    let Some(s) = (unsafe { session_from(session, "switch_ivr_stop_inband_dtmf_session") }) else {
        return STATUS_FALSE;
    };
    with_session(
        s,
        json!({"fn": "switch_ivr_stop_inband_dtmf_session"}),
        |st| {
            if std::mem::take(&mut st.inband_dtmf) {
                STATUS_SUCCESS
            } else {
                STATUS_FALSE
            }
        },
    )
}

/// # Safety
/// Channel from the core.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_channel_flush_dtmf(channel: *mut c_void) {
    // SAFETY: checked by magic.
    if let Some(s) = unsafe { channel_from(channel, "switch_channel_flush_dtmf") } {
        with_session(s, json!({"fn": "switch_channel_flush_dtmf"}), |st| {
            st.script.queued_dtmf.clear()
        });
    }
}

// ---- channel state ---------------------------------------------------------------------------

/// Runs the session's state-change hooks, as the switch does on the thread that changed the
/// state (here: to hangup). Called without the session's lock held: hooks read the session.
pub(crate) fn fire_state_hooks(s: &FakeSession) {
    let hooks = s.state.lock().state_hooks.clone();
    for hook in hooks {
        // SAFETY: the address came from switch_core_event_hook_add_state_change as a
        // `switch_status_t (*)(switch_core_session_t *)`, which is this type.
        let hook: unsafe extern "C" fn(*mut c_void) -> c_int = unsafe {
            std::mem::transmute::<usize, unsafe extern "C" fn(*mut c_void) -> c_int>(hook)
        };
        // SAFETY: the session is live for the call (the caller holds it).
        unsafe { hook(ptr::from_ref(s).cast_mut().cast()) };
    }
}

/// `switch_core_event_hook_add_state_change`: adds a hook (the same function twice is
/// refused, as the switch does).
///
/// # Safety
/// `session` comes from the core; `hook` is a function of the hook's type.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_core_event_hook_add_state_change(
    session: *mut c_void,
    hook: Option<unsafe extern "C" fn(*mut c_void) -> c_int>,
) -> c_int {
    // SAFETY: checked by magic.
    let Some(s) = (unsafe { session_from(session, "switch_core_event_hook_add_state_change") })
    else {
        return STATUS_FALSE;
    };
    let Some(hook) = hook else {
        violation("switch_core_event_hook_add_state_change: NULL hook".into());
        return STATUS_FALSE;
    };
    let address = hook as usize;
    with_session(
        s,
        json!({"fn": "switch_core_event_hook_add_state_change"}),
        |st| {
            if st.state_hooks.contains(&address) {
                STATUS_FALSE
            } else {
                st.state_hooks.push(address);
                STATUS_SUCCESS
            }
        },
    )
}

/// `switch_core_event_hook_remove_state_change`: FALSE when the hook was not there.
///
/// # Safety
/// `session` comes from the core.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_core_event_hook_remove_state_change(
    session: *mut c_void,
    hook: Option<unsafe extern "C" fn(*mut c_void) -> c_int>,
) -> c_int {
    // SAFETY: checked by magic.
    let Some(s) = (unsafe { session_from(session, "switch_core_event_hook_remove_state_change") })
    else {
        return STATUS_FALSE;
    };
    let address = hook.map_or(0, |h| h as usize);
    with_session(
        s,
        json!({"fn": "switch_core_event_hook_remove_state_change"}),
        |st| {
            let before = st.state_hooks.len();
            st.state_hooks.retain(|h| *h != address);
            if st.state_hooks.len() < before {
                STATUS_SUCCESS
            } else {
                STATUS_FALSE
            }
        },
    )
}

/// # Safety
/// Channel from the core.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_channel_get_state(channel: *mut c_void) -> c_int {
    // SAFETY: checked by magic.
    let Some(s) = (unsafe { channel_from(channel, "switch_channel_get_state") }) else {
        return CS_HANGUP;
    };
    with_session(s, json!({"fn": "switch_channel_get_state"}), |st| st.state)
}

/// # Safety
/// Strings are NULL or NUL-terminated; channel from the core.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_channel_set_profile_var(
    channel: *mut c_void,
    name: *const c_char,
    val: *const c_char,
) -> c_int {
    // SAFETY: C strings; channel checked by magic.
    let (name, value, s) = unsafe {
        (
            text(name),
            text(val),
            channel_from(channel, "switch_channel_set_profile_var"),
        )
    };
    let Some(s) = s else { return STATUS_FALSE };
    let entry = json!({"fn": "switch_channel_set_profile_var", "name": name, "value": value});
    with_session(s, entry, |st| match (name, value) {
        (Some(n), Some(v)) => {
            st.profile.insert(n, v);
            STATUS_SUCCESS
        }
        _ => STATUS_FALSE,
    })
}

/// Wall-clock microseconds.
fn micro_time_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

// ---- applications and modules ---------------------------------------------------------------

/// The module that provides a dialplan application, for the fake core's known ones.
fn application_module(app: &str) -> Option<&'static str> {
    Some(match app {
        "conference" => "mod_conference",
        "valet_park" => "mod_valet_parking",
        "redirect"
        | "deflect"
        | "set_profile_var"
        | "ring_ready"
        | "pre_answer"
        | "answer"
        | "hangup"
        | "park"
        | "transfer"
        | "playback"
        | "sleep"
        | "set"
        | "export"
        | "echo"
        | "info"
        | "respond"
        | "send_dtmf"
        | "start_dtmf"
        | "stop_dtmf"
        | "flush_dtmf"
        | "record_session"
        | "stop_record_session"
        | "displace_session"
        | "stop_displace_session"
        | "bridge"
        | "pickup" => "mod_dptools",
        _ => return None,
    })
}

/// `switch_core_session_execute_application_get_flags`: FALSE for an application no loaded
/// module provides; `conference` and `valet_park` block for `block_ms`; `pickup KEY` hands the
/// channel to the call ringing in KEY (script `pickup_ringing`) as mod_dptools does: the state
/// becomes CS_HIBERNATE.
///
/// # Safety
/// Strings are NULL or NUL-terminated; session from the core; `flags` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_core_session_execute_application_get_flags(
    session: *mut c_void,
    app: *const c_char,
    arg: *const c_char,
    flags: *mut i32,
) -> c_int {
    // SAFETY: C strings; session checked by magic.
    let (app, arg, s) = unsafe {
        (
            text(app),
            text(arg),
            session_from(session, "switch_core_session_execute_application_get_flags"),
        )
    };
    let Some(s) = s else { return STATUS_FALSE };
    // FreeSWITCH's switch_core_session_exec expands ${..} in arg unless the channel has
    // app_disable_expand_variables=true.
    let expansion_disabled = s
        .state
        .lock()
        .lookup("app_disable_expand_variables")
        .is_some_and(|v| {
            matches!(
                v.to_ascii_lowercase().as_str(),
                "true" | "yes" | "on" | "1" | "enabled" | "active" | "allow"
            )
        });
    let expands = !expansion_disabled && arg.as_deref().is_some_and(|a| a.contains("${"));
    let entry = json!({
        "fn": "switch_core_session_execute_application_get_flags", "app": app, "arg": arg,
        "flags": !flags.is_null(), "expands": expands,
    });
    if !flags.is_null() {
        // SAFETY: checked non-NULL.
        unsafe { *flags = 0 };
    }
    let available = app
        .as_deref()
        .and_then(application_module)
        .is_some_and(|m| core().loaded_modules.contains(m));
    if !available {
        with_session(s, entry, |_| ());
        return STATUS_FALSE;
    }
    if matches!(app.as_deref(), Some("conference" | "valet_park")) {
        if block(s, entry) {
            STATUS_SUCCESS
        } else {
            STATUS_FALSE
        }
    } else if app.as_deref() == Some("pickup") {
        with_session(s, entry, |st| {
            success_if_up(st, |st| {
                if let Some(key) = &arg {
                    if let Some(i) = st.script.pickup_ringing.iter().position(|k| k == key) {
                        st.script.pickup_ringing.remove(i);
                        st.state = CS_HIBERNATE;
                        st.record.push(json!({"event": "picked_up", "key": key}));
                    }
                }
            })
        })
    } else {
        with_session(s, entry, |st| success_if_up(st, |_| {}))
    }
}

/// # Safety
/// `module` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_loadable_module_exists(module: *const c_char) -> c_int {
    // SAFETY: C string from the module.
    let name = unsafe { text(module) };
    let mut core = core();
    core.record
        .push(json!({"fn": "switch_loadable_module_exists", "mod": name}));
    match name {
        Some(n) if core.loaded_modules.contains(&n) => STATUS_SUCCESS,
        _ => STATUS_FALSE,
    }
}

/// Marks a FreeSWITCH module as loaded (`loaded` != 0) or not.
///
/// # Safety
/// `module` is a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fakecore_set_module(module: *const c_char, loaded: c_int) {
    // SAFETY: C string from the harness.
    let Some(name) = (unsafe { text(module) }) else {
        return;
    };
    let mut core = core();
    if loaded != 0 {
        core.loaded_modules.insert(name);
    } else {
        core.loaded_modules.remove(&name);
    }
}

// ---- events -------------------------------------------------------------------------------------

/// `switch_event_t` (opaque to the module).
struct FakeEvent {
    magic: u64,
    id: c_int,
    subclass: Option<String>,
    headers: Vec<(String, String)>,
}

fn live_event(core: &Core, event: *mut c_void) -> bool {
    !event.is_null() && core.live_events.contains(&(event as usize))
}

/// The rest of what an originate was asked, with or without an A-leg.
pub(crate) struct OriginateArgs<'a> {
    pub timelimit_sec: u32,
    pub table: bool,
    pub cid_name: &'a Option<String>,
    pub cid_num: &'a Option<String>,
    pub caller_profile_override: bool,
    pub ovars: &'a Option<Vec<(String, String)>>,
    pub flags: u32,
    pub cancel_cause: bool,
    pub dial_handle: bool,
}

/// The book's record of an originate (both the A-leg and the detached form write this one).
pub(crate) fn originate_entry(
    dial: &Option<String>,
    parsed: &Option<Result<dialstring::DialString, String>>,
    args: OriginateArgs<'_>,
) -> Value {
    json!({
        "fn": "switch_ivr_originate",
        "dial_string": dial,
        "parsed": match parsed {
            Some(Ok(d)) => d.to_json(),
            Some(Err(e)) => json!({"error": e}),
            None => Value::Null,
        },
        "timelimit_sec": args.timelimit_sec,
        "table": args.table,
        "cid_name_override": args.cid_name,
        "cid_num_override": args.cid_num,
        "caller_profile_override": args.caller_profile_override,
        "ovars": args.ovars.as_ref().map(|l| l.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>()),
        "flags": args.flags,
        "cancel_cause": args.cancel_cause,
        "dial_handle": args.dial_handle,
    })
}

/// The headers of an event the core created (for originate ovars, recording vars).
///
/// # Safety
/// `event` is NULL or any pointer (checked against the live list before use).
pub(crate) unsafe fn event_headers(
    event: *mut c_void,
    func: &str,
) -> Option<Vec<(String, String)>> {
    if event.is_null() {
        return None;
    }
    if !live_event(&core(), event) {
        violation(format!("{func}: not a live event"));
        return None;
    }
    // SAFETY: a live event (checked).
    Some(unsafe { (*(event as *const FakeEvent)).headers.clone() })
}

/// # Safety
/// `event` is writable; strings are NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_event_create_subclass_detailed(
    _file: *const c_char,
    _func: *const c_char,
    _line: c_int,
    event: *mut *mut c_void,
    event_id: c_int,
    subclass_name: *const c_char,
) -> c_int {
    // SAFETY: C string from the module.
    let subclass = unsafe { text(subclass_name) };
    if event.is_null() {
        violation("switch_event_create_subclass_detailed: NULL event pointer".into());
        return STATUS_FALSE;
    }
    // SAFETY: C strings from the module.
    let (file, func) = unsafe { (text(_file), text(_func)) };
    let mut headers = Vec::new();
    if event_id != EVENT_CLONE {
        // What switch_event_prep_for_delivery_detailed adds to every event but a CLONE.
        let now = micro_time_now();
        for (k, v) in [
            (
                "Event-Name",
                if event_id == 0 {
                    "CUSTOM".to_string()
                } else {
                    format!("EVENT_{event_id}")
                },
            ),
            (
                "Core-UUID",
                "fa4ec0de-0000-4000-8000-000000000000".to_string(),
            ),
            ("FreeSWITCH-Hostname", "fakecore".to_string()),
            ("FreeSWITCH-Switchname", "fakecore".to_string()),
            ("FreeSWITCH-IPv4", "127.0.0.1".to_string()),
            ("FreeSWITCH-IPv6", "::1".to_string()),
            ("Event-Date-Timestamp", now.to_string()),
            ("Event-Calling-File", file.unwrap_or_default()),
            ("Event-Calling-Function", func.unwrap_or_default()),
            ("Event-Calling-Line-Number", _line.to_string()),
        ] {
            headers.push((k.to_string(), v));
        }
    }
    if let Some(sc) = &subclass {
        headers.push(("Event-Subclass".to_string(), sc.clone()));
    }
    let e = Box::into_raw(Box::new(FakeEvent {
        magic: EVENT_MAGIC,
        id: event_id,
        subclass: subclass.clone(),
        headers,
    }));
    let mut core = core();
    core.live_events.push(e as usize);
    core.record.push(json!({"fn": "switch_event_create_subclass_detailed", "id": event_id, "subclass": subclass}));
    // SAFETY: checked non-NULL.
    unsafe { *event = e as *mut c_void };
    STATUS_SUCCESS
}

/// # Safety
/// Strings are NULL or NUL-terminated; `event` from the core.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_event_add_header_string(
    event: *mut c_void,
    stack: c_int,
    header_name: *const c_char,
    data: *const c_char,
) -> c_int {
    // SAFETY: C strings from the module.
    let (name, data) = unsafe { (text(header_name), text(data)) };
    let core = core();
    if !live_event(&core, event) {
        drop(core);
        violation("switch_event_add_header_string: not a live event".into());
        return STATUS_FALSE;
    }
    let (Some(name), Some(data)) = (name, data) else {
        return STATUS_FALSE;
    };
    // SAFETY: a live event (checked), mutated under the core lock.
    let e = unsafe { &mut *(event as *mut FakeEvent) };
    if stack & STACK_TOP != 0 {
        e.headers.insert(0, (name, data));
    } else {
        e.headers.push((name, data));
    }
    STATUS_SUCCESS
}

fn take_event(core: &mut Core, event: *mut c_void) -> Option<Box<FakeEvent>> {
    let i = core.live_events.iter().position(|&e| e == event as usize)?;
    core.live_events.remove(i);
    // SAFETY: created by switch_event_create_subclass_detailed, removed from the live list.
    let e = unsafe { Box::from_raw(event as *mut FakeEvent) };
    (e.magic == EVENT_MAGIC).then_some(e)
}

/// # Safety
/// `event` points at an event pointer from the core.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_event_fire_detailed(
    _file: *const c_char,
    _func: *const c_char,
    _line: c_int,
    event: *mut *mut c_void,
    _user_data: *mut c_void,
) -> c_int {
    if event.is_null() {
        violation("switch_event_fire_detailed: NULL event pointer".into());
        return STATUS_FALSE;
    }
    // SAFETY: checked non-NULL.
    let e = unsafe { *event };
    let mut core = core();
    let Some(fired) = take_event(&mut core, e) else {
        core.errors
            .push("switch_event_fire_detailed: not a live event (fired twice?)".into());
        return STATUS_FALSE;
    };
    core.fired_events.push(json!({
        "id": fired.id, "subclass": fired.subclass,
        "headers": fired.headers.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
    }));
    // SAFETY: checked non-NULL; FreeSWITCH takes the event and clears the pointer.
    unsafe { *event = ptr::null_mut() };
    STATUS_SUCCESS
}

/// # Safety
/// `event` points at an event pointer from the core (or at NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_event_destroy(event: *mut *mut c_void) {
    if event.is_null() {
        return;
    }
    // SAFETY: checked non-NULL.
    let e = unsafe { *event };
    if e.is_null() {
        return;
    }
    let mut core = core();
    if take_event(&mut core, e).is_none() {
        core.errors
            .push("switch_event_destroy: not a live event (destroyed twice?)".into());
        return;
    }
    // SAFETY: checked non-NULL.
    unsafe { *event = ptr::null_mut() };
}

/// # Safety
/// Strings are NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_event_reserve_subclass_detailed(
    owner: *const c_char,
    subclass_name: *const c_char,
) -> c_int {
    // SAFETY: C strings from the module.
    let (owner, subclass) = unsafe { (text(owner), text(subclass_name)) };
    let mut core = core();
    core.record.push(json!({"fn": "switch_event_reserve_subclass_detailed", "owner": owner, "subclass": subclass}));
    let (Some(owner), Some(subclass)) = (owner, subclass) else {
        return STATUS_FALSE;
    };
    if core.reserved_subclasses.iter().any(|(_, s)| *s == subclass) {
        core.errors.push(format!(
            "switch_event_reserve_subclass_detailed: {subclass:?} is already reserved (not freed at shutdown?)"
        ));
        return STATUS_FALSE;
    }
    core.reserved_subclasses.insert((owner, subclass));
    STATUS_SUCCESS
}

/// # Safety
/// Strings are NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_event_free_subclass_detailed(
    owner: *const c_char,
    subclass_name: *const c_char,
) -> c_int {
    // SAFETY: C strings from the module.
    let (owner, subclass) = unsafe { (text(owner), text(subclass_name)) };
    let mut core = core();
    core.record.push(
        json!({"fn": "switch_event_free_subclass_detailed", "owner": owner, "subclass": subclass}),
    );
    let (Some(owner), Some(subclass)) = (owner, subclass) else {
        return STATUS_FALSE;
    };
    if core.reserved_subclasses.remove(&(owner, subclass)) {
        STATUS_SUCCESS
    } else {
        STATUS_FALSE
    }
}

/// Events fired so far, in order (JSON array).
#[unsafe(no_mangle)]
pub extern "C" fn fakecore_events() -> *mut c_char {
    to_c_string(&Value::from(core().fired_events.clone()))
}

/// `{"live": N, "reserved": [[owner, subclass]..]}`.
#[unsafe(no_mangle)]
pub extern "C" fn fakecore_event_stats() -> *mut c_char {
    let core = core();
    to_c_string(&json!({
        "live": core.live_events.len(),
        "reserved": core.reserved_subclasses.iter().map(|(o, s)| json!([o, s])).collect::<Vec<_>>(),
    }))
}

// ---- echo, flags, presence --------------------------------------------------------------------

/// Echo lasts until the caller hangs up: the fake caller hangs up after `block_ms` (or at
/// `hangup_after_ms`, whichever comes first).
fn echo_until_hangup(s: &FakeSession, entry: Value) -> c_int {
    let Some(wait) = with_session(s, entry, |st| st.up().then_some(st.script.block)) else {
        return STATUS_FALSE;
    };
    if media_wait(s, wait) {
        s.state.lock().remote_hangup("echo: the caller hung up");
    }
    STATUS_SUCCESS
}

/// # Safety
/// Session from the core.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_ivr_session_echo(
    session: *mut c_void,
    args: *mut InputArgs,
) -> c_int {
    // SAFETY: checked by magic.
    let Some(s) = (unsafe { session_from(session, "switch_ivr_session_echo") }) else {
        return STATUS_FALSE;
    };
    echo_until_hangup(
        s,
        json!({"fn": "switch_ivr_session_echo", "args": !args.is_null()}),
    )
}

/// # Safety
/// Session from the core.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_ivr_delay_echo(session: *mut c_void, delay_ms: u32) {
    // SAFETY: checked by magic.
    if let Some(s) = unsafe { session_from(session, "switch_ivr_delay_echo") } {
        echo_until_hangup(
            s,
            json!({"fn": "switch_ivr_delay_echo", "delay_ms": delay_ms}),
        );
    }
}

const CF_ANSWERED: c_int = ffi::switch_channel_flag_t::CF_ANSWERED.0 as c_int;
const CF_BREAK: c_int = ffi::switch_channel_flag_t::CF_BREAK.0 as c_int;

/// `CF_ANSWERED` (answered, not pre-answered) and `CF_BREAK` are modelled; any other flag is a
/// violation.
///
/// # Safety
/// Channel from the core.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_channel_test_flag(channel: *mut c_void, flag: c_int) -> u32 {
    // SAFETY: checked by magic.
    let Some(s) = (unsafe { channel_from(channel, "switch_channel_test_flag") }) else {
        return 0;
    };
    if flag != CF_ANSWERED && flag != CF_BREAK {
        violation(format!(
            "switch_channel_test_flag: flag {flag} is not modelled by the fake core (only CF_ANSWERED = 1, CF_BREAK = 23)"
        ));
        return 0;
    }
    with_session(
        s,
        json!({"fn": "switch_channel_test_flag", "flag": flag}),
        |st| {
            if flag == CF_BREAK {
                st.break_flag
            } else {
                u32::from(st.answered)
            }
        },
    )
}

/// Only CF_BREAK may be set or cleared (from any thread): any other flag is a violation.
fn break_flag_only(func: &str, flag: c_int) -> bool {
    if flag != CF_BREAK {
        violation(format!(
            "{func}: flag {flag} is not modelled by the fake core (only CF_BREAK = 23)"
        ));
    }
    flag == CF_BREAK
}

/// `switch_channel_set_flag_value`: CF_BREAK = `value`, from any thread; a media call waiting
/// on the channel (play, sleep) sees it at its next frame, ends with BREAK and clears it.
///
/// # Safety
/// Channel from the core.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_channel_set_flag_value(
    channel: *mut c_void,
    flag: c_int,
    value: u32,
) {
    const FUNC: &str = "switch_channel_set_flag_value";
    // SAFETY: checked by magic.
    let Some(s) = (unsafe { channel_from(channel, FUNC) }) else {
        return;
    };
    let entry = json!({"fn": FUNC, "flag": flag, "value": value, "from": calling_thread()});
    if !break_flag_only(FUNC, flag) {
        with_session(s, entry, |_| ());
        return;
    }
    with_session(s, entry, |st| st.break_flag = value);
    s.wake.notify_all();
}

/// `switch_channel_clear_flag`: clears CF_BREAK (from any thread).
///
/// # Safety
/// Channel from the core.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_channel_clear_flag(channel: *mut c_void, flag: c_int) {
    const FUNC: &str = "switch_channel_clear_flag";
    // SAFETY: checked by magic.
    let Some(s) = (unsafe { channel_from(channel, FUNC) }) else {
        return;
    };
    let entry = json!({"fn": FUNC, "flag": flag, "from": calling_thread()});
    let modelled = break_flag_only(FUNC, flag);
    with_session(s, entry, |st| {
        if modelled {
            st.break_flag = 0;
        }
    });
}

/// `switch_channel_test_ready(ch, 1, 0)` (`switch_channel_ready`): up and still in its
/// dialplan (not handed to another call, as a pickup does). Other arguments are not
/// modelled: a violation.
///
/// # Safety
/// Channel from the core.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_channel_test_ready(
    channel: *mut c_void,
    check_ready: c_int,
    check_media: c_int,
) -> c_int {
    const FUNC: &str = "switch_channel_test_ready";
    // SAFETY: checked by magic.
    let Some(s) = (unsafe { channel_from(channel, FUNC) }) else {
        return 0;
    };
    if check_ready != 1 || check_media != 0 {
        violation(format!(
            "{FUNC}: ({check_ready}, {check_media}) is not modelled by the fake core (only (1, 0), switch_channel_ready)"
        ));
    }
    let entry = json!({"fn": FUNC, "check_ready": check_ready, "check_media": check_media});
    with_session(s, entry, |st| {
        c_int::from(st.up() && st.state != CS_HIBERNATE)
    })
}

/// The fake core's own `switch_console_callback_match_t`: an incomplete type in the subset
/// header (the module only hands it back to `switch_console_free_matches`), so no mirror.
#[repr(C)]
struct Matches {
    head: *mut c_void,
    end: *mut c_void,
    count: c_int,
    dynamic: c_int,
}

/// Sessions "on a call elsewhere", by variable: (name, value) pairs the harness registers.
type BusyVars = (BTreeSet<(String, String)>, Vec<usize>);

/// (registered busy variables, match lists handed out and not freed).
static BUSY_VARS: LazyLock<Mutex<BusyVars>> =
    LazyLock::new(|| Mutex::new((BTreeSet::new(), Vec::new())));

/// `switch_core_session_findall_matching_var`: NULL unless the harness registered a session
/// with `var_name` = `var_val` (fakecore_set_busy_var); the list must be freed with
/// switch_console_free_matches.
///
/// # Safety
/// Strings are NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_core_session_findall_matching_var(
    var_name: *const c_char,
    var_val: *const c_char,
) -> *mut c_void {
    // SAFETY: C strings from the module.
    let (name, value) = unsafe { (text(var_name), text(var_val)) };
    record_global(
        json!({"fn": "switch_core_session_findall_matching_var", "var_name": name, "var_val": value}),
    );
    let (Some(name), Some(value)) = (name, value) else {
        return ptr::null_mut();
    };
    let mut busy = BUSY_VARS.lock();
    if !busy.0.contains(&(name, value)) {
        return ptr::null_mut();
    }
    let m = Box::into_raw(Box::new(Matches {
        head: ptr::null_mut(),
        end: ptr::null_mut(),
        count: 1,
        dynamic: 1,
    }));
    busy.1.push(m as usize);
    m as *mut c_void
}

/// # Safety
/// `matches` points at a list pointer from findall_matching_var (or at NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_console_free_matches(matches: *mut *mut c_void) {
    if matches.is_null() {
        return;
    }
    // SAFETY: checked non-NULL.
    let m = unsafe { *matches };
    if m.is_null() {
        return;
    }
    let mut busy = BUSY_VARS.lock();
    match busy.1.iter().position(|&p| p == m as usize) {
        Some(i) => {
            busy.1.remove(i);
            // SAFETY: allocated by findall_matching_var, removed from the live list.
            drop(unsafe { Box::from_raw(m as *mut Matches) });
            // SAFETY: checked non-NULL.
            unsafe { *matches = ptr::null_mut() };
        }
        None => {
            drop(busy);
            violation("switch_console_free_matches: not a live match list (freed twice?)".into());
        }
    }
}

/// Registers (busy != 0) or removes a session elsewhere with variable `name` = `value`.
///
/// # Safety
/// Strings are NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fakecore_set_busy_var(
    name: *const c_char,
    value: *const c_char,
    busy: c_int,
) {
    // SAFETY: C strings from the harness.
    let (Some(name), Some(value)) = (unsafe { text(name) }, unsafe { text(value) }) else {
        return;
    };
    let mut b = BUSY_VARS.lock();
    if busy != 0 {
        b.0.insert((name, value));
    } else {
        b.0.remove(&(name, value));
    }
}

/// Match lists handed out and not yet freed.
#[unsafe(no_mangle)]
pub extern "C" fn fakecore_live_matches() -> c_int {
    BUSY_VARS.lock().1.len() as c_int
}

/// Forgets registered busy sessions (fakecore_reset).
pub(crate) fn reset_busy() {
    BUSY_VARS.lock().0.clear();
}

/// Handles queued signalling: in the fake core, a scripted remote hangup that is due.
///
/// # Safety
/// Session from the core.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn switch_ivr_parse_all_signal_data(session: *mut c_void) -> c_int {
    // SAFETY: checked by magic.
    let Some(s) = (unsafe { session_from(session, "switch_ivr_parse_all_signal_data") }) else {
        return STATUS_FALSE;
    };
    with_session(s, json!({"fn": "switch_ivr_parse_all_signal_data"}), |_| {
        STATUS_SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn originate_outcomes() {
        assert_eq!(originate_cause("answered"), Ok(None));
        assert_eq!(originate_cause("busy"), Ok(Some(17)));
        assert_eq!(originate_cause("cause:603"), Ok(Some(603)));
        assert!(originate_cause("maybe").is_err());
    }
}
