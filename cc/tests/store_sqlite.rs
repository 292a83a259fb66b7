//! The store suite on SQLite: each test on a fresh file, opened through several handles
//! (as threads or processes would), so claims race for real across connections.

use rustflow_cc::store::sqlite::SqliteStore;
use rustflow_cc::store::{Store, suite};

fn with_fresh_file(test: fn(suite::Open<'_>)) {
    let dir = std::env::temp_dir().join(format!(
        "rustflow-cc-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("cc.sqlite");
    let path = path.to_str().unwrap().to_string();
    let open = move || -> Box<dyn Store> { Box::new(SqliteStore::open(&path).unwrap()) };
    test(&open);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn provisioning_is_all_or_nothing() {
    with_fresh_file(suite::provisioning_is_all_or_nothing);
}
#[test]
fn joins_are_checked() {
    with_fresh_file(suite::joins_are_checked);
}
#[test]
fn claims_are_leases() {
    with_fresh_file(suite::claims_are_leases);
}
#[test]
fn missed_and_wrap_up() {
    with_fresh_file(suite::missed_and_wrap_up);
}

#[test]
fn answered_then_gone() {
    with_fresh_file(suite::answered_then_gone);
}
#[test]
fn order_timeout_and_resume() {
    with_fresh_file(suite::order_timeout_and_resume);
}
#[test]
fn eight_threads_never_double_reserve() {
    with_fresh_file(suite::eight_threads_never_double_reserve);
}

#[test]
fn two_nodes_serve_in_one_order() {
    with_fresh_file(suite::two_nodes_serve_in_one_order);
}
#[test]
fn callers_for_one_agent_wait_for_it() {
    with_fresh_file(suite::callers_for_one_agent_wait_for_it);
}
#[test]
fn lost_nodes_are_released() {
    with_fresh_file(suite::lost_nodes_are_released);
}
#[test]
fn concurrent_janitors_report_a_loss_once() {
    with_fresh_file(suite::concurrent_janitors_report_a_loss_once);
}
#[test]
fn an_outage_of_the_store_loses_no_live_node() {
    with_fresh_file(suite::an_outage_of_the_store_loses_no_live_node);
}
#[test]
fn change_feed_wakes_other_handles() {
    with_fresh_file(suite::change_feed_wakes_other_handles);
}

#[test]
fn members_are_added_listed_patched_and_deleted() {
    with_fresh_file(suite::members_are_added_listed_patched_and_deleted);
}
#[test]
fn dial_candidates_follow_the_rules() {
    with_fresh_file(suite::dial_candidates_follow_the_rules);
}
#[test]
fn calendar_windows_in_the_members_zone_across_dst() {
    with_fresh_file(suite::calendar_windows_in_the_members_zone_across_dst);
}
#[test]
fn outbound_attempts_and_their_outcomes() {
    with_fresh_file(suite::outbound_attempts_and_their_outcomes);
}
#[test]
fn a_retry_through_another_gateway_keeps_it() {
    with_fresh_file(suite::a_retry_through_another_gateway_keeps_it);
}
#[test]
fn outbound_janitor_defaults_and_expiry() {
    with_fresh_file(suite::outbound_janitor_defaults_and_expiry);
}
#[test]
fn dial_stats_count_what_the_pacer_needs() {
    with_fresh_file(suite::dial_stats_count_what_the_pacer_needs);
}
#[test]
fn eight_threads_never_start_a_member_twice() {
    with_fresh_file(suite::eight_threads_never_start_a_member_twice);
}

#[test]
fn a_file_that_is_not_a_store_is_one_clear_error() {
    let dir = std::env::temp_dir().join(format!("rustflow-cc-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("junk.sqlite");
    std::fs::write(
        &path,
        b"this is not a database, just text that is long enough to look like a header",
    )
    .unwrap();
    let err = SqliteStore::open(path.to_str().unwrap())
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        err,
        format!(
            "contact-centre store {}: file is not a database",
            path.display()
        )
    );
    let missing = dir.join("no/such/dir/cc.sqlite");
    let err = SqliteStore::open(missing.to_str().unwrap())
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        err,
        format!(
            "contact-centre store {}: unable to open database file",
            missing.display()
        )
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
