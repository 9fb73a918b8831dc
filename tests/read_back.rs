//! The target read back in PostgreSQL's binary COPY format puts every value in the canonical form its text output
//! gives (what `verify` compared before it read binary), on a real server, for every type the binary reader
//! decodes: boundary values, values no MySQL source produces (BC dates, infinities, intervals of days and months,
//! NaN) and the generic path where a column's conversion is not its type's own. Both application schemas are read
//! back in binary throughout.

mod common;

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BinaryBuilder, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema};
use futures::StreamExt;
use pgconverge::canonical::{decodes, Canon, Cells};
use pgconverge::convert::Conversion;
use pgconverge::pgbinary::{self, Tuple, Wire};
use pgconverge_testbed::facts::App;

use common::TestDbs;

const TEXT: Conversion = Conversion::Text { max_chars: None };
const NUM: Conversion = Conversion::Numeric {
    max_int_digits: None,
    scale: None,
};

/// (column type, conversion, SQL literals of its values).
fn cases() -> Vec<(&'static str, Conversion, Vec<&'static str>)> {
    let uuid = Conversion::Uuid {
        empty_to_null: false,
    };
    let ts = Conversion::Timestamp { precision: 6 };
    let tz = Conversion::TimestampTz {
        utc: true,
        precision: 6,
    };
    let stamps = vec![
        "'2024-01-01 10:00:00.5'",
        "'0001-01-01 00:00:00'",
        "'9999-12-31 23:59:59.999999'",
        "'0044-03-15 10:00:00 BC'",
        "'10000-01-01 00:00:00'",
        "'1969-12-31 23:59:59.999999'",
        "'infinity'",
        "'-infinity'",
    ];
    let intervals = vec![
        "'-838:59:59'",
        "'838:59:59'",
        "'00:00:00.5'",
        "'-00:00:00.5'",
        "'1 day 02:00:00'",
        "'-1 days +02:00:00'",
        "'1 year 2 mons'",
        "'-1 years -2 mons +3 days -04:05:06.5'",
        "'3 days'",
        "'0'",
    ];
    vec![
        (
            "smallint",
            Conversion::Int {
                min: -32768,
                max: 32767,
            },
            vec!["-32768", "32767", "0"],
        ),
        (
            "integer",
            Conversion::Int {
                min: i32::MIN as i64,
                max: i32::MAX as i64,
            },
            vec!["-2147483648", "7"],
        ),
        (
            "bigint",
            Conversion::Int {
                min: i64::MIN,
                max: i64::MAX,
            },
            vec!["-9223372036854775808", "9223372036854775807"],
        ),
        ("bigint", NUM, vec!["-42", "0"]),
        ("integer", TEXT, vec!["12", "-1"]),
        (
            "numeric",
            NUM,
            vec![
                "0",
                "0.00",
                "-0.00012",
                "12345.6700",
                "1e-20",
                "99999999999999999999.5",
                "10000",
                "-1",
                "'NaN'",
                "'Infinity'",
                "'-Infinity'",
                "123456789012345678901234567890.123456789012345678901234567890",
            ],
        ),
        (
            "numeric(20,0)",
            Conversion::Int {
                min: 0,
                max: i64::MAX,
            },
            vec!["18446744073709551615", "0"],
        ),
        ("numeric(12,4)", TEXT, vec!["1.5", "-0.0001"]),
        (
            "real",
            Conversion::Float { bits: 32 },
            vec![
                "0.1",
                "'NaN'",
                "'-0'",
                "'Infinity'",
                "'-Infinity'",
                "1e30",
                "1.4e-45",
                "0.1234567",
            ],
        ),
        (
            "real",
            Conversion::Float { bits: 64 },
            vec!["0.1", "1e30", "'NaN'", "3.4028235e38"],
        ),
        (
            "double precision",
            Conversion::Float { bits: 64 },
            vec![
                "0.1",
                "-1.7976931348623157e308",
                "'NaN'",
                "5e-324",
                "'-0'",
                "0.1234567891234",
            ],
        ),
        (
            "double precision",
            Conversion::Float { bits: 32 },
            vec!["0.1", "1e300", "0.1234567891234"],
        ),
        ("timestamp(6)", ts.clone(), stamps.clone()),
        ("timestamptz", tz.clone(), stamps.clone()),
        ("timestamptz", ts, stamps.clone()),
        ("timestamp", TEXT, stamps.clone()),
        ("timestamptz", TEXT, stamps),
        (
            "date",
            Conversion::Date,
            vec![
                "'2024-02-29'",
                "'0001-01-01'",
                "'0001-12-31 BC'",
                "'10000-01-01'",
                "'infinity'",
                "'-infinity'",
            ],
        ),
        ("date", TEXT, vec!["'2024-02-29'", "'0044-03-15 BC'"]),
        (
            "time",
            Conversion::Time { precision: 6 },
            vec![
                "'00:00:00'",
                "'23:59:59.999999'",
                "'24:00:00'",
                "'12:00:00.5'",
            ],
        ),
        ("time", TEXT, vec!["'23:59:59.999999'", "'01:02:03'"]),
        ("interval", Conversion::Interval, intervals.clone()),
        (
            "interval",
            Conversion::Time { precision: 6 },
            intervals.clone(),
        ),
        ("interval", TEXT, intervals),
        (
            "uuid",
            uuid,
            vec![
                "'0b9f1a6e-3c1d-4a8e-9f00-1234567890ab'",
                "'00000000-0000-0000-0000-000000000000'",
            ],
        ),
        ("uuid", TEXT, vec!["'0B9F1A6E-3C1D-4A8E-9F00-1234567890AB'"]),
        ("boolean", Conversion::Bool, vec!["true", "false"]),
        ("boolean", TEXT, vec!["true"]),
        (
            "bytea",
            Conversion::Bytea,
            vec!["'\\x'", "'\\x00ff10'", "convert_to('ünï', 'UTF8')"],
        ),
        (
            "bit(5)",
            Conversion::Bits { width: 5 },
            vec!["B'10101'", "B'00000'"],
        ),
        (
            "bit varying(70)",
            Conversion::Bits { width: 70 },
            vec!["B'1'", "B''", "B'1010101010101010101010101'"],
        ),
        (
            "json",
            Conversion::Json,
            vec![
                "'{\"b\": 1,  \"a\": [1e2, \"x\"]}'",
                "'null'",
                "'\"\\u00e9\"'",
            ],
        ),
        (
            "jsonb",
            Conversion::Jsonb,
            vec![
                "'{\"b\": 1,  \"a\": [1e2, \"x\"]}'",
                "'null'",
                "'[1.50, -0]'",
                "'\"\\u00e9\"'",
            ],
        ),
        ("jsonb", TEXT, vec!["'{\"b\": 1, \"a\": 2}'"]),
        (
            "text",
            TEXT,
            vec!["''", "E'a\\tb\\nc\\\\d\\re'", "'ünïcødé'", "'\\N'"],
        ),
        (
            "character(5)",
            Conversion::Text { max_chars: Some(5) },
            vec!["'ab'", "''", "'abcde'"],
        ),
        (
            "character varying(10)",
            Conversion::Text {
                max_chars: Some(10),
            },
            vec!["'ab '", "'x'"],
        ),
        (
            "mood",
            Conversion::Enum {
                labels: vec!["sad".into(), "happy ü".into()],
            },
            vec!["'sad'", "'happy ü'"],
        ),
    ]
}

#[tokio::test]
async fn binary_read_back_gives_the_canonical_form_of_the_text_output() {
    let dbs = TestDbs::bare("SELECT 1", "CREATE TYPE mood AS ENUM ('sad', 'happy ü')").await;
    let pg = common::pg_conn(&dbs.target()).await;
    pg.batch_execute(pgconverge::source::pg::SESSION)
        .await
        .unwrap();
    let mut compared = 0;
    for (n, (ty, conv, values)) in cases().into_iter().enumerate() {
        let table = format!("v{n}");
        let mut sql = format!("CREATE TABLE {table} (id serial PRIMARY KEY, v {ty}); INSERT INTO {table} (v) VALUES (NULL)");
        for v in &values {
            sql.push_str(&format!(", ({v})"));
        }
        pg.batch_execute(&sql)
            .await
            .unwrap_or_else(|e| panic!("{ty}: {e:?}"));
        let select = format!("SELECT v FROM {table} ORDER BY id");
        let types = pgconverge::source::pg::column_types(&pg, &select)
            .await
            .unwrap();
        let wire =
            Wire::of(types[0].0, types[0].1).unwrap_or_else(|| panic!("{ty} has no binary layout"));
        assert!(decodes(wire, &conv), "{ty} with {conv:?} does not decode");

        // The text form, as the text COPY reader hands it over (simple query: the same output functions).
        let mut text = StringBuilder::new();
        for m in pg.simple_query(&select).await.unwrap() {
            if let tokio_postgres::SimpleQueryMessage::Row(r) = m {
                text.append_option(r.get(0));
            }
        }
        // The binary form, framed by the reader's own parser.
        let stream = pg
            .copy_out(&format!("COPY ({select}) TO STDOUT (FORMAT binary)"))
            .await
            .unwrap();
        futures::pin_mut!(stream);
        let mut all = Vec::new();
        while let Some(d) = stream.next().await {
            all.extend_from_slice(&d.unwrap());
        }
        let mut at = pgbinary::header(&all).unwrap().unwrap();
        let mut binary = BinaryBuilder::new();
        let mut fields = Vec::new();
        loop {
            match pgbinary::tuple(&all[at..], 1, &mut fields)
                .unwrap()
                .unwrap()
            {
                Tuple::End(len) => {
                    assert_eq!(at + len, all.len());
                    break;
                }
                Tuple::Row(len) => {
                    pgconverge::source::pg::append_tuple(
                        &all[at..],
                        &fields,
                        std::slice::from_mut(&mut binary),
                    );
                    at += len;
                }
            }
        }
        let batch = |dt: DataType, a: ArrayRef| {
            RecordBatch::try_new(
                Arc::new(Schema::new(vec![Field::new("v", dt, true)])),
                vec![a],
            )
            .unwrap()
        };
        let t = batch(DataType::Utf8, Arc::new(text.finish()));
        let b = batch(DataType::Binary, Arc::new(binary.finish()));
        assert_eq!(t.num_rows(), values.len() + 1);
        let canon = Canon::new(&[("v".to_string(), conv.clone(), ty.to_string())], vec![]);
        for row in 0..t.num_rows() {
            let from_text = canon.row(Cells::Text(&t), row);
            let from_binary = canon.row(Cells::Binary(&b, &[wire]), row);
            assert_eq!(
                from_binary,
                from_text,
                "{ty} with {conv:?}, value {}",
                if row == 0 { "NULL" } else { values[row - 1] }
            );
            compared += 1;
        }
        assert_eq!(
            canon.digest_cells(Cells::Binary(&b, &[wire])),
            canon.digest_cells(Cells::Text(&t)),
            "{ty} with {conv:?}: digests"
        );
    }
    assert!(compared > 150, "{compared} values compared");
}

#[tokio::test]
async fn every_column_of_both_applications_is_read_back_in_binary() {
    for app in [App::Alkemio, App::Kratos] {
        let dbs = TestDbs::new(app).await;
        let pg = common::pg_conn(&dbs.target()).await;
        let rows = pg
            .query(
                "SELECT c.relname::text, a.attname::text, a.atttypid, t.typtype = 'e' \
                 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
                 JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_type t ON t.oid = a.atttypid \
                 WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped",
                &[],
            )
            .await
            .unwrap();
        assert!(rows.len() > 100, "{app:?}: {} columns", rows.len());
        for r in rows {
            let oid: u32 = r.get(2);
            assert!(
                Wire::of(oid, r.get(3)).is_some(),
                "{app:?}: {}.{} (type {oid}) would be read back as text",
                r.get::<_, String>(0),
                r.get::<_, String>(1)
            );
        }
    }
}

/// One range read back by [`pgconverge::source::pg::TargetReader`], in either format.
struct Range {
    sql: String,
    schema: Arc<Schema>,
    binary: bool,
}

impl pgconverge::pipeline::Work for Range {
    fn table(&self) -> &str {
        "t"
    }
}

impl pgconverge::source::pg::CopyOutSpec for Range {
    fn copy_out_sql(&self) -> &str {
        &self.sql
    }
    fn schema(&self) -> Arc<Schema> {
        self.schema.clone()
    }
    fn binary(&self) -> bool {
        self.binary
    }
}

/// Keeps every batch the reader hands over.
struct Collect(Vec<RecordBatch>);

impl pgconverge::pipeline::Emitter for Collect {
    fn emit(
        &mut self,
        raw: RecordBatch,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<(), pgconverge::pipeline::Halt>> + Send + '_>,
    > {
        self.0.push(raw);
        Box::pin(async { Ok(()) })
    }
}

#[tokio::test]
async fn the_target_reader_parses_both_formats_of_a_real_copy() {
    use pgconverge::pipeline::Source;
    // Values the text format escapes or could mistake: separators, line ends, backslashes, the NULL marker as
    // text, empty and multi-byte strings, and values far larger than a batch's byte limit.
    let mut values: Vec<Option<String>> = vec![
        Some("tab\there".into()),
        Some("line\nend\r\n".into()),
        Some("back\\slash \\N \\t".into()),
        Some("\\N".into()),
        Some(String::new()),
        None,
        Some("ü — 漢字 🙂".into()),
        Some("\u{8}\u{b}\u{c}\u{1}".into()),
        Some("x".repeat(3 << 20)),
    ];
    for i in 0..500 {
        values.push(Some(format!("row {i}\t{}", "y".repeat(i * 37 % 4000))));
    }
    let dbs = TestDbs::bare("SELECT 1", "CREATE TABLE t (id int PRIMARY KEY, v text)").await;
    let pg = common::pg_conn(&dbs.target()).await;
    for (i, v) in values.iter().enumerate() {
        pg.execute("INSERT INTO t VALUES ($1, $2)", &[&(i as i32), v])
            .await
            .unwrap();
    }
    for binary in [false, true] {
        let dt = if binary {
            DataType::Binary
        } else {
            DataType::Utf8
        };
        let range = Range {
            sql: format!(
                "COPY (SELECT id, v FROM t ORDER BY id) TO STDOUT{}",
                if binary { " (FORMAT binary)" } else { "" }
            ),
            schema: Arc::new(Schema::new(vec![
                Field::new("id", dt.clone(), true),
                Field::new("v", dt, true),
            ])),
            binary,
        };
        let client = pgconverge::source::pg::open_snapshot(&dbs.target(), 1)
            .await
            .unwrap()
            .remove(0);
        let mut reader = pgconverge::source::pg::TargetReader::new(client, 7, 64 << 10);
        let mut out = Collect(Vec::new());
        let total = reader.read(&range, &mut out).await.unwrap();
        Source::<Range>::close(reader).await;
        assert_eq!(total as usize, values.len(), "binary {binary}: rows");
        assert!(
            out.0.len() > values.len() / 7,
            "binary {binary}: {} batches",
            out.0.len()
        );
        let mut got: Vec<Option<String>> = Vec::new();
        let mut ids = Vec::new();
        for b in &out.0 {
            assert!(
                b.num_rows() <= 7,
                "binary {binary}: a batch of {} rows",
                b.num_rows()
            );
            for row in 0..b.num_rows() {
                if binary {
                    let (id, v) = (
                        b.column(0).as_binary::<i32>(),
                        b.column(1).as_binary::<i32>(),
                    );
                    ids.push(i32::from_be_bytes(id.value(row).try_into().unwrap()));
                    got.push(
                        (!v.is_null(row))
                            .then(|| String::from_utf8(v.value(row).to_vec()).unwrap()),
                    );
                } else {
                    let (id, v) = (
                        b.column(0).as_string::<i32>(),
                        b.column(1).as_string::<i32>(),
                    );
                    ids.push(id.value(row).parse().unwrap());
                    got.push((!v.is_null(row)).then(|| v.value(row).to_string()));
                }
            }
        }
        assert_eq!(
            ids,
            (0..values.len() as i32).collect::<Vec<_>>(),
            "binary {binary}: keys"
        );
        for (i, (g, v)) in got.iter().zip(&values).enumerate() {
            assert!(g == v, "binary {binary}: row {i} differs");
        }
    }
}
