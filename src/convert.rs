//! The conversion table: which (source type, target type) pairs convert, and how. One reviewed place.
//!
//! Decisions look at the source's DATA_TYPE (never display widths: MariaDB says `tinyint(4)`, MySQL 8 `tinyint`)
//! together with the target type. Any pair not listed is a contract error, never a silent cast.
//!
//! | source (DATA_TYPE)                      | target                                 | conversion |
//! |-----------------------------------------|----------------------------------------|------------|
//! | char/varchar (<= 36 chars)              | uuid                                   | `Uuid` ('' -> NULL where nullable) |
//! | tinyint (signed or unsigned)            | boolean                                | `Bool` (0/1 only) |
//! | tinyint/smallint/mediumint/int/bigint   | smallint/integer/bigint                | `Int` (range-checked) |
//! | decimal                                 | numeric                                | `Numeric` (digits checked) |
//! | datetime                                | timestamp without time zone            | `Timestamp` (naive, kept) |
//! | datetime                                | timestamp with time zone               | `TimestampTz` (naive in the mapping's zone) |
//! | timestamp                               | timestamp / timestamptz                | `Timestamp`/`TimestampTz` (read with session zone +00:00) |
//! | date                                    | date                                   | `Date` |
//! | json, or longtext with json_valid       | json / jsonb                           | `Json` / `Jsonb` (jsonb: no \u0000) |
//! | char/varchar/tinytext/text/mediumtext/longtext/json | text, varchar(n), char(n)  | `Text` (length in characters checked) |
//! | enum                                    | PG enum                                | `Enum` (labels checked) |
//! | enum                                    | text/varchar(n)                        | `Text` |
//! | binary/varbinary/tinyblob/blob/mediumblob/longblob | bytea                       | `Bytea` |
//! | float/double                            | real/double precision                  | `Float` |

use serde::Serialize;

use crate::schema::{SourceColumn, TargetColumn};

/// How one column's values become target values.
#[derive(Debug, Clone, PartialEq, Serialize)]
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
    /// Exact decimal kept as text; `max_int_digits` of the target's precision-scale (None = unconstrained).
    Numeric {
        max_int_digits: Option<u32>,
        scale: Option<u32>,
    },
    Float,
    /// Naive date-time kept as is.
    Timestamp,
    /// Naive date-time in the source zone, written with an explicit offset.
    TimestampTz,
    Date,
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
    /// The target holds fewer characters than the source can.
    Narrower {
        source_chars: u64,
        target_chars: u32,
    },
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

fn source_int_range(data_type: &str, unsigned: bool) -> Option<(i128, i128)> {
    let bits = match data_type {
        "tinyint" => 8,
        "smallint" => 16,
        "mediumint" => 24,
        "int" | "integer" => 32,
        "bigint" => 64,
        _ => return None,
    };
    Some(if unsigned {
        (0, (1i128 << bits) - 1)
    } else {
        (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
    })
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
        "bool" if s == "tinyint" || s == "bit" => Ok(Conversion::Bool),
        "int2" | "int4" | "int8" => {
            let (smin, smax) =
                source_int_range(s, src.unsigned()).ok_or(Incompatibility::Unsupported)?;
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
        "numeric" if s == "decimal" || source_int_range(s, src.unsigned()).is_some() => {
            let (p, sc) = numeric_typmod(&dst.format_type);
            Ok(Conversion::Numeric {
                max_int_digits: p.zip(sc).map(|(p, s)| p - s),
                scale: sc,
            })
        }
        "float4" | "float8" if s == "float" || s == "double" => Ok(Conversion::Float),
        "timestamp" if s == "datetime" || s == "timestamp" => Ok(Conversion::Timestamp),
        "timestamptz" if s == "datetime" || s == "timestamp" => Ok(Conversion::TimestampTz),
        "date" if s == "date" => Ok(Conversion::Date),
        "json" if src.is_json || text_like => Ok(Conversion::Json),
        "jsonb" if src.is_json || text_like => Ok(Conversion::Jsonb),
        "text" | "varchar" | "bpchar" if text_like || s == "enum" || src.is_json => {
            let max_chars = dst.char_len();
            if let (Some(tn), Some(sn)) = (max_chars, src.char_max_len) {
                // Only char/varchar sources have a meaningful declared length; text types are checked per value.
                if (s == "char" || s == "varchar") && sn > tn as u64 {
                    return Err(Incompatibility::Narrower {
                        source_chars: sn,
                        target_chars: tn,
                    });
                }
            }
            if s == "enum" {
                if let Some(tn) = max_chars {
                    if let Some(l) = src
                        .enum_labels()
                        .iter()
                        .find(|l| l.chars().count() > tn as usize)
                    {
                        return Err(Incompatibility::Narrower {
                            source_chars: l.chars().count() as u64,
                            target_chars: tn,
                        });
                    }
                }
            }
            Ok(Conversion::Text { max_chars })
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

/// (precision, scale) of `numeric(p,s)`.
fn numeric_typmod(format_type: &str) -> (Option<u32>, Option<u32>) {
    let Some(inner) = format_type.strip_prefix("numeric(") else {
        return (None, None);
    };
    let mut it = inner.trim_end_matches(')').split(',');
    let p = it.next().and_then(|v| v.trim().parse().ok());
    let s = it.next().and_then(|v| v.trim().parse().ok()).or(Some(0));
    (p, s)
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
            Ok(Conversion::Timestamp)
        );
        assert_eq!(
            decide(
                &src("datetime", "datetime", None),
                &dst("timestamp with time zone", "timestamptz", false)
            ),
            Ok(Conversion::TimestampTz)
        );
        assert_eq!(
            decide(
                &src("timestamp", "timestamp", None),
                &dst("timestamp without time zone", "timestamp", false)
            ),
            Ok(Conversion::Timestamp)
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
            Err(Incompatibility::Narrower {
                source_chars: 255,
                target_chars: 128
            })
        );
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
