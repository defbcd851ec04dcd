//! [`Problems`]: the violations found while one record is read, and the readers of the field
//! types that recur (enums, dates, timestamps).

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use vawg_proto::pb;

use super::{CLOCK_SKEW, MIN_YEAR, Violation, enums::ProtoEnum};

/// Collects violations while a record is read.
#[derive(Default)]
pub(super) struct Problems(pub(super) Vec<Violation>);

impl Problems {
    pub(super) fn add(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.0.push(Violation::new(field, reason));
    }

    /// A required enum: unknown numbers and UNSPECIFIED are refused.
    pub(super) fn required<E: ProtoEnum>(
        &mut self,
        value: i32,
        field: impl Into<String>,
    ) -> Option<E> {
        let field = field.into();
        match E::try_from(value) {
            Ok(v) if v != E::UNSPECIFIED => Some(v),
            Ok(_) => {
                self.add(field, "required: UNSPECIFIED is not accepted");
                None
            }
            Err(_) => {
                self.add(field, format!("unknown enum value {value}"));
                None
            }
        }
    }

    /// An optional enum: UNSPECIFIED means absent; unknown numbers are refused.
    pub(super) fn optional<E: ProtoEnum>(
        &mut self,
        value: i32,
        field: impl Into<String>,
    ) -> Option<E> {
        match E::try_from(value) {
            Ok(v) if v != E::UNSPECIFIED => Some(v),
            Ok(_) => None,
            Err(_) => {
                self.add(field, format!("unknown enum value {value}"));
                None
            }
        }
    }

    /// A required calendar date, from 1900 on.
    pub(super) fn date(&mut self, d: Option<&pb::Date>, field: &str) -> Option<NaiveDate> {
        let Some(d) = d else {
            self.add(field, "required");
            return None;
        };
        let date = u32::try_from(d.month)
            .ok()
            .zip(u32::try_from(d.day).ok())
            .and_then(|(m, day)| NaiveDate::from_ymd_opt(d.year, m, day))
            .filter(|date| date.year_ce().1 as i32 >= MIN_YEAR);
        if date.is_none() {
            self.add(field, "not a valid calendar date");
        }
        date
    }

    /// A required timestamp, from 1900 on and not in the future (allowing for clock skew).
    pub(super) fn time(
        &mut self,
        t: Option<&prost_types::Timestamp>,
        field: &str,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let Some(t) = t else {
            self.add(field, "required");
            return None;
        };
        let parsed = u32::try_from(t.nanos)
            .ok()
            .and_then(|n| DateTime::from_timestamp(t.seconds, n));
        match parsed {
            None => {
                self.add(field, "not a valid timestamp");
                None
            }
            Some(v) if v > now + CLOCK_SKEW => {
                self.add(field, "is in the future");
                None
            }
            Some(v) if v.date_naive().year_ce().1 as i32 >= MIN_YEAR => Some(v),
            Some(_) => {
                self.add(field, format!("is before {MIN_YEAR}"));
                None
            }
        }
    }
}
