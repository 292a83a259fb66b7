//! Calendars: weekly open hours in an IANA time zone, exceptions (holidays, or special
//! hours on a date) and an optional end of validity. Used by queues to refuse joins outside
//! open hours and by the `calendar` application.

use chrono::{Datelike, NaiveDate, NaiveTime, TimeZone, Timelike};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::model::{FieldError, check_id_and_name};

/// A calendar as provisioned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calendar {
    pub id: String,
    #[serde(default)]
    pub name: String,
    /// IANA time zone the hours are in, e.g. `Europe/Kyiv`.
    pub timezone: String,
    /// Open hours per weekday; a day not listed is closed.
    #[serde(default)]
    pub week: Vec<WeekHours>,
    /// Dates that differ from the week: closed all day, or open only in their own hours.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exceptions: Vec<CalendarException>,
    /// Last valid date (`YYYY-MM-DD`, inclusive); after it the calendar is `expired`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

/// Open hours on some weekdays: `{"days": ["mon","tue"], "open": "09:00", "close": "18:00"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeekHours {
    pub days: Vec<String>,
    pub open: String,
    /// `24:00` closes at midnight.
    pub close: String,
}

/// A date that differs from the week.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarException {
    /// `YYYY-MM-DD` in the calendar's time zone.
    pub date: String,
    pub name: String,
    /// Open from this time (with `close`); none = closed all day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close: Option<String>,
}

/// A calendar's state at an instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CalendarState {
    Open,
    Closed,
    /// Past `expires`.
    Expired,
    /// Closed by the named exception.
    Exception(String),
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Minutes since midnight of `HH:MM` (`24:00` = 1440).
fn minutes(text: &str) -> Option<u32> {
    if text == "24:00" {
        return Some(24 * 60);
    }
    let t = NaiveTime::parse_from_str(text, "%H:%M").ok()?;
    (text.len() == 5).then(|| t.hour() * 60 + t.minute())
}

fn parse_range(at: &str, open: &str, close: &str) -> Result<(u32, u32), FieldError> {
    let o = minutes(open).filter(|&m| m < 24 * 60).ok_or_else(|| {
        FieldError::new(
            format!("{at}.open"),
            format!("`{}` is not HH:MM", open.escape_debug()),
        )
    })?;
    let c = minutes(close).ok_or_else(|| {
        FieldError::new(
            format!("{at}.close"),
            format!("`{}` is not HH:MM (or 24:00)", close.escape_debug()),
        )
    })?;
    if c <= o {
        return Err(FieldError::new(
            format!("{at}.close"),
            format!("{close} is not after open {open}"),
        ));
    }
    Ok((o, c))
}

fn parse_date(path: String, text: &str) -> Result<NaiveDate, FieldError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| FieldError::new(path, format!("`{}` is not YYYY-MM-DD", text.escape_debug())))
}

impl Calendar {
    /// Checks the zone, days, times and dates; fills `name` from `id`.
    pub fn validate(&mut self, at: &str) -> Result<(), FieldError> {
        check_id_and_name(at, &self.id, &mut self.name)?;
        self.timezone.parse::<Tz>().map_err(|_| {
            FieldError::new(
                format!("{at}.timezone"),
                format!(
                    "`{}` is not an IANA time zone",
                    self.timezone.escape_debug()
                ),
            )
        })?;
        for (i, w) in self.week.iter().enumerate() {
            let wp = format!("{at}.week[{i}]");
            if w.days.is_empty() {
                return Err(FieldError::new(format!("{wp}.days"), "lists no day"));
            }
            for (k, d) in w.days.iter().enumerate() {
                if !DAYS.contains(&d.as_str()) {
                    return Err(FieldError::new(
                        format!("{wp}.days[{k}]"),
                        format!(
                            "`{}` is not one of mon tue wed thu fri sat sun",
                            d.escape_debug()
                        ),
                    ));
                }
            }
            parse_range(&wp, &w.open, &w.close)?;
        }
        for (i, e) in self.exceptions.iter().enumerate() {
            let ep = format!("{at}.exceptions[{i}]");
            parse_date(format!("{ep}.date"), &e.date)?;
            if e.name.is_empty() || e.name.chars().any(char::is_control) {
                return Err(FieldError::new(
                    format!("{ep}.name"),
                    "must be a non-empty line of text",
                ));
            }
            match (&e.open, &e.close) {
                (Some(o), Some(c)) => {
                    parse_range(&ep, o, c)?;
                }
                (None, None) => {}
                _ => {
                    return Err(FieldError::new(
                        ep,
                        "give both `open` and `close`, or neither (closed all day)",
                    ));
                }
            }
        }
        if let Some(expires) = &self.expires {
            parse_date(format!("{at}.expires"), expires)?;
        }
        Ok(())
    }

    /// The state at `now_ms` (Unix ms). The calendar must have been validated.
    pub fn state_at(&self, now_ms: i64) -> CalendarState {
        self.state_in(now_ms, None)
    }

    /// The state at `now_ms` with the hours, exceptions and expiry read in `zone` (an IANA
    /// name; none = the calendar's own): a member in New York is called 09:00–18:00 New
    /// York time by a calendar kept in Kyiv time.
    pub fn state_in(&self, now_ms: i64, zone: Option<&str>) -> CalendarState {
        let Ok(tz) = zone.unwrap_or(&self.timezone).parse::<Tz>() else {
            return CalendarState::Closed;
        };
        let Some(local) = tz.timestamp_millis_opt(now_ms).single() else {
            return CalendarState::Closed;
        };
        let date = local.date_naive();
        let minute = local.hour() * 60 + local.minute();
        if let Some(expires) = &self.expires
            && let Ok(last) = NaiveDate::parse_from_str(expires, "%Y-%m-%d")
            && date > last
        {
            return CalendarState::Expired;
        }
        let today = date.format("%Y-%m-%d").to_string();
        if let Some(e) = self.exceptions.iter().find(|e| e.date == today) {
            let open = match (&e.open, &e.close) {
                (Some(o), Some(c)) => {
                    matches!((minutes(o), minutes(c)), (Some(o), Some(c)) if (o..c).contains(&minute))
                }
                _ => false,
            };
            return if open {
                CalendarState::Open
            } else {
                CalendarState::Exception(e.name.clone())
            };
        }
        let day = DAYS[date.weekday().num_days_from_monday() as usize];
        let open = self.week.iter().any(|w| {
            w.days.iter().any(|d| d == day)
                && matches!((minutes(&w.open), minutes(&w.close)), (Some(o), Some(c)) if (o..c).contains(&minute))
        });
        if open {
            CalendarState::Open
        } else {
            CalendarState::Closed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::from_json;

    fn calendar(text: &str) -> Calendar {
        let mut c: Calendar = from_json(text).unwrap();
        c.validate("calendars[0]").unwrap();
        c
    }

    /// Unix ms of a UTC date-time.
    fn utc(text: &str) -> i64 {
        chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M")
            .unwrap()
            .and_utc()
            .timestamp_millis()
    }

    #[test]
    fn weekly_hours_in_the_calendars_zone_across_dst() {
        let c = calendar(
            r#"{"id":"office","timezone":"Europe/Kyiv",
                "week":[{"days":["mon","tue","wed","thu","fri"],"open":"09:00","close":"18:00"}],
                "exceptions":[{"date":"2026-12-25","name":"Christmas"},
                              {"date":"2026-12-26","name":"Boxing day shift","open":"10:00","close":"12:00"}],
                "expires":"2027-12-31"}"#,
        );
        // Kyiv is UTC+2 in winter, UTC+3 in summer.
        assert_eq!(c.state_at(utc("2026-12-03 06:59")), CalendarState::Closed);
        assert_eq!(c.state_at(utc("2026-12-03 07:00")), CalendarState::Open);
        assert_eq!(c.state_at(utc("2026-12-03 15:59")), CalendarState::Open);
        assert_eq!(c.state_at(utc("2026-12-03 16:00")), CalendarState::Closed);
        assert_eq!(c.state_at(utc("2026-07-01 06:00")), CalendarState::Open);
        assert_eq!(c.state_at(utc("2026-12-05 10:00")), CalendarState::Closed); // Saturday
        assert_eq!(
            c.state_at(utc("2026-12-25 10:00")),
            CalendarState::Exception("Christmas".into())
        );
        assert_eq!(c.state_at(utc("2026-12-26 08:30")), CalendarState::Open); // 10:30 local
        assert_eq!(
            c.state_at(utc("2026-12-26 11:00")),
            CalendarState::Exception("Boxing day shift".into())
        );
        assert_eq!(c.state_at(utc("2028-01-03 10:00")), CalendarState::Expired);
    }

    #[test]
    fn bad_calendars_name_the_field() {
        let err = |text: &str| {
            let mut c: Calendar = from_json(text).unwrap();
            c.validate("calendars[0]").unwrap_err().to_string()
        };
        assert_eq!(
            err(r#"{"id":"c","timezone":"Mars/Base"}"#),
            "calendars[0].timezone: `Mars/Base` is not an IANA time zone"
        );
        assert_eq!(
            err(
                r#"{"id":"c","timezone":"UTC","week":[{"days":["monday"],"open":"09:00","close":"18:00"}]}"#
            ),
            "calendars[0].week[0].days[0]: `monday` is not one of mon tue wed thu fri sat sun"
        );
        assert_eq!(
            err(
                r#"{"id":"c","timezone":"UTC","week":[{"days":["mon"],"open":"18:00","close":"09:00"}]}"#
            ),
            "calendars[0].week[0].close: 09:00 is not after open 18:00"
        );
        assert_eq!(
            err(
                r#"{"id":"c","timezone":"UTC","week":[{"days":["mon"],"open":"9:00","close":"18:00"}]}"#
            ),
            "calendars[0].week[0].open: `9:00` is not HH:MM"
        );
        assert_eq!(
            err(r#"{"id":"c","timezone":"UTC","exceptions":[{"date":"2026-02-30","name":"x"}]}"#),
            "calendars[0].exceptions[0].date: `2026-02-30` is not YYYY-MM-DD"
        );
    }
}
