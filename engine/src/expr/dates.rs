//! The date helpers of docs/semantics.md (`&year()` … `&date_time()`), evaluated in the flow's
//! time zone through chrono-tz. Arguments are parsed once, at load; a malformed argument is
//! a load error (the original silently treated it as "no match").

use chrono::{
    DateTime, Datelike, Local, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;

use super::value::Val;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Field {
    Year,
    Yday,
    Mon,
    Mday,
    Week,
    Mweek,
    Wday,
    Hour,
    Minute,
    MinuteOfDay,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Helper {
    /// No argument: the current value.
    Value(Field),
    /// `N` or `A-B` items (inclusive, reversed ranges swapped).
    Matches(Field, Vec<(i64, i64)>),
    /// `&time_of_day()` → "HH:MM".
    TimeOfDayText,
    /// Seconds of day ranges; a range whose start is after its end wraps past midnight.
    TimeOfDay(Vec<(u32, u32)>),
    /// `&date_time()` → "YYYY-MM-DD HH:MM:SS".
    DateTimeText,
    /// Local date-time ranges (resolved in the zone at evaluation time).
    DateTime(Vec<(NaiveDateTime, NaiveDateTime)>),
}

fn field(name: &str) -> Option<Field> {
    Some(match name {
        "year" => Field::Year,
        "yday" => Field::Yday,
        "mon" => Field::Mon,
        "mday" => Field::Mday,
        "week" => Field::Week,
        "mweek" => Field::Mweek,
        "wday" => Field::Wday,
        "hour" => Field::Hour,
        "minute" => Field::Minute,
        "minute_of_day" => Field::MinuteOfDay,
        _ => return None,
    })
}

/// Parses `&name(arg)`; errors say what is wrong with the argument.
pub(crate) fn parse_helper(name: &str, arg: &str) -> Result<Helper, String> {
    let arg = arg.trim();
    let bad = |what: &str| format!("&{name}({arg}): {what}");
    match name {
        "time_of_day" if arg.is_empty() => Ok(Helper::TimeOfDayText),
        "time_of_day" => {
            let mut ranges = Vec::new();
            for item in arg.split(',') {
                let (a, b) = item
                    .split_once('-')
                    .ok_or_else(|| bad(&format!("'{}' is not a HH:MM-HH:MM range", item.trim())))?;
                let a = parse_clock(a).ok_or_else(|| bad(&format!("bad time '{}'", a.trim())))?;
                let b = parse_clock(b).ok_or_else(|| bad(&format!("bad time '{}'", b.trim())))?;
                ranges.push((a, b));
            }
            Ok(Helper::TimeOfDay(ranges))
        }
        "date_time" if arg.is_empty() => Ok(Helper::DateTimeText),
        "date_time" => {
            let mut ranges = Vec::new();
            for item in arg.split(',') {
                let (a, b) = item.split_once('~').ok_or_else(|| {
                    bad(&format!(
                        "'{}' is not a 'YYYY-MM-DD HH:MM~YYYY-MM-DD HH:MM' range",
                        item.trim()
                    ))
                })?;
                let a = parse_date_time(a)
                    .ok_or_else(|| bad(&format!("bad date-time '{}'", a.trim())))?;
                let b = parse_date_time(b)
                    .ok_or_else(|| bad(&format!("bad date-time '{}'", b.trim())))?;
                ranges.push((a, b));
            }
            Ok(Helper::DateTime(ranges))
        }
        _ => {
            let f = field(name).ok_or_else(|| format!("unknown date helper &{name}"))?;
            if arg.is_empty() {
                return Ok(Helper::Value(f));
            }
            let compact: String = arg.chars().filter(|c| !c.is_whitespace()).collect();
            let mut items = Vec::new();
            for item in compact.split(',') {
                let num = |s: &str| -> Result<i64, String> {
                    if s.is_empty() || !s.chars().all(|c| c.is_ascii_digit()) || s.len() > 9 {
                        Err(bad(&format!("'{item}' is not a number or an A-B range")))
                    } else {
                        Ok(s.parse::<i64>().unwrap_or(0))
                    }
                };
                let (lo, hi) = match item.split_once('-') {
                    Some((a, b)) => (num(a)?, num(b)?),
                    None => {
                        let v = num(item)?;
                        (v, v)
                    }
                };
                items.push((lo.min(hi), lo.max(hi)));
            }
            Ok(Helper::Matches(f, items))
        }
    }
}

/// `HH:MM[:SS]` → seconds of day.
fn parse_clock(s: &str) -> Option<u32> {
    let parts: Vec<&str> = s.trim().split(':').map(str::trim).collect();
    if !(2..=3).contains(&parts.len()) {
        return None;
    }
    let num = |p: &str, max: u32| -> Option<u32> {
        (!p.is_empty() && p.len() <= 2 && p.chars().all(|c| c.is_ascii_digit()))
            .then(|| p.parse::<u32>().ok())
            .flatten()
            .filter(|v| *v <= max)
    };
    let h = num(parts[0], 24)?;
    let m = num(parts[1], 59)?;
    let sec = match parts.get(2) {
        Some(p) => num(p, 59)?,
        None => 0,
    };
    Some(h * 3600 + m * 60 + sec)
}

fn parse_date_time(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M"))
        .ok()
}

/// The time zone the helpers use: a named IANA zone, or the system's.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Zone {
    Named(Tz),
    System,
}

impl Zone {
    pub fn resolve(name: Option<&str>) -> Result<Zone, String> {
        match name.map(str::trim).filter(|n| !n.is_empty()) {
            None => Ok(Zone::System),
            Some(n) => n
                .parse::<Tz>()
                .map(Zone::Named)
                .map_err(|_| format!("unknown time zone '{n}'")),
        }
    }

    /// Wall-clock time of an instant.
    pub fn local(&self, micros: i64) -> NaiveDateTime {
        let utc = DateTime::<Utc>::from_timestamp_micros(micros).unwrap_or_default();
        match self {
            Zone::Named(tz) => utc.with_timezone(tz).naive_local(),
            Zone::System => utc.with_timezone(&Local).naive_local(),
        }
    }

    /// The instant of a wall-clock time: the earlier one when the clock was set back; a
    /// time inside a gap (clock set forward) is moved forward by the gap, as Go does.
    pub fn instant(&self, local: NaiveDateTime) -> i64 {
        fn pick<Z: TimeZone>(z: &Z, local: NaiveDateTime) -> i64 {
            match z.from_local_datetime(&local) {
                LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.timestamp_micros(),
                LocalResult::None => {
                    // inside a DST gap: shift by the offset in force before the gap
                    let before = local - chrono::Duration::hours(3);
                    match z.from_local_datetime(&before) {
                        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => {
                            let offset = t.naive_local() - t.naive_utc();
                            (local - offset).and_utc().timestamp_micros()
                        }
                        LocalResult::None => local.and_utc().timestamp_micros(),
                    }
                }
            }
        }
        match self {
            Zone::Named(tz) => pick(tz, local),
            Zone::System => pick(&Local, local),
        }
    }
}

/// 1 = Sunday … 7 = Saturday.
fn wday(d: &NaiveDateTime) -> i64 {
    i64::from(d.weekday().num_days_from_sunday()) + 1
}

/// Week of the month, weeks starting on Monday: the 1st is in week 1. (The original
/// subtracted ISO week numbers, which breaks across new year; this agrees with it on every
/// other day.)
fn mweek(d: &NaiveDateTime) -> i64 {
    let first = NaiveDate::from_ymd_opt(d.year(), d.month(), 1).unwrap_or(d.date());
    let offset = i64::from(first.weekday().num_days_from_monday());
    1 + (i64::from(d.day()) - 1 + offset) / 7
}

fn field_value(f: Field, d: &NaiveDateTime) -> i64 {
    match f {
        Field::Year => i64::from(d.year()),
        Field::Yday => i64::from(d.ordinal()),
        Field::Mon => i64::from(d.month()),
        Field::Mday => i64::from(d.day()),
        Field::Week => i64::from(d.iso_week().week()),
        Field::Mweek => mweek(d),
        Field::Wday => wday(d),
        Field::Hour => i64::from(d.hour()),
        Field::Minute => i64::from(d.minute()),
        Field::MinuteOfDay => i64::from(d.hour() * 60 + d.minute()),
    }
}

/// Evaluates a helper at instant `now_micros` in `zone`.
pub(crate) fn eval(h: &Helper, zone: Zone, now_micros: i64) -> Val<'static> {
    let local = zone.local(now_micros);
    match h {
        Helper::Value(f) => Val::Num(field_value(*f, &local) as f64),
        Helper::Matches(f, items) => {
            let v = field_value(*f, &local);
            Val::Bool(items.iter().any(|(lo, hi)| (*lo..=*hi).contains(&v)))
        }
        Helper::TimeOfDayText => Val::Str(local.format("%H:%M").to_string().into()),
        Helper::TimeOfDay(ranges) => {
            let now = local.time().num_seconds_from_midnight();
            Val::Bool(ranges.iter().any(|&(a, b)| {
                if a <= b {
                    (a..=b).contains(&now)
                } else {
                    now >= a || now <= b
                }
            }))
        }
        Helper::DateTimeText => Val::Str(local.format("%Y-%m-%d %H:%M:%S").to_string().into()),
        Helper::DateTime(ranges) => {
            let hit = ranges.iter().any(|&(a, b)| {
                let (a, b) = (zone.instant(a), zone.instant(b));
                (a..=b).contains(&now_micros)
            });
            // no match is `undefined` in the original (falsy)
            if hit { Val::Bool(true) } else { Val::Undefined }
        }
    }
}

/// `[year, month, day, hour, minute, second]` of `now` in `zone` (the `LocalDate()` helper).
pub(crate) fn local_fields(zone: Zone, now_micros: i64) -> [i32; 6] {
    let l = zone.local(now_micros);
    [
        l.year(),
        l.month() as i32,
        l.day() as i32,
        l.hour() as i32,
        l.minute() as i32,
        l.second() as i32,
    ]
}
