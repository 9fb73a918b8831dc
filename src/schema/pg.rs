//! Introspection of the PostgreSQL target through `pg_catalog`: columns, constraints with their definitions,
//! indexes, enum labels and owned sequences. Works for a non-superuser that owns the tables.

use std::collections::BTreeMap;

use super::{ArrayElem, TargetColumn, TargetConstraint, TargetTable};

/// Errors reading the target catalogue.
#[derive(Debug, thiserror::Error)]
pub enum TargetSchemaError {
    #[error("reading the target catalogue (schema {schema}) failed: {source}")]
    Query {
        schema: String,
        source: tokio_postgres::Error,
    },
}

/// Reads every ordinary table of `schema`.
pub async fn introspect(
    client: &tokio_postgres::Client,
    schema: &str,
) -> Result<Vec<TargetTable>, TargetSchemaError> {
    let err = |source| TargetSchemaError::Query {
        schema: schema.to_string(),
        source,
    };
    // A domain converts as its base type (followed through domains over domains; the innermost typmod that is
    // set wins, as PostgreSQL applies it) and is NOT NULL when any domain of the chain is. An array column
    // brings its element type.
    let cols = client
        .query(
            "SELECT c.relname::text, a.attname::text,
                    format_type(b.oid, CASE WHEN t.typtype = 'd' THEN dom.typmod ELSE a.atttypmod END),
                    b.typname::text,
                    NOT a.attnotnull AND NOT coalesce(dom.nonnull, false),
                    coalesce(pg_get_expr(d.adbin, d.adrelid), CASE WHEN t.typtype = 'd' THEN t.typdefault END),
                    CASE WHEN b.typtype = 'e' THEN
                      (SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = b.oid)
                    END,
                    COALESCE(pg_get_serial_sequence(quote_ident(n.nspname) || '.' || quote_ident(c.relname), a.attname),
                      (SELECT quote_ident(sn.nspname) || '.' || quote_ident(s.relname)
                       FROM pg_depend dep
                       JOIN pg_class s ON s.oid = dep.refobjid AND s.relkind = 'S'
                       JOIN pg_namespace sn ON sn.oid = s.relnamespace
                       WHERE dep.classid = 'pg_attrdef'::regclass AND dep.objid = d.oid
                         AND dep.refclassid = 'pg_class'::regclass
                       ORDER BY 1 LIMIT 1)),
                    a.attgenerated <> '',
                    CASE WHEN t.typtype = 'd' THEN format_type(t.oid, NULL) END,
                    el.typname::text, el.oid,
                    CASE WHEN el.typtype = 'e' THEN
                      (SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = el.oid)
                    END
             FROM pg_attribute a
             JOIN pg_class c ON c.oid = a.attrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             JOIN pg_type t ON t.oid = a.atttypid
             LEFT JOIN LATERAL (
               WITH RECURSIVE chain(base, typmod, nonnull, depth) AS (
                 SELECT t.typbasetype, t.typtypmod, t.typnotnull, 0 WHERE t.typtype = 'd'
                 UNION ALL
                 SELECT bt.typbasetype, CASE WHEN chain.typmod >= 0 THEN chain.typmod ELSE bt.typtypmod END,
                        chain.nonnull OR bt.typnotnull, chain.depth + 1
                 FROM chain JOIN pg_type bt ON bt.oid = chain.base AND bt.typtype = 'd'
               )
               SELECT base, typmod, nonnull FROM chain ORDER BY depth DESC LIMIT 1
             ) dom ON true
             JOIN pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN dom.base ELSE t.oid END
             LEFT JOIN pg_type el ON b.typcategory = 'A' AND el.oid = b.typelem
             LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
             ORDER BY c.relname, a.attnum",
            &[&schema],
        )
        .await
        .map_err(err)?;
    let mut tables: BTreeMap<String, TargetTable> = BTreeMap::new();
    for r in cols {
        let t: String = r.get(0);
        let elem: Option<String> = r.get(10);
        tables
            .entry(t.clone())
            .or_insert_with(|| TargetTable {
                name: t,
                columns: Vec::new(),
                constraints: Vec::new(),
                indexes: Vec::new(),
                before_insert_triggers: Vec::new(),
                parent: None,
                inheritance_parent: false,
            })
            .columns
            .push(TargetColumn {
                name: r.get(1),
                format_type: r.get(2),
                type_name: r.get(3),
                nullable: r.get(4),
                default: r.get(5),
                enum_labels: r.get(6),
                owned_sequence: r.get(7),
                generated: r.get(8),
                domain: r.get(9),
                array_elem: elem.map(|type_name| ArrayElem {
                    type_name,
                    oid: r.get(11),
                    enum_labels: r.get(12),
                }),
            });
    }
    // A partition's clone of its parent's constraint (conparentid set) goes with the parent's: it can be neither
    // dropped nor re-created on its own.
    let cons = client
        .query(
            "SELECT c.relname::text, k.conname::text, k.contype::text, pg_get_constraintdef(k.oid, true),
                    ARRAY(SELECT a.attname::text FROM unnest(k.conkey) WITH ORDINALITY u(n, i)
                          JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n ORDER BY u.i),
                    f.relname::text,
                    ARRAY(SELECT a.attname::text FROM unnest(k.confkey) WITH ORDINALITY u(n, i)
                          JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.n ORDER BY u.i)
             FROM pg_constraint k
             JOIN pg_class c ON c.oid = k.conrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             LEFT JOIN pg_class f ON f.oid = k.confrelid
             WHERE n.nspname = $1 AND k.conparentid = 0
             ORDER BY c.relname, k.conname",
            &[&schema],
        )
        .await
        .map_err(err)?;
    for r in cons {
        let t: String = r.get(0);
        let kind: String = r.get(2);
        if let Some(tt) = tables.get_mut(&t) {
            tt.constraints.push(TargetConstraint {
                name: r.get(1),
                kind: kind.chars().next().unwrap_or('?'),
                definition: r.get(3),
                columns: r.get(4),
                ref_table: r.get(5),
                ref_columns: r.get(6),
            });
        }
    }
    let idx = client
        .query(
            "SELECT t.relname::text, i.relname::text, pg_get_indexdef(x.indexrelid)
             FROM pg_index x
             JOIN pg_class i ON i.oid = x.indexrelid
             JOIN pg_class t ON t.oid = x.indrelid
             JOIN pg_namespace n ON n.oid = t.relnamespace
             WHERE n.nspname = $1
               AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid AND k.contype IN ('p','u','x'))
             ORDER BY t.relname, i.relname",
            &[&schema],
        )
        .await
        .map_err(err)?;
    for r in idx {
        let t: String = r.get(0);
        if let Some(tt) = tables.get_mut(&t) {
            tt.indexes.push((r.get(1), r.get(2)));
        }
    }
    // tgtype bit 0: row level, bit 1: BEFORE, bit 2: INSERT. Disabled triggers ('D') do not fire.
    let trig = client
        .query(
            "SELECT c.relname::text, g.tgname::text
             FROM pg_trigger g
             JOIN pg_class c ON c.oid = g.tgrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND NOT g.tgisinternal AND g.tgenabled <> 'D'
               AND g.tgtype & 7 = 7
             ORDER BY c.relname, g.tgname",
            &[&schema],
        )
        .await
        .map_err(err)?;
    for r in trig {
        let t: String = r.get(0);
        if let Some(tt) = tables.get_mut(&t) {
            tt.before_insert_triggers.push(r.get(1));
        }
    }
    // Families: declarative partitions (the parent routes COPY itself) and inheritance children (it does not).
    let inh = client
        .query(
            "SELECT c.relname::text, p.relname::text, p.relkind = 'r'
             FROM pg_inherits i
             JOIN pg_class c ON c.oid = i.inhrelid
             JOIN pg_class p ON p.oid = i.inhparent
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')
             ORDER BY 1",
            &[&schema],
        )
        .await
        .map_err(err)?;
    for r in inh {
        let (child, parent, plain): (String, String, bool) = (r.get(0), r.get(1), r.get(2));
        if let Some(t) = tables.get_mut(&child) {
            t.parent = Some(parent.clone());
        }
        if let Some(t) = tables.get_mut(&parent) {
            t.inheritance_parent |= plain;
        }
    }
    Ok(tables.into_values().collect())
}
