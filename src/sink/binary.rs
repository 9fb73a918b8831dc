//! PostgreSQL binary COPY encoding of transformed batches: `migrate`'s default wire format (`--copy-format csv`
//! sends CSV instead).
//!
//! The transform stage's text form is re-encoded per target type: uuid as 16 bytes, booleans, integers,
//! timestamps (microseconds since 2000-01-01), dates, numerics (base-10000 digits) in network order; text, enum
//! labels and json as their bytes; jsonb with its version byte; bytea raw. PostgreSQL then skips CSV parsing and
//! most input functions, which measured faster on the whole run (docs/benchmarks.md). Exported files stay CSV.

use arrow::array::{Array, AsArray, RecordBatch};

use crate::convert::Conversion;
use crate::pgbinary::PG_EPOCH_DAYS;
pub use crate::pgbinary::{HEADER, TRAILER};
use crate::util::{calendar, hex};

/// A converted value the binary COPY encoder cannot write in its column's binary form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EncodeError(pub String);

/// A printed timestamp (with or without offset) as microseconds since 2000-01-01 00:00 UTC.
fn timestamp_micros(t: &str) -> Option<i64> {
    Some(calendar::timestamp_micros(t)? - PG_EPOCH_DAYS * 86_400_000_000)
}

/// PostgreSQL's binary numeric: ndigits, weight, sign, dscale, then base-10000 digits.
fn numeric(t: &str, out: &mut Vec<u8>) -> Option<()> {
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let dscale = frac.len() as i16;
    // Left-pad the integer part and right-pad the fraction to whole groups of four digits.
    let int_pad = (4 - int.len() % 4) % 4;
    let frac_pad = (4 - frac.len() % 4) % 4;
    let digits: String = "0".repeat(int_pad) + int + frac + &"0".repeat(frac_pad);
    let mut groups: Vec<i16> = digits
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).ok()?.parse().ok())
        .collect::<Option<_>>()?;
    let mut weight = ((int.len() + int_pad) / 4) as i16 - 1;
    while groups.first() == Some(&0) {
        groups.remove(0);
        weight -= 1;
    }
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    for v in [
        groups.len() as i16,
        weight,
        if neg && !groups.is_empty() { 0x4000 } else { 0 },
        dscale,
    ] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    for g in groups {
        out.extend_from_slice(&g.to_be_bytes());
    }
    Some(())
}

/// Appends one field (length + payload). `None` when the text does not parse (a bug upstream: the transform
/// stage validated it).
fn field(conv: &Conversion, t: &str, out: &mut Vec<u8>) -> Option<()> {
    let at = out.len();
    out.extend_from_slice(&[0, 0, 0, 0]);
    match conv {
        Conversion::Uuid { .. } => {
            let hexes: Vec<u8> = t.bytes().filter(|b| *b != b'-').collect();
            if hexes.len() != 32 {
                return None;
            }
            hex::decode_into(&hexes, out)?;
        }
        Conversion::Bool => out.push(u8::from(t == "t")),
        Conversion::Int { min, .. } => {
            let v: i64 = t.parse().ok()?;
            match *min {
                m if m == i16::MIN as i64 => out.extend_from_slice(&(v as i16).to_be_bytes()),
                m if m == i32::MIN as i64 => out.extend_from_slice(&(v as i32).to_be_bytes()),
                _ => out.extend_from_slice(&v.to_be_bytes()),
            }
        }
        Conversion::Numeric { .. } => numeric(t, out)?,
        Conversion::Float { bits: 32 } => {
            out.extend_from_slice(&t.parse::<f32>().ok()?.to_be_bytes())
        }
        Conversion::Float { .. } => out.extend_from_slice(&t.parse::<f64>().ok()?.to_be_bytes()),
        Conversion::Timestamp { .. } | Conversion::TimestampTz { .. } => {
            out.extend_from_slice(&timestamp_micros(t)?.to_be_bytes())
        }
        Conversion::Time { .. } => out.extend_from_slice(&calendar::time_micros(t)?.to_be_bytes()),
        Conversion::Interval => {
            // microseconds, days, months: a TIME is all microseconds.
            out.extend_from_slice(&calendar::time_micros(t)?.to_be_bytes());
            out.extend_from_slice(&[0; 8]);
        }
        Conversion::Bits { .. } => {
            out.extend_from_slice(&(t.len() as i32).to_be_bytes());
            for chunk in t.as_bytes().chunks(8) {
                let mut byte = 0u8;
                for (i, b) in chunk.iter().enumerate() {
                    byte |= u8::from(*b == b'1') << (7 - i);
                }
                out.push(byte);
            }
        }
        Conversion::Date | Conversion::DateFromDatetime => {
            let d = calendar::parse_datetime(t).ok()?;
            let days = calendar::days_from_civil(d.year, d.month, d.day) - PG_EPOCH_DAYS;
            out.extend_from_slice(&(days as i32).to_be_bytes());
        }
        Conversion::Jsonb => {
            out.push(1);
            out.extend_from_slice(t.as_bytes());
        }
        Conversion::Bytea => {
            hex::decode_into(t.strip_prefix("\\x")?.as_bytes(), out)?;
        }
        Conversion::Json | Conversion::Text { .. } | Conversion::Enum { .. } => {
            out.extend_from_slice(t.as_bytes())
        }
        Conversion::TextArray { elem_oid, .. } => {
            // ndim, has-nulls flag, element type, then (length, lower bound) per dimension and the elements,
            // each as its length and its text (text, varchar and enum labels travel as their text).
            let elems = crate::util::pgarray::parse(t)?;
            let ndim = i32::from(!elems.is_empty());
            out.extend_from_slice(&ndim.to_be_bytes());
            out.extend_from_slice(&0i32.to_be_bytes());
            out.extend_from_slice(&elem_oid.to_be_bytes());
            if ndim == 1 {
                out.extend_from_slice(&(elems.len() as i32).to_be_bytes());
                out.extend_from_slice(&1i32.to_be_bytes());
            }
            for e in elems {
                let e = e?;
                out.extend_from_slice(&(e.len() as i32).to_be_bytes());
                out.extend_from_slice(e.as_bytes());
            }
        }
    }
    let len = (out.len() - at - 4) as i32;
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
    Some(())
}

/// Appends one batch (all columns Utf8, in `convs` order) as binary COPY tuples.
pub fn encode(
    batch: &RecordBatch,
    convs: &[Conversion],
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    encode_text(batch, convs, out).map_err(EncodeError)
}

fn encode_text(batch: &RecordBatch, convs: &[Conversion], out: &mut Vec<u8>) -> Result<(), String> {
    let cols: Vec<_> = batch
        .columns()
        .iter()
        .map(|c| c.as_string::<i32>())
        .collect();
    let n = cols.len() as i16;
    for row in 0..batch.num_rows() {
        out.extend_from_slice(&n.to_be_bytes());
        for (c, conv) in cols.iter().zip(convs) {
            if c.is_null(row) {
                out.extend_from_slice(&(-1i32).to_be_bytes());
            } else if field(conv, c.value(row), out).is_none() {
                return Err(format!(
                    "cannot encode {:?} as {conv:?} in binary",
                    c.value(row)
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_count_from_2000() {
        assert_eq!(timestamp_micros("2000-01-01 00:00:00"), Some(0));
        assert_eq!(
            timestamp_micros("2000-01-02 00:00:01.5"),
            Some(86_401_500_000)
        );
        assert_eq!(timestamp_micros("1999-12-31 23:59:59.999999"), Some(-1));
        assert_eq!(timestamp_micros("2000-01-01 02:00:00+02:00"), Some(0));
        assert_eq!(
            timestamp_micros("2000-01-01 00:00:00.5-00:00:30"),
            Some(30_500_000)
        );
        assert_eq!(
            calendar::days_from_civil(2024, 2, 29) - PG_EPOCH_DAYS,
            8_825
        );
    }

    fn num_bytes(t: &str) -> Vec<i16> {
        let mut out = Vec::new();
        numeric(t, &mut out).unwrap();
        out.chunks(2)
            .map(|c| i16::from_be_bytes([c[0], c[1]]))
            .collect()
    }

    #[test]
    fn numerics_in_base_10000() {
        assert_eq!(num_bytes("12345.67"), vec![3, 1, 0, 2, 1, 2345, 6700]);
        assert_eq!(num_bytes("0.05"), vec![1, -1, 0, 2, 500]);
        assert_eq!(num_bytes("-3.0"), vec![1, 0, 0x4000, 1, 3]);
        assert_eq!(num_bytes("0.00"), vec![0, 0, 0, 2]);
        assert_eq!(num_bytes("10000"), vec![1, 1, 0, 0, 1]);
    }

    #[test]
    fn uuid_and_bytea() {
        let mut out = Vec::new();
        field(
            &Conversion::Uuid {
                empty_to_null: false,
            },
            "0b9f1a6e-3c1d-4a8e-9f00-1234567890AB",
            &mut out,
        )
        .unwrap();
        assert_eq!(&out[..4], &16i32.to_be_bytes());
        assert_eq!(out[4], 0x0b);
        assert_eq!(out[19], 0xab);
        out.clear();
        field(&Conversion::Bytea, "\\x00ff", &mut out).unwrap();
        assert_eq!(out, vec![0, 0, 0, 2, 0, 255]);
        out.clear();
        field(&Conversion::Bits { width: 10 }, "1000000001", &mut out).unwrap();
        assert_eq!(out, vec![0, 0, 0, 6, 0, 0, 0, 10, 0x80, 0x40]);
    }
}
