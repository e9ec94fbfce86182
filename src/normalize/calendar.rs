//! Local calendar days and weeks, as integer day numbers, and the `--since/--until` window.
//!
//! A day is the request's date in the audit's time zone, counted in days since 1970-01-01; a
//! week is the day number of its first day. Integers keep the plan cheap and make weeks exact
//! under daylight-saving changes (a week is seven local dates, not 168 hours).

use chrono::{Datelike, NaiveDate};
use polars::prelude::*;

use crate::schema;

/// Day number of the request's local date.
pub const DAY: &str = "_day";
/// Day number of the first day of the request's local week.
pub const WEEK: &str = "_week";

/// Which weekday starts a week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WeekStart {
    #[default]
    Monday,
    Sunday,
}

impl WeekStart {
    /// Days from the week's first day to Thursday 1970-01-01 (day 0).
    fn epoch_offset(self) -> i32 {
        match self {
            WeekStart::Monday => 3,
            WeekStart::Sunday => 4,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            WeekStart::Monday => "monday",
            WeekStart::Sunday => "sunday",
        }
    }

    /// The first day of the week containing `day`.
    pub fn week_of(self, day: NaiveDate) -> NaiveDate {
        from_day_number(self.week_of_day(to_day_number(day)))
    }

    /// The same for day numbers.
    pub fn week_of_day(self, day: i32) -> i32 {
        week_number(day, self)
    }

    pub fn parse(text: &str) -> Option<WeekStart> {
        match text {
            "monday" => Some(WeekStart::Monday),
            "sunday" => Some(WeekStart::Sunday),
            _ => None,
        }
    }
}

/// The audit's calendar: time zone, first weekday and the inclusive window of local dates.
#[derive(Debug, Clone)]
pub struct Calendar {
    pub tz: chrono_tz::Tz,
    pub week_start: WeekStart,
    pub since: Option<NaiveDate>,
    pub until: Option<NaiveDate>,
}

impl Default for Calendar {
    fn default() -> Self {
        Calendar {
            tz: chrono_tz::UTC,
            week_start: WeekStart::Monday,
            since: None,
            until: None,
        }
    }
}

pub fn to_day_number(date: NaiveDate) -> i32 {
    date.num_days_from_ce() - EPOCH_CE_DAYS
}

pub fn from_day_number(day: i32) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt(day + EPOCH_CE_DAYS).expect("day number in range")
}

const EPOCH_CE_DAYS: i32 = 719_163;

fn week_number(day: i32, week_start: WeekStart) -> i32 {
    let offset = week_start.epoch_offset();
    (day + offset).div_euclid(7) * 7 - offset
}

/// Adds [`DAY`] and [`WEEK`] from `ts`; the `--since/--until` window is applied separately
/// ([`within`] here, or on the collected usage aggregate), so rows outside it can be counted.
pub fn apply(frame: LazyFrame, calendar: &Calendar) -> LazyFrame {
    let tz = TimeZone::from_chrono(&calendar.tz);
    let day = col(schema::TS)
        .dt()
        .convert_time_zone(tz)
        .dt()
        .date()
        .cast(DataType::Int32);
    let offset = calendar.week_start.epoch_offset();
    let week = (col(DAY) + lit(offset)).floor_div(lit(7)) * lit(7) - lit(offset);
    frame
        .with_column(day.alias(DAY))
        .with_column(week.alias(WEEK))
}

impl Calendar {
    /// Whether a local day (day number) is inside the `--since/--until` window.
    pub fn contains(&self, day: i32) -> bool {
        self.since.is_none_or(|since| day >= to_day_number(since))
            && self.until.is_none_or(|until| day <= to_day_number(until))
    }
}

/// Keeps only the rows inside the window (after [`apply`]).
pub fn within(mut frame: LazyFrame, calendar: &Calendar) -> LazyFrame {
    if let Some(since) = calendar.since {
        frame = frame.filter(col(DAY).gt_eq(lit(to_day_number(since))));
    }
    if let Some(until) = calendar.until {
        frame = frame.filter(col(DAY).lt_eq(lit(to_day_number(until))));
    }
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn day_numbers_round_trip_from_the_epoch() {
        assert_eq!(to_day_number(date("1970-01-01")), 0);
        assert_eq!(from_day_number(20_000), date("2024-10-04"));
    }

    #[test]
    fn weeks_start_on_the_configured_day() {
        // 2026-09-09 is a Wednesday.
        assert_eq!(
            WeekStart::Monday.week_of(date("2026-09-09")),
            date("2026-09-07")
        );
        assert_eq!(
            WeekStart::Sunday.week_of(date("2026-09-09")),
            date("2026-09-06")
        );
        // A Sunday belongs to the week before under monday starts, and starts its own under sunday.
        assert_eq!(
            WeekStart::Monday.week_of(date("2026-09-13")),
            date("2026-09-07")
        );
        assert_eq!(
            WeekStart::Sunday.week_of(date("2026-09-13")),
            date("2026-09-13")
        );
        // Before the epoch, floor division still lands on the right weekday.
        assert_eq!(
            WeekStart::Monday.week_of(date("1969-12-31")),
            date("1969-12-29")
        );
    }
}
