//! Typed Parquet for export directories: the transform's text form turned back into Arrow's logical types
//! (integers, booleans, decimals with their precision and scale, timestamps UTC-adjusted for `timestamptz`, dates,
//! times, binary) and a chunk file writer that hashes while it writes. Mapping of types: docs/csv-format.md.
//!
//! The ArrowWriter buffers a row group in memory, so the file is flushed once its buffer passes `FLUSH_BYTES`,
//! keeping the export inside the run's memory bound.

use std::io::Write;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder,
    Float32Builder, Float64Builder, Int16Builder, Int32Builder, Int64Builder, RecordBatch,
    Time64MicrosecondBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use sha2::{Digest, Sha256};

use crate::convert::Conversion;
use crate::util::{calendar, hex};

/// A chunk's typed batch or Parquet file that cannot be built or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParquetError(pub String);

/// In-progress row group size at which the writer flushes.
const FLUSH_BYTES: usize = 16 << 20;
/// Widest decimal Arrow's Decimal128 holds; wider or unconstrained numerics stay decimal strings.
const MAX_DECIMAL_DIGITS: u32 = 38;

/// The Arrow type a target column has in Parquet, from its conversion.
pub fn arrow_type(conv: &Conversion) -> DataType {
    match conv {
        Conversion::Bool => DataType::Boolean,
        Conversion::Int { min, .. } if *min >= i16::MIN as i64 => DataType::Int16,
        Conversion::Int { min, .. } if *min >= i32::MIN as i64 => DataType::Int32,
        Conversion::Int { .. } => DataType::Int64,
        Conversion::Numeric {
            max_int_digits: Some(i),
            scale: Some(s),
        } if i + s <= MAX_DECIMAL_DIGITS && i + s > 0 => {
            DataType::Decimal128((i + s) as u8, *s as i8)
        }
        Conversion::Float { bits: 32 } => DataType::Float32,
        Conversion::Float { .. } => DataType::Float64,
        Conversion::Timestamp { .. } => DataType::Timestamp(TimeUnit::Microsecond, None),
        Conversion::TimestampTz { .. } => {
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        }
        Conversion::Date | Conversion::DateFromDatetime => DataType::Date32,
        Conversion::Time { .. } => DataType::Time64(TimeUnit::Microsecond),
        Conversion::Bytea => DataType::Binary,
        Conversion::Uuid { .. }
        | Conversion::Numeric { .. }
        | Conversion::Interval
        | Conversion::Bits { .. }
        | Conversion::Json
        | Conversion::Jsonb
        | Conversion::Text { .. }
        | Conversion::Enum { .. }
        // The array literal PostgreSQL reads (a Parquet list would need its own reader on import).
        | Conversion::TextArray { .. } => DataType::Utf8,
    }
}

/// The typed schema of a table's Parquet files: the converted batch's column names with [`arrow_type`]s.
pub fn schema(text: &Schema, convs: &[Conversion]) -> Arc<Schema> {
    Arc::new(Schema::new(
        text.fields()
            .iter()
            .zip(convs)
            .map(|(f, c)| Field::new(f.name(), arrow_type(c), true))
            .collect::<Vec<_>>(),
    ))
}

/// A decimal's text as its unscaled integer at `scale` digits. Digits past the scale must be zeros (the
/// transform refused any other), so nothing is rounded here either.
fn decimal(t: &str, scale: u32) -> Option<i128> {
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let (kept, rest) = frac.split_at(frac.len().min(scale as usize));
    if !rest.bytes().all(|b| b == b'0') {
        return None;
    }
    let mut v: i128 = 0;
    let pad = scale as usize - kept.len();
    for b in int.bytes().chain(kept.bytes()) {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((b - b'0') as i128)?;
    }
    v = v.checked_mul(10i128.checked_pow(pad as u32)?)?;
    Some(if neg { -v } else { v })
}

/// Days since 1970-01-01 of a printed date.
fn date_days(t: &str) -> Option<i32> {
    let d = calendar::parse_datetime(t).ok()?;
    i32::try_from(calendar::days_from_civil(d.year, d.month, d.day)).ok()
}

fn bytea(t: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(t.len() / 2);
    hex::decode_into(t.strip_prefix("\\x")?.as_bytes(), &mut out)?;
    Some(out)
}

/// Builds one typed column from its text column; the first value that does not parse is returned.
fn column(conv: &Conversion, text: &arrow::array::StringArray) -> Result<ArrayRef, String> {
    macro_rules! build {
        ($builder:expr, $parse:expr) => {{
            let mut b = $builder;
            for v in text.iter() {
                match v {
                    None => b.append_null(),
                    Some(t) => b.append_value($parse(t).ok_or_else(|| t.to_string())?),
                }
            }
            Ok(Arc::new(b.finish()) as ArrayRef)
        }};
    }
    let n = text.len();
    match arrow_type(conv) {
        DataType::Boolean => build!(BooleanBuilder::with_capacity(n), |t: &str| match t {
            "t" => Some(true),
            "f" => Some(false),
            _ => None,
        }),
        DataType::Int16 => build!(Int16Builder::with_capacity(n), |t: &str| t.parse().ok()),
        DataType::Int32 => build!(Int32Builder::with_capacity(n), |t: &str| t.parse().ok()),
        DataType::Int64 => build!(Int64Builder::with_capacity(n), |t: &str| t.parse().ok()),
        DataType::Decimal128(p, s) => {
            let b = Decimal128Builder::with_capacity(n)
                .with_precision_and_scale(p, s)
                .map_err(|e| e.to_string())?;
            build!(b, |t: &str| decimal(t, s as u32))
        }
        DataType::Float32 => build!(Float32Builder::with_capacity(n), |t: &str| t.parse().ok()),
        DataType::Float64 => build!(Float64Builder::with_capacity(n), |t: &str| t.parse().ok()),
        DataType::Timestamp(_, None) => build!(
            TimestampMicrosecondBuilder::with_capacity(n),
            calendar::timestamp_micros
        ),
        DataType::Timestamp(_, Some(_)) => build!(
            TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC"),
            calendar::timestamp_micros
        ),
        DataType::Date32 => build!(Date32Builder::with_capacity(n), date_days),
        DataType::Time64(_) => build!(
            Time64MicrosecondBuilder::with_capacity(n),
            calendar::time_micros
        ),
        DataType::Binary => build!(BinaryBuilder::with_capacity(n, n * 16), bytea),
        _ => Ok(Arc::new(text.clone()) as ArrayRef),
    }
}

/// The converted (text) batch in its Parquet types.
pub fn typed(batch: &RecordBatch, convs: &[Conversion]) -> Result<RecordBatch, ParquetError> {
    typed_text(batch, convs).map_err(ParquetError)
}

fn typed_text(batch: &RecordBatch, convs: &[Conversion]) -> Result<RecordBatch, String> {
    let schema = schema(&batch.schema(), convs);
    let columns = batch
        .columns()
        .iter()
        .zip(convs)
        .zip(schema.fields())
        .map(|((c, conv), f)| {
            column(conv, c.as_string::<i32>()).map_err(|v| {
                format!(
                    "column {}: {v:?} does not read as {}",
                    f.name(),
                    f.data_type()
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(schema, columns).map_err(|e| e.to_string())
}

/// A writer that keeps the SHA-256 and size of everything written through it.
pub struct Hashing<W: Write> {
    pub inner: W,
    pub hash: Sha256,
    pub bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// One chunk's Parquet file being written.
pub struct ChunkParquet {
    writer: ArrowWriter<Hashing<std::io::BufWriter<std::fs::File>>>,
}

impl ChunkParquet {
    pub fn create(file: std::fs::File, schema: Arc<Schema>) -> Result<ChunkParquet, ParquetError> {
        Self::create_text(file, schema).map_err(ParquetError)
    }

    fn create_text(file: std::fs::File, schema: Arc<Schema>) -> Result<ChunkParquet, String> {
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build();
        let sink = Hashing {
            inner: std::io::BufWriter::with_capacity(1 << 20, file),
            hash: Sha256::new(),
            bytes: 0,
        };
        let writer = ArrowWriter::try_new(sink, schema, Some(props)).map_err(|e| e.to_string())?;
        Ok(ChunkParquet { writer })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), ParquetError> {
        let e = |e: parquet::errors::ParquetError| ParquetError(e.to_string());
        self.writer.write(batch).map_err(e)?;
        if self.writer.in_progress_size() > FLUSH_BYTES {
            self.writer.flush().map_err(e)?;
        }
        Ok(())
    }

    /// Writes the footer and syncs the file; returns its size and SHA-256.
    pub fn finish(self) -> Result<(u64, Sha256), ParquetError> {
        let e = |e: &dyn std::fmt::Display| ParquetError(e.to_string());
        let mut sink = self.writer.into_inner().map_err(|x| e(&x))?;
        sink.flush().map_err(|x| e(&x))?;
        let file = sink.inner.into_inner().map_err(|x| e(&x))?;
        file.sync_all().map_err(|x| e(&x))?;
        Ok((sink.bytes, sink.hash))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::StringArray;

    fn one(conv: Conversion, values: &[Option<&str>]) -> ArrayRef {
        let text = StringArray::from(values.to_vec());
        column(&conv, &text).unwrap()
    }

    #[test]
    fn decimals_keep_every_digit_and_never_round() {
        assert_eq!(decimal("999999.9999", 4), Some(9_999_999_999));
        assert_eq!(decimal("-0.5", 4), Some(-5000));
        assert_eq!(decimal("12", 2), Some(1200));
        assert_eq!(decimal("1.230000", 2), Some(123));
        assert_eq!(decimal("1.235", 2), None);
        assert_eq!(decimal("1e5", 2), None);
        let a = one(
            Conversion::Numeric {
                max_int_digits: Some(6),
                scale: Some(4),
            },
            &[Some("999999.9999"), None],
        );
        assert_eq!(a.data_type(), &DataType::Decimal128(10, 4));
        assert_eq!(
            a.as_primitive::<arrow::datatypes::Decimal128Type>()
                .value(0),
            9_999_999_999
        );
        assert!(a.is_null(1));
    }

    #[test]
    fn integers_take_the_target_width() {
        let conv = |min, max| Conversion::Int { min, max };
        assert_eq!(arrow_type(&conv(-32768, 32767)), DataType::Int16);
        assert_eq!(
            arrow_type(&conv(i32::MIN as i64, i32::MAX as i64)),
            DataType::Int32
        );
        assert_eq!(arrow_type(&conv(i64::MIN, i64::MAX)), DataType::Int64);
        let a = one(conv(i64::MIN, i64::MAX), &[Some("-9223372036854775808")]);
        assert_eq!(
            a.as_primitive::<arrow::datatypes::Int64Type>().value(0),
            i64::MIN
        );
    }

    #[test]
    fn times_dates_and_bytes() {
        let a = one(
            Conversion::TimestampTz {
                utc: false,
                precision: 6,
            },
            &[Some("2024-07-15 12:00:00+02:00")],
        );
        assert_eq!(
            a.as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
                .value(0),
            1_721_037_600_000_000
        );
        assert_eq!(
            a.data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
        let d = one(Conversion::Date, &[Some("1970-01-02"), Some("1000-01-01")]);
        let d = d.as_primitive::<arrow::datatypes::Date32Type>();
        assert_eq!((d.value(0), d.value(1)), (1, -354_285));
        let b = one(Conversion::Bytea, &[Some("\\x00ff"), Some("\\x")]);
        let b = b.as_binary::<i32>();
        assert_eq!((b.value(0), b.value(1)), (&[0u8, 255][..], &[][..]));
        assert!(one(Conversion::Bool, &[Some("t")]).as_boolean().value(0));
        let bad = StringArray::from(vec![Some("x")]);
        assert_eq!(column(&Conversion::Bool, &bad).unwrap_err(), "x");
    }
}
