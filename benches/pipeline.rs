//! Criterion benchmarks of the CPU stages of the data path on batches shaped like Alkemio's authorization_policy
//! (the 5 GB table): the transform (as `check` runs it, and as `migrate` does, leaving JSON to PostgreSQL), the
//! two wire encoders (binary COPY, the default where it fits, and CSV, with arrow-csv's writer on the same batch as
//! the in-run reference), the source-side digest a verified run folds into the stream, and the target side's
//! digest of the same rows read back in binary COPY.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, BinaryBuilder, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use pgconverge::canonical::{Canon, Cells};
use pgconverge::contract::{ColumnContract, TableContract};
use pgconverge::convert::Conversion;
use pgconverge::pgbinary::{self, Wire};
use pgconverge::values::TableConverter;

const ROWS: usize = 4096;

fn column(name: &str, conv: Conversion, target_type: &str) -> ColumnContract {
    ColumnContract {
        source: name.into(),
        source_type: String::new(),
        target: name.into(),
        target_type: target_type.into(),
        conversion: conv,
        transform: None,
        on_null: None,
        narrowing: None,
        checked: None,
        domain: None,
    }
}

/// How PostgreSQL sends each column of [`setup`]'s table in binary COPY, in column order.
const WIRES: [Wire; 9] = [
    Wire::Uuid,
    Wire::Timestamp { tz: false },
    Wire::Timestamp { tz: false },
    Wire::Int,
    Wire::Text,
    Wire::Text,
    Wire::Text,
    Wire::Uuid,
    Wire::Bool,
];

/// (plan, transform, raw batch) for an authorization_policy-like table with ~3 KB of JSON rules per row.
fn setup() -> (TableContract, TableConverter, RecordBatch) {
    let stamp = "timestamp without time zone";
    let cols = vec![
        column(
            "id",
            Conversion::Uuid {
                empty_to_null: false,
            },
            "uuid",
        ),
        column("createdDate", Conversion::Timestamp { precision: 6 }, stamp),
        column("updatedDate", Conversion::Timestamp { precision: 6 }, stamp),
        column(
            "version",
            Conversion::Int {
                min: i32::MIN as i64,
                max: i32::MAX as i64,
            },
            "integer",
        ),
        column("credentialRules", Conversion::Json, "json"),
        column("privilegeRules", Conversion::Json, "json"),
        column(
            "type",
            Conversion::Text {
                max_chars: Some(128),
            },
            "character varying(128)",
        ),
        column(
            "parentAuthorizationPolicyId",
            Conversion::Uuid {
                empty_to_null: true,
            },
            "uuid",
        ),
        column("enabled", Conversion::Bool, "boolean"),
    ];
    let names: Vec<String> = cols.iter().map(|c| c.source.clone()).collect();
    let plan = TableContract {
        source: "authorization_policy".into(),
        target: "authorization_policy".into(),
        rows_estimate: ROWS as u64,
        bytes_estimate: 0,
        primary_key: vec!["id".into()],
        columns: cols,
        defaulted: vec![],
        not_copied: Vec::new(),
        family: Vec::new(),
        staged: false,
        generated: vec![],
    };
    let nullable: HashMap<String, bool> = names
        .iter()
        .map(|n| (n.clone(), n.starts_with("parent")))
        .collect();
    let t = TableConverter::new(
        &plan,
        &names,
        &nullable,
        &HashMap::new(),
        &pgconverge::util::zone::Zone::UTC,
    );
    let rule = r#"{"name":"credentialRule-7","cascade":true,"criterias":[{"type":"space-member","resourceID":"0b9f1a6e-3c1d-4a8e-9f00-1234567890ab"}],"grantedPrivileges":["read","update","create","delete","contribute"]}"#;
    let rules = format!("[{}]", vec![rule; 14].join(","));
    let mut builders: Vec<BinaryBuilder> = names.iter().map(|_| BinaryBuilder::new()).collect();
    for i in 0..ROWS {
        let id = format!("{:08x}-3c1d-4a8e-9f00-1234567890ab", i);
        let vals: [&[u8]; 9] = [
            id.as_bytes(),
            b"2024-03-01 10:20:30.123456",
            b"2024-03-02 11:22:33.000001",
            b"17",
            rules.as_bytes(),
            b"[]",
            b"space \"admin\", policy",
            if i % 3 == 0 { b"" } else { id.as_bytes() },
            if i % 2 == 0 { b"0" } else { b"1" },
        ];
        for (b, v) in builders.iter_mut().zip(vals) {
            b.append_value(v);
        }
    }
    let schema = Arc::new(Schema::new(
        names
            .iter()
            .map(|n| Field::new(n, DataType::Binary, true))
            .collect::<Vec<_>>(),
    ));
    let arrays: Vec<ArrayRef> = builders
        .into_iter()
        .map(|mut b| Arc::new(b.finish()) as ArrayRef)
        .collect();
    (plan, t, RecordBatch::try_new(schema, arrays).unwrap())
}

/// The rows of a binary COPY stream (tuples only, as `sink::binary::encode` writes them) as the target reader
/// holds them: one Binary column per field, each value PostgreSQL's binary form.
fn read_back(stream: &[u8], columns: usize) -> RecordBatch {
    let mut builders: Vec<BinaryBuilder> = (0..columns).map(|_| BinaryBuilder::new()).collect();
    let (mut at, mut fields) = (0, Vec::new());
    while let Some(pgbinary::Tuple::Row(n)) =
        pgbinary::tuple(&stream[at..], columns, &mut fields).unwrap()
    {
        pgconverge::source::pg::append_tuple(&stream[at..], &fields, &mut builders);
        at += n;
    }
    assert_eq!(at, stream.len(), "the stream parses to its end");
    let schema = Arc::new(Schema::new(
        (0..columns)
            .map(|c| Field::new(format!("c{c}"), DataType::Binary, true))
            .collect::<Vec<_>>(),
    ));
    let arrays = builders
        .into_iter()
        .map(|mut b| Arc::new(b.finish()) as ArrayRef)
        .collect();
    RecordBatch::try_new(schema, arrays).unwrap()
}

fn bench(c: &mut Criterion) {
    let (plan, t, raw) = setup();
    let bytes = raw.get_array_memory_size() as u64;
    let mut g = c.benchmark_group("authorization_policy_4096_rows");
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("transform", |b| {
        b.iter(|| black_box(t.apply(black_box(&raw)).unwrap()))
    });
    // As `migrate` runs it: PostgreSQL parses every json value on input, so the client does not parse it first.
    let loading = t.clone().without_json_validation();
    g.bench_function("transform_json_left_to_postgresql", |b| {
        b.iter(|| black_box(loading.apply(black_box(&raw)).unwrap()))
    });
    // The JSON check alone on the rules column, against serde_json skipping the same documents (the check used
    // it before; it passes lone surrogate escapes, which jsonb refuses).
    let rules = raw.column(4).as_binary::<i32>().clone();
    g.bench_function("json_check_pgconverge", |b| {
        b.iter(|| {
            for v in rules.iter().flatten() {
                pgconverge::util::json::validate(black_box(v), true).unwrap();
            }
        })
    });
    g.bench_function("json_check_serde_json_reference", |b| {
        b.iter(|| {
            for v in rules.iter().flatten() {
                serde_json::from_slice::<serde::de::IgnoredAny>(black_box(v)).unwrap();
            }
        })
    });
    let converted = t.apply(&raw).unwrap();
    g.bench_function("csv_encode_pgconverge", |b| {
        b.iter_batched(
            || Vec::with_capacity(bytes as usize * 2),
            |mut out| {
                let multiline = pgconverge::sink::csv::encode(black_box(&converted), &mut out);
                (out, multiline)
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("csv_encode_arrow_csv_reference", |b| {
        b.iter(|| {
            let mut w = arrow_csv::WriterBuilder::new()
                .with_header(false)
                .build(Vec::with_capacity(bytes as usize * 2));
            w.write(black_box(&converted)).unwrap();
            w.into_inner()
        })
    });
    let conversions = t.conversions();
    g.bench_function("binary_encode_pgconverge", |b| {
        b.iter_batched(
            || Vec::with_capacity(bytes as usize * 2),
            |mut out| {
                pgconverge::sink::binary::encode(black_box(&converted), &conversions, &mut out)
                    .unwrap();
                out
            },
            BatchSize::SmallInput,
        )
    });
    let canon = Canon::of(&plan);
    g.bench_function("digest_source_side", |b| {
        b.iter(|| black_box(canon.digest(black_box(&converted))))
    });
    let mut stream = Vec::new();
    pgconverge::sink::binary::encode(&converted, &conversions, &mut stream).unwrap();
    let target = read_back(&stream, WIRES.len());
    // The verification compares the two sides bucket by bucket: equal rows must fold to equal digests.
    let sorted = |mut p: Vec<(u32, u64, u128)>| {
        p.sort_unstable();
        p
    };
    assert_eq!(
        sorted(canon.digest(&converted)),
        sorted(canon.digest_cells(Cells::Binary(&target, &WIRES))),
        "the target side's digest of the rows read back equals the source side's"
    );
    g.bench_function("digest_target_side_binary", |b| {
        b.iter(|| black_box(canon.digest_cells(Cells::Binary(black_box(&target), &WIRES))))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
