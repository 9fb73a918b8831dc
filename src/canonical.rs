//! The canonical form of a converted value: one string, the same whether it comes from the transform stage (what
//! pgconverge writes) or from PostgreSQL's text output (what the target holds). `verify` hashes and compares these.
//!
//! Documented equivalences (each tested below), and nothing else:
//! - numeric: trailing fractional zeros do not count (`9.9900` = `9.99`: the target's scale prints them or not);
//! - float: the same binary value (`real` compared as 32-bit, `double precision` as 64-bit);
//! - timestamp: the same instant to the microsecond (`10:00:00.500000` = `10:00:00.5`; for timestamptz,
//!   `12:00:00+02:00` = `10:00:00+00`);
//! - time/interval from MySQL TIME: the same number of microseconds;
//! - uuid: case (`AB` = `ab`);
//! - `character(n)`: trailing spaces (PostgreSQL pads on output);
//! - text arrays (from a SET): the same elements in the same order, however quoted (`{"a","b c"}` = `{a,"b c"}`);
//! - jsonb: object key order, whitespace and number spelling (`1e2` = `100` = `100.0`), as jsonb itself stores
//!   them; `json` is compared byte for byte, as PostgreSQL keeps it.
//!
//! Everything else (text, bytea hex, booleans, dates, enum labels, bit strings) must be equal byte for byte.

use arrow::array::{Array, AsArray, RecordBatch};
use twox_hash::{XxHash3_128, XxHash3_64};

use crate::convert::Conversion;
use crate::pgbinary::{self, Stamp, Wire};
use crate::util::calendar;

/// Stored digest buckets (ledger, journal, manifest) that do not read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DigestError(pub String);

/// Buckets rows are spread over by key, per table and side: a mismatch narrows to buckets, then to keys.
pub const BUCKETS: usize = 4096;

/// How to canonicalize the columns of one table's converted rows.
#[derive(Debug, Clone)]
pub struct Canon {
    columns: Vec<Column>,
    key: Vec<usize>,
}

#[derive(Debug, Clone)]
struct Column {
    name: String,
    conv: Conversion,
    /// `character(n)`: PostgreSQL pads on output.
    padded: bool,
}

/// One batch's rows folded into buckets: (bucket, rows, wrapping sum of row digests).
pub type Partial = Vec<(u32, u64, u128)>;

/// A table side's digest: (rows, wrapping sum of row digests) per bucket.
pub type Buckets = Vec<(u64, u128)>;

pub fn empty_buckets() -> Buckets {
    vec![(0, 0); BUCKETS]
}

/// Adds a batch's partial digest to a table side's buckets.
pub fn merge(into: &mut Buckets, partial: &Partial) {
    for &(b, n, sum) in partial {
        let slot = &mut into[b as usize];
        slot.0 += n;
        slot.1 = slot.1.wrapping_add(sum);
    }
}

/// What a [`Canon`] is made from, as stored in an export's manifest: (target column, conversion, target type)
/// in output order, and the primary key's positions among them.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Spec {
    pub columns: Vec<(String, Conversion, String)>,
    pub key: Vec<usize>,
}

impl Spec {
    /// The canonical form of a planned table's converted rows (its target columns, key from the plan).
    pub fn of(tp: &crate::contract::TableContract) -> Spec {
        let columns: Vec<(String, Conversion, String)> = tp
            .columns
            .iter()
            .map(|c| {
                (
                    c.target.clone(),
                    c.conversion.clone(),
                    c.target_type.clone(),
                )
            })
            .collect();
        let key = tp
            .primary_key
            .iter()
            .filter_map(|k| tp.columns.iter().position(|c| &c.source == k))
            .collect();
        Spec { columns, key }
    }

    pub fn canon(&self) -> Canon {
        Canon::new(&self.columns, self.key.clone())
    }
}

/// Buckets as one line of text, for a manifest: the non-empty ones as `bucket:rows:sum` (sum in hex).
pub fn encode_buckets(b: &Buckets) -> String {
    let mut out = String::new();
    for (i, (n, sum)) in b.iter().enumerate().filter(|(_, (n, _))| *n > 0) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&format!("{i}:{n}:{sum:x}"));
    }
    out
}

/// The inverse of [`encode_buckets`].
pub fn decode_buckets(text: &str) -> Result<Buckets, DigestError> {
    decode_buckets_text(text).map_err(DigestError)
}

fn decode_buckets_text(text: &str) -> Result<Buckets, String> {
    let mut b = empty_buckets();
    for item in text.split_ascii_whitespace() {
        let bad = || format!("bad bucket entry {item:?}");
        let mut parts = item.split(':');
        let (Some(i), Some(n), Some(sum), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let i: usize = i.parse().map_err(|_| bad())?;
        let slot = b.get_mut(i).ok_or_else(bad)?;
        *slot = (
            n.parse().map_err(|_| bad())?,
            u128::from_str_radix(sum, 16).map_err(|_| bad())?,
        );
    }
    Ok(b)
}

impl Canon {
    /// The canonical form of a planned table's converted rows (its target columns, key from the plan).
    pub fn of(tp: &crate::contract::TableContract) -> Canon {
        Spec::of(tp).canon()
    }

    /// `columns` are (target name, conversion, target type as PostgreSQL prints it) in output order; `key`
    /// indexes the primary key among them.
    pub fn new(columns: &[(String, Conversion, String)], key: Vec<usize>) -> Canon {
        Canon {
            columns: columns
                .iter()
                .map(|(name, conv, ty)| Column {
                    name: name.clone(),
                    conv: conv.clone(),
                    padded: ty.starts_with("character(") || ty == "character",
                })
                .collect(),
            key,
        }
    }

    /// Each column's conversion, in output order.
    pub fn conversions(&self) -> impl Iterator<Item = &Conversion> {
        self.columns.iter().map(|c| &c.conv)
    }

    /// Whether column `c` of `cells` is its own canonical form, hashed where it lies.
    fn direct(&self, cells: Cells, c: usize) -> bool {
        let col = &self.columns[c];
        match cells {
            Cells::Text(_) => verbatim(&col.conv, col.padded),
            Cells::Binary(_, wires) => wires[c] == Wire::Text && verbatim(&col.conv, col.padded),
        }
    }

    /// The bytes of a cell as they lie in the batch (text, or a binary COPY value), None for NULL.
    fn raw<'b>(cells: Cells<'b>, c: usize, row: usize) -> Option<&'b [u8]> {
        match cells {
            Cells::Text(b) => {
                let a = b.column(c).as_string::<i32>();
                (!a.is_null(row)).then(|| a.value(row).as_bytes())
            }
            Cells::Binary(b, _) => {
                let a = b.column(c).as_binary::<i32>();
                (!a.is_null(row)).then(|| a.value(row))
            }
        }
    }

    /// Appends the canonical form of a cell; false (nothing appended) for NULL.
    fn canonical(&self, cells: Cells, c: usize, row: usize, out: &mut String) -> bool {
        let col = &self.columns[c];
        match cells {
            Cells::Text(b) => {
                let a = b.column(c).as_string::<i32>();
                if a.is_null(row) {
                    return false;
                }
                value(&col.conv, col.padded, a.value(row), out);
            }
            Cells::Binary(b, wires) => {
                let a = b.column(c).as_binary::<i32>();
                if a.is_null(row) {
                    return false;
                }
                binary_value(wires[c], &col.conv, col.padded, a.value(row), out);
            }
        }
        true
    }

    /// The canonical key of `row`: `column=value` of its primary key, as the run's messages name rows.
    pub fn key(&self, cells: Cells, row: usize) -> String {
        let mut key = String::new();
        for (n, &k) in self.key.iter().enumerate() {
            if n > 0 {
                key.push_str(", ");
            }
            key.push_str(&self.columns[k].name);
            key.push('=');
            if !self.canonical(cells, k, row, &mut key) {
                key.push_str("NULL");
            }
        }
        key
    }

    /// Canonical values of `row`, NULL as None.
    pub fn row(&self, cells: Cells, row: usize) -> Vec<Option<String>> {
        (0..self.columns.len())
            .map(|c| {
                let mut s = String::new();
                self.canonical(cells, c, row, &mut s).then_some(s)
            })
            .collect()
    }

    /// Bucket of a canonical key.
    pub fn bucket(key: &str) -> u32 {
        (XxHash3_64::oneshot(key.as_bytes()) % BUCKETS as u64) as u32
    }

    /// Folds a batch of converted rows (Utf8 columns in output order) into buckets.
    pub fn digest(&self, batch: &RecordBatch) -> Partial {
        self.digest_cells(Cells::Text(batch))
    }

    /// Folds a batch of rows, text or binary, into buckets.
    pub fn digest_cells(&self, cells: Cells) -> Partial {
        let mut sums: std::collections::HashMap<u32, (u64, u128)> = Default::default();
        let mut canon = String::new();
        let direct: Vec<bool> = (0..self.columns.len())
            .map(|c| self.direct(cells, c))
            .collect();
        for row in 0..cells.batch().num_rows() {
            let key = self.key(cells, row);
            // Streamed: a row's large text (JSON documents, whiteboards) is hashed where it lies, never copied.
            let mut h = XxHash3_128::new();
            for (c, &direct) in direct.iter().enumerate() {
                let v = if direct {
                    Self::raw(cells, c, row)
                } else {
                    canon.clear();
                    self.canonical(cells, c, row, &mut canon)
                        .then_some(canon.as_bytes())
                };
                match v {
                    None => h.write(&[0xff]),
                    Some(v) => {
                        h.write(&[0]);
                        h.write(&(v.len() as u64).to_le_bytes());
                        h.write(v);
                    }
                }
            }
            let e = sums.entry(Self::bucket(&key)).or_default();
            e.0 += 1;
            e.1 = e.1.wrapping_add(h.finish_128());
        }
        sums.into_iter().map(|(b, (n, s))| (b, n, s)).collect()
    }
}

/// The cells of a batch to put in canonical form.
#[derive(Clone, Copy)]
pub enum Cells<'a> {
    /// Utf8 columns: the transform's output, export files, or PostgreSQL's text COPY output.
    Text(&'a RecordBatch),
    /// Binary columns holding PostgreSQL's binary COPY values, laid out as each column's [`Wire`] says.
    Binary(&'a RecordBatch, &'a [Wire]),
}

impl<'a> Cells<'a> {
    pub fn batch(&self) -> &'a RecordBatch {
        match *self {
            Cells::Text(b) | Cells::Binary(b, _) => b,
        }
    }
}

/// Whether a column's binary values can be put in canonical form for `conv`. Floats are only decoded into a
/// float's canonical form (their printed form is not reproduced); every other layout can print its text form.
pub fn decodes(wire: Wire, conv: &Conversion) -> bool {
    !matches!(wire, Wire::Float4 | Wire::Float8) || matches!(conv, Conversion::Float { .. })
}

/// Unix microseconds of 0001-01-01 and of 10000-01-01: timestamps PostgreSQL prints with a four-digit AD year,
/// the ones the text form's parser reads.
const AD_1: i64 = -719_162 * 86_400_000_000;
const AD_10000: i64 = 2_932_897 * 86_400_000_000;

/// Appends the canonical form of one non-NULL binary COPY value: the same as [`value`] of the text PostgreSQL
/// prints for it. The common pairs go straight to their canonical form; the others print that text first. A value
/// that does not decode (never sent by PostgreSQL for its type) is marked so that it cannot equal any source value.
fn binary_value(wire: Wire, conv: &Conversion, padded: bool, b: &[u8], out: &mut String) {
    use std::fmt::Write as _;
    let start = out.len();
    let mut text = String::new();
    let done = (|| -> Option<()> {
        match (wire, conv) {
            (Wire::Text, _) => value(conv, padded, std::str::from_utf8(b).ok()?, out),
            (Wire::Jsonb, _) => value(
                conv,
                padded,
                std::str::from_utf8(pgbinary::jsonb(b)?).ok()?,
                out,
            ),
            (Wire::Int, Conversion::Int { .. }) => {
                let _ = write!(out, "{}", pgbinary::int(b)?);
            }
            (Wire::Float4, Conversion::Float { bits: 32 }) => {
                let v = pgbinary::float4(b)?;
                let v = if v.is_nan() { f32::NAN } else { v };
                let _ = write!(out, "f{:08x}", v.to_bits());
            }
            (Wire::Float8, Conversion::Float { bits: 64 }) => {
                let v = pgbinary::float8(b)?;
                let v = if v.is_nan() { f64::NAN } else { v };
                let _ = write!(out, "d{:016x}", v.to_bits());
            }
            // The other width: the shortest decimal that round-trips (what PostgreSQL prints), read at that width.
            (Wire::Float4, Conversion::Float { .. }) => {
                value(conv, padded, &pgbinary::float4(b)?.to_string(), out)
            }
            (Wire::Float8, Conversion::Float { .. }) => {
                value(conv, padded, &pgbinary::float8(b)?.to_string(), out)
            }
            (Wire::Float4 | Wire::Float8, _) => return None,
            (
                Wire::Timestamp { tz },
                Conversion::Timestamp { .. } | Conversion::TimestampTz { .. },
            ) => match pgbinary::timestamp(b)? {
                Stamp::Unix(v) if (AD_1..AD_10000).contains(&v) => {
                    let _ = write!(out, "@{v}");
                }
                other => pgbinary::push_timestamp(other, tz, out),
            },
            (Wire::Time, Conversion::Time { .. } | Conversion::Interval) => {
                let _ = write!(out, "@{}", pgbinary::time(b)?);
            }
            (Wire::Interval, Conversion::Time { .. } | Conversion::Interval)
                if matches!(pgbinary::interval(b), Some((_, 0, 0))) =>
            {
                let _ = write!(out, "@{}", pgbinary::interval(b)?.0);
            }
            (Wire::Uuid, Conversion::Uuid { .. }) => pgbinary::push_uuid(b, out)?,
            _ => {
                match wire {
                    Wire::Int => {
                        let _ = write!(text, "{}", pgbinary::int(b)?);
                    }
                    Wire::Numeric => pgbinary::push_numeric(b, &mut text)?,
                    Wire::Timestamp { tz } => {
                        pgbinary::push_timestamp(pgbinary::timestamp(b)?, tz, &mut text)
                    }
                    Wire::Date => pgbinary::push_date(b, &mut text)?,
                    Wire::Time => pgbinary::push_clock(pgbinary::time(b)?, &mut text),
                    Wire::Interval => {
                        let (micros, days, months) = pgbinary::interval(b)?;
                        pgbinary::push_interval(micros, days, months, &mut text)
                    }
                    Wire::Uuid => pgbinary::push_uuid(b, &mut text)?,
                    Wire::Bool => pgbinary::push_bool(b, &mut text)?,
                    Wire::Bytea => pgbinary::push_bytea(b, &mut text),
                    Wire::Bits => pgbinary::push_bits(b, &mut text)?,
                    Wire::Text | Wire::Jsonb | Wire::Float4 | Wire::Float8 => return None,
                }
                value(conv, padded, &text, out)
            }
        }
        Some(())
    })();
    if done.is_none() {
        out.truncate(start);
        let _ = write!(out, "\u{0}undecodable {wire:?} value of {} bytes", b.len());
    }
}

/// Conversions whose canonical form is the text itself.
fn verbatim(conv: &Conversion, padded: bool) -> bool {
    match conv {
        Conversion::Text { .. } => !padded,
        Conversion::Bool
        | Conversion::Date
        | Conversion::DateFromDatetime
        | Conversion::Bits { .. }
        | Conversion::Json
        | Conversion::Enum { .. }
        | Conversion::Bytea => true,
        _ => false,
    }
}

/// Appends the canonical form of one non-NULL value.
pub fn value(conv: &Conversion, padded: bool, t: &str, out: &mut String) {
    use std::fmt::Write as _;
    match conv {
        Conversion::Uuid { .. } if t.bytes().any(|b| b.is_ascii_uppercase()) => {
            out.extend(t.chars().map(|c| c.to_ascii_lowercase()))
        }
        Conversion::Uuid { .. } => out.push_str(t),
        Conversion::Int { .. } => match t.trim_start_matches('+').parse::<i128>() {
            Ok(v) => {
                let _ = write!(out, "{v}");
            }
            Err(_) => out.push_str(t),
        },
        Conversion::Numeric { .. } => numeric(t, out),
        Conversion::Float { bits: 32 } => match t.parse::<f32>() {
            Ok(v) => {
                let _ = write!(out, "f{:08x}", v.to_bits());
            }
            Err(_) => out.push_str(t),
        },
        Conversion::Float { .. } => match t.parse::<f64>() {
            Ok(v) => {
                let _ = write!(out, "d{:016x}", v.to_bits());
            }
            Err(_) => out.push_str(t),
        },
        Conversion::Timestamp { .. } | Conversion::TimestampTz { .. } => {
            match calendar::timestamp_micros(t) {
                Some(v) => {
                    let _ = write!(out, "@{v}");
                }
                None => out.push_str(t),
            }
        }
        Conversion::Time { .. } | Conversion::Interval => match calendar::time_micros(t) {
            Some(v) => {
                let _ = write!(out, "@{v}");
            }
            None => out.push_str(t),
        },
        Conversion::Jsonb => match serde_json::from_str::<serde_json::Value>(t) {
            Ok(v) => json(&v, out),
            Err(_) => out.push_str(t),
        },
        Conversion::Text { .. } if padded => out.push_str(t.trim_end_matches(' ')),
        // Element by element: PostgreSQL prints `{a,"b c"}` for the `{"a","b c"}` written.
        Conversion::TextArray { .. } => match crate::util::pgarray::parse(t) {
            Some(elems) => {
                out.push('[');
                for e in elems {
                    match e {
                        Some(e) => {
                            let _ = write!(out, "{}:{e}", e.len());
                        }
                        None => out.push('~'),
                    }
                }
                out.push(']');
            }
            None => out.push_str(t),
        },
        Conversion::Bool
        | Conversion::Date
        | Conversion::DateFromDatetime
        | Conversion::Bits { .. }
        | Conversion::Json
        | Conversion::Text { .. }
        | Conversion::Enum { .. }
        | Conversion::Bytea => out.push_str(t),
    }
}

/// A decimal without leading integer zeros or trailing fractional zeros; `-0` is `0`.
fn numeric(t: &str, out: &mut String) {
    let (neg, body) = match t.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let int = int.trim_start_matches('0');
    let frac = frac.trim_end_matches('0');
    if int.is_empty() && frac.is_empty() {
        out.push('0');
        return;
    }
    if neg {
        out.push('-');
    }
    out.push_str(if int.is_empty() { "0" } else { int });
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
}

/// JSON with sorted keys, no whitespace, and numbers by value.
fn json(v: &serde_json::Value, out: &mut String) {
    use serde_json::Value as J;
    match v {
        J::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (n, k) in keys.into_iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                out.push_str(&J::String(k.clone()).to_string());
                out.push(':');
                json(&m[k], out);
            }
            out.push('}');
        }
        J::Array(a) => {
            out.push('[');
            for (n, x) in a.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                json(x, out);
            }
            out.push(']');
        }
        J::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.push_str(&i.to_string());
            } else if let Some(u) = n.as_u64() {
                out.push_str(&u.to_string());
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                if f.fract() == 0.0 && f.abs() < 1e15 {
                    out.push_str(&(f as i64).to_string());
                } else {
                    out.push_str(&f.to_string());
                }
            }
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_survive_their_manifest_text() {
        let mut b = empty_buckets();
        b[0] = (3, u128::MAX);
        b[4095] = (1, 7);
        let text = encode_buckets(&b);
        assert_eq!(text, format!("0:3:{:x} 4095:1:7", u128::MAX));
        assert_eq!(decode_buckets(&text), Ok(b));
        assert_eq!(decode_buckets(""), Ok(empty_buckets()));
        assert!(decode_buckets("4096:1:1").is_err());
        assert!(decode_buckets("1:x:1").is_err());
    }

    fn canon(conv: Conversion, t: &str) -> String {
        let mut s = String::new();
        value(&conv, false, t, &mut s);
        s
    }

    fn same(conv: Conversion, a: &str, b: &str) -> bool {
        canon(conv.clone(), a) == canon(conv, b)
    }

    const NUM: Conversion = Conversion::Numeric {
        max_int_digits: None,
        scale: None,
    };

    #[test]
    fn numeric_scale_does_not_count_but_digits_do() {
        assert!(same(NUM, "9.9900", "9.99"));
        assert!(same(NUM, "-0.00", "0"));
        assert!(same(NUM, "007", "7.000"));
        assert!(!same(NUM, "9.99", "9.98"));
        assert!(!same(NUM, "10", "1"));
    }

    #[test]
    fn floats_by_binary_value() {
        assert!(same(
            Conversion::Float { bits: 32 },
            "0.12345670163631439",
            "0.1234567"
        ));
        assert!(!same(
            Conversion::Float { bits: 32 },
            "0.1234567",
            "0.1234568"
        ));
        assert!(same(
            Conversion::Float { bits: 64 },
            "-1.7976931348623157e308",
            "-1.7976931348623157e+308"
        ));
        assert!(!same(
            Conversion::Float { bits: 64 },
            "0.1",
            "0.10000000000000002"
        ));
    }

    #[test]
    fn timestamps_by_instant_to_the_microsecond() {
        let ts = Conversion::Timestamp { precision: 6 };
        assert!(same(
            ts.clone(),
            "2024-01-01 10:00:00.500000",
            "2024-01-01 10:00:00.5"
        ));
        assert!(!same(
            ts,
            "2024-01-01 10:00:00.000001",
            "2024-01-01 10:00:00"
        ));
        let tz = Conversion::TimestampTz {
            utc: false,
            precision: 6,
        };
        assert!(same(
            tz.clone(),
            "2024-07-15 12:00:00+02:00",
            "2024-07-15 10:00:00+00"
        ));
        assert!(!same(
            tz,
            "2024-07-15 12:00:00+02:00",
            "2024-07-15 12:00:00+00"
        ));
        let time = Conversion::Time { precision: 6 };
        assert!(same(time.clone(), "23:59:59.500000", "23:59:59.5"));
        assert!(!same(time, "23:59:59", "23:59:58"));
    }

    #[test]
    fn uuid_case_and_character_padding() {
        let uuid = Conversion::Uuid {
            empty_to_null: false,
        };
        assert!(same(
            uuid.clone(),
            "0B9F1A6E-3C1D-4A8E-9F00-1234567890AB",
            "0b9f1a6e-3c1d-4a8e-9f00-1234567890ab"
        ));
        assert!(!same(
            uuid,
            "0b9f1a6e-3c1d-4a8e-9f00-1234567890ab",
            "0b9f1a6e-3c1d-4a8e-9f00-1234567890ac"
        ));
        let mut a = String::new();
        let mut b = String::new();
        value(&Conversion::Text { max_chars: Some(5) }, true, "ab", &mut a);
        value(
            &Conversion::Text { max_chars: Some(5) },
            true,
            "ab   ",
            &mut b,
        );
        assert_eq!(a, b);
        // Outside character(n), a trailing space is content.
        assert!(!same(Conversion::Text { max_chars: None }, "ab", "ab "));
    }

    #[test]
    fn jsonb_key_order_whitespace_and_number_spelling_but_not_values() {
        assert!(same(
            Conversion::Jsonb,
            r#"{"b": 1, "a": [1e2, "x"]}"#,
            r#"{"a":[100,"x"],"b":1.0}"#
        ));
        assert!(!same(Conversion::Jsonb, r#"{"a": 1}"#, r#"{"a": 2}"#));
        assert!(!same(Conversion::Jsonb, r#"{"a": "1"}"#, r#"{"a": 1}"#));
        assert!(!same(Conversion::Jsonb, r#"[1, 2]"#, r#"[2, 1]"#));
        // json is kept as written.
        assert!(!same(
            Conversion::Json,
            r#"{"b":1,"a":2}"#,
            r#"{"a":2,"b":1}"#
        ));
    }

    #[test]
    fn everything_else_byte_for_byte() {
        assert!(!same(Conversion::Text { max_chars: None }, "ünï", "uni"));
        assert!(!same(Conversion::Bytea, "\\x00ff", "\\x00fe"));
        assert!(!same(Conversion::Bool, "t", "f"));
        assert!(!same(Conversion::Date, "2024-01-01", "2024-01-02"));
        let arr = Conversion::TextArray {
            elem_oid: 25,
            labels: None,
            max_chars: None,
        };
        assert!(same(arr.clone(), r#"{"a","b c"}"#, r#"{a,"b c"}"#));
        assert!(same(arr.clone(), "{}", "{}"));
        assert!(!same(arr.clone(), r#"{"a","b"}"#, r#"{"a,b"}"#));
        assert!(!same(arr, r#"{"NULL"}"#, "{NULL}"));
    }
}
