//! The fake core's side of a contact-centre queue, driven through its C ABI directly (no
//! module): sessions located by uuid and read-locked per thread, CF_BREAK from another thread
//! ending hold audio within a frame, originate with no A-leg (scripted agents, cancel cause,
//! ring limits, origination_uuid) and the bridge of such a leg to a caller. These are the
//! behaviours the queue tests rely on, so they are checked here on their own, misuse included.

use rustflow_harness::*;
use serde_json::{Value, json};
use std::ffi::{CString, c_char, c_int, c_void};
use std::ptr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const CF_BREAK: c_int = 23;
const STATUS_BREAK: c_int = 11;
const CAUSE_NO_ANSWER: c_int = 19;
const CAUSE_ORIGINATOR_CANCEL: u32 = 487;

type Ptr = *mut c_void;

/// The ABI functions these tests call, looked up in the fake core.
struct Abi {
    locate: unsafe extern "C" fn(*const c_char, *const c_char, *const c_char, c_int) -> Ptr,
    rwunlock: unsafe extern "C" fn(Ptr),
    get_channel: unsafe extern "C" fn(Ptr) -> Ptr,
    get_uuid: unsafe extern "C" fn(Ptr) -> *const c_char,
    set_flag_value: unsafe extern "C" fn(Ptr, c_int, u32),
    clear_flag: unsafe extern "C" fn(Ptr, c_int),
    test_flag: unsafe extern "C" fn(Ptr, c_int) -> u32,
    test_ready: unsafe extern "C" fn(Ptr, c_int, c_int) -> c_int,
    play_file: unsafe extern "C" fn(Ptr, Ptr, *const c_char, Ptr) -> c_int,
    sleep: unsafe extern "C" fn(Ptr, u32, c_int, Ptr) -> c_int,
    hangup: unsafe extern "C" fn(Ptr, *const c_char, *const c_char, c_int, c_int) -> c_int,
    set_variable: unsafe extern "C" fn(Ptr, *const c_char, *const c_char, c_int) -> c_int,
    #[allow(clippy::type_complexity)]
    originate: unsafe extern "C" fn(
        Ptr,
        *mut Ptr,
        *mut c_int,
        *const c_char,
        u32,
        *const c_void,
        *const c_char,
        *const c_char,
        Ptr,
        Ptr,
        u32,
        *mut c_int,
        Ptr,
    ) -> c_int,
    bridge: unsafe extern "C" fn(Ptr, Ptr, Ptr, Ptr, Ptr) -> c_int,
}

// The transmute targets are the Abi field types, spelled once there.
#[allow(clippy::missing_transmute_annotations)]
fn load_abi() -> Abi {
    macro_rules! f {
        ($name:literal) => {
            // SAFETY: the fake core exports this function with the declared C signature.
            unsafe { std::mem::transmute::<*mut c_void, _>(FakeCore::symbol($name)) }
        };
    }
    Abi {
        locate: f!("switch_core_session_perform_locate"),
        rwunlock: f!("switch_core_session_rwunlock"),
        get_channel: f!("switch_core_session_get_channel"),
        get_uuid: f!("switch_core_session_get_uuid"),
        set_flag_value: f!("switch_channel_set_flag_value"),
        clear_flag: f!("switch_channel_clear_flag"),
        test_flag: f!("switch_channel_test_flag"),
        test_ready: f!("switch_channel_test_ready"),
        play_file: f!("switch_ivr_play_file"),
        sleep: f!("switch_ivr_sleep"),
        hangup: f!("switch_channel_perform_hangup"),
        set_variable: f!("switch_channel_set_variable_var_check"),
        originate: f!("switch_ivr_originate"),
        bridge: f!("switch_ivr_multi_threaded_bridge"),
    }
}

fn c(s: &str) -> CString {
    CString::new(s).expect("no NUL in test strings")
}

/// Raw pointers crossing threads in a test (the fake core checks who may use them).
#[derive(Clone, Copy)]
struct Shared(usize);

impl Shared {
    fn of(p: Ptr) -> Shared {
        Shared(p as usize)
    }
    fn get(self) -> Ptr {
        self.0 as Ptr
    }
}

impl Abi {
    fn locate(&self, uuid: &str) -> Ptr {
        // SAFETY: valid C strings for the call.
        unsafe { (self.locate)(c(uuid).as_ptr(), c(file!()).as_ptr(), c"test".as_ptr(), 1) }
    }
    fn unlock(&self, s: Ptr) {
        // SAFETY: a pointer the core handed out (the core checks the rest).
        unsafe { (self.rwunlock)(s) }
    }
    fn channel(&self, s: Ptr) -> Ptr {
        // SAFETY: as above.
        unsafe { (self.get_channel)(s) }
    }
    fn uuid(&self, s: Ptr) -> String {
        // SAFETY: as above; the uuid string lives with the session.
        let p = unsafe { (self.get_uuid)(s) };
        assert!(!p.is_null(), "no uuid: {:?}", FakeCore::errors());
        // SAFETY: a NUL-terminated string of the live session.
        unsafe { std::ffi::CStr::from_ptr(p) }
            .to_string_lossy()
            .into_owned()
    }
    fn set_break(&self, s: Ptr) {
        // SAFETY: as above.
        unsafe { (self.set_flag_value)(self.channel(s), CF_BREAK, 2) }
    }
    fn break_flag(&self, s: Ptr) -> u32 {
        // SAFETY: as above.
        unsafe { (self.test_flag)(self.channel(s), CF_BREAK) }
    }
    fn ready(&self, s: Ptr) -> bool {
        // SAFETY: as above.
        unsafe { (self.test_ready)(self.channel(s), 1, 0) != 0 }
    }
    fn play(&self, s: Ptr, file: &str) -> c_int {
        // SAFETY: as above; NULL file handle and args are allowed.
        unsafe { (self.play_file)(s, ptr::null_mut(), c(file).as_ptr(), ptr::null_mut()) }
    }
    fn hang_up(&self, s: Ptr, cause: c_int) {
        // SAFETY: as above.
        unsafe { (self.hangup)(self.channel(s), c"t.rs".as_ptr(), c"t".as_ptr(), 1, cause) };
    }
    /// Originates with no A-leg: Ok(leg) or Err(cause).
    fn originate(
        &self,
        dial: &str,
        timelimit_s: u32,
        cancel: Option<&AtomicU32>,
    ) -> Result<Ptr, c_int> {
        let mut leg: Ptr = ptr::null_mut();
        let mut cause: c_int = -1;
        let cancel = cancel.map_or(ptr::null_mut(), |c| c.as_ptr().cast::<c_int>());
        // SAFETY: valid out-pointers and C string; the cancel cause outlives the call.
        let status = unsafe {
            (self.originate)(
                ptr::null_mut(),
                &mut leg,
                &mut cause,
                c(dial).as_ptr(),
                timelimit_s,
                ptr::null(),
                ptr::null(),
                ptr::null(),
                ptr::null_mut(),
                ptr::null_mut(),
                0,
                cancel,
                ptr::null_mut(),
            )
        };
        if status == 0 {
            assert!(!leg.is_null(), "SUCCESS with no leg");
            assert_eq!(cause, 0, "an answered originate's cause is NONE");
            Ok(leg)
        } else {
            assert!(leg.is_null(), "a failed originate hands out no leg");
            Err(cause)
        }
    }
}

/// The one violation provoked on purpose, taken off the list so the harness ends clean.
fn take_violation(containing: &str) {
    let errors = FakeCore::take_errors();
    assert!(
        errors.len() == 1 && errors[0].contains(containing),
        "expected one violation containing {containing:?}, got {errors:#?}"
    );
}

fn locks(session: &Session) -> u64 {
    session.info().raw["locks"].as_u64().expect("locks")
}

#[test]
fn a_located_call_is_read_locked_until_released_and_a_hung_up_call_is_not_found() {
    let _h = Harness::new();
    let abi = load_abi();
    let call = Session::new(json!({"uuid": "caller-locate-1"}));

    let found = abi.locate("caller-locate-1");
    assert_eq!(found, call.raw(), "locate finds the call by uuid");
    assert_eq!(locks(&call), 1);
    assert!(abi.ready(found), "an up call is ready");
    abi.unlock(found);
    assert_eq!(locks(&call), 0);

    assert!(abi.locate("no-such-call").is_null());

    let again = abi.locate("caller-locate-1");
    abi.hang_up(again, 16);
    assert!(!abi.ready(again), "a hung-up call is not ready");
    abi.unlock(again);
    assert!(
        abi.locate("caller-locate-1").is_null(),
        "a call that is hanging up cannot be locked"
    );

    let looked: Vec<(Value, Value)> = FakeCore::global_record()
        .into_iter()
        .filter(|e| e["fn"] == "switch_core_session_perform_locate")
        .map(|e| (e["uuid"].clone(), e["found"].clone()))
        .collect();
    assert_eq!(
        looked,
        [
            (json!("caller-locate-1"), json!(true)),
            (json!("no-such-call"), json!(false)),
            (json!("caller-locate-1"), json!(true)),
            (json!("caller-locate-1"), json!(false)),
        ]
    );
}

#[test]
fn using_a_call_without_its_read_lock_or_releasing_another_threads_lock_is_a_violation() {
    let _h = Harness::new();
    let abi = load_abi();
    let call = Session::new(json!({"uuid": "caller-misuse-1"}));

    // Outside its application, a call may only be used under a read lock.
    abi.channel(call.raw());
    take_violation("outside its application without switch_core_session_locate");

    abi.unlock(call.raw());
    take_violation("is not read-locked");

    // A lock taken on one thread and released on another.
    let locked = std::thread::spawn(|| Shared::of(abi_locate("caller-misuse-1")))
        .join()
        .expect("locker");
    abi.channel(locked.get());
    take_violation("the lock is another thread's");
    abi.unlock(locked.get());
    take_violation("taken by another thread");
    assert_eq!(locks(&call), 0, "the lock is released all the same");
}

fn abi_locate(uuid: &str) -> Ptr {
    load_abi().locate(uuid)
}

#[test]
fn cf_break_from_another_thread_ends_endless_hold_audio_within_a_frame() {
    let _h = Harness::new();
    let call = Session::new(json!({"uuid": "caller-hold-1"}));

    // The caller's own thread (it holds a read lock, as the app's thread may use its call).
    let caller = std::thread::spawn(|| {
        let abi = load_abi();
        let me = abi.locate("caller-hold-1");
        let status = abi.play(me, "local_stream://moh");
        let ended = Instant::now();
        let flag_after = abi.break_flag(me);
        abi.unlock(me);
        (status, ended, flag_after)
    });
    FakeCore::wait_until("the hold audio to start", Duration::from_secs(5), || {
        !call.info().calls_to("switch_ivr_play_file").is_empty()
    });
    std::thread::sleep(Duration::from_millis(100));
    let abi = load_abi();
    let other = abi.locate("caller-hold-1");
    let set_at = Instant::now();
    abi.set_break(other);
    abi.unlock(other);
    let (status, ended, flag_after) = caller.join().expect("caller thread");
    assert!(
        ended.duration_since(set_at) < Duration::from_millis(100),
        "the play ended {:?} after CF_BREAK",
        ended.duration_since(set_at)
    );
    assert_eq!(status, STATUS_BREAK, "play_file returns BREAK");
    assert_eq!(flag_after, 0, "the play consumed CF_BREAK");
    let info = call.info();
    let play = info.only_call("switch_ivr_play_file");
    assert_eq!(play["endless"], true, "{play}");
    let set = info.only_call("switch_channel_set_flag_value");
    assert_eq!(
        set,
        json!({"fn": "switch_channel_set_flag_value", "flag": CF_BREAK, "value": 2, "from": null})
    );
    assert!(
        info.record.iter().any(|e| e["event"] == "break"),
        "{:#?}",
        info.record
    );
}

#[test]
fn a_pending_cf_break_ends_the_next_play_or_sleep_at_once_and_only_that_one() {
    let _h = Harness::new();
    let abi = load_abi();
    let call = Session::new(json!({"uuid": "caller-hold-2", "script": {"play_ms": 30}}));
    let me = abi.locate("caller-hold-2");

    abi.set_break(me);
    assert_eq!(abi.break_flag(me), 2);
    let start = Instant::now();
    assert_eq!(
        abi.play(me, "tone_stream://%(400,200,425);loops=-1"),
        STATUS_BREAK
    );
    assert!(
        start.elapsed() < Duration::from_millis(60),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(abi.break_flag(me), 0, "one-shot");
    // The next play is not broken: an ordinary file plays its scripted 30 ms.
    assert_eq!(abi.play(me, "/sounds/welcome.wav"), 0);

    abi.set_break(me);
    let start = Instant::now();
    // SAFETY: a call this thread holds locked; NULL args are allowed.
    let slept = unsafe { (abi.sleep)(me, 5000, 0, ptr::null_mut()) };
    assert_eq!(slept, STATUS_BREAK, "sleep checks CF_BREAK on every frame");
    assert!(start.elapsed() < Duration::from_millis(60));

    abi.set_break(me);
    // SAFETY: as above.
    unsafe { (abi.clear_flag)(abi.channel(me), CF_BREAK) };
    assert_eq!(
        abi.play(me, "/sounds/welcome.wav"),
        0,
        "a cleared break stops nothing"
    );
    abi.unlock(me);
    drop(call);
}

#[test]
fn a_hangup_from_another_thread_ends_endless_hold_audio_at_once() {
    let _h = Harness::new();
    let call = Session::new(json!({"uuid": "caller-hold-3"}));
    let caller = std::thread::spawn(|| {
        let abi = load_abi();
        let me = abi.locate("caller-hold-3");
        let status = abi.play(me, "local_stream://moh");
        abi.unlock(me);
        (status, Instant::now())
    });
    FakeCore::wait_until("the hold audio to start", Duration::from_secs(5), || {
        !call.info().calls_to("switch_ivr_play_file").is_empty()
    });
    let abi = load_abi();
    let other = abi.locate("caller-hold-3");
    let hung_up = Instant::now();
    abi.hang_up(other, 16);
    abi.unlock(other);
    let (status, ended) = caller.join().expect("caller thread");
    assert_eq!(status, 1, "play_file returns FALSE once the call is gone");
    assert!(ended.duration_since(hung_up) < Duration::from_millis(100));
}

#[test]
fn an_originate_with_no_session_rings_answers_and_hands_back_an_idle_leg_locked_for_the_caller() {
    let _h = Harness::new();
    let abi = load_abi();
    FakeCore::set_agents(json!({"user/1001@example.com": {"ring_ms": 150, "talk_ms": 60}}));
    let caller = Session::new(json!({"uuid": "caller-offer-1", "script": {"bridge_ms": 5000}}));
    let cancel = AtomicU32::new(0);

    let start = Instant::now();
    let leg = abi
        .originate(
            "{origination_uuid=agent-leg-1,cc_queue=q1}user/1001@example.com",
            20,
            Some(&cancel),
        )
        .expect("the agent answers");
    assert!(
        start.elapsed() >= Duration::from_millis(150),
        "it rang first"
    );
    assert_eq!(
        abi.uuid(leg),
        "agent-leg-1",
        "origination_uuid names the leg"
    );
    // The dispatcher may set variables on the leg it holds, then lets it go.
    // SAFETY: a leg this thread holds locked; valid C strings.
    unsafe { (abi.set_variable)(abi.channel(leg), c"cc_agent".as_ptr(), c"1001".as_ptr(), 1) };
    abi.unlock(leg);

    // The caller's thread takes the leg by uuid and bridges it.
    let bridged = std::thread::spawn(|| {
        let abi = load_abi();
        let me = abi.locate("caller-offer-1");
        let peer = abi.locate("agent-leg-1");
        assert!(!peer.is_null(), "the idle agent leg can be located");
        let start = Instant::now();
        // SAFETY: both are locked by this thread; NULL callback and data are allowed.
        let status =
            unsafe { (abi.bridge)(me, peer, ptr::null_mut(), ptr::null_mut(), ptr::null_mut()) };
        let talked = start.elapsed();
        abi.unlock(peer);
        abi.unlock(me);
        (status, talked)
    });
    let (status, talked) = bridged.join().expect("caller thread");
    assert_eq!(status, 0);
    assert!(
        talked >= Duration::from_millis(60) && talked < Duration::from_millis(2000),
        "the agent's talk_ms, not the caller's bridge_ms: {talked:?}"
    );

    let originates = FakeCore::originates();
    assert_eq!(originates.len(), 1);
    let o = &originates[0];
    assert_eq!(o["session"], Value::Null);
    assert_eq!(o["from"], Value::Null, "from a thread with no session");
    assert_eq!(o["cancel_cause"], true);
    assert_eq!(o["timelimit_sec"], 20);
    assert_eq!(o["result"]["answered"], true);
    assert_eq!(o["result"]["bleg"], "agent-leg-1");
    assert_eq!(
        o["result"]["attempts"][0]["target"],
        "user/1001@example.com"
    );

    let legs = FakeCore::detached_legs();
    assert_eq!(legs.len(), 1);
    let agent = &legs[0];
    assert_eq!(agent["uuid"], "agent-leg-1");
    assert_eq!(agent["variables"]["cc_queue"], "q1");
    assert_eq!(agent["variables"]["cc_agent"], "1001");
    assert_eq!(agent["bridged_to"], "caller-offer-1");
    assert_eq!(agent["up"], false, "the agent hung up after talking");
    assert_eq!(agent["hangup_cause"], CAUSE_NORMAL_CLEARING);
    assert_eq!(agent["locks"], 0);
    assert!(
        caller.info().up,
        "the caller goes on after the agent hung up"
    );
}

#[test]
fn the_cancel_cause_and_the_ring_limits_end_an_originate_with_no_session() {
    let _h = Harness::new();
    let abi = load_abi();
    FakeCore::set_agents(json!({
        "user/1002@example.com": {"ring_ms": 5000},
        "user/1003@example.com": {"outcome": ["no_answer", "busy", "answered"]},
    }));

    // The caller leaves while the agent rings: its thread sets the cancel cause.
    let cancel = std::sync::Arc::new(AtomicU32::new(0));
    let setter = {
        let cancel = cancel.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            cancel.store(CAUSE_ORIGINATOR_CANCEL, Ordering::SeqCst);
        })
    };
    let start = Instant::now();
    let cause = abi
        .originate("user/1002@example.com", 30, Some(&cancel))
        .expect_err("cancelled");
    setter.join().expect("setter");
    assert_eq!(cause, CAUSE_ORIGINATOR_CANCEL as c_int);
    assert!(
        start.elapsed() < Duration::from_millis(300),
        "{:?}",
        start.elapsed()
    );

    // timelimit_sec ends the ringing with NO_ANSWER.
    let start = Instant::now();
    let cause = abi
        .originate("user/1002@example.com", 1, None)
        .expect_err("timed out");
    assert_eq!(cause, CAUSE_NO_ANSWER);
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_secs(1) && waited < Duration::from_millis(1800),
        "{waited:?}"
    );
    // So does the leg's own leg_timeout.
    let cause = abi
        .originate("[leg_timeout=1]user/1002@example.com", 30, None)
        .expect_err("timed out");
    assert_eq!(cause, CAUSE_NO_ANSWER);

    // Scripted outcomes, one per originate.
    assert_eq!(
        abi.originate("user/1003@example.com", 5, None).err(),
        Some(CAUSE_NO_ANSWER)
    );
    assert_eq!(
        abi.originate("user/1003@example.com", 5, None).err(),
        Some(17)
    );
    let leg = abi
        .originate("user/1003@example.com", 5, None)
        .expect("answers the third time");
    abi.hang_up(leg, 16);
    abi.unlock(leg);

    let results: Vec<Value> = FakeCore::originates()
        .iter()
        .map(|o| json!([o["result"]["cause_name"], o["result"]["cancelled"]]))
        .collect();
    assert_eq!(
        results,
        [
            json!(["ORIGINATOR_CANCEL", true]),
            json!(["NO_ANSWER", false]),
            json!(["NO_ANSWER", false]),
            json!(["NO_ANSWER", false]),
            json!(["USER_BUSY", false]),
            json!([null, null]),
        ]
    );
}

#[test]
fn a_leg_answered_with_no_session_must_be_unlocked_and_hung_up_by_someone() {
    let _h = Harness::new();
    let abi = load_abi();
    let leg = abi
        .originate(
            "[origination_uuid=agent-left-1]user/1004@example.com",
            5,
            None,
        )
        .expect("answers");
    abi.unlock(leg);

    // Used after its lock was released.
    abi.channel(leg);
    take_violation("leg agent-left-1 used after switch_core_session_rwunlock");

    // Nobody bridged or hung it up.
    FakeCore::check_detached_legs();
    take_violation("still up: nobody bridged it or hung it up");

    // A second leg may not take a uuid that is still in use.
    assert_eq!(
        abi.originate(
            "{origination_uuid=agent-left-1}user/1005@example.com",
            5,
            None
        )
        .err(),
        Some(CAUSE_NORMAL_TEMPORARY_FAILURE as c_int)
    );
    take_violation("origination_uuid agent-left-1 is the uuid of a session still up or locked");

    let again = abi.locate("agent-left-1");
    abi.hang_up(again, 487);
    abi.unlock(again);
    FakeCore::check_detached_legs();
    assert_eq!(FakeCore::errors(), Vec::<String>::new());
}
