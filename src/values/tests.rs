//! Unit tests of the value conversions and checks.

use super::checks::*;
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
    use arrow::array::BinaryArray;
    let col = |name: &str, conversion| column_contract(name, "", conversion, None);
    let plan = table_contract(vec![
        col("id", Conversion::Text { max_chars: None }),
        col("v", Conversion::Text { max_chars: None }),
        col(
            "e",
            Conversion::Enum {
                labels: vec!["a".into()],
            },
        ),
    ]);
    let names: Vec<String> = ["id", "v", "e"].iter().map(|s| s.to_string()).collect();
    let t = TableConverter::new(&plan, &names, &HashMap::new(), &HashMap::new(), &Zone::UTC);
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
    use crate::contract::{ColumnContract, TableContract};
    use arrow::array::{BinaryArray, StringArray};
    let captured: [&[u8]; 3] = [
        b"{\"a\": 1, \"b\": [true, null, 1.5e300], \"k\xc3\xa9y\": \"caf\xc3\xa9 \\\"q\\\"\"}",
        br#"[]"#,
        br#""x\u0000y""#,
    ];
    let plan = |conversion| TableContract {
        source: "t".into(),
        target: "t".into(),
        rows_estimate: 3,
        bytes_estimate: 0,
        primary_key: vec!["id".into()],
        columns: vec![
            ColumnContract {
                source: "id".into(),
                source_type: String::new(),
                target: "id".into(),
                target_type: String::new(),
                conversion: Conversion::Text { max_chars: None },
                transform: None,
                on_null: None,
                narrowing: None,
                checked: None,
                domain: None,
            },
            ColumnContract {
                source: "j".into(),
                source_type: "json".into(),
                target: "j".into(),
                target_type: String::new(),
                conversion,
                transform: None,
                on_null: None,
                narrowing: None,
                checked: None,
                domain: None,
            },
        ],
        defaulted: vec![],
        not_copied: Vec::new(),
        family: Vec::new(),
        staged: false,
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
        TableConverter::new(
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

/// One value through one column of `conversion` after `transform` (source type `source_type`, target nullable):
/// Ok(target text or None for NULL), or the rule it broke.
fn one_value(
    conversion: Conversion,
    transform: Option<Rewrite>,
    source_type: &str,
    v: Option<&[u8]>,
) -> Result<Option<String>, Rule> {
    use arrow::array::{BinaryArray, StringArray};
    let plan = table_contract(vec![
        column_contract("id", "", Conversion::Text { max_chars: None }, None),
        column_contract("c", source_type, conversion, transform),
    ]);
    let names: Vec<String> = vec!["id".into(), "c".into()];
    let t = TableConverter::new(&plan, &names, &HashMap::new(), &HashMap::new(), &Zone::UTC);
    let cols: Vec<ArrayRef> = vec![
        Arc::new(BinaryArray::from(vec![&b"1"[..]])),
        Arc::new(BinaryArray::from(vec![v])),
    ];
    let batch = RecordBatch::try_from_iter(names.iter().cloned().zip(cols)).unwrap();
    match t.apply(&batch) {
        Ok(out) => {
            let c = out
                .column(1)
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap();
            Ok((!c.is_null(0)).then(|| c.value(0).to_string()))
        }
        Err(v) => Err(v.rule),
    }
}

#[test]
fn datetimes_into_dates_keep_midnight_only() {
    let d = |v: &str| {
        one_value(
            Conversion::DateFromDatetime,
            None,
            "datetime",
            Some(v.as_bytes()),
        )
    };
    assert_eq!(d("2006-05-25 00:00:00"), Ok(Some("2006-05-25".into())));
    assert_eq!(
        d("1000-01-01 00:00:00.000000"),
        Ok(Some("1000-01-01".into()))
    );
    assert_eq!(d("9999-12-31 00:00:00"), Ok(Some("9999-12-31".into())));
    assert_eq!(d("2006-05-25 00:00:01"), Err(Rule::NotMidnight));
    assert_eq!(d("2006-05-25 00:00:00.000001"), Err(Rule::NotMidnight));
    assert_eq!(d("2006-05-25 23:59:59"), Err(Rule::NotMidnight));
    assert_eq!(d("0000-00-00 00:00:00"), Err(Rule::ZeroDate));
}

#[test]
fn sets_become_array_literals_with_every_member_checked() {
    let text = Conversion::TextArray {
        elem_oid: 25,
        labels: None,
        max_chars: None,
    };
    let arr = |c: &Conversion, v: &str| one_value(c.clone(), None, "set('a')", Some(v.as_bytes()));
    assert_eq!(arr(&text, ""), Ok(Some("{}".into())));
    assert_eq!(arr(&text, "a"), Ok(Some(r#"{"a"}"#.into())));
    assert_eq!(
        arr(&text, r#"Deleted Scenes,q"uote,back\slash,NULL"#),
        Ok(Some(
            r#"{"Deleted Scenes","q\"uote","back\\slash","NULL"}"#.into()
        ))
    );
    let en = Conversion::TextArray {
        elem_oid: 99999,
        labels: Some(vec!["rental".into(), "sale".into()]),
        max_chars: None,
    };
    assert_eq!(
        arr(&en, "rental,sale"),
        Ok(Some(r#"{"rental","sale"}"#.into()))
    );
    assert_eq!(arr(&en, "rental,repair"), Err(Rule::NotEnumLabel));
    let short = Conversion::TextArray {
        elem_oid: 1043,
        labels: None,
        max_chars: Some(3),
    };
    assert_eq!(arr(&short, "abc,de"), Ok(Some(r#"{"abc","de"}"#.into())));
    assert_eq!(arr(&short, "abcd"), Err(Rule::TooLong { max: 3, chars: 4 }));
}

#[test]
fn relabel_constant_and_null_transforms() {
    let enum_of = |labels: &[&str]| Conversion::Enum {
        labels: labels.iter().map(|l| l.to_string()).collect(),
    };
    let upper = Rewrite::Relabel {
        map: Default::default(),
        case: Some(crate::mapping::Case::Upper),
    };
    assert_eq!(
        one_value(
            enum_of(&["ACTIVE"]),
            Some(upper.clone()),
            "enum('active')",
            Some(b"active")
        ),
        Ok(Some("ACTIVE".into()))
    );
    let renamed = Rewrite::Relabel {
        map: [("NC17".to_string(), "NC-17".to_string())].into(),
        case: None,
    };
    assert_eq!(
        one_value(
            enum_of(&["G", "NC-17"]),
            Some(renamed.clone()),
            "enum('G','NC17')",
            Some(b"NC17")
        ),
        Ok(Some("NC-17".into()))
    );
    assert_eq!(
        one_value(
            enum_of(&["G", "NC-17"]),
            Some(renamed),
            "enum('G','NC17')",
            Some(b"G")
        ),
        Ok(Some("G".into()))
    );
    // A SET's members are renamed one by one.
    let set = Conversion::TextArray {
        elem_oid: 99999,
        labels: Some(vec!["A".into(), "B".into()]),
        max_chars: None,
    };
    assert_eq!(
        one_value(set, Some(upper), "set('a','b')", Some(b"a,b")),
        Ok(Some(r#"{"A","B"}"#.into()))
    );
    let constant = Rewrite::Constant {
        value: "7".into(),
        reason: "r".into(),
    };
    let int = Conversion::Int {
        min: i16::MIN as i64,
        max: i16::MAX as i64,
    };
    assert_eq!(
        one_value(int.clone(), Some(constant.clone()), "int", Some(b"123456")),
        Ok(Some("7".into()))
    );
    assert_eq!(
        one_value(int.clone(), Some(constant), "int", None),
        Ok(Some("7".into())),
        "a constant replaces NULL too"
    );
    let bad = Rewrite::Constant {
        value: "99999".into(),
        reason: "r".into(),
    };
    assert!(matches!(
        one_value(int.clone(), Some(bad), "int", Some(b"1")),
        Err(Rule::IntOutOfRange { .. })
    ));
    let null = Rewrite::Null { reason: "r".into() };
    assert_eq!(one_value(int, Some(null), "int", Some(b"5")), Ok(None));
}

/// A planned column of table `t` (target named as the source) and the table of `columns`, keyed by `id`.
fn column_contract(
    name: &str,
    source_type: &str,
    conversion: Conversion,
    transform: Option<Rewrite>,
) -> crate::contract::ColumnContract {
    crate::contract::ColumnContract {
        source: name.into(),
        source_type: source_type.into(),
        target: name.into(),
        target_type: String::new(),
        conversion,
        transform,
        on_null: None,
        narrowing: None,
        checked: None,
        domain: None,
    }
}

fn table_contract(columns: Vec<crate::contract::ColumnContract>) -> crate::contract::TableContract {
    crate::contract::TableContract {
        source: "t".into(),
        target: "t".into(),
        rows_estimate: 1,
        bytes_estimate: 0,
        primary_key: vec!["id".into()],
        columns,
        defaulted: vec![],
        not_copied: Vec::new(),
        family: Vec::new(),
        staged: false,
        generated: Vec::new(),
    }
}
