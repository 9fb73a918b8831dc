//! Criterion benchmarks of the CPU stages of the data path: the transform stage and the CSV encoder, on batches
//! shaped like Alkemio's authorization_policy (the 5 GB table). arrow-csv's writer on the same batch is the
//! in-run reference for the encoder.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;

use arrow::array::{ArrayRef, BinaryBuilder, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use pgconverge::convert::Conversion;
use pgconverge::plan::{ColumnPlan, TablePlan};
use pgconverge::transform::TableTransform;

const ROWS: usize = 4096;

fn column(name: &str, conv: Conversion) -> ColumnPlan {
    ColumnPlan {
        source: name.into(),
        source_type: String::new(),
        target: name.into(),
        target_type: String::new(),
        conversion: conv,
        transform: None,
        on_null: None,
        narrowing: None,
    }
}

/// (plan, raw batch) for an authorization_policy-like table with ~3 KB of JSON rules per row.
fn setup() -> (TableTransform, RecordBatch) {
    let cols = vec![
        column(
            "id",
            Conversion::Uuid {
                empty_to_null: false,
            },
        ),
        column("createdDate", Conversion::Timestamp { precision: 6 }),
        column("updatedDate", Conversion::Timestamp { precision: 6 }),
        column(
            "version",
            Conversion::Int {
                min: i32::MIN as i64,
                max: i32::MAX as i64,
            },
        ),
        column("credentialRules", Conversion::Json),
        column("privilegeRules", Conversion::Json),
        column(
            "type",
            Conversion::Text {
                max_chars: Some(128),
            },
        ),
        column(
            "parentAuthorizationPolicyId",
            Conversion::Uuid {
                empty_to_null: true,
            },
        ),
        column("enabled", Conversion::Bool),
    ];
    let names: Vec<String> = cols.iter().map(|c| c.source.clone()).collect();
    let plan = TablePlan {
        source: "authorization_policy".into(),
        target: "authorization_policy".into(),
        rows_estimate: ROWS as u64,
        bytes_estimate: 0,
        primary_key: vec!["id".into()],
        columns: cols,
        defaulted: vec![],
        generated: vec![],
    };
    let nullable: HashMap<String, bool> = names
        .iter()
        .map(|n| (n.clone(), n.starts_with("parent")))
        .collect();
    let t = TableTransform::new(
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
    (t, RecordBatch::try_new(schema, arrays).unwrap())
}

fn bench(c: &mut Criterion) {
    let (t, raw) = setup();
    let bytes = raw.get_array_memory_size() as u64;
    let mut g = c.benchmark_group("authorization_policy_4096_rows");
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("transform", |b| {
        b.iter(|| black_box(t.apply(black_box(&raw)).unwrap()))
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
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
