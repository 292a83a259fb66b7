//! The date helpers at fixed instants, in several time zones, across DST changes; both
//! the native form and the engine path.

mod expr_support;

use expr_support::TestEnv;
use rustflow_engine::expr::Expression;

/// 2026-11-27 23:00:00 UTC, a Friday.
const FRI_2300_UTC: i64 = 1_795_820_400;

fn at(seconds: i64, tz: &str) -> TestEnv {
    let mut env = TestEnv::new();
    env.now_micros = seconds * 1_000_000;
    env.tz = Some(tz.to_string());
    env
}

/// Evaluates natively and on the engine; both must give `expected` (`String(value)`).
fn check(env: &mut TestEnv, source: &str, expected: &str) {
    let e = Expression::compile(source).unwrap_or_else(|err| panic!("{source}: {err}"));
    assert_eq!(
        e.eval_string(env).as_deref(),
        Ok(expected),
        "{source} in {:?}",
        env.tz
    );
    assert_eq!(
        e.eval_string_on_engine(env).as_deref(),
        Ok(expected),
        "{source} on the engine in {:?}",
        env.tz
    );
}

#[test]
fn current_values_in_utc() {
    let mut env = at(FRI_2300_UTC, "UTC");
    for (source, expected) in [
        ("&year()", "2026"),
        ("&yday()", "331"),
        ("&mon()", "11"),
        ("&mday()", "27"),
        ("&week()", "48"),
        ("&mweek()", "5"),
        ("&wday()", "6"),
        ("&hour()", "23"),
        ("&minute()", "0"),
        ("&minute_of_day()", "1380"),
        ("&time_of_day()", "23:00"),
        ("&date_time()", "2026-11-27 23:00:00"),
    ] {
        check(&mut env, source, expected);
    }
}

#[test]
fn the_same_instant_in_other_zones() {
    let mut kyiv = at(FRI_2300_UTC, "Europe/Kyiv");
    check(&mut kyiv, "&date_time()", "2026-11-28 01:00:00");
    check(&mut kyiv, "&wday()", "7");
    check(&mut kyiv, "&wday(7)", "true");
    check(&mut kyiv, "&wday(2-6)", "false");
    let mut la = at(FRI_2300_UTC, "America/Los_Angeles");
    check(&mut la, "&date_time()", "2026-11-27 15:00:00");
    check(&mut la, "&wday(2-6) && &time_of_day(09:00-18:00)", "true");
    let mut kolkata = at(FRI_2300_UTC, "Asia/Kolkata");
    check(&mut kolkata, "&time_of_day()", "04:30");
    check(&mut kolkata, "&minute_of_day()", "270");
    check(&mut kolkata, "&mday()", "28");
}

#[test]
fn lists_and_ranges() {
    let mut env = at(FRI_2300_UTC, "UTC");
    for (source, expected) in [
        ("&wday(2-6)", "true"),
        ("&wday(1,7)", "false"),
        ("&wday(1, 6)", "true"),
        ("&mon(12-10)", "true"), // reversed range swapped
        ("&mday(1-26,28-31)", "false"),
        ("&hour(23)", "true"),
        ("&hour(9-18)", "false"),
        ("&year(2025-2027)", "true"),
        ("&week(48)", "true"),
        ("&minute_of_day(1380)", "true"),
        ("&time_of_day(09:00-18:00)", "false"),
        ("&time_of_day(09:00-18:00, 22:30-23:30)", "true"),
        ("&time_of_day(22:00-06:00)", "true"), // wraps past midnight
        ("&time_of_day(23:00:01-23:59:59)", "false"),
        ("&time_of_day(22:59:59-23:00:00)", "true"),
        ("&date_time(2026-11-27 00:00~2026-11-27 23:59)", "true"),
        (
            "&date_time(2026-12-24 00:00:00~2026-12-26 23:59:59)",
            "undefined",
        ),
        ("!&date_time(2026-12-24 00:00~2026-12-26 23:59)", "true"),
        ("&wday(2-6) && &time_of_day(09:00-18:00)", "false"),
        ("&hour() >= 22 ? 'night' : 'day'", "night"),
    ] {
        check(&mut env, source, expected);
    }
    // the same date-time range, read in Kyiv's zone, does not contain the instant
    let mut kyiv = at(FRI_2300_UTC, "Europe/Kyiv");
    check(
        &mut kyiv,
        "&date_time(2026-11-27 00:00~2026-11-27 23:59)",
        "undefined",
    );
    check(
        &mut kyiv,
        "&date_time(2026-11-28 00:30~2026-11-28 01:00)",
        "true",
    );
}

#[test]
fn daylight_saving_edges() {
    // Kyiv: 2026-03-29 03:00 EET -> 04:00 EEST (01:00 UTC)
    let mut before = at(1_774_745_999, "Europe/Kyiv");
    check(&mut before, "&time_of_day()", "02:59");
    check(&mut before, "&hour()", "2");
    let mut after = at(1_774_746_000, "Europe/Kyiv");
    check(&mut after, "&time_of_day()", "04:00");
    check(&mut after, "&time_of_day(03:00-03:59)", "false");
    // a local time inside the gap is moved forward by the gap (03:30 -> 04:30 EEST), as
    // Go and JavaScript do
    check(
        &mut after,
        "&date_time(2026-03-29 03:30~2026-03-29 05:00)",
        "undefined",
    );
    let mut half_past = at(1_774_747_800, "Europe/Kyiv");
    check(&mut half_past, "&time_of_day()", "04:30");
    check(
        &mut half_past,
        "&date_time(2026-03-29 03:30~2026-03-29 05:00)",
        "true",
    );
    // Kyiv: 2026-10-25 04:00 EEST -> 03:00 EET (01:00 UTC); 03:xx happens twice
    let mut first = at(1_792_889_999, "Europe/Kyiv");
    check(&mut first, "&date_time()", "2026-10-25 03:59:59");
    let mut second = at(1_792_890_000, "Europe/Kyiv");
    check(&mut second, "&date_time()", "2026-10-25 03:00:00");
    // an ambiguous local time is the earlier instant
    check(
        &mut first,
        "&date_time(2026-10-25 03:30~2026-10-25 03:59:59)",
        "true",
    );
    check(
        &mut second,
        "&date_time(2026-10-25 03:30~2026-10-25 03:59:59)",
        "undefined",
    );
    // New York: 2026-03-08 02:00 EST -> 03:00 EDT (07:00 UTC)
    let mut ny = at(1_772_953_199, "America/New_York");
    check(&mut ny, "&time_of_day()", "01:59");
    let mut ny_after = at(1_772_953_200, "America/New_York");
    check(&mut ny_after, "&time_of_day()", "03:00");
    check(&mut ny_after, "&hour(2)", "false");
}

#[test]
fn week_of_month_across_new_year() {
    // 2027-01-01 is a Friday in ISO week 53 of 2026; the original's subtraction of ISO
    // week numbers went wrong here, the week of the month is 1
    let mut env = at(1_798_763_400, "UTC");
    check(&mut env, "&mweek()", "1");
    check(&mut env, "&week()", "53");
    check(&mut env, "&yday()", "1");
}

#[test]
fn helpers_inside_engine_only_expressions() {
    let mut env = at(FRI_2300_UTC, "UTC");
    let e = Expression::compile("[&hour(), &wday(6), &time_of_day()].join(' ')").unwrap();
    assert!(!e.is_native());
    assert_eq!(e.eval_string(&mut env).as_deref(), Ok("23 true 23:00"));
}

#[test]
fn time_zone_errors_and_the_system_zone() {
    let mut env = at(FRI_2300_UTC, "Mars/Olympus");
    let e = Expression::compile("&hour()").unwrap();
    assert_eq!(
        e.eval_string(&mut env),
        Err("unknown time zone 'Mars/Olympus'".to_string())
    );
    // without a zone the system's is used
    env.tz = None;
    let expected = chrono::DateTime::from_timestamp(FRI_2300_UTC, 0)
        .unwrap()
        .with_timezone(&chrono::Local)
        .format("%H")
        .to_string()
        .trim_start_matches('0')
        .to_string();
    let expected = if expected.is_empty() {
        "0".to_string()
    } else {
        expected
    };
    assert_eq!(e.eval_string(&mut env), Ok(expected));
}
