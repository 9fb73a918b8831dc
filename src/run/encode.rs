//! The stage between reader and writers of `migrate` and `export`: each raw batch converted (every value
//! validated) and encoded for the sinks: the COPY wire format, and what the sink stack asked for besides (CSV text
//! for files, typed batches for Parquet, canonical digests for the verification and the manifest).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::RecordBatch;
use bytes::Bytes;

use crate::canonical::Canon;
use crate::contract::Contract;
use crate::error::Error;
use crate::pipeline::Transform;
use crate::progress::Progress;
use crate::sink::{Encoded, Needs};

use super::work::ChunkWork;

/// The stage of `migrate` and `export`: converts a raw batch (validating every value) and encodes it for the
/// sinks: the chunk's wire format, and what the sink stack asked for ([`Needs`]).
pub struct Encode {
    needs: Needs,
    /// Canonical forms by source table, when a sink asks for digests.
    canons: Option<HashMap<String, Canon>>,
    progress: Arc<Progress>,
}

impl Encode {
    /// Encodes what `needs` asks for (see [`crate::sink::Asks`]) of `contract`'s tables.
    pub fn new(needs: Needs, contract: &Contract, progress: Arc<Progress>) -> Encode {
        Encode {
            needs,
            canons: needs.digest.then(|| {
                contract
                    .tables
                    .iter()
                    .map(|tp| (tp.source.clone(), Canon::of(tp)))
                    .collect()
            }),
            progress,
        }
    }
}

impl Transform<ChunkWork> for Encode {
    type Output = Encoded;
    type Error = Error;

    fn apply(&self, work: &ChunkWork, raw: RecordBatch) -> Result<Encoded, Error> {
        let t = &work.table;
        let batch = t.converter.apply(&raw)?;
        let mut out = Vec::with_capacity(raw.get_array_memory_size() + raw.num_rows() * 8);
        let multiline = if t.binary {
            crate::sink::binary::encode(&batch, &t.conversions, &mut out)
                .map_err(|e| Error::Internal(e.to_string()))?;
            Vec::new()
        } else {
            crate::sink::csv::encode(&batch, &mut out)
        };
        self.progress.add(
            &t.contract.source,
            batch.num_rows() as u64,
            out.len() as u64,
        );
        let out_len = out.len();
        let data = Bytes::from(out);
        Ok(Encoded {
            rows: batch.num_rows() as u64,
            csv: match (self.needs.csv, t.binary) {
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
                .canons
                .as_ref()
                .and_then(|d| d.get(&t.contract.source))
                .map(|c| c.digest(&batch)),
            batch: match self.needs.typed {
                true => Some(
                    crate::sink::parquet::typed(&batch, &t.conversions).map_err(|e| {
                        Error::Internal(format!("{} chunk {}: {e}", t.contract.source, work.index))
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
