//! The transform stage: turns raw source batches (Binary columns, exact server bytes) into the target's text
//! form, column by column on rayon, validating every value on the way.
//!
//! Output columns are Utf8 arrays holding exactly what PostgreSQL's input functions accept (`t`/`f`, `\x..` for
//! bytea, base64 for whiteboards, timestamps with an explicit offset for timestamptz). A value that would be
//! lost, changed or rejected is a [`Violation`] naming table, key, column, rule and an excerpt.

mod checks;
mod rules;
#[cfg(test)]
mod tests;

pub use checks::is_uuid;
pub use rules::{excerpt, Rule, Violation};

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, RecordBatch, StringArray, StringBuilder,
};
use arrow::datatypes::{DataType, Field, Schema};
use base64::Engine as _;
use rayon::prelude::*;

use crate::contract::TableContract;
use crate::convert::Conversion;
use crate::mapping::{OnNull, Rewrite};
use crate::util::zone::{offset_suffix, LocalTimeError, Zone};
use crate::util::{calendar, hex};

use checks::{check_datetime, check_fraction, check_numeric, check_real, number, utf8};

/// Resolved `remap_by_lookup` tables: (table, by) -> source key -> target key.
pub type Lookups = HashMap<(String, String), Arc<HashMap<Vec<u8>, String>>>;

/// A column transform resolved against the live data (lookup tables loaded).
#[derive(Debug, Clone)]
pub enum Resolved {
    Base64,
    Remap(Arc<HashMap<Vec<u8>, String>>),
    /// ENUM/SET label renames; `set`: the value is a SET's comma-joined members, each renamed.
    Relabel {
        rewrite: Rewrite,
        set: bool,
    },
    Constant(String),
    Null,
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
pub struct TableConverter {
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

impl TableConverter {
    /// `source_columns` is the order of the raw batch; `lookups` holds resolved remap tables by (table, by).
    pub fn new(
        plan: &TableContract,
        source_columns: &[String],
        target_nullable: &HashMap<String, bool>,
        lookups: &Lookups,
        zone: &Zone,
    ) -> TableConverter {
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
                    Rewrite::Latin1BytesToBase64 => Resolved::Base64,
                    Rewrite::RemapByLookup { table, by } => Resolved::Remap(
                        lookups
                            .get(&(table.clone(), by.clone()))
                            .cloned()
                            .unwrap_or_default(),
                    ),
                    Rewrite::Relabel { .. } => Resolved::Relabel {
                        rewrite: t.clone(),
                        set: c.source_type.starts_with("set("),
                    },
                    Rewrite::Constant { value, .. } => Resolved::Constant(value.clone()),
                    Rewrite::Null { .. } => Resolved::Null,
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
        TableConverter {
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

    /// The target text of every value of output column `target` that converts (NULLs and values that break a
    /// rule left out), with its row's key: what `check` hands PostgreSQL to test a domain's constraints.
    pub fn converted(&self, raw: &RecordBatch, target: &str) -> Vec<(String, String)> {
        let Some(s) = self.steps.iter().find(|s| s.target == target) else {
            return Vec::new();
        };
        let a = raw.column(s.src_idx).as_binary::<i32>();
        let mut out = Vec::new();
        for row in 0..a.len() {
            let mut buf = String::new();
            let value = if a.is_null(row) {
                match &s.transform {
                    Some(Resolved::Constant(c)) => self.value(s, c.as_bytes(), &mut buf),
                    _ => Ok(false),
                }
            } else {
                self.value(s, a.value(row), &mut buf)
            };
            if value == Ok(true) {
                out.push((self.key_of(raw, row), buf));
            }
        }
        out
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
        // A constant replaces every value, NULL included.
        if let Some(Resolved::Constant(c)) = &s.transform {
            let mut buf = String::new();
            match self.value(s, c.as_bytes(), &mut buf) {
                Ok(true) => {
                    b.append_value(&buf);
                    return Ok(());
                }
                Ok(false) => {}
                Err(rule) => return Err(self.violation(raw, row, s, rule, c.as_bytes())),
            }
        }
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
            Some(Resolved::Relabel { rewrite, set }) => {
                let text = std::str::from_utf8(v).map_err(|_| Rule::InvalidUtf8)?;
                let relabel = |l: &str| rewrite.relabel(l).unwrap_or_else(|| l.to_string());
                owned = if *set && !text.is_empty() {
                    text.split(',').map(relabel).collect::<Vec<_>>().join(",")
                } else {
                    relabel(text)
                }
                .into_bytes();
                &owned[..]
            }
            Some(Resolved::Constant(c)) => c.as_bytes(),
            Some(Resolved::Null) => return Ok(false),
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
            Conversion::DateFromDatetime => {
                let t = utf8(v)?;
                check_datetime(t)?;
                let (date, time) = t.split_at(t.find(' ').unwrap_or(t.len()));
                if time.bytes().any(|b| b.is_ascii_digit() && b != b'0') {
                    return Err(Rule::NotMidnight);
                }
                out.push_str(date);
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
            Conversion::TextArray {
                labels, max_chars, ..
            } => {
                let t = utf8(v)?;
                if t.contains('\0') {
                    return Err(Rule::NulByte);
                }
                // MySQL prints a SET as its members joined by commas (a label cannot hold one); '' is the empty set.
                let members = t.split(',').filter(|_| !t.is_empty());
                for m in members.clone() {
                    if labels.as_ref().is_some_and(|l| !l.iter().any(|l| l == m)) {
                        return Err(Rule::NotEnumLabel);
                    }
                    if let Some(max) = max_chars {
                        let chars = m.chars().count();
                        if chars > *max as usize {
                            return Err(Rule::TooLong { max: *max, chars });
                        }
                    }
                }
                crate::util::pgarray::push_literal(members, out);
            }
        }
        Ok(true)
    }
}
