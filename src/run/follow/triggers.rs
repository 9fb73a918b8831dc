//! What the target's own objects mean for following, said before it starts: row triggers that fire on followed
//! updates and deletes, and foreign keys no index leads with (indexed for the follow phase with
//! `--index-foreign-keys`, each such helper index named so that the cut-over and `reset` find it).

use std::time::Instant;

use crate::error::Error;
use crate::schema::TargetTable;

/// Logs each row trigger on UPDATE or DELETE of a loaded target table: it fires for every followed change (the
/// copy's COPY fired only the INSERT ones), and a column it sets differs from the source's, which the
/// verification at the cut-over names. Logs each foreign key to a loaded table without an index on its columns:
/// every followed delete of a parent row scans its table.
pub async fn warn_triggers(
    client: &tokio_postgres::Client,
    schema: &str,
    loaded: &[&TargetTable],
    index: bool,
) -> Result<(), Error> {
    let names: Vec<&str> = loaded.iter().map(|t| t.name.as_str()).collect();
    let rows = client
        .query(
            "SELECT c.relname::text, t.tgname::text FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
             WHERE c.relnamespace = $1::text::regnamespace AND c.relname = ANY($2) AND NOT t.tgisinternal
               AND t.tgenabled <> 'D' AND (t.tgtype & 1) = 1 AND (t.tgtype & 24) <> 0
             ORDER BY 1, 2",
            &[&crate::util::sql::pg_ident(schema), &names],
        )
        .await
        .map_err(crate::cutover::error::pg("listing the target's triggers"))?;
    for r in rows {
        let (table, trigger): (String, String) = (r.get(0), r.get(1));
        tracing::warn!(
            table,
            trigger,
            "This target trigger fires on UPDATE or DELETE for every followed change; a column it sets will differ \
             from the source's, and the verification at the cut-over will name it."
        );
    }
    // MySQL indexes every foreign key's columns; PostgreSQL does not, and checks a key on each delete or key
    // change of a parent row by a scan of the child when no index leads with them.
    let unindexed = client
        .query(
            "SELECT k.conname::text, c.relname::text, p.relname::text, c.reltuples::float8,
               (SELECT array_agg(a.attname::text ORDER BY u.n) FROM unnest(k.conkey) WITH ORDINALITY u(att, n)
                  JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.att),
               c.relnamespace = $1::text::regnamespace
             FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class p ON p.oid = k.confrelid
             WHERE k.contype = 'f' AND p.relnamespace = $1::text::regnamespace AND p.relname = ANY($2)
               AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = k.conrelid
                 AND (i.indkey::int2[])[0:cardinality(k.conkey) - 1] @> k.conkey)
             ORDER BY c.reltuples DESC",
            &[&crate::util::sql::pg_ident(schema), &names],
        )
        .await
        .map_err(crate::cutover::error::pg("listing the target's foreign keys"))?;
    for r in unindexed {
        let (key, child, parent, rows, columns, ours): (
            String,
            String,
            String,
            f64,
            Vec<String>,
            bool,
        ) = (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5));
        if index && ours {
            let name = helper_index_name(&key);
            let started = Instant::now();
            crate::cutover::helpers::create_helper_index(client, schema, &child, &columns, &name)
                .await?;
            tracing::info!(
                index = name,
                table = child,
                columns = columns.join(", "),
                seconds = started.elapsed().as_secs_f64(),
                "Created a helper index for a foreign key no index leads with (--index-foreign-keys); the cut-over \
                 and reset drop it."
            );
            continue;
        }
        tracing::warn!(
            key,
            table = child,
            columns = columns.join(", "),
            parent,
            rows = rows.max(0.0) as u64,
            "No index leads with this foreign key's columns: every followed delete or key change of a parent row \
             makes PostgreSQL scan the whole table to check it (MySQL indexes every foreign key, PostgreSQL does \
             not), which bounds how fast such changes apply; `migrate --follow --index-foreign-keys` indexes it \
             while following."
        );
    }
    Ok(())
}

/// The helper index of foreign key `key`: the prefix `reset` and the cut-over find it by, within PostgreSQL's 63
/// bytes (a long key name is cut and told apart by a hash of it).
fn helper_index_name(key: &str) -> String {
    let name = format!("{}{key}", crate::cutover::helpers::HELPER_INDEX_PREFIX);
    if name.len() <= 63 {
        return name;
    }
    let hash = crate::util::fsio::hex_digest(<sha2::Sha256 as sha2::Digest>::new_with_prefix(key));
    let mut cut = 63 - 9;
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}_{}", &name[..cut], &hash[..8])
}
