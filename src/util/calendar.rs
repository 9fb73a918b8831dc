//! Proleptic Gregorian calendar arithmetic and MySQL's printed date/time form, in one place for the transform
//! (validation), the binary COPY encoder (epoch offsets) and the test-bed generator (random dates).

/// Why a printed date or time is not one PostgreSQL would store unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateError {
    /// A zero year, month or day (`0000-00-00`), which MySQL allows and PostgreSQL has no value for.
    Zero,
    /// Not of the printed form, or not a real calendar day or time of day.
    Invalid,
}

pub fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

pub fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days from 1970-01-01 to the civil date (H. Hinnant's `days_from_civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let (m, d) = (m as i64, d as i64);
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days since 1970-01-01 to (year, month, day) (H. Hinnant's `civil_from_days`).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A date and time as MySQL prints it: `YYYY-MM-DD[ HH:MM:SS[.ffffff]]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    /// Seconds since midnight.
    pub seconds: u32,
    pub micros: u32,
}

impl DateTime {
    /// Microseconds since 1970-01-01 00:00, reading the value as UTC.
    pub fn unix_micros(&self) -> i64 {
        (days_from_civil(self.year, self.month, self.day) * 86_400 + self.seconds as i64)
            * 1_000_000
            + self.micros as i64
    }
}

fn digits(t: &str) -> Result<u32, DateError> {
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DateError::Invalid);
    }
    t.parse().map_err(|_| DateError::Invalid)
}

/// Parses MySQL's printed form strictly: no zero parts, a real calendar day, a real time of day, at most six
/// fraction digits.
pub fn parse_datetime(t: &str) -> Result<DateTime, DateError> {
    let b = t.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' || !t.is_char_boundary(10) {
        return Err(DateError::Invalid);
    }
    let (y, m, d) = (digits(&t[0..4])?, digits(&t[5..7])?, digits(&t[8..10])?);
    if y == 0 || m == 0 || d == 0 {
        return Err(DateError::Zero);
    }
    if m > 12 || d > days_in_month(y as i64, m) {
        return Err(DateError::Invalid);
    }
    let mut out = DateTime {
        year: y as i64,
        month: m,
        day: d,
        seconds: 0,
        micros: 0,
    };
    if b.len() == 10 {
        return Ok(out);
    }
    if b.len() < 19 || b[10] != b' ' || b[13] != b':' || b[16] != b':' || !t.is_char_boundary(19) {
        return Err(DateError::Invalid);
    }
    let (h, mi, s) = (
        digits(&t[11..13])?,
        digits(&t[14..16])?,
        digits(&t[17..19])?,
    );
    if h > 23 || mi > 59 || s > 59 {
        return Err(DateError::Invalid);
    }
    out.seconds = h * 3600 + mi * 60 + s;
    if b.len() > 19 {
        let frac = &t[19..];
        let f = frac.strip_prefix('.').ok_or(DateError::Invalid)?;
        if f.len() > 6 {
            return Err(DateError::Invalid);
        }
        out.micros = digits(f)? * 10u32.pow(6 - f.len() as u32);
    }
    Ok(out)
}

/// MySQL's TIME text `[-]H+:MM:SS[.f]` as signed microseconds.
pub fn time_micros(t: &str) -> Option<i64> {
    let (neg, body) = match t.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, t),
    };
    let (hms, frac) = body.split_once('.').unwrap_or((body, ""));
    let mut parts = hms.split(':');
    let h: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let s: i64 = parts.next()?.parse().ok()?;
    if parts.next().is_some()
        || m > 59
        || s > 59
        || frac.len() > 6
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let f: i64 = if frac.is_empty() {
        0
    } else {
        frac.parse::<i64>().ok()? * 10i64.pow(6 - frac.len() as u32)
    };
    let v = (h * 3600 + m * 60 + s) * 1_000_000 + f;
    Some(if neg { -v } else { v })
}

/// `YYYY-MM-DD[ HH:MM:SS[.f]][+HH[:MM[:SS]]]` to microseconds since 1970-01-01 00:00 (UTC when an offset is
/// given): the transform's form and PostgreSQL's timestamptz output alike.
pub fn timestamp_micros(t: &str) -> Option<i64> {
    let (body, offset) = match t.get(19..).and_then(|tail| tail.find(['+', '-'])) {
        Some(at) => (&t[..19 + at], Some(&t[19 + at..])),
        None => (t, None),
    };
    let mut micros = parse_datetime(body).ok()?.unix_micros();
    if let Some(o) = offset {
        let mut secs = 0i64;
        for (part, unit) in o[1..].split(':').zip([3600, 60, 1]) {
            secs += part.parse::<i64>().ok()? * unit;
        }
        micros -= if o.starts_with('-') { -secs } else { secs } * 1_000_000;
    }
    Some(micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(18_321), (2020, 2, 29));
        for z in [-800_000, -1, 0, 1, 10_957, 18_321, 2_932_896] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
    }

    #[test]
    fn printed_form() {
        assert!(parse_datetime("2020-02-29 10:00:00.123456").is_ok());
        assert_eq!(parse_datetime("0000-00-00 00:00:00"), Err(DateError::Zero));
        assert_eq!(parse_datetime("2020-02-30"), Err(DateError::Invalid));
        assert_eq!(
            parse_datetime("2019-02-29 00:00:00"),
            Err(DateError::Invalid)
        );
        assert_eq!(
            parse_datetime("2019-01-01 24:00:00"),
            Err(DateError::Invalid)
        );
        let t = parse_datetime("2000-01-02 00:00:01.5").unwrap();
        assert_eq!((t.seconds, t.micros), (1, 500_000));
        assert_eq!(
            parse_datetime("2000-01-01 00:00:00").unwrap().unix_micros(),
            10_957 * 86_400_000_000
        );
    }
}
