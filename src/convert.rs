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
//! | time                                    | time without time zone                 | `Time` (00:00..24:00 only) |
//! | time                                    | interval                               | `Interval` |
//! | bit(n)                                  | bit(n) / bit varying(m >= n)           | `Bits` |
//! | json, or longtext with json_valid       | json / jsonb                           | `Json` / `Jsonb` (jsonb: no \u0000) |
//! | char/varchar/tinytext/text/mediumtext/longtext/json/set | text, varchar(n), char(n) | `Text` (length in characters checked) |
//! | enum                                    | PG enum                                | `Enum` (labels checked) |
//! | enum                                    | text/varchar(n)                        | `Text` |
//! | binary/varbinary/tinyblob/blob/mediumblob/longblob | bytea                       | `Bytea` |
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
        _ if dst.enum_labels.is_some() && (s == "enum" || text_like) => {
            let labels = dst.enum_labels.clone().unwrap_or_default();
            if s == "enum" {
                let missing: Vec<String> = src
                    .enum_labels()
                    .into_iter()
                    .filter(|l| !labels.contains(l))
                    .collect();
                if !missing.is_empty() {
                    return Err(Incompatibility::MissingLabels(missing));
                }
            }
            Ok(Conversion::Enum { labels })
        }
        _ => Err(Incompatibility::Unsupported),
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
                if let Some(l) = src
                    .enum_labels()
                    .iter()
                    .find(|l| l.chars().count() > *tn as usize)
                {
                    return Some(format!(
                        "the target holds {tn} characters, the source label {l:?} has {}",
                        l.chars().count()
                    ));
                }
            }
            None
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
mod tests {
    use super::*;

    fn src(data_type: &str, column_type: &str, len: Option<u64>) -> SourceColumn {
        SourceColumn {
            name: "c".into(),
            data_type: data_type.into(),
            column_type: column_type.into(),
            nullable: true,
            default: None,
            char_max_len: len,
            fsp: None,
            auto_increment: false,
            is_json: data_type == "json",
            collation: None,
            generated: false,
        }
    }

    fn dst(format_type: &str, type_name: &str, nullable: bool) -> TargetColumn {
        TargetColumn {
            name: "c".into(),
            format_type: format_type.into(),
            type_name: type_name.into(),
            nullable,
            default: None,
            enum_labels: None,
            owned_sequence: None,
            generated: false,
        }
    }

    #[test]
    fn char36_to_uuid_empty_to_null_only_when_nullable() {
        assert_eq!(
            decide(
                &src("char", "char(36)", Some(36)),
                &dst("uuid", "uuid", true)
            ),
            Ok(Conversion::Uuid {
                empty_to_null: true
            })
        );
        assert_eq!(
            decide(
                &src("varchar", "varchar(36)", Some(36)),
                &dst("uuid", "uuid", false)
            ),
            Ok(Conversion::Uuid {
                empty_to_null: false
            })
        );
        assert_eq!(
            decide(
                &src("varchar", "varchar(8)", Some(8)),
                &dst("uuid", "uuid", true)
            ),
            Err(Incompatibility::Unsupported)
        );
    }

    #[test]
    fn tinyint_to_boolean_whatever_the_display_width() {
        for ct in ["tinyint", "tinyint(1)", "tinyint(4)"] {
            assert_eq!(
                decide(&src("tinyint", ct, None), &dst("boolean", "bool", false)),
                Ok(Conversion::Bool)
            );
        }
    }

    #[test]
    fn datetimes_to_timestamps() {
        assert_eq!(
            decide(
                &src("datetime", "datetime(6)", None),
                &dst("timestamp without time zone", "timestamp", false)
            ),
            Ok(Conversion::Timestamp { precision: 6 })
        );
        assert_eq!(
            decide(
                &src("datetime", "datetime", None),
                &dst("timestamp with time zone", "timestamptz", false)
            ),
            Ok(Conversion::TimestampTz {
                utc: false,
                precision: 6
            })
        );
        // MySQL TIMESTAMP values are read in UTC: never the naive-DATETIME zone.
        assert_eq!(
            decide(
                &src("timestamp", "timestamp", None),
                &dst("timestamp(3) with time zone", "timestamptz", false)
            ),
            Ok(Conversion::TimestampTz {
                utc: true,
                precision: 3
            })
        );
        assert_eq!(
            decide(
                &src("timestamp", "timestamp", None),
                &dst("timestamp without time zone", "timestamp", false)
            ),
            Ok(Conversion::Timestamp { precision: 6 })
        );
    }

    #[test]
    fn json_and_mariadb_longtext_json() {
        assert_eq!(
            decide(&src("json", "json", None), &dst("json", "json", false)),
            Ok(Conversion::Json)
        );
        let mut lt = src("longtext", "longtext", Some(u32::MAX as u64));
        lt.is_json = true;
        assert_eq!(
            decide(&lt, &dst("jsonb", "jsonb", false)),
            Ok(Conversion::Jsonb)
        );
    }

    #[test]
    fn text_lengths_are_checked_in_characters() {
        assert_eq!(
            decide(
                &src("varchar", "varchar(128)", Some(128)),
                &dst("character varying(128)", "varchar", true)
            ),
            Ok(Conversion::Text {
                max_chars: Some(128)
            })
        );
        assert_eq!(
            decide(
                &src("varchar", "varchar(255)", Some(255)),
                &dst("character varying(128)", "varchar", true)
            ),
            Ok(Conversion::Text {
                max_chars: Some(128)
            })
        );
        let (a, b) = (
            src("varchar", "varchar(255)", Some(255)),
            dst("character varying(128)", "varchar", true),
        );
        assert!(narrowing(&a, &b, &decide(&a, &b).unwrap())
            .unwrap()
            .contains("holds 128 characters"));
        assert_eq!(
            decide(
                &src("longtext", "longtext", Some(u32::MAX as u64)),
                &dst("text", "text", false)
            ),
            Ok(Conversion::Text { max_chars: None })
        );
        assert_eq!(
            decide(
                &src("text", "text", Some(65535)),
                &dst("character varying(8192)", "varchar", false)
            ),
            Ok(Conversion::Text {
                max_chars: Some(8192)
            })
        );
        assert_eq!(
            decide(
                &src("char", "char(36)", Some(36)),
                &dst("character(36)", "bpchar", false)
            ),
            Ok(Conversion::Text {
                max_chars: Some(36)
            })
        );
    }

    #[test]
    fn blobs_to_bytea() {
        for t in ["blob", "mediumblob", "longblob", "varbinary"] {
            assert_eq!(
                decide(&src(t, t, None), &dst("bytea", "bytea", true)),
                Ok(Conversion::Bytea)
            );
        }
    }

    #[test]
    fn enum_labels_are_checked() {
        let mut d = dst("profile_type_enum", "profile_type_enum", false);
        d.enum_labels = Some(vec!["a".into(), "b".into()]);
        assert_eq!(
            decide(&src("enum", "enum('a','b')", Some(1)), &d),
            Ok(Conversion::Enum {
                labels: vec!["a".into(), "b".into()]
            })
        );
        assert_eq!(
            decide(&src("enum", "enum('a','c')", Some(1)), &d),
            Err(Incompatibility::MissingLabels(vec!["c".into()]))
        );
    }

    #[test]
    fn integers_signed_and_unsigned() {
        assert_eq!(
            decide(&src("int", "int(11)", None), &dst("integer", "int4", false)),
            Ok(Conversion::Int {
                min: i32::MIN as i64,
                max: i32::MAX as i64
            })
        );
        assert_eq!(
            decide(
                &src("int", "int unsigned", None),
                &dst("bigint", "int8", false)
            ),
            Ok(Conversion::Int {
                min: i64::MIN,
                max: i64::MAX
            })
        );
        assert_eq!(
            decide(
                &src("bigint", "bigint unsigned", None),
                &dst("integer", "int4", false)
            ),
            Ok(Conversion::Int {
                min: i32::MIN as i64,
                max: i32::MAX as i64
            })
        );
    }

    #[test]
    fn decimal_to_numeric() {
        assert_eq!(
            decide(
                &src("decimal", "decimal(10,2)", None),
                &dst("numeric(10,2)", "numeric", true)
            ),
            Ok(Conversion::Numeric {
                max_int_digits: Some(8),
                scale: Some(2)
            })
        );
        assert_eq!(
            decide(
                &src("decimal", "decimal(10,2)", None),
                &dst("numeric", "numeric", true)
            ),
            Ok(Conversion::Numeric {
                max_int_digits: None,
                scale: None
            })
        );
    }

    fn narrowed(s: SourceColumn, d: TargetColumn) -> Option<String> {
        narrowing(&s, &d, &decide(&s, &d).unwrap())
    }

    #[test]
    fn narrowing_pairs_are_named() {
        let dec = |t: &str| src("decimal", t, None);
        assert!(
            narrowed(dec("decimal(10,4)"), dst("numeric(10,2)", "numeric", true))
                .unwrap()
                .contains("2 decimal places, the source 4")
        );
        assert_eq!(
            narrowed(dec("decimal(10,2)"), dst("numeric(12,4)", "numeric", true)),
            None
        );
        assert_eq!(
            narrowed(dec("decimal(10,2)"), dst("numeric", "numeric", true)),
            None
        );
        assert!(narrowed(src("double", "double", None), dst("real", "float4", true)).is_some());
        assert_eq!(
            narrowed(src("float", "float", None), dst("real", "float4", true)),
            None
        );
        let mut dt6 = src("datetime", "datetime(6)", None);
        dt6.fsp = Some(6);
        assert!(narrowed(
            dt6.clone(),
            dst("timestamp(3) without time zone", "timestamp", true)
        )
        .is_some());
        assert_eq!(
            narrowed(dt6, dst("timestamp without time zone", "timestamp", true)),
            None
        );
        assert!(narrowed(src("bit", "bit(8)", None), dst("bit(4)", "bit", true)).is_some());
        assert_eq!(
            narrowed(
                src("bit", "bit(8)", None),
                dst("bit varying(16)", "varbit", true)
            ),
            None
        );
    }

    #[test]
    fn bits_years_times_and_floats() {
        assert_eq!(
            decide(&src("bit", "bit(1)", None), &dst("boolean", "bool", true)),
            Ok(Conversion::Bool)
        );
        assert_eq!(
            decide(&src("bit", "bit(2)", None), &dst("boolean", "bool", true)),
            Err(Incompatibility::Unsupported)
        );
        assert_eq!(
            decide(&src("bit", "bit(64)", None), &dst("smallint", "int2", true)),
            Ok(Conversion::Int {
                min: i16::MIN as i64,
                max: i16::MAX as i64
            })
        );
        assert_eq!(
            decide(&src("bit", "bit(5)", None), &dst("bit(5)", "bit", true)),
            Ok(Conversion::Bits { width: 5 })
        );
        assert_eq!(
            decide(
                &src("year", "year(4)", None),
                &dst("smallint", "int2", true)
            ),
            Ok(Conversion::Int {
                min: i16::MIN as i64,
                max: i16::MAX as i64
            })
        );
        assert_eq!(
            decide(
                &src("time", "time", None),
                &dst("interval", "interval", true)
            ),
            Ok(Conversion::Interval)
        );
        assert_eq!(
            decide(
                &src("time", "time(3)", None),
                &dst("time(3) without time zone", "time", true)
            ),
            Ok(Conversion::Time { precision: 3 })
        );
        assert_eq!(
            decide(&src("double", "double", None), &dst("real", "float4", true)),
            Ok(Conversion::Float { bits: 32 })
        );
    }

    /// Every data row of the module's table names source and target types that `decide` pairs as the row says.
    #[test]
    fn documented_pairs_decide_as_documented() {
        let doc = include_str!("convert.rs");
        let rows: Vec<&str> = doc
            .lines()
            .filter(|l| l.starts_with("//! | ") && l.contains('`') && !l.contains("---"))
            .collect();
        assert!(
            rows.len() >= 18,
            "the conversion table has {} rows",
            rows.len()
        );
        for row in rows {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let kind = cells[3]
                .split('`')
                .nth(1)
                .unwrap()
                .split('/')
                .next()
                .unwrap();
            let source = cells[1]
                .split([',', ' '])
                .next()
                .unwrap()
                .split('/')
                .next()
                .unwrap();
            let target = cells[2].split([',', ' ', '/']).next().unwrap();
            let (data_type, column_type) = match source {
                "char" => ("char", "char(36)"),
                "bit" | "bit(n)" => ("bit", "bit(1)"),
                "tinyint" => ("tinyint", "tinyint(1)"),
                s => (s, s),
            };
            let mut s = src(data_type, column_type, Some(36));
            s.is_json = data_type == "json";
            let (format_type, type_name) = match target {
                "uuid" => ("uuid", "uuid"),
                "boolean" => ("boolean", "bool"),
                "smallint" => ("smallint", "int2"),
                "numeric" => ("numeric", "numeric"),
                "real" => ("real", "float4"),
                "double" => ("double precision", "float8"),
                "timestamp" if row.contains("with time zone") && !row.contains("without") => {
                    ("timestamp with time zone", "timestamptz")
                }
                "timestamp" => ("timestamp without time zone", "timestamp"),
                "date" => ("date", "date"),
                "time" => ("time without time zone", "time"),
                "interval" => ("interval", "interval"),
                "bit(n)" => ("bit(1)", "bit"),
                "json" => ("json", "json"),
                "text" => ("text", "text"),
                "PG" => ("e", "e"),
                "bytea" => ("bytea", "bytea"),
                other => panic!("conversion table row with unknown target {other:?}: {row}"),
            };
            let mut d = dst(format_type, type_name, true);
            if target == "PG" {
                d.enum_labels = Some(vec![]);
            }
            let got = decide(&s, &d).unwrap_or_else(|e| panic!("{row}: {e:?}"));
            let name = format!("{got:?}");
            assert!(name.starts_with(kind), "{row}: decided {name}");
        }
    }

    #[test]
    fn unsupported_pairs_are_errors() {
        assert_eq!(
            decide(&src("blob", "blob", None), &dst("text", "text", true)),
            Err(Incompatibility::Unsupported)
        );
        assert_eq!(
            decide(
                &src("datetime", "datetime", None),
                &dst("integer", "int4", true)
            ),
            Err(Incompatibility::Unsupported)
        );
        assert_eq!(
            decide(
                &src("varchar", "varchar(10)", Some(10)),
                &dst("bytea", "bytea", true)
            ),
            Err(Incompatibility::Unsupported)
        );
    }
}
