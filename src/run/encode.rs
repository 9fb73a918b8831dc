//! The stage between reader and writers of `migrate` and `export`: each raw batch converted (every value
//! validated) and encoded for the sinks: the COPY wire format, and what the sink stack asked for besides (CSV text
//! for files, typed batches for Parquet, canonical digests for the verification and the manifest).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::RecordBatch;
use bytes::Bytes;

use crate::canonical::Canon;
use crate::error::Error;
use crate::pipeline::Transform;
use crate::progress::Progress;
use crate::sink::Encoded;

use super::work::ChunkWork;

/// The migrate transform: converts a raw batch (validating every value) and encodes it for COPY.
pub struct Encode {
    /// Give each piece its batch in Parquet's types, for Parquet files.
    pub parquet: bool,
    /// Give each piece its rows as CSV, for CSV files (the wire data itself when the wire format is CSV).
    pub csv_files: bool,
    /// Canonical forms by source table: each piece carries its rows' digests, for `verify` after the load.
    pub digests: Option<Arc<HashMap<String, Canon>>>,
    pub progress: Arc<Progress>,
}

impl Transform<ChunkWork> for Encode {
    type Output = Encoded;
    type Error = Error;

    fn apply(&self, work: &ChunkWork, raw: RecordBatch) -> Result<Encoded, Error> {
        let t = &work.table;
        let batch = t.transform.apply(&raw)?;
        let mut out = Vec::with_capacity(raw.get_array_memory_size() + raw.num_rows() * 8);
        let multiline = if t.binary {
            crate::sink::binary::encode(&batch, &t.conversions, &mut out)
                .map_err(Error::Internal)?;
            Vec::new()
        } else {
            crate::sink::csv::encode(&batch, &mut out)
        };
        self.progress
            .add(&t.plan.source, batch.num_rows() as u64, out.len() as u64);
        let out_len = out.len();
        let data = Bytes::from(out);
        Ok(Encoded {
            rows: batch.num_rows() as u64,
            csv: match (self.csv_files, t.binary) {
                (false, _) => None,
                (true, false) => Some(data.clone()),
                (true, true) => {
                    let mut csv = Vec::with_capacity(out_len);
                    crate::sink::csv::encode(&batch, &mut csv);
                    Some(Bytes::from(csv))
                }
            },
            data,
            multiline,
            digest: self
                .digests
                .as_ref()
                .and_then(|d| d.get(&t.plan.source))
                .map(|c| c.digest(&batch)),
            batch: match self.parquet {
                true => Some(
                    crate::sink::parquet::typed(&batch, &t.conversions).map_err(|e| {
                        Error::Internal(format!("{} chunk {}: {e}", t.plan.source, work.index))
                    })?,
                ),
                false => None,
            },
            keys: t
                .key_columns
                .iter()
                .map(|&i| raw.column(i).clone())
                .collect(),
        })
    }
}
