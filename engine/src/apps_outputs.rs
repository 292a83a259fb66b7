//! The variables a flow may read without setting them: the ones FreeSWITCH gives every
//! channel, and the outputs the applications document in docs/apps.md. `rustflow check`
//! notes a read of any other variable that no step of the flow sets.
//!
//! This is the one list of them. It sits apart from the applications for now; its place is
//! next to the application docs (a test checks that every name of [`APP_OUTPUTS`] is
//! documented in docs/apps.md).

/// Channel and caller-profile variables FreeSWITCH provides (the caller profile's fields,
/// the call's state, the results of its applications).
pub const FREESWITCH_VARIABLES: &[&str] = &[
    "ani",
    "aniii",
    "answer_epoch",
    "answer_stamp",
    "billsec",
    "bridge_hangup_cause",
    "call_direction",
    "call_timeout",
    "call_uuid",
    "callee_id_name",
    "callee_id_number",
    "caller_id_name",
    "caller_id_number",
    "chan_name",
    "channel_name",
    "context",
    "current_application",
    "current_application_data",
    "default_language",
    "destination_number",
    "dialed_domain",
    "dialed_extension",
    "dialed_user",
    "dialplan",
    "direction",
    "domain",
    "domain_name",
    "duration",
    "end_epoch",
    "end_stamp",
    "endpoint_disposition",
    "hangup_cause",
    "hangup_cause_q850",
    "language",
    "last_app",
    "last_arg",
    "network_addr",
    "orig_caller_id_name",
    "orig_caller_id_number",
    "presence_id",
    "progress_epoch",
    "rdnis",
    "read_codec",
    "read_rate",
    "signal_bond",
    "source",
    "start_epoch",
    "start_stamp",
    "timezone",
    "user_name",
    "username",
    "uuid",
    "write_codec",
    "write_rate",
];

/// Families of FreeSWITCH variables, by prefix (SIP headers and endpoint details, media
/// statistics, caller-id overrides, bridge and originate results, recording/playback
/// results).
pub const FREESWITCH_PREFIXES: &[&str] = &[
    "bridge_",
    "effective_caller_id_",
    "hangup_",
    "last_bridge_",
    "originate_",
    "origination_",
    "outbound_caller_id_",
    "playback_",
    "record_",
    "rtp_",
    "sip_",
    "verto_",
];

/// Variables the applications document as what they set (docs/apps.md), whatever the
/// flow's fields say. Outputs named by a field (`setVar`, `responseCode`, `set`, …) and
/// `usr_<name>` of `export` come from the flow itself.
pub const APP_OUTPUTS: &[&str] = &[
    "absolute_codec_string",
    "bridge_export_vars",
    "cc_agent_call_id",
    "cc_agent_extension",
    "cc_agent_id",
    "cc_agent_name",
    "cc_cancel",
    "cc_result",
    "hold_music",
    "last_bridge_hangup_cause",
    "originate_disposition",
    "read_result",
    "ringback",
    "rustflow_bridge_result",
    "rustflow_error",
    "rustflow_flow_id",
    "rustflow_flow_version",
    "rustflow_record_file",
    "rustflow_record_session_file",
    "rustflow_speech_result",
    "rustflow_steps",
    "transfer_ringback",
];

/// Variables a queue's attempt flows get from the contact centre (Webitel's names: the
/// attempt, its member and number; after an attempt also the member leg's call), documented
/// in docs/apps.md ("Attempt flows"). Members' own variables come too, under their names.
pub const ATTEMPT_FLOW_VARIABLES: &[&str] = &[
    "agent_extension",
    "agent_id",
    "agent_name",
    "amd_result",
    "attempt_id",
    "bucket_id",
    "call_bill_sec",
    "call_cause",
    "call_duration",
    "call_sip_code",
    "cc_attempt_seq",
    "cc_resource_id",
    "communication_id",
    "destination",
    "destination_description",
    "destination_seq",
    "destination_type",
    "joined_at",
    "member_id",
    "member_name",
    "member_stop_cause",
    "member_timezone",
    "queue_id",
    "timestamp",
];

/// Whether a flow may read `name` without setting it.
pub fn is_known(name: &str) -> bool {
    FREESWITCH_VARIABLES.contains(&name)
        || APP_OUTPUTS.contains(&name)
        || ATTEMPT_FLOW_VARIABLES.contains(&name)
        || FREESWITCH_PREFIXES.iter().any(|p| name.starts_with(p))
}

#[cfg(test)]
mod tests {
    #[test]
    fn lists_are_sorted_without_duplicates() {
        for list in [
            super::FREESWITCH_VARIABLES,
            super::FREESWITCH_PREFIXES,
            super::APP_OUTPUTS,
            super::ATTEMPT_FLOW_VARIABLES,
        ] {
            assert!(list.windows(2).all(|w| w[0] < w[1]), "{list:?}");
        }
    }
}
