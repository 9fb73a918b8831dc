//! Unit tests of the conversion table: each documented pair decides as documented, narrowings are named,
//! unsupported pairs are errors.

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
        domain: None,
        array_elem: None,
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
    let doc = include_str!("mod.rs");
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
            "text[]" => ("text[]", "_text"),
            "PG" => ("e", "e"),
            "bytea" => ("bytea", "bytea"),
            other => panic!("conversion table row with unknown target {other:?}: {row}"),
        };
        let mut d = dst(format_type, type_name, true);
        if target == "PG" {
            d.enum_labels = Some(vec![]);
        }
        if target == "text[]" {
            d.array_elem = Some(crate::schema::ArrayElem {
                type_name: "text".into(),
                oid: 25,
                enum_labels: None,
            });
        }
        let got = decide(&s, &d).unwrap_or_else(|e| panic!("{row}: {e:?}"));
        let name = format!("{got:?}");
        assert!(name.starts_with(kind), "{row}: decided {name}");
    }
}

#[test]
fn sets_into_arrays_dates_from_datetimes_and_checked_integers() {
    let set = src("set", "set('a','B','long')", None);
    let mut arr = dst("character varying(3)[]", "_varchar", true);
    arr.array_elem = Some(crate::schema::ArrayElem {
        type_name: "varchar".into(),
        oid: 1043,
        enum_labels: None,
    });
    let conv = decide(&set, &arr).unwrap();
    assert_eq!(
        conv,
        Conversion::TextArray {
            elem_oid: 1043,
            labels: None,
            max_chars: Some(3)
        }
    );
    assert!(narrowing(&set, &arr, &conv).unwrap().contains("\"long\""));
    let mut en = dst("tag[]", "_tag", true);
    en.array_elem = Some(crate::schema::ArrayElem {
        type_name: "tag".into(),
        oid: 99999,
        enum_labels: Some(vec!["a".into(), "b".into(), "long".into()]),
    });
    assert_eq!(
        decide(&set, &en),
        Err(Incompatibility::MissingLabels(vec!["B".into()]))
    );
    // A set into a scalar enum, or into an array of integers, has no conversion.
    let mut ints = dst("integer[]", "_int4", true);
    ints.array_elem = Some(crate::schema::ArrayElem {
        type_name: "int4".into(),
        oid: 23,
        enum_labels: None,
    });
    assert_eq!(decide(&set, &ints), Err(Incompatibility::Unsupported));

    let dt = src("datetime", "datetime", None);
    let d = dst("date", "date", true);
    assert_eq!(decide(&dt, &d), Ok(Conversion::DateFromDatetime));
    assert!(narrowing(&dt, &d, &Conversion::DateFromDatetime).is_some());

    let u = src("int", "int unsigned", None);
    let i4 = dst("integer", "int4", false);
    let c = decide(&u, &i4).unwrap();
    assert!(checked_per_value(&u, &c).unwrap().contains("0..4294967295"));
    let i8 = dst("bigint", "int8", false);
    assert_eq!(checked_per_value(&u, &decide(&u, &i8).unwrap()), None);
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
