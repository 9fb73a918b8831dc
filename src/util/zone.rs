//! The zone of the source's naive DATETIME values: UTC, a fixed offset, or an IANA name with daylight saving time,
//! and the offset each local time had in it.
//!
//! Named zones come from the IANA database bundled into the binary (jiff), so a run gives the same offsets on every
//! host. A local time that never existed (the hour skipped in spring) has no instant: the caller reports it as a
//! data violation. One that existed twice (the hour repeated in autumn) is refused too unless the mapping chose
//! which of the two it means.

use std::fmt;

use crate::util::calendar;

/// A source time zone that is no offset and no IANA zone name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ZoneError(pub String);

/// Which instant an ambiguous local time (a DST fold) means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fold {
    /// Stop the run naming the row (the default: the source does not say which instant it meant).
    #[default]
    Refuse,
    /// The first occurrence (still on summer time).
    Earlier,
    /// The second occurrence (already on winter time).
    Later,
}

/// A parsed `source_time_zone`.
#[derive(Clone)]
pub enum Zone {
    /// Seconds east of UTC.
    Fixed(i32),
    Named {
        name: String,
        tz: jiff::tz::TimeZone,
        fold: Fold,
    },
}

impl fmt::Debug for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Zone::Fixed(s) => write!(f, "Fixed({})", offset_suffix(*s)),
            Zone::Named { name, fold, .. } => write!(f, "Named({name}, {fold:?})"),
        }
    }
}

/// Why a local time has no single offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalTimeError {
    /// Skipped by a DST transition: no instant had this local time.
    Gap,
    /// Repeated by a DST transition and the mapping does not say which instant it means.
    Fold,
    /// Not a printed date-time.
    Invalid,
}

impl Zone {
    pub const UTC: Zone = Zone::Fixed(0);

    /// `UTC`, `Z`, `+HH:MM`/`-HH:MM`, or an IANA name such as `Europe/Amsterdam`.
    pub fn parse(text: &str, fold: Fold) -> Result<Zone, ZoneError> {
        Self::parse_text(text, fold).map_err(ZoneError)
    }

    fn parse_text(text: &str, fold: Fold) -> Result<Zone, String> {
        let z = text.trim();
        if z.eq_ignore_ascii_case("utc") || z == "Z" {
            return Ok(Zone::UTC);
        }
        if let Some(s) = fixed_offset(z) {
            return Ok(Zone::Fixed(s));
        }
        if z.starts_with(['+', '-']) {
            return Err(format!(
                "source_time_zone {text:?} is not an offset: write it as +HH:MM or -HH:MM (at most 14 hours)"
            ));
        }
        jiff::tz::TimeZone::get(z)
            .map(|tz| Zone::Named {
                name: z.to_string(),
                tz,
                fold,
            })
            .map_err(|e| {
                format!(
                    "source_time_zone {text:?} is neither UTC, a +HH:MM offset nor a time zone of the bundled IANA database ({e})"
                )
            })
    }

    /// True when every local time has the same offset (no per-value lookup).
    pub fn fixed(&self) -> Option<i32> {
        match self {
            Zone::Fixed(s) => Some(*s),
            Zone::Named { .. } => None,
        }
    }

    /// Offset in seconds east of UTC of the printed local time `YYYY-MM-DD HH:MM:SS[.f]` in this zone.
    pub fn offset_of(&self, local: &str) -> Result<i32, LocalTimeError> {
        let (tz, fold) = match self {
            Zone::Fixed(s) => return Ok(*s),
            Zone::Named { tz, fold, .. } => (tz, *fold),
        };
        let d = calendar::parse_datetime(local).map_err(|_| LocalTimeError::Invalid)?;
        let year = i16::try_from(d.year).map_err(|_| LocalTimeError::Invalid)?;
        let dt = jiff::civil::DateTime::new(
            year,
            d.month as i8,
            d.day as i8,
            (d.seconds / 3600) as i8,
            (d.seconds / 60 % 60) as i8,
            (d.seconds % 60) as i8,
            0,
        )
        .map_err(|_| LocalTimeError::Invalid)?;
        use jiff::tz::AmbiguousOffset as A;
        match tz.to_ambiguous_timestamp(dt).offset() {
            A::Unambiguous { offset } => Ok(offset.seconds()),
            A::Gap { .. } => Err(LocalTimeError::Gap),
            A::Fold { before, after } => match fold {
                Fold::Refuse => Err(LocalTimeError::Fold),
                Fold::Earlier => Ok(before.seconds()),
                Fold::Later => Ok(after.seconds()),
            },
        }
    }
}

fn fixed_offset(z: &str) -> Option<i32> {
    let (sign, rest) = match z.as_bytes().first()? {
        b'+' => (1, &z[1..]),
        b'-' => (-1, &z[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 14 && m < 60).then_some(sign * (h * 3600 + m * 60))
}

/// `+HH:MM`, or `+HH:MM:SS` for the historical offsets with seconds (local mean time) that PostgreSQL also reads.
pub fn offset_suffix(secs: i32) -> String {
    let sign = if secs < 0 { '-' } else { '+' };
    let a = secs.unsigned_abs();
    if a % 60 == 0 {
        format!("{sign}{:02}:{:02}", a / 3600, a / 60 % 60)
    } else {
        format!("{sign}{:02}:{:02}:{:02}", a / 3600, a / 60 % 60, a % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_and_utc() {
        assert_eq!(Zone::parse("UTC", Fold::Refuse).unwrap().fixed(), Some(0));
        assert_eq!(
            Zone::parse("+02:00", Fold::Refuse).unwrap().fixed(),
            Some(7200)
        );
        assert_eq!(
            Zone::parse("-01:30", Fold::Refuse).unwrap().fixed(),
            Some(-5400)
        );
        assert!(Zone::parse("+2", Fold::Refuse).is_err());
        assert!(Zone::parse("+15:00", Fold::Refuse).is_err());
        assert!(Zone::parse("Mars/Olympus", Fold::Refuse).is_err());
    }

    #[test]
    fn amsterdam_summer_winter_gap_and_fold() {
        let z = Zone::parse("Europe/Amsterdam", Fold::Refuse).unwrap();
        assert_eq!(z.offset_of("2024-01-15 12:00:00"), Ok(3600));
        assert_eq!(z.offset_of("2024-07-15 12:00:00.123456"), Ok(7200));
        // 2024-03-31 02:00 -> 03:00 and 2024-10-27 03:00 -> 02:00.
        assert_eq!(z.offset_of("2024-03-31 02:30:00"), Err(LocalTimeError::Gap));
        assert_eq!(
            z.offset_of("2024-10-27 02:30:00"),
            Err(LocalTimeError::Fold)
        );
        let earlier = Zone::parse("Europe/Amsterdam", Fold::Earlier).unwrap();
        assert_eq!(earlier.offset_of("2024-10-27 02:30:00"), Ok(7200));
        let later = Zone::parse("Europe/Amsterdam", Fold::Later).unwrap();
        assert_eq!(later.offset_of("2024-10-27 02:30:00"), Ok(3600));
    }

    #[test]
    fn suffixes() {
        assert_eq!(offset_suffix(0), "+00:00");
        assert_eq!(offset_suffix(-5400), "-01:30");
        assert_eq!(offset_suffix(1172), "+00:19:32");
    }
}
