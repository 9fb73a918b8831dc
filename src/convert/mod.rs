//! The conversion table: which (source type, target type) pairs convert, and how. One reviewed place.
//!
//! Decisions look at the source's DATA_TYPE (never display widths: MariaDB says `tinyint(4)`, MySQL 8 `tinyint`)
//! together with the target type. Any pair not listed is a contract error, never a silent cast. A listed pair whose
//! target is narrower than the source (fewer decimals, a smaller float, a coarser time, fewer characters) is a
//! contract error too unless the mapping declares `narrowing` for the column; either way every value is checked and
//! one PostgreSQL would store differently is a data violation. Nothing is ever rounded.
//!
//! | source (DATA_TYPE)                      | target                                 | conversion |
//! |-----------------------------------------|----------------------------------------|------------|
//! | char/varchar (<= 36 chars)              | uuid                                   | `Uuid` ('' -> NULL where nullable) |
//! | tinyint (signed or unsigned), bit(1)    | boolean                                | `Bool` (0/1 only) |
//! | tinyint/smallint/mediumint/int/bigint, year, bit(n) | smallint/integer/bigint    | `Int` (range-checked) |
//! | decimal, any integer                    | numeric                                | `Numeric` (digits checked; narrower scale: `narrowing`) |
//! | float                                   | real/double precision                  | `Float` (read as the exact double) |
//! | double                                  | double precision (real: `narrowing`)   | `Float` |
//! | datetime                                | timestamp without time zone            | `Timestamp` (naive, kept) |
//! | datetime                                | timestamp with time zone               | `TimestampTz` (naive in the mapping's zone) |
//! | timestamp                               | timestamp / timestamptz                | `Timestamp`/`TimestampTz` (read in UTC, never shifted) |
//! | date                                    | date                                   | `Date` |
//! | datetime                                | date                                   | `DateFromDatetime` (midnight only; `narrowing`) |
//! | time                                    | time without time zone                 | `Time` (00:00..24:00 only) |
//! | time                                    | interval                               | `Interval` |
//! | bit(n)                                  | bit(n) / bit varying(m >= n)           | `Bits` |
//! | json, or longtext with json_valid       | json / jsonb                           | `Json` / `Jsonb` (jsonb: no \u0000) |
//! | char/varchar/tinytext/text/mediumtext/longtext/json/set | text, varchar(n), char(n) | `Text` (length in characters checked) |
//! | enum                                    | PG enum                                | `Enum` (labels checked) |
//! | enum                                    | text/varchar(n)                        | `Text` |
//! | set                                     | text[], varchar(n)[], PG enum[]        | `TextArray` (one element per member, labels checked) |
//! | binary/varbinary/tinyblob/blob/mediumblob/longblob | bytea                       | `Bytea` |
//!
//! A PostgreSQL domain converts as its base type; PostgreSQL checks the domain's constraints on every value it
//! stores, and a value they refuse stops the run naming its row.
//!
//! The table above is checked against `decide` by the `documented_pairs_decide_as_documented` test.

use serde::Serialize;

use crate::schema::{SourceColumn, TargetColumn};

/// How one column's values become target values.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Conversion {
    /// Text holding a uuid; '' becomes NULL when `empty_to_null`, otherwise it is an error.
    Uuid {
        empty_to_null: bool,
    },
    /// 0/1 to false/true; anything else is an error.
    Bool,
    /// Integer with the target's range.
    Int {
        min: i64,
        max: i64,
    },
    /// Exact decimal kept as text. `max_int_digits` is precision - scale of the target, `scale` its scale (None =
    /// unconstrained); a value with more integer digits, or a non-zero digit past the scale, is refused.
    Numeric {
        max_int_digits: Option<u32>,
        scale: Option<u32>,
    },
    /// A binary float; `bits` is the target's width (32 = real). A value real cannot hold as it is shown is refused.
    Float {
        bits: u8,
    },
    /// Naive date-time kept as is; `precision` is the target's fractional digits.
    Timestamp {
        precision: u32,
    },
    /// Written with an explicit offset: `utc` for MySQL TIMESTAMP (read in UTC), otherwise a naive DATETIME in the
    /// mapping's `source_time_zone`.
    TimestampTz {
        utc: bool,
        precision: u32,
    },
    Date,
    /// A DATETIME into `date`: only midnight keeps its value (the pair is a narrowing, each value checked).
    DateFromDatetime,
    /// MySQL TIME into `time`: only 00:00:00..24:00:00 fits.
    Time {
        precision: u32,
    },
    /// MySQL TIME (a signed duration up to 838:59:59) into `interval`.
    Interval,
    /// MySQL bit(n), read as its unsigned integer, written as `width` binary digits.
    Bits {
        width: u32,
    },
    Json,
    /// jsonb: rejects `\u0000`.
    Jsonb,
    /// Text; `max_chars` of varchar(n)/char(n).
    Text {
        max_chars: Option<u32>,
    },
    /// A PG enum: values must be among `labels`.
    Enum {
        labels: Vec<String>,
    },
    Bytea,
    /// A MySQL SET (members joined by commas) into a one-dimensional array of text, varchar(n) or an enum:
    /// `elem_oid` is the element type's OID (binary COPY names it), `labels` the enum's, `max_chars` varchar's n.
    TextArray {
        elem_oid: u32,
        labels: Option<Vec<String>>,
        max_chars: Option<u32>,
    },
}

/// Why a pair does not convert.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Incompatibility {
    /// No row of the table covers the pair.
    Unsupported,
    /// Source enum labels the target enum lacks.
    MissingLabels(Vec<String>),
    /// The target integer range is smaller than the source's.
    IntRange,
}

fn int_range(target: &str) -> Option<(i64, i64)> {
    match target {
        "int2" => Some((i16::MIN as i64, i16::MAX as i64)),
        "int4" => Some((i32::MIN as i64, i32::MAX as i64)),
        "int8" => Some((i64::MIN, i64::MAX)),
        _ => None,
    }
}

fn source_int_range(src: &SourceColumn) -> Option<(i128, i128)> {
    let bits = match src.data_type.as_str() {
        "tinyint" => 8,
        "smallint" => 16,
        "mediumint" => 24,
        "int" | "integer" => 32,
        "bigint" => 64,
        "year" => return Some((0, 2155)),
        "bit" => return Some((0, (1i128 << bit_width(src)?) - 1)),
        _ => return None,
    };
    Some(if src.unsigned() {
        (0, (1i128 << bits) - 1)
    } else {
        (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
    })
}

/// n of `bit(n)` (MySQL's `bit` alone is bit(1)).
fn bit_width(src: &SourceColumn) -> Option<u32> {
    if src.data_type != "bit" {
        return None;
    }
    Some(
        typmod(&src.column_type, "bit(")
            .and_then(|v| v.first().copied())
            .unwrap_or(1),
    )
}

const TEXT_TYPES: &[&str] = &[
    "char",
    "varchar",
    "tinytext",
    "text",
    "mediumtext",
    "longtext",
];
const BLOB_TYPES: &[&str] = &[
    "binary",
    "varbinary",
    "tinyblob",
    "blob",
    "mediumblob",
    "longblob",
];

/// Whether a source column holds text (the character types).
pub fn is_text(src: &SourceColumn) -> bool {
    TEXT_TYPES.contains(&src.data_type.as_str())
}

/// Decides the conversion of one column pair.
pub fn decide(src: &SourceColumn, dst: &TargetColumn) -> Result<Conversion, Incompatibility> {
    let s = src.data_type.as_str();
    let t = dst.type_name.as_str();
    let text_like = TEXT_TYPES.contains(&s);
    match t {
        "uuid" if text_like && src.char_max_len.is_some_and(|n| n >= 32) && s != "longtext" => {
            Ok(Conversion::Uuid {
                empty_to_null: dst.nullable,
            })
        }
        "bool" if s == "tinyint" || (s == "bit" && bit_width(src) == Some(1)) => {
            Ok(Conversion::Bool)
        }
        "int2" | "int4" | "int8" => {
            let (smin, smax) = source_int_range(src).ok_or(Incompatibility::Unsupported)?;
            let (tmin, tmax) = int_range(t).ok_or(Incompatibility::Unsupported)?;
            // Values are range-checked row by row; the contract refuses only pairs where no value could fit.
            if smin > tmax as i128 || smax < tmin as i128 {
                return Err(Incompatibility::IntRange);
            }
            Ok(Conversion::Int {
                min: tmin,
                max: tmax,
            })
        }
        "numeric" if s == "decimal" || (source_int_range(src).is_some() && s != "bit") => {
            let (p, sc) = numeric_typmod(&dst.format_type);
            Ok(Conversion::Numeric {
                max_int_digits: p.zip(sc).map(|(p, s)| p - s),
                scale: sc,
            })
        }
        "float4" if s == "float" || s == "double" => Ok(Conversion::Float { bits: 32 }),
        "float8" if s == "float" || s == "double" => Ok(Conversion::Float { bits: 64 }),
        "timestamp" if s == "datetime" || s == "timestamp" => Ok(Conversion::Timestamp {
            precision: time_precision(dst),
        }),
        "timestamptz" if s == "datetime" || s == "timestamp" => Ok(Conversion::TimestampTz {
            utc: s == "timestamp",
            precision: time_precision(dst),
        }),
        "date" if s == "date" => Ok(Conversion::Date),
        "date" if s == "datetime" => Ok(Conversion::DateFromDatetime),
        "time" if s == "time" => Ok(Conversion::Time {
            precision: time_precision(dst),
        }),
        "interval" if s == "time" => Ok(Conversion::Interval),
        "bit" | "varbit" if s == "bit" => Ok(Conversion::Bits {
            width: bit_width(src).unwrap_or(1),
        }),
        "json" if src.is_json || text_like => Ok(Conversion::Json),
        "jsonb" if src.is_json || text_like => Ok(Conversion::Jsonb),
        "text" | "varchar" | "bpchar" if text_like || s == "enum" || s == "set" || src.is_json => {
            Ok(Conversion::Text {
                max_chars: dst.char_len(),
            })
        }
        "bytea" if BLOB_TYPES.contains(&s) => Ok(Conversion::Bytea),
        _ if s == "set" && dst.array_elem.is_some() => {
            let elem = dst.array_elem.as_ref().expect("guarded");
            let labels = match elem.type_name.as_str() {
                "text" | "varchar" | "bpchar" => None,
                _ => Some(
                    elem.enum_labels
                        .clone()
                        .ok_or(Incompatibility::Unsupported)?,
                ),
            };
            if let Some(labels) = &labels {
                lacks_none(src, labels)?;
            }
            Ok(Conversion::TextArray {
                elem_oid: elem.oid,
                labels,
                max_chars: dst.char_len(),
            })
        }
        _ if dst.enum_labels.is_some() && (s == "enum" || text_like) => {
            let labels = dst.enum_labels.clone().unwrap_or_default();
            if s == "enum" {
                lacks_none(src, &labels)?;
            }
            Ok(Conversion::Enum { labels })
        }
        _ => Err(Incompatibility::Unsupported),
    }
}

/// Every ENUM/SET label of `src` is among the target's `labels` (compared exactly).
fn lacks_none(src: &SourceColumn, labels: &[String]) -> Result<(), Incompatibility> {
    let missing: Vec<String> = src
        .enum_labels()
        .into_iter()
        .filter(|l| !labels.contains(l))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Incompatibility::MissingLabels(missing))
    }
}

/// How the target of a convertible pair is narrower than the source, so that some source value would not be
/// stored as it is: the contract refuses the pair unless the mapping declares `narrowing` for the column.
pub fn narrowing(src: &SourceColumn, dst: &TargetColumn, conv: &Conversion) -> Option<String> {
    let s = src.data_type.as_str();
    match conv {
        Conversion::Numeric {
            scale: Some(ts), ..
        } if s == "decimal" => {
            let ss = typmod(&src.column_type, "decimal(")
                .and_then(|v| v.get(1).copied())
                .unwrap_or(0);
            (ss > *ts).then(|| {
                format!(
                    "the target keeps {ts} decimal places, the source {ss}: PostgreSQL would round"
                )
            })
        }
        Conversion::DateFromDatetime => {
            Some("date keeps no time of day: a value other than midnight would lose it".to_string())
        }
        Conversion::TextArray {
            max_chars: Some(tn),
            ..
        } => label_longer_than(src, *tn).map(|(l, n)| {
            format!("the target elements hold {tn} characters, the source member {l:?} has {n}")
        }),
        Conversion::Float { bits: 32 } if s == "double" => Some(
            "real keeps about 6 significant digits, double about 15: PostgreSQL would round"
                .to_string(),
        ),
        Conversion::Timestamp { precision }
        | Conversion::TimestampTz { precision, .. }
        | Conversion::Time { precision } => {
            let fsp = src.fsp.unwrap_or(0);
            (fsp > *precision).then(|| {
                format!(
                    "the target keeps {precision} fractional second digits, the source {fsp}: PostgreSQL would round"
                )
            })
        }
        Conversion::Bits { width } => {
            let tn = typmod(&dst.format_type, "bit(")
                .or_else(|| typmod(&dst.format_type, "bit varying("))
                .and_then(|v| v.first().copied());
            match (dst.type_name.as_str(), tn) {
                ("bit", Some(n)) if n != *width => Some(format!(
                    "bit({n}) holds exactly {n} bits, the source {width}"
                )),
                ("varbit", Some(n)) if n < *width => Some(format!(
                    "bit varying({n}) holds at most {n} bits, the source {width}"
                )),
                _ => None,
            }
        }
        Conversion::Text {
            max_chars: Some(tn),
        } => {
            if (s == "char" || s == "varchar") && src.char_max_len.is_some_and(|sn| sn > *tn as u64)
            {
                return Some(format!(
                    "the target holds {tn} characters, the source up to {}",
                    src.char_max_len.unwrap_or(0)
                ));
            }
            if s == "enum" {
                return label_longer_than(src, *tn).map(|(l, n)| {
                    format!("the target holds {tn} characters, the source label {l:?} has {n}")
                });
            }
            None
        }
        _ => None,
    }
}

/// An ENUM/SET label of `src` longer than `max` characters, with its length.
fn label_longer_than(src: &SourceColumn, max: u32) -> Option<(String, usize)> {
    src.enum_labels()
        .into_iter()
        .map(|l| {
            let n = l.chars().count();
            (l, n)
        })
        .find(|(_, n)| *n > max as usize)
}

/// A check every value of an exact pair still goes through because the source type admits values the target
/// cannot hold (`int unsigned` into `integer`): listed by `plan`, not a contract problem (each value is checked
/// and one outside stops the run).
pub fn checked_per_value(src: &SourceColumn, conv: &Conversion) -> Option<String> {
    match conv {
        Conversion::Int { min, max } => {
            let (smin, smax) = source_int_range(src)?;
            (smin < *min as i128 || smax > *max as i128).then(|| {
                format!(
                    "{} holds {smin}..{smax}, the target {min}..{max}: a value outside stops the run",
                    src.column_type
                )
            })
        }
        _ => None,
    }
}

/// The numbers inside `prefix(...)` of a type, e.g. `decimal(10,4)` -> [10, 4].
fn typmod(t: &str, prefix: &str) -> Option<Vec<u32>> {
    let inner = t.strip_prefix(prefix)?;
    let inner = &inner[..inner.find(')')?];
    inner.split(',').map(|v| v.trim().parse().ok()).collect()
}

/// (precision, scale) of `numeric(p,s)`.
fn numeric_typmod(format_type: &str) -> (Option<u32>, Option<u32>) {
    match typmod(format_type, "numeric(") {
        Some(v) => (v.first().copied(), Some(v.get(1).copied().unwrap_or(0))),
        None => (None, None),
    }
}

/// Fractional second digits a PostgreSQL time type keeps: `timestamp(3) ...` -> 3, no typmod -> 6.
fn time_precision(dst: &TargetColumn) -> u32 {
    ["timestamp(", "time("]
        .iter()
        .find_map(|p| typmod(&dst.format_type, p))
        .and_then(|v| v.first().copied())
        .unwrap_or(6)
}

#[cfg(test)]
mod tests;
