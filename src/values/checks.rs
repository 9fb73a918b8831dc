//! The per-value checks of the conversions: numbers as MySQL printed them against the target's precision and
//! scale, `real`'s exactness, fractional seconds, uuid form and calendar dates.

use super::rules::Rule;
use crate::util::calendar;

pub(super) fn utf8(v: &[u8]) -> Result<&str, Rule> {
    std::str::from_utf8(v).map_err(|_| Rule::InvalidUtf8)
}

/// The ASCII number MySQL printed (digits, sign, point, exponent).
pub(super) fn number(v: &[u8]) -> Result<&str, Rule> {
    let t = utf8(v)?;
    if t.is_empty()
        || !t
            .bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
    {
        return Err(Rule::NotANumber);
    }
    Ok(t)
}

/// A decimal fits `numeric(p, s)` unchanged: at most p - s integer digits, and only zeros past s decimals.
pub(super) fn check_numeric(
    t: &str,
    max_int_digits: Option<u32>,
    scale: Option<u32>,
    target: &str,
) -> Result<(), Rule> {
    if t.contains(['e', 'E']) {
        return Err(Rule::NotANumber);
    }
    let unsigned = t.trim_start_matches(['+', '-']);
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    if let Some(max) = max_int_digits {
        if int.trim_start_matches('0').len() > max as usize {
            return Err(Rule::TooManyDigits { max });
        }
    }
    if let Some(scale) = scale {
        if frac.bytes().skip(scale as usize).any(|b| b != b'0') {
            return Err(Rule::WouldRound {
                target: target.to_string(),
            });
        }
    }
    Ok(())
}

/// A value `real` holds as it is shown: the same binary value, or the same shortest decimal form.
pub(super) fn check_real(t: &str) -> Result<(), Rule> {
    let d: f64 = t.parse().map_err(|_| Rule::NotANumber)?;
    let f: f32 = t.parse().map_err(|_| Rule::NotANumber)?;
    if f as f64 == d || (f.is_finite() && f.to_string() == d.to_string()) {
        Ok(())
    } else {
        Err(Rule::WouldRound {
            target: format!("real (as {f})"),
        })
    }
}

/// Only zeros past `precision` fractional second digits.
pub(super) fn check_fraction(t: &str, precision: u32, target: &str) -> Result<(), Rule> {
    let time = t.rsplit(' ').next().unwrap_or(t);
    match time.split_once('.') {
        Some((_, frac)) if frac.bytes().skip(precision as usize).any(|b| b != b'0') => {
            Err(Rule::WouldRound {
                target: target.to_string(),
            })
        }
        _ => Ok(()),
    }
}

/// Strict 8-4-4-4-12 hex form.
pub fn is_uuid(v: &[u8]) -> bool {
    v.len() == 36
        && v.iter().enumerate().all(|(i, b)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                *b == b'-'
            } else {
                b.is_ascii_hexdigit()
            }
        })
}

/// Checks `YYYY-MM-DD[ HH:MM:SS[.f]]` as MySQL prints it: no zero parts, a real calendar day.
pub(super) fn check_datetime(t: &str) -> Result<(), Rule> {
    match calendar::parse_datetime(t) {
        Ok(_) => Ok(()),
        Err(calendar::DateError::Zero) => Err(Rule::ZeroDate),
        Err(calendar::DateError::Invalid) => Err(Rule::InvalidDate),
    }
}
