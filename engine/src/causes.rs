//! Hangup causes FreeSWITCH knows (docs/semantics.md, "Hangup causes"): the only causes
//! `hangup` accepts.

use crate::host::{BridgeResult, HangupCause};

/// Every cause name FreeSWITCH's cause chart knows, with its number.
pub const CAUSES: &[HangupCause] = &[
    HangupCause {
        code: 0,
        name: "NONE",
    },
    HangupCause {
        code: 1,
        name: "UNALLOCATED_NUMBER",
    },
    HangupCause {
        code: 2,
        name: "NO_ROUTE_TRANSIT_NET",
    },
    HangupCause {
        code: 3,
        name: "NO_ROUTE_DESTINATION",
    },
    HangupCause {
        code: 6,
        name: "CHANNEL_UNACCEPTABLE",
    },
    HangupCause {
        code: 7,
        name: "CALL_AWARDED_DELIVERED",
    },
    HangupCause {
        code: 16,
        name: "NORMAL_CLEARING",
    },
    HangupCause {
        code: 17,
        name: "USER_BUSY",
    },
    HangupCause {
        code: 18,
        name: "NO_USER_RESPONSE",
    },
    HangupCause {
        code: 19,
        name: "NO_ANSWER",
    },
    HangupCause {
        code: 20,
        name: "SUBSCRIBER_ABSENT",
    },
    HangupCause {
        code: 21,
        name: "CALL_REJECTED",
    },
    HangupCause {
        code: 22,
        name: "NUMBER_CHANGED",
    },
    HangupCause {
        code: 23,
        name: "REDIRECTION_TO_NEW_DESTINATION",
    },
    HangupCause {
        code: 25,
        name: "EXCHANGE_ROUTING_ERROR",
    },
    HangupCause {
        code: 27,
        name: "DESTINATION_OUT_OF_ORDER",
    },
    HangupCause {
        code: 28,
        name: "INVALID_NUMBER_FORMAT",
    },
    HangupCause {
        code: 29,
        name: "FACILITY_REJECTED",
    },
    HangupCause {
        code: 30,
        name: "RESPONSE_TO_STATUS_ENQUIRY",
    },
    HangupCause {
        code: 31,
        name: "NORMAL_UNSPECIFIED",
    },
    HangupCause {
        code: 34,
        name: "NORMAL_CIRCUIT_CONGESTION",
    },
    HangupCause {
        code: 38,
        name: "NETWORK_OUT_OF_ORDER",
    },
    HangupCause {
        code: 41,
        name: "NORMAL_TEMPORARY_FAILURE",
    },
    HangupCause {
        code: 42,
        name: "SWITCH_CONGESTION",
    },
    HangupCause {
        code: 43,
        name: "ACCESS_INFO_DISCARDED",
    },
    HangupCause {
        code: 44,
        name: "REQUESTED_CHAN_UNAVAIL",
    },
    HangupCause {
        code: 45,
        name: "PRE_EMPTED",
    },
    HangupCause {
        code: 50,
        name: "FACILITY_NOT_SUBSCRIBED",
    },
    HangupCause {
        code: 52,
        name: "OUTGOING_CALL_BARRED",
    },
    HangupCause {
        code: 54,
        name: "INCOMING_CALL_BARRED",
    },
    HangupCause {
        code: 57,
        name: "BEARERCAPABILITY_NOTAUTH",
    },
    HangupCause {
        code: 58,
        name: "BEARERCAPABILITY_NOTAVAIL",
    },
    HangupCause {
        code: 63,
        name: "SERVICE_UNAVAILABLE",
    },
    HangupCause {
        code: 65,
        name: "BEARERCAPABILITY_NOTIMPL",
    },
    HangupCause {
        code: 66,
        name: "CHAN_NOT_IMPLEMENTED",
    },
    HangupCause {
        code: 69,
        name: "FACILITY_NOT_IMPLEMENTED",
    },
    HangupCause {
        code: 79,
        name: "SERVICE_NOT_IMPLEMENTED",
    },
    HangupCause {
        code: 81,
        name: "INVALID_CALL_REFERENCE",
    },
    HangupCause {
        code: 88,
        name: "INCOMPATIBLE_DESTINATION",
    },
    HangupCause {
        code: 95,
        name: "INVALID_MSG_UNSPECIFIED",
    },
    HangupCause {
        code: 96,
        name: "MANDATORY_IE_MISSING",
    },
    HangupCause {
        code: 97,
        name: "MESSAGE_TYPE_NONEXIST",
    },
    HangupCause {
        code: 98,
        name: "WRONG_MESSAGE",
    },
    HangupCause {
        code: 99,
        name: "IE_NONEXIST",
    },
    HangupCause {
        code: 100,
        name: "INVALID_IE_CONTENTS",
    },
    HangupCause {
        code: 101,
        name: "WRONG_CALL_STATE",
    },
    HangupCause {
        code: 102,
        name: "RECOVERY_ON_TIMER_EXPIRE",
    },
    HangupCause {
        code: 103,
        name: "MANDATORY_IE_LENGTH_ERROR",
    },
    HangupCause {
        code: 111,
        name: "PROTOCOL_ERROR",
    },
    HangupCause {
        code: 127,
        name: "INTERWORKING",
    },
    HangupCause {
        code: 142,
        name: "SUCCESS",
    },
    HangupCause {
        code: 487,
        name: "ORIGINATOR_CANCEL",
    },
    HangupCause {
        code: 700,
        name: "CRASH",
    },
    HangupCause {
        code: 701,
        name: "SYSTEM_SHUTDOWN",
    },
    HangupCause {
        code: 702,
        name: "LOSE_RACE",
    },
    HangupCause {
        code: 703,
        name: "MANAGER_REQUEST",
    },
    HangupCause {
        code: 800,
        name: "BLIND_TRANSFER",
    },
    HangupCause {
        code: 801,
        name: "ATTENDED_TRANSFER",
    },
    HangupCause {
        code: 802,
        name: "ALLOTTED_TIMEOUT",
    },
    HangupCause {
        code: 803,
        name: "USER_CHALLENGE",
    },
    HangupCause {
        code: 804,
        name: "MEDIA_TIMEOUT",
    },
    HangupCause {
        code: 805,
        name: "PICKED_OFF",
    },
    HangupCause {
        code: 806,
        name: "USER_NOT_REGISTERED",
    },
    HangupCause {
        code: 807,
        name: "PROGRESS_TIMEOUT",
    },
    HangupCause {
        code: 808,
        name: "INVALID_GATEWAY",
    },
    HangupCause {
        code: 809,
        name: "GATEWAY_DOWN",
    },
    HangupCause {
        code: 810,
        name: "INVALID_URL",
    },
    HangupCause {
        code: 811,
        name: "INVALID_PROFILE",
    },
    HangupCause {
        code: 812,
        name: "NO_PICKUP",
    },
    HangupCause {
        code: 813,
        name: "SRTP_READ_ERROR",
    },
    HangupCause {
        code: 814,
        name: "BOWOUT",
    },
    HangupCause {
        code: 815,
        name: "BUSY_EVERYWHERE",
    },
    HangupCause {
        code: 816,
        name: "DECLINE",
    },
    HangupCause {
        code: 817,
        name: "DOES_NOT_EXIST_ANYWHERE",
    },
    HangupCause {
        code: 818,
        name: "NOT_ACCEPTABLE",
    },
    HangupCause {
        code: 819,
        name: "UNWANTED",
    },
    HangupCause {
        code: 820,
        name: "NO_IDENTITY",
    },
    HangupCause {
        code: 821,
        name: "BAD_IDENTITY_INFO",
    },
    HangupCause {
        code: 822,
        name: "UNSUPPORTED_CERTIFICATE",
    },
    HangupCause {
        code: 823,
        name: "INVALID_IDENTITY",
    },
    HangupCause {
        code: 824,
        name: "STALE_DATE",
    },
    HangupCause {
        code: 825,
        name: "REJECT_ALL",
    },
];

/// The cause for a name (any case) or a number. Empty text is not a cause: callers
/// default it to `NORMAL_CLEARING` themselves.
pub fn hangup_cause(name_or_number: &str) -> Option<HangupCause> {
    let text = name_or_number.trim();
    if text.is_empty() {
        return None;
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        let code: u32 = text.parse().ok()?;
        return CAUSES.iter().copied().find(|cause| cause.code == code);
    }
    CAUSES
        .iter()
        .copied()
        .find(|cause| cause.name.eq_ignore_ascii_case(text))
}

const fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The cause of `name` in [`CAUSES`], for named constants (a typo fails the build).
const fn named(name: &str) -> HangupCause {
    let mut i = 0;
    while i < CAUSES.len() {
        if same_bytes(CAUSES[i].name.as_bytes(), name.as_bytes()) {
            return CAUSES[i];
        }
        i += 1;
    }
    panic!("not a cause name");
}

/// The cause used when `hangup` is given no cause.
pub const NORMAL_CLEARING: HangupCause = named("NORMAL_CLEARING");
pub const USER_BUSY: HangupCause = named("USER_BUSY");
pub const NO_USER_RESPONSE: HangupCause = named("NO_USER_RESPONSE");
pub const NO_ANSWER: HangupCause = named("NO_ANSWER");
pub const ALLOTTED_TIMEOUT: HangupCause = named("ALLOTTED_TIMEOUT");
pub const ORIGINATOR_CANCEL: HangupCause = named("ORIGINATOR_CANCEL");
pub const PICKED_OFF: HangupCause = named("PICKED_OFF");
pub const LOSE_RACE: HangupCause = named("LOSE_RACE");
pub const CALL_REJECTED: HangupCause = named("CALL_REJECTED");
pub const NORMAL_TEMPORARY_FAILURE: HangupCause = named("NORMAL_TEMPORARY_FAILURE");

/// How an originate that ended with cause `code` reads in `rustflow_bridge_result`.
pub fn bridge_result(code: u32) -> BridgeResult {
    let any = |causes: &[HangupCause]| causes.iter().any(|cause| cause.code == code);
    if any(&[USER_BUSY]) {
        BridgeResult::Busy
    } else if any(&[NO_USER_RESPONSE, NO_ANSWER, ALLOTTED_TIMEOUT]) {
        BridgeResult::NoAnswer
    } else if any(&[ORIGINATOR_CANCEL, PICKED_OFF, LOSE_RACE]) {
        BridgeResult::Cancelled
    } else {
        BridgeResult::Failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_any_case_and_numbers() {
        assert_eq!(hangup_cause("user_busy").unwrap().code, 17);
        assert_eq!(hangup_cause("USER_BUSY").unwrap().name, "USER_BUSY");
        assert_eq!(hangup_cause("487").unwrap().name, "ORIGINATOR_CANCEL");
        assert_eq!(hangup_cause("16"), Some(NORMAL_CLEARING));
        assert_eq!(hangup_cause("REJECT_ALL").unwrap().code, 825);
    }

    #[test]
    fn named_causes_carry_their_numbers() {
        assert_eq!(NORMAL_CLEARING.code, 16);
        assert_eq!(USER_BUSY.code, 17);
        assert_eq!(ALLOTTED_TIMEOUT.code, 802);
        assert_eq!(LOSE_RACE.code, 702);
    }

    #[test]
    fn originate_causes_map_to_bridge_results() {
        assert_eq!(bridge_result(17), BridgeResult::Busy);
        assert_eq!(bridge_result(18), BridgeResult::NoAnswer);
        assert_eq!(bridge_result(19), BridgeResult::NoAnswer);
        assert_eq!(bridge_result(802), BridgeResult::NoAnswer);
        assert_eq!(bridge_result(487), BridgeResult::Cancelled);
        assert_eq!(bridge_result(805), BridgeResult::Cancelled);
        assert_eq!(bridge_result(702), BridgeResult::Cancelled);
        assert_eq!(bridge_result(3), BridgeResult::Failed);
        assert_eq!(bridge_result(806), BridgeResult::Failed);
    }

    #[test]
    fn rejects_unknown() {
        assert_eq!(hangup_cause("UNSPECIFIED"), None);
        assert_eq!(hangup_cause("9999"), None);
        assert_eq!(hangup_cause(""), None);
        assert_eq!(hangup_cause("-1"), None);
    }

    #[test]
    fn table_has_no_duplicates() {
        for (i, a) in CAUSES.iter().enumerate() {
            for b in &CAUSES[i + 1..] {
                assert_ne!(a.code, b.code);
                assert_ne!(a.name, b.name);
            }
        }
        assert_eq!(CAUSES.len(), 82);
    }
}
