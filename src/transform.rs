//! The transform stage: turns raw source batches (Binary columns, exact server bytes) into the target's text
//! form, column by column on rayon, validating every value on the way.
//!
//! Output columns are Utf8 arrays holding exactly what PostgreSQL's input functions accept (`t`/`f`, `\x..` for
//! bytea, base64 for whiteboards, timestamps with an explicit offset for timestamptz). A value that would be
//! lost, changed or rejected is a [`Violation`] naming table, key, column, rule and an excerpt.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, RecordBatch, StringArray, StringBuilder,
};
use arrow::datatypes::{DataType, Field, Schema};
use base64::Engine as _;
use rayon::prelude::*;
use serde::Serialize;

use crate::convert::Conversion;
use crate::mapping::{OnNull, Transform};
use crate::plan::TablePlan;
use crate::util::zone::{offset_suffix, LocalTimeError, Zone};
use crate::util::{calendar, hex};

/// The rule a value broke.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    InvalidUtf8,
    NulByte,
    TooLong {
        max: u32,
        chars: usize,
    },
    NotUuid,
    EmptyUuidInNotNull,
    InvalidJson,
    JsonbNul,
    /// A `\uD800`-`\uDFFF` escape outside a high-low pair: jsonb refuses it, json keeps it.
    JsonbSurrogate,
    ZeroDate,
    InvalidDate,
    NotBoolean,
    IntOutOfRange {
        min: i64,
        max: i64,
    },
    NotEnumLabel,
    NullInNotNull,
    NotLatin1,
    NotANumber,
    /// The target type would store the value differently (rounded): nothing is ever rounded silently.
    WouldRound {
        target: String,
    },
    /// More integer digits than the target numeric's precision leaves.
    TooManyDigits {
        max: u32,
    },
    /// A local time skipped by a daylight-saving change in the source zone: no instant had it.
    LocalTimeGap {
        zone: String,
    },
    /// A local time repeated by a daylight-saving change and the mapping does not say which instant it means.
    LocalTimeFold {
        zone: String,
    },
    /// A MySQL TIME outside 00:00:00..24:00:00, the range of PostgreSQL's `time`.
    TimeOutOfRange,
    /// A foreign key value whose parent row does not exist.
    OrphanForeignKey {
        parent: String,
    },
    /// Rows that share a value a target UNIQUE constraint forbids repeating.
    Duplicate {
        constraint: String,
    },
    /// PostgreSQL rejected the row during COPY (its message).
    RejectedByTarget {
        message: String,
    },
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rule::InvalidUtf8 => write!(f, "invalid UTF-8"),
            Rule::NulByte => write!(f, "NUL byte (PostgreSQL text cannot hold it)"),
            Rule::TooLong { max, chars } => write!(f, "{chars} characters, the target holds {max}"),
            Rule::NotUuid => write!(f, "not a uuid"),
            Rule::EmptyUuidInNotNull => write!(f, "empty string in a NOT NULL uuid column"),
            Rule::InvalidJson => write!(f, "invalid JSON"),
            Rule::JsonbNul => write!(f, "JSON with \\u0000, which jsonb rejects"),
            Rule::JsonbSurrogate => write!(
                f,
                "JSON with an unpaired surrogate escape (\\uD800-\\uDFFF), which jsonb rejects"
            ),
            Rule::ZeroDate => write!(f, "zero date"),
            Rule::InvalidDate => write!(f, "invalid date"),
            Rule::NotBoolean => write!(f, "boolean other than 0/1"),
            Rule::IntOutOfRange { min, max } => {
                write!(f, "integer outside the target range {min}..{max}")
            }
            Rule::NotEnumLabel => write!(f, "label the target enum lacks"),
            Rule::NullInNotNull => write!(f, "NULL in a NOT NULL target column"),
            Rule::NotLatin1 => write!(f, "character above U+00FF in latin1-bytes text"),
            Rule::NotANumber => write!(f, "not a number"),
            Rule::WouldRound { target } => write!(f, "{target} would store it rounded"),
            Rule::TooManyDigits { max } => {
                write!(f, "more than {max} integer digits, the target's precision")
            }
            Rule::LocalTimeGap { zone } => write!(
                f,
                "local time that did not exist in {zone} (skipped by a daylight-saving change)"
            ),
            Rule::LocalTimeFold { zone } => write!(
                f,
                "local time that happened twice in {zone} (a daylight-saving change); set \
                 ambiguous_local_times = \"earlier\" or \"later\" in the mapping to say which"
            ),
            Rule::TimeOutOfRange => write!(f, "time outside 00:00:00..24:00:00"),
            Rule::OrphanForeignKey { parent } => {
                write!(f, "foreign key value with no parent row in {parent}")
            }
            Rule::Duplicate { constraint } => {
                write!(f, "duplicate value for target constraint {constraint}")
            }
            Rule::RejectedByTarget { message } => write!(f, "PostgreSQL rejected it: {message}"),
        }
    }
}

/// One bad value with its exact provenance.
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[error("data violation in {table} at {key}, column {column}: {rule}; value {excerpt}{}", hint.as_ref().map(|h| format!(" ({h})")).unwrap_or_default())]
pub struct Violation {
    pub table: String,
    pub key: String,
    pub column: String,
    pub rule: Rule,
    pub excerpt: String,
    pub hint: Option<String>,
}

/// A safe, short rendering of a raw value: quoted text, or hex when it is not UTF-8.
pub fn excerpt(v: &[u8]) -> String {
    match std::str::from_utf8(v) {
        Ok(s) => {
            let cut: String = s.chars().take(60).collect();
            let more = if s.chars().count() > 60 { "..." } else { "" };
            format!("{cut:?}{more}")
        }
        Err(_) => {
            let mut s = String::from("0x");
            hex::push_hex(&mut s, &v[..v.len().min(32)]);
            if v.len() > 32 {
                s.push_str("...");
            }
            s
        }
    }
}

/// Resolved `remap_by_lookup` tables: (table, by) -> source key -> target key.
pub type Lookups = HashMap<(String, String), Arc<HashMap<Vec<u8>, String>>>;

/// A column transform resolved against the live data (lookup tables loaded).
#[derive(Debug, Clone)]
pub enum Resolved {
    Base64,
    Remap(Arc<HashMap<Vec<u8>, String>>),
}

#[derive(Debug, Clone)]
struct ColumnStep {
    src_idx: usize,
    source: String,
    target: String,
    /// The target's type as PostgreSQL prints it, for messages.
    target_type: String,
    conv: Conversion,
    transform: Option<Resolved>,
    on_null: Option<OnNull>,
    target_nullable: bool,
}

/// Everything the transform stage needs for one table.
#[derive(Debug, Clone)]
pub struct TableTransform {
    pub table: String,
    key_idx: Vec<usize>,
    steps: Vec<ColumnStep>,
    /// Zone of naive DATETIME values, and its suffix when the offset is fixed.
    zone: Zone,
    zone_suffix: Option<String>,
    out_schema: Arc<Schema>,
    /// Parse JSON on the client. `migrate` turns it off: PostgreSQL's json/jsonb input parses every value anyway
    /// and a rejection is traced back to its source row, so parsing twice only costs CPU. `check` keeps it on.
    validate_json: bool,
}

impl TableTransform {
    /// `source_columns` is the order of the raw batch; `lookups` holds resolved remap tables by (table, by).
    pub fn new(
        plan: &TablePlan,
        source_columns: &[String],
        target_nullable: &HashMap<String, bool>,
        lookups: &Lookups,
        zone: &Zone,
    ) -> TableTransform {
        let idx = |c: &str| {
            source_columns
                .iter()
                .position(|s| s == c)
                .expect("planned column is read")
        };
        let steps: Vec<ColumnStep> = plan
            .columns
            .iter()
            .map(|c| ColumnStep {
                src_idx: idx(&c.source),
                source: c.source.clone(),
                target: c.target.clone(),
                target_type: c.target_type.clone(),
                conv: c.conversion.clone(),
                transform: c.transform.as_ref().map(|t| match t {
                    Transform::Latin1BytesToBase64 => Resolved::Base64,
                    Transform::RemapByLookup { table, by } => Resolved::Remap(
                        lookups
                            .get(&(table.clone(), by.clone()))
                            .cloned()
                            .unwrap_or_default(),
                    ),
                }),
                on_null: c.on_null.clone(),
                target_nullable: target_nullable.get(&c.target).copied().unwrap_or(true),
            })
            .collect();
        let out_schema = Arc::new(Schema::new(
            steps
                .iter()
                .map(|s| Field::new(&s.target, DataType::Utf8, true))
                .collect::<Vec<_>>(),
        ));
        TableTransform {
            table: plan.source.clone(),
            key_idx: plan.primary_key.iter().map(|k| idx(k)).collect(),
            steps,
            zone_suffix: zone.fixed().map(offset_suffix),
            zone: zone.clone(),
            out_schema,
            validate_json: true,
        }
    }

    /// Leaves JSON parsing to PostgreSQL (see `validate_json`).
    pub fn without_json_validation(mut self) -> Self {
        self.validate_json = false;
        self
    }

    /// Schema of the output batches (target column names, all Utf8).
    pub fn out_schema(&self) -> Arc<Schema> {
        self.out_schema.clone()
    }

    /// The conversion of each output column, in output order.
    pub fn conversions(&self) -> Vec<Conversion> {
        self.steps.iter().map(|s| s.conv.clone()).collect()
    }

    /// Target column names, in output order.
    pub fn target_columns(&self) -> Vec<String> {
        self.steps.iter().map(|s| s.target.clone()).collect()
    }

    /// Converts one raw batch; columns run in parallel on rayon.
    pub fn apply(&self, raw: &RecordBatch) -> Result<RecordBatch, Box<Violation>> {
        let cols: Vec<ArrayRef> = self
            .steps
            .par_iter()
            .map(|s| self.column(s, raw))
            .collect::<Result<Vec<_>, Box<Violation>>>()?;
        Ok(RecordBatch::try_new(self.out_schema.clone(), cols)
            .expect("output columns match the output schema"))
    }

    /// Key of row `row` as `col=value, ...`.
    pub fn key_of(&self, raw: &RecordBatch, row: usize) -> String {
        let names = raw.schema();
        crate::util::key::render(self.key_idx.iter().map(|&i| {
            let a = raw.column(i).as_binary::<i32>();
            (
                names.field(i).name(),
                (!a.is_null(row)).then(|| a.value(row)),
            )
        }))
    }

    fn violation(
        &self,
        raw: &RecordBatch,
        row: usize,
        s: &ColumnStep,
        rule: Rule,
        v: &[u8],
    ) -> Box<Violation> {
        let hint = match rule {
            Rule::NullInNotNull => Some(format!(
                "fix the row in the source, or set on_null = {{ replace = \"...\" }} for {}.{} in the mapping",
                self.table, s.source
            )),
            _ => None,
        };
        Box::new(Violation {
            table: self.table.clone(),
            key: self.key_of(raw, row),
            column: s.source.clone(),
            rule,
            excerpt: excerpt(v),
            hint,
        })
    }

    /// Every violation in a batch (the preflight), not only the first. Clean batches cost one `apply`.
    pub fn violations(&self, raw: &RecordBatch) -> Vec<Violation> {
        if self.apply(raw).is_ok() {
            return Vec::new();
        }
        let per_column: Vec<Vec<Violation>> = self
            .steps
            .par_iter()
            .map(|s| {
                let a = raw.column(s.src_idx).as_binary::<i32>();
                let mut found = Vec::new();
                let mut buf = String::new();
                let mut sink = StringBuilder::new();
                for row in 0..a.len() {
                    if a.is_null(row) {
                        if let Err(v) = self.null(s, raw, row, &mut sink) {
                            found.push(*v);
                        }
                        continue;
                    }
                    buf.clear();
                    match self.value(s, a.value(row), &mut buf) {
                        Ok(true) => {}
                        Ok(false) => {
                            if let Err(v) = self.null(s, raw, row, &mut sink) {
                                found.push(*v);
                            }
                        }
                        Err(rule) => found.push(*self.violation(raw, row, s, rule, a.value(row))),
                    }
                }
                found
            })
            .collect();
        per_column.into_iter().flatten().collect()
    }

    fn column(&self, s: &ColumnStep, raw: &RecordBatch) -> Result<ArrayRef, Box<Violation>> {
        let a = raw.column(s.src_idx).as_binary::<i32>();
        // Fast path: text that passes through unchanged is re-typed without copying once validated.
        let passthrough = match (&s.conv, &s.transform) {
            (Conversion::Text { max_chars }, None) => Some(*max_chars),
            (Conversion::Json | Conversion::Jsonb, None) if !self.validate_json => Some(None),
            _ => None,
        };
        if let Some(max_chars) = passthrough {
            if s.target_nullable || a.null_count() == 0 {
                if let Some(out) = self.passthrough_text(s, a, max_chars, raw)? {
                    return Ok(out);
                }
            }
        }
        let mut b = StringBuilder::with_capacity(a.len(), a.values().len() + a.len() * 4);
        let mut buf = String::new();
        for row in 0..a.len() {
            if a.is_null(row) {
                self.null(s, raw, row, &mut b)?;
                continue;
            }
            let v = a.value(row);
            buf.clear();
            match self.value(s, v, &mut buf) {
                Ok(true) => b.append_value(&buf),
                Ok(false) => self.null(s, raw, row, &mut b)?,
                Err(rule) => return Err(self.violation(raw, row, s, rule, v)),
            }
        }
        Ok(Arc::new(b.finish()))
    }

    fn null(
        &self,
        s: &ColumnStep,
        raw: &RecordBatch,
        row: usize,
        b: &mut StringBuilder,
    ) -> Result<(), Box<Violation>> {
        if s.target_nullable {
            b.append_null();
            return Ok(());
        }
        match &s.on_null {
            Some(OnNull::Replace(v)) => {
                b.append_value(v);
                Ok(())
            }
            _ => Err(self.violation(raw, row, s, Rule::NullInNotNull, b"NULL")),
        }
    }

    fn passthrough_text(
        &self,
        s: &ColumnStep,
        a: &BinaryArray,
        max_chars: Option<u32>,
        raw: &RecordBatch,
    ) -> Result<Option<ArrayRef>, Box<Violation>> {
        if memchr::memchr(0, a.values()).is_some() {
            let row = (0..a.len())
                .find(|&r| !a.is_null(r) && a.value(r).contains(&0))
                .unwrap_or(0);
            return Err(self.violation(raw, row, s, Rule::NulByte, a.value(row)));
        }
        if let Some(max) = max_chars {
            for row in 0..a.len() {
                let v = a.value(row);
                // A value no longer in bytes than the limit cannot be longer in characters.
                if v.len() > max as usize {
                    let chars = String::from_utf8_lossy(v).chars().count();
                    if chars > max as usize {
                        return Err(self.violation(raw, row, s, Rule::TooLong { max, chars }, v));
                    }
                }
            }
        }
        let (offsets, values, nulls) = a.clone().into_parts();
        match StringArray::try_new(offsets, values, nulls) {
            Ok(sa) => Ok(Some(Arc::new(sa))),
            Err(_) => {
                let row = (0..a.len())
                    .find(|&r| !a.is_null(r) && std::str::from_utf8(a.value(r)).is_err())
                    .unwrap_or(0);
                Err(self.violation(raw, row, s, Rule::InvalidUtf8, a.value(row)))
            }
        }
    }

    /// Writes the target text of one non-NULL value; Ok(false) means the value becomes NULL.
    fn value(&self, s: &ColumnStep, v: &[u8], out: &mut String) -> Result<bool, Rule> {
        let owned;
        let v = match &s.transform {
            Some(Resolved::Base64) => {
                let text = std::str::from_utf8(v).map_err(|_| Rule::InvalidUtf8)?;
                let mut bytes = Vec::with_capacity(text.len());
                for ch in text.chars() {
                    if ch as u32 > 0xff {
                        return Err(Rule::NotLatin1);
                    }
                    bytes.push(ch as u32 as u8);
                }
                owned = base64::engine::general_purpose::STANDARD
                    .encode(bytes)
                    .into_bytes();
                &owned[..]
            }
            Some(Resolved::Remap(map)) => match map.get(v) {
                Some(t) => t.as_bytes(),
                None => v,
            },
            None => v,
        };
        match &s.conv {
            Conversion::Text { max_chars } => {
                let t = utf8(v)?;
                if t.contains('\0') {
                    return Err(Rule::NulByte);
                }
                if let Some(max) = max_chars {
                    let chars = t.chars().count();
                    if chars > *max as usize {
                        return Err(Rule::TooLong { max: *max, chars });
                    }
                }
                out.push_str(t);
            }
            Conversion::Uuid { empty_to_null } => {
                if v.is_empty() {
                    return if *empty_to_null {
                        Ok(false)
                    } else {
                        Err(Rule::EmptyUuidInNotNull)
                    };
                }
                if !is_uuid(v) {
                    return Err(Rule::NotUuid);
                }
                out.push_str(utf8(v)?);
            }
            Conversion::Bool => match v {
                b"0" => out.push('f'),
                b"1" => out.push('t'),
                _ => return Err(Rule::NotBoolean),
            },
            Conversion::Int { min, max } => {
                let t = utf8(v)?;
                let n: i128 = t.parse().map_err(|_| Rule::NotANumber)?;
                if n < *min as i128 || n > *max as i128 {
                    return Err(Rule::IntOutOfRange {
                        min: *min,
                        max: *max,
                    });
                }
                out.push_str(t);
            }
            Conversion::Numeric {
                max_int_digits,
                scale,
            } => {
                let t = number(v)?;
                check_numeric(t, *max_int_digits, *scale, &s.target_type)?;
                out.push_str(t);
            }
            Conversion::Float { bits } => {
                let t = number(v)?;
                if *bits == 32 {
                    check_real(t)?;
                }
                out.push_str(t);
            }
            Conversion::Date => {
                let t = utf8(v)?;
                check_datetime(t)?;
                out.push_str(t);
            }
            Conversion::Timestamp { precision } => {
                let t = utf8(v)?;
                check_datetime(t)?;
                check_fraction(t, *precision, &s.target_type)?;
                out.push_str(t);
            }
            Conversion::TimestampTz { utc, precision } => {
                let t = utf8(v)?;
                check_datetime(t)?;
                check_fraction(t, *precision, &s.target_type)?;
                out.push_str(t);
                match (utc, &self.zone_suffix) {
                    (true, _) => out.push_str("+00:00"),
                    (false, Some(suffix)) => out.push_str(suffix),
                    (false, None) => {
                        let zone = || match &self.zone {
                            Zone::Named { name, .. } => name.clone(),
                            Zone::Fixed(_) => String::new(),
                        };
                        match self.zone.offset_of(t) {
                            Ok(secs) => out.push_str(&offset_suffix(secs)),
                            Err(LocalTimeError::Gap) => {
                                return Err(Rule::LocalTimeGap { zone: zone() })
                            }
                            Err(LocalTimeError::Fold) => {
                                return Err(Rule::LocalTimeFold { zone: zone() })
                            }
                            Err(LocalTimeError::Invalid) => return Err(Rule::InvalidDate),
                        }
                    }
                }
            }
            Conversion::Time { precision } => {
                let t = utf8(v)?;
                let micros = calendar::time_micros(t).ok_or(Rule::InvalidDate)?;
                if !(0..=86_400_000_000).contains(&micros) {
                    return Err(Rule::TimeOutOfRange);
                }
                check_fraction(t, *precision, &s.target_type)?;
                out.push_str(t);
            }
            Conversion::Interval => {
                let t = utf8(v)?;
                calendar::time_micros(t).ok_or(Rule::InvalidDate)?;
                out.push_str(t);
            }
            Conversion::Bits { width } => {
                let n: u64 = utf8(v)?.parse().map_err(|_| Rule::NotANumber)?;
                if *width < 64 && n >> width != 0 {
                    return Err(Rule::NotANumber);
                }
                use std::fmt::Write as _;
                let _ = write!(out, "{n:0w$b}", w = *width as usize);
            }
            Conversion::Json | Conversion::Jsonb => {
                use crate::util::json::{validate, Invalid};
                validate(v, s.conv == Conversion::Jsonb).map_err(|e| match e {
                    Invalid::Syntax => Rule::InvalidJson,
                    Invalid::Nul => Rule::JsonbNul,
                    Invalid::Surrogate => Rule::JsonbSurrogate,
                })?;
                out.push_str(utf8(v)?);
            }
            Conversion::Enum { labels } => {
                let t = utf8(v)?;
                if !labels.iter().any(|l| l == t) {
                    return Err(Rule::NotEnumLabel);
                }
                out.push_str(t);
            }
            Conversion::Bytea => {
                out.push_str("\\x");
                hex::push_hex(out, v);
            }
        }
        Ok(true)
    }
}

fn utf8(v: &[u8]) -> Result<&str, Rule> {
    std::str::from_utf8(v).map_err(|_| Rule::InvalidUtf8)
}

/// The ASCII number MySQL printed (digits, sign, point, exponent).
fn number(v: &[u8]) -> Result<&str, Rule> {
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
fn check_numeric(
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
fn check_real(t: &str) -> Result<(), Rule> {
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
fn check_fraction(t: &str, precision: u32, target: &str) -> Result<(), Rule> {
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
fn check_datetime(t: &str) -> Result<(), Rule> {
    match calendar::parse_datetime(t) {
        Ok(_) => Ok(()),
        Err(calendar::DateError::Zero) => Err(Rule::ZeroDate),
        Err(calendar::DateError::Invalid) => Err(Rule::InvalidDate),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(check_datetime("2020-02-29 10:00:00.123456"), Ok(()));
        assert_eq!(check_datetime("0000-00-00 00:00:00"), Err(Rule::ZeroDate));
        assert_eq!(check_datetime("2020-02-30"), Err(Rule::InvalidDate));
        assert_eq!(
            check_datetime("2019-02-29 00:00:00"),
            Err(Rule::InvalidDate)
        );
    }

    #[test]
    fn uuids() {
        assert!(is_uuid(b"0b9f1a6e-3c1d-4a8e-9f00-1234567890AB"));
        assert!(!is_uuid(b"not-a-uuid"));
        assert!(!is_uuid(b"0b9f1a6e-3c1d-4a8e-9f00_1234567890ab"));
    }

    #[test]
    fn excerpts_are_safe() {
        assert_eq!(excerpt(b"a\nb"), "\"a\\nb\"");
        assert_eq!(excerpt(&[0xff, 0x00]), "0xff00");
    }

    /// MariaDB replaces invalid UTF-8 on write, so no server test can plant it; the rule is checked here on raw
    /// bytes as a reader would deliver them, on both the zero-copy text path and the converting path.
    #[test]
    fn invalid_utf8_is_a_violation_with_its_key() {
        use crate::plan::{ColumnPlan, TablePlan};
        use arrow::array::BinaryArray;
        let col = |name: &str, conversion| ColumnPlan {
            source: name.into(),
            source_type: String::new(),
            target: name.into(),
            target_type: String::new(),
            conversion,
            transform: None,
            on_null: None,
            narrowing: None,
        };
        let plan = TablePlan {
            source: "t".into(),
            target: "t".into(),
            rows_estimate: 2,
            bytes_estimate: 0,
            primary_key: vec!["id".into()],
            columns: vec![
                col("id", Conversion::Text { max_chars: None }),
                col("v", Conversion::Text { max_chars: None }),
                col(
                    "e",
                    Conversion::Enum {
                        labels: vec!["a".into()],
                    },
                ),
            ],
            defaulted: vec![],
            generated: Vec::new(),
        };
        let names: Vec<String> = ["id", "v", "e"].iter().map(|s| s.to_string()).collect();
        let t = TableTransform::new(&plan, &names, &HashMap::new(), &HashMap::new(), &Zone::UTC);
        let batch = |v: &[u8], e: &[u8]| {
            let cols: Vec<ArrayRef> = vec![
                Arc::new(BinaryArray::from(vec![&b"k1"[..], &b"k2"[..]])),
                Arc::new(BinaryArray::from(vec![&b"ok"[..], v])),
                Arc::new(BinaryArray::from(vec![&b"a"[..], e])),
            ];
            RecordBatch::try_from_iter(names.iter().cloned().zip(cols)).unwrap()
        };
        let v = t.apply(&batch(b"a\xc3\x28b", b"a")).unwrap_err();
        assert_eq!(
            (v.key.as_str(), v.column.as_str(), &v.rule),
            ("id=k2", "v", &Rule::InvalidUtf8)
        );
        assert_eq!(v.excerpt, "0x61c32862");
        let v = t.apply(&batch(b"ok", b"\xff")).unwrap_err();
        assert_eq!(
            (v.key.as_str(), v.column.as_str(), &v.rule),
            ("id=k2", "e", &Rule::InvalidUtf8)
        );
    }

    /// MySQL 8's native JSON is stored in a binary form and sent by the text protocol as the server prints it:
    /// keys sorted, `": "` and `", "` separators, non-ASCII as raw UTF-8, doubles in exponent form, a NUL as
    /// `\u0000`. The values below are such captured output; the test bed (MariaDB, JSON = longtext) cannot make them.
    #[test]
    fn mysql8_native_json_text() {
        use crate::plan::{ColumnPlan, TablePlan};
        use arrow::array::{BinaryArray, StringArray};
        let captured: [&[u8]; 3] = [
            b"{\"a\": 1, \"b\": [true, null, 1.5e300], \"k\xc3\xa9y\": \"caf\xc3\xa9 \\\"q\\\"\"}",
            br#"[]"#,
            br#""x\u0000y""#,
        ];
        let plan = |conversion| TablePlan {
            source: "t".into(),
            target: "t".into(),
            rows_estimate: 3,
            bytes_estimate: 0,
            primary_key: vec!["id".into()],
            columns: vec![
                ColumnPlan {
                    source: "id".into(),
                    source_type: String::new(),
                    target: "id".into(),
                    target_type: String::new(),
                    conversion: Conversion::Text { max_chars: None },
                    transform: None,
                    on_null: None,
                    narrowing: None,
                },
                ColumnPlan {
                    source: "j".into(),
                    source_type: "json".into(),
                    target: "j".into(),
                    target_type: String::new(),
                    conversion,
                    transform: None,
                    on_null: None,
                    narrowing: None,
                },
            ],
            defaulted: vec![],
            generated: Vec::new(),
        };
        let names: Vec<String> = vec!["id".into(), "j".into()];
        let batch = |rows: &[&[u8]]| {
            let ids: Vec<String> = (1..=rows.len()).map(|i| i.to_string()).collect();
            let cols: Vec<ArrayRef> = vec![
                Arc::new(BinaryArray::from(
                    ids.iter().map(|i| i.as_bytes()).collect::<Vec<_>>(),
                )),
                Arc::new(BinaryArray::from(rows.to_vec())),
            ];
            RecordBatch::try_from_iter(names.iter().cloned().zip(cols)).unwrap()
        };
        let transform = |c| {
            TableTransform::new(
                &plan(c),
                &names,
                &HashMap::new(),
                &HashMap::new(),
                &Zone::UTC,
            )
        };
        // json keeps the text exactly as the source printed it, NUL escape included (json stores text).
        let out = transform(Conversion::Json)
            .apply(&batch(&captured))
            .unwrap();
        let j = out
            .column(1)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        for (i, want) in captured.iter().enumerate() {
            assert_eq!(j.value(i).as_bytes(), *want);
        }
        // jsonb takes the first two unchanged and refuses the NUL, naming the row.
        let t = transform(Conversion::Jsonb);
        let out = t.apply(&batch(&captured[..2])).unwrap();
        let j = out
            .column(1)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(j.value(0).as_bytes(), captured[0]);
        let v = t.apply(&batch(&captured)).unwrap_err();
        assert_eq!((v.key.as_str(), &v.rule), ("id=3", &Rule::JsonbNul));
        // A lone surrogate escape (JSON kept in a text column): json keeps it, jsonb refuses it, naming the row.
        let lone: [&[u8]; 2] = [br#"[]"#, br#"{"k": "\ud800"}"#];
        assert!(transform(Conversion::Json).apply(&batch(&lone)).is_ok());
        let v = t.apply(&batch(&lone)).unwrap_err();
        assert_eq!((v.key.as_str(), &v.rule), ("id=2", &Rule::JsonbSurrogate));
    }

    #[test]
    fn numerics_fit_or_are_refused() {
        let ok = |t, p, s| check_numeric(t, p, s, "numeric(10,2)");
        assert_eq!(ok("9.9900", Some(8), Some(2)), Ok(()));
        assert_eq!(ok("-12345678.00", Some(8), Some(2)), Ok(()));
        assert!(matches!(
            ok("9.9999", Some(8), Some(2)),
            Err(Rule::WouldRound { .. })
        ));
        assert_eq!(
            ok("123456789", Some(8), Some(2)),
            Err(Rule::TooManyDigits { max: 8 })
        );
        assert_eq!(ok("0.5", Some(0), Some(2)), Ok(()));
        assert_eq!(ok("123.456789", None, None), Ok(()));
    }

    #[test]
    fn reals_hold_what_they_show() {
        assert_eq!(check_real("0.1"), Ok(()));
        assert_eq!(check_real("0.5"), Ok(()));
        // A FLOAT read as its exact double.
        assert_eq!(check_real("0.12345670163631439"), Ok(()));
        assert!(check_real("0.1234567891234").is_err());
        assert!(check_real("1e300").is_err());
    }

    #[test]
    fn fractions_and_times() {
        assert_eq!(check_fraction("2024-01-01 10:00:00.123000", 3, "t"), Ok(()));
        assert!(check_fraction("2024-01-01 10:00:00.123400", 3, "t").is_err());
        assert_eq!(check_fraction("2024-01-01 10:00:00", 0, "t"), Ok(()));
        assert_eq!(calendar::time_micros("838:59:59"), Some(3_020_399_000_000));
        assert_eq!(calendar::time_micros("-00:00:01.5"), Some(-1_500_000));
        assert_eq!(calendar::time_micros("24:00:00"), Some(86_400_000_000));
        assert_eq!(calendar::time_micros("12:61:00"), None);
    }
}
