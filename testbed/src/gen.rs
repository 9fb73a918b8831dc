//! Deterministic generator of Alkemio- and Kratos-shaped source data in MariaDB/MySQL, driven by the fact catalogues.
//!
//! Every value comes from a seeded SplitMix64 stream per (table, seed), so the same `--seed` and `--scale` produce
//! byte-identical databases on any machine. Rows are FK-consistent: every foreign key points at a generated (or
//! seeded) parent row, or is NULL. Statements are multi-row INSERTs of a few MiB, produced on a generator thread
//! per table and executed over a bounded queue, so memory stays flat at any scale.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use mysql_async::prelude::Queryable;

use crate::facts::{App, Catalog, FactColumn, FactTable};
use pgconverge::util::calendar::civil_from_days;
use pgconverge::util::hash::fnv;
use pgconverge::util::sql::push_mysql_string;

/// Errors of the data generator.
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    #[error("cannot connect to the MySQL server for {app}: {source}")]
    Connect {
        app: &'static str,
        source: mysql_async::Error,
    },
    #[error("inserting generated rows into {table} failed: {source}")]
    Insert {
        table: String,
        source: mysql_async::Error,
    },
    #[error("preparing the database {db} failed: {source}")]
    Prepare {
        db: String,
        source: mysql_async::Error,
    },
    #[error("invalid MySQL URL: {0}")]
    Url(String),
}

/// What one generator run produced.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct GenReport {
    pub rows: BTreeMap<String, u64>,
    pub total_rows: u64,
    pub sql_bytes: u64,
    pub seconds: f64,
}

/// Row counts of the production shape at scale 1 (a real Alkemio install and its Kratos).
///
/// `authorization_policy` is larger than the sum of the objects that reference it, as in production, where
/// policies of deleted objects linger.
const ALKEMIO_ROWS: &[(&str, u64)] = &[
    ("authorization_policy", 1_670_000),
    ("visual", 300_000),
    ("location", 240_000),
    ("profile", 230_000),
    ("storage_bucket", 232_000),
    ("tagset", 210_000),
    ("credential", 180_000),
    ("activity", 120_000),
    ("reference", 40_000),
    ("nvp", 12_000),
    ("application_questions", 6_000),
    ("in_app_notification", 40_000),
    ("room", 50_000),
    ("callout", 24_000),
    ("callout_framing", 24_000),
    ("callout_contribution_defaults", 24_000),
    ("classification", 24_000),
    ("callout_contribution", 30_000),
    ("post", 22_000),
    ("whiteboard", 12_000),
    ("link", 8_000),
    ("memo", 1_500),
    ("document", 9_000),
    ("vc_interaction", 1_500),
    ("role", 12_000),
    ("license_entitlement", 14_000),
    ("license", 4_600),
    ("lifecycle", 5_500),
    ("storage_aggregator", 4_600),
    ("agent", 4_500),
    ("account", 2_500),
    ("user", 2_100),
    ("user_settings", 2_100),
    ("conversations_set", 2_100),
    ("conversation", 2_500),
    ("space", 1_900),
    ("space_about", 2_100),
    ("community", 1_900),
    ("community_guidelines", 2_100),
    ("communication", 1_900),
    ("role_set", 2_400),
    ("collaboration", 2_100),
    ("innovation_flow", 2_100),
    ("innovation_flow_state", 8_000),
    ("timeline", 2_100),
    ("calendar", 2_100),
    ("calendar_event", 1_800),
    ("callouts_set", 2_300),
    ("tagset_template_set", 2_300),
    ("tagset_template", 4_500),
    ("templates_set", 300),
    ("templates_manager", 300),
    ("template", 1_200),
    ("template_default", 1_200),
    ("template_content_space", 600),
    ("application", 2_500),
    ("invitation", 2_000),
    ("platform_invitation", 300),
    ("organization", 400),
    ("organization_verification", 400),
    ("user_group", 60),
    ("discussion", 150),
    ("forum", 1),
    ("knowledge_base", 80),
    ("virtual_contributor", 80),
    ("ai_persona", 80),
    ("ai_server", 1),
    ("innovation_hub", 15),
    ("innovation_pack", 40),
    ("platform", 1),
    ("library", 1),
    ("license_policy", 1),
    ("licensing_framework", 1),
    ("license_plan", 20),
    ("form", 2_500),
    ("migrations_typeorm", 300),
    ("query-result-cache", 50),
];

const KRATOS_ROWS: &[(&str, u64)] = &[
    ("networks", 1),
    ("identities", 2_100),
    ("identity_credentials", 4_200),
    ("identity_credential_identifiers", 4_400),
    ("identity_verifiable_addresses", 2_100),
    ("identity_recovery_addresses", 2_100),
    ("sessions", 21_000),
    ("session_devices", 21_000),
    ("selfservice_login_flows", 12_000),
    ("selfservice_registration_flows", 3_000),
    ("selfservice_recovery_flows", 1_200),
    ("selfservice_settings_flows", 2_500),
    ("selfservice_verification_flows", 2_500),
    ("selfservice_errors", 200),
    ("courier_messages", 8_000),
    ("courier_message_dispatches", 8_000),
    ("identity_login_codes", 2_000),
    ("identity_registration_codes", 600),
    ("identity_recovery_codes", 600),
    ("identity_verification_codes", 1_500),
    ("identity_recovery_tokens", 600),
    ("identity_verification_tokens", 1_500),
    ("continuity_containers", 500),
    ("session_token_exchanges", 100),
    ("schema_migration", 320),
];

/// Tables whose rows are the applications' own fixed seeds, never generated.
fn seeded_table(app: App, table: &str) -> bool {
    app == App::Kratos && table == "identity_credential_types"
}

/// Rows of `table` at `scale`; singletons stay single and no listed table drops to zero.
pub fn rows_at_scale(app: App, table: &str, scale: f64) -> u64 {
    let list = match app {
        App::Alkemio => ALKEMIO_ROWS,
        App::Kratos => KRATOS_ROWS,
    };
    let base = list
        .iter()
        .find(|(t, _)| *t == table)
        .map(|(_, n)| *n)
        .unwrap_or(10);
    if base <= 1 {
        return base;
    }
    ((base as f64 * scale).round() as u64).max(3)
}

/// SplitMix64: tiny, fast, and its output is fixed by its definition, unlike a library RNG whose stream may change
/// between versions and silently change every generated dataset.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }
    /// Uniform-enough value in 0..n (n > 0); modulo bias is irrelevant for test data.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    /// True with probability `pct` percent.
    pub fn pct(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
}

/// The SplitMix64 finaliser: a bijection on u64, so distinct inputs give distinct ids.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The uuid of row `i` of `table`: deterministic, unique per table (bijective in `i`), random-looking like v4.
pub fn row_uuid(seed: u64, table: &str, i: u64) -> String {
    let hi = mix(fnv(table) ^ seed.rotate_left(17)).wrapping_add(i);
    let a = mix(hi);
    let b = mix(a ^ 0x5bd1_e995);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    )
}

/// Text fragments that break naive CSV and charset handling: multi-byte, 4-byte emoji, combining marks, CR/LF,
/// tabs, quotes, commas, backslashes.
const FRAGMENTS: &[&str] = &[
    "plain words ",
    "Zürich café ",
    "Ærøskøbing ",
    "中文字符 ",
    "😀🚀 ",
    "👩‍💻 ",
    "e\u{301}le\u{301}ve ",
    "line one\nline two ",
    "windows\r\nline ",
    "tab\there ",
    "say \"hi\" ",
    "it's ",
    "a,b,c ",
    "back\\slash ",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ",
    "Ελληνικά ",
    "עברית ",
    "% _ wildcards ",
];

fn text(rng: &mut Rng, max_chars: usize, exact: bool) -> String {
    let target = if exact {
        max_chars
    } else {
        1 + rng.below(max_chars.min(400) as u64) as usize
    };
    let mut s = String::new();
    let mut n = 0;
    while n < target {
        let f = FRAGMENTS[rng.below(FRAGMENTS.len() as u64) as usize];
        for ch in f.chars() {
            if n == target {
                break;
            }
            s.push(ch);
            n += 1;
        }
    }
    s
}

fn json_doc(rng: &mut Rng, approx_bytes: usize) -> String {
    let mut s = String::from("{");
    let mut k = 0;
    while s.len() < approx_bytes.max(8) {
        if k > 0 {
            s.push(',');
        }
        let _ = match rng.below(5) {
            0 => write!(s, "\"k{k}\":{}", rng.below(100_000)),
            1 => write!(
                s,
                "\"k{k}\":\"caf\\u00e9 \\ud83d\\ude00 {}\"",
                rng.below(1000)
            ),
            2 => write!(s, "\"k{k}\":{}", rng.pct(50)),
            3 => write!(s, "\"k{k}\":null"),
            _ => write!(
                s,
                "\"k{k}\":[\"Zürich\",\"中文\",\"line\\nbreak\",\"q\\\"uote\"]"
            ),
        };
        k += 1;
    }
    s.push('}');
    s
}

/// An authorization rule list like Alkemio's: an array of credential rules, about `approx` bytes.
fn auth_rules(rng: &mut Rng, seed: u64, approx: usize) -> String {
    let mut s = String::from("[");
    let mut first = true;
    while s.len() < approx {
        if !first {
            s.push(',');
        }
        first = false;
        let _ = write!(
            s,
            "{{\"name\":\"credentialRule-{}\",\"cascade\":{},\"criterias\":[{{\"type\":\"space-member\",\"resourceID\":\"{}\"}},{{\"type\":\"global-admin\",\"resourceID\":\"\"}}],\"grantedPrivileges\":[\"read\",\"update\",\"create\",\"delete\",\"contribute\"]}}",
            rng.below(50),
            rng.pct(70),
            row_uuid(seed, "space", rng.below(2000))
        );
    }
    s.push(']');
    s
}

/// Whiteboard content as Alkemio stores it: zlib output, one byte per character (the latin1 view), in UTF-8 text.
fn whiteboard_latin1(rng: &mut Rng) -> String {
    use std::io::Write;
    if rng.pct(3) {
        return String::new();
    }
    let size = 200 + rng.below(3000) as usize;
    let scene = json_doc(rng, size);
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = enc.write_all(scene.as_bytes());
    let bytes = enc.finish().unwrap_or_default();
    bytes.iter().map(|&b| b as char).collect()
}

fn push_hex_lit(out: &mut String, bytes: &[u8]) {
    if bytes.is_empty() {
        out.push_str("''");
        return;
    }
    out.push_str("X'");
    for b in bytes {
        let _ = write!(out, "{b:02X}");
    }
    out.push('\'');
}

fn varchar_len(ty: &str) -> Option<usize> {
    let inner = ty
        .strip_prefix("varchar(")
        .or_else(|| ty.strip_prefix("char("))?;
    inner.trim_end_matches(')').parse().ok()
}

fn datetime(rng: &mut Rng, fsp: bool) -> String {
    // 2019-01-01 .. 2026-01-01: inside TIMESTAMP's 1970..2038 range too.
    let secs = 1_546_300_800 + rng.below(7 * 365 * 86_400) as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let mut s = format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    );
    if fsp {
        let _ = write!(s, ".{:06}", rng.below(1_000_000));
    }
    s
}

/// Per-table generation plan: counts and how FK columns pick their parents.
struct Plan {
    app: App,
    seed: u64,
    counts: BTreeMap<String, u64>,
    /// (table, column) -> offset into the parent's rows, for FK columns that must be unique.
    offsets: BTreeMap<(String, String), u64>,
    fixed: BTreeMap<String, Vec<String>>,
}

impl Plan {
    fn new(cat: &Catalog, seed: u64, scale: f64) -> Plan {
        let mut counts = BTreeMap::new();
        let mut fixed: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (t, _, id) in cat.app.fixed_rows() {
            fixed.entry(t.to_string()).or_default().push(id.to_string());
        }
        for t in cat.tables.values() {
            let n = if seeded_table(cat.app, &t.name) {
                fixed.get(&t.name).map(|v| v.len() as u64).unwrap_or(0)
            } else {
                rows_at_scale(cat.app, &t.name, scale)
            };
            counts.insert(t.name.clone(), n);
        }
        // Unique FK columns take consecutive slices of their parent's rows, so that (as in production) each object
        // owns its own authorization policy, profile, storage bucket, ...
        let mut next: BTreeMap<String, u64> = BTreeMap::new();
        let mut offsets = BTreeMap::new();
        for t in cat.tables.values() {
            for c in &t.columns {
                if let Some(p) = &c.fk {
                    if t.is_unique_part(&c.name) {
                        let at = next.entry(p.clone()).or_insert(0);
                        offsets.insert((t.name.clone(), c.name.clone()), *at);
                        *at += counts[&t.name];
                    }
                }
            }
        }
        Plan {
            app: cat.app,
            seed,
            counts,
            offsets,
            fixed,
        }
    }

    fn parent_id(&self, parent: &str, idx: u64) -> String {
        match self.fixed.get(parent) {
            Some(ids) => ids[(idx % ids.len() as u64) as usize].clone(),
            None => row_uuid(self.seed, parent, idx),
        }
    }
}

/// Writes one row's SQL literal for every column into `out`.
fn push_row(out: &mut String, plan: &Plan, t: &FactTable, i: u64, rng: &mut Rng) {
    out.push('(');
    for (k, c) in t.columns.iter().enumerate() {
        if k > 0 {
            out.push(',');
        }
        push_value(out, plan, t, c, i, rng);
    }
    out.push(')');
}

fn push_value(out: &mut String, plan: &Plan, t: &FactTable, c: &FactColumn, i: u64, rng: &mut Rng) {
    let ty = c.mysql_type.as_str();
    let unique = t.is_unique_part(&c.name);
    // Good data only: where PostgreSQL is stricter than MySQL (NULLABILITY DIFFERS), no NULL is generated.
    let nullable = c.mysql_nullable && c.pg_nullable;
    // FK columns first: they decide consistency.
    if let Some(parent) = &c.fk {
        let pcount = plan.counts.get(parent).copied().unwrap_or(0);
        if pcount == 0 || (nullable && !unique && rng.pct(8)) {
            out.push_str("NULL");
            return;
        }
        let idx = if let Some(off) = plan.offsets.get(&(t.name.clone(), c.name.clone())) {
            // One parent per child: past the parent's row count a nullable key stays empty rather than repeat.
            if i >= pcount && nullable {
                out.push_str("NULL");
                return;
            }
            (off + i) % pcount
        } else if parent == &t.name {
            if i == 0 {
                out.push_str(if nullable { "NULL" } else { "''" });
                return;
            }
            rng.below(i)
        } else {
            rng.below(pcount)
        };
        push_mysql_string(out, &plan.parent_id(parent, idx));
        return;
    }
    if t.pk.len() == 1 && t.pk[0] == c.name && ty == "char(36)" {
        push_mysql_string(out, &plan.parent_id(&t.name, i));
        return;
    }
    if c.auto_increment {
        // Sparse on purpose: real auto-increment keys have gaps from deletes and rollbacks.
        let _ = write!(out, "{}", i + 1 + (i / 1000) * 7);
        return;
    }
    if nullable && !unique && rng.pct(6) {
        out.push_str("NULL");
        return;
    }
    let name = c.name.as_str();
    if c.notes.contains("whiteboard compressed content") {
        return push_mysql_string(out, &whiteboard_latin1(rng));
    }
    if ty == "char(36)" || (ty == "varchar(36)" && c.notes.contains("uuid")) {
        if c.notes.contains("not a uuid") {
            return push_mysql_string(out, if rng.pct(80) { "email" } else { "phone" });
        }
        // uuid values without a FK: the empty string is valid MySQL data where the column is nullable.
        if nullable && rng.pct(4) {
            return push_mysql_string(out, "");
        }
        return push_mysql_string(out, &row_uuid(plan.seed ^ 0xabc, name, rng.below(1 << 40)));
    }
    if ty.starts_with("datetime") || ty.starts_with("timestamp") {
        return push_mysql_string(out, &datetime(rng, ty.contains("(6)")));
    }
    if ty.starts_with("tinyint") {
        return out.push_str(if rng.pct(50) { "1" } else { "0" });
    }
    if ty == "int" || ty == "bigint" {
        let v: i64 = if name == "token_type" {
            1 + rng.below(2) as i64
        } else if unique {
            i as i64 + 1
        } else if name == "version" {
            1 + rng.below(20) as i64
        } else if i % 997 == 5 {
            if ty == "int" {
                i32::MAX as i64
            } else {
                i64::MAX
            }
        } else if i % 997 == 6 {
            if ty == "int" {
                i32::MIN as i64
            } else {
                i64::MIN
            }
        } else {
            rng.below(100_000) as i64
        };
        let _ = write!(out, "{v}");
        return;
    }
    if let Some(inner) = ty.strip_prefix("decimal(") {
        let mut it = inner.trim_end_matches(')').split(',');
        let p: u32 = it.next().and_then(|s| s.parse().ok()).unwrap_or(10);
        let s: u32 = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        let max = 10u64.pow(p - s) - 1;
        let frac = rng.below(10u64.pow(s));
        let _ = write!(
            out,
            "{}.{:0width$}",
            rng.below(max + 1),
            frac,
            width = s as usize
        );
        return;
    }
    if ty.starts_with("enum(") {
        let labels: Vec<&str> = ty.split('\'').skip(1).step_by(2).collect();
        return push_mysql_string(out, labels[rng.below(labels.len() as u64) as usize]);
    }
    if ty.ends_with("blob") {
        let bytes: Vec<u8> = if i == 0 {
            (0..=255u8).collect()
        } else {
            (0..rng.below(300)).map(|_| rng.below(256) as u8).collect()
        };
        return push_hex_lit(out, &bytes);
    }
    if ty == "json" {
        let size = rng.below(1600) as usize;
        let doc = match (t.name.as_str(), name) {
            ("authorization_policy", "credentialRules") => auth_rules(rng, plan.seed, 1800 + size),
            ("authorization_policy", "privilegeRules") => auth_rules(rng, plan.seed, size / 2),
            ("identities", "traits") => format!(
                "{{\"email\":\"user{i}@example.org\",\"name\":{{\"first\":\"Zoë\",\"last\":\"O'Brien 😀\"}},\"note\":\"tab\\tline\\nend \\u00e9\"}}"
            ),
            _ => json_doc(rng, 20 + size / 5),
        };
        return push_mysql_string(out, &doc);
    }
    if c.notes.contains("simple-array") {
        let n = rng.below(5);
        let items: Vec<String> = (0..n)
            .map(|k| format!("tag{}-é{k}", rng.below(100)))
            .collect();
        return push_mysql_string(out, &items.join(","));
    }
    if c.notes.contains("simple-json") {
        return push_mysql_string(out, &json_doc(rng, 40));
    }
    let max = varchar_len(ty).unwrap_or(match ty {
        "text" => 2000,
        "longtext" => 6000,
        _ => 255,
    });
    if unique {
        let s = format!("{}-{i}", name.to_lowercase());
        return push_mysql_string(out, &s[..s.len().min(max)]);
    }
    if !ty.starts_with("char") && rng.pct(3) {
        return push_mysql_string(out, "");
    }
    let exact = rng.pct(3);
    let s = text(rng, max, exact);
    push_mysql_string(out, &s);
}

/// Size of one INSERT statement: large enough to amortise round trips, far below max_allowed_packet.
const STATEMENT_BYTES: usize = 4 << 20;
/// Statements queued per table between the generator thread and the inserting connection.
const QUEUE_STATEMENTS: usize = 3;

fn table_statements(plan: &Plan, t: &FactTable, tx: tokio::sync::mpsc::Sender<(String, u64)>) {
    let n = plan.counts[&t.name];
    let cols: Vec<String> = t.columns.iter().map(|c| format!("`{}`", c.name)).collect();
    let head = format!("INSERT INTO `{}` ({}) VALUES ", t.name, cols.join(","));
    let mut rng = Rng::new(plan.seed ^ fnv(&t.name) ^ fnv(plan.app.name()));
    let mut stmt = head.clone();
    let mut rows_in = 0u64;
    for i in 0..n {
        if rows_in > 0 {
            stmt.push(',');
        }
        push_row(&mut stmt, plan, t, i, &mut rng);
        rows_in += 1;
        if stmt.len() >= STATEMENT_BYTES {
            if tx
                .blocking_send((std::mem::replace(&mut stmt, head.clone()), rows_in))
                .is_err()
            {
                return;
            }
            rows_in = 0;
        }
    }
    if rows_in > 0 {
        let _ = tx.blocking_send((stmt, rows_in));
    }
}

async fn session(url: &str, app: App) -> Result<mysql_async::Conn, GenError> {
    let opts = mysql_async::Opts::from_url(url).map_err(|e| GenError::Url(e.to_string()))?;
    let mut conn = mysql_async::Conn::new(opts)
        .await
        .map_err(|source| GenError::Connect {
            app: app.name(),
            source,
        })?;
    conn.query_drop(
        "SET NAMES utf8mb4, time_zone = '+00:00', foreign_key_checks = 0, \
         sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'",
    )
    .await
    .map_err(|source| GenError::Connect {
        app: app.name(),
        source,
    })?;
    Ok(conn)
}

/// Fills the database named in `url` (which must hold the app's source schema) with generated rows.
/// `workers` connections insert tables in parallel.
pub async fn generate(
    url: &str,
    app: App,
    seed: u64,
    scale: f64,
    workers: usize,
) -> Result<GenReport, GenError> {
    let started = Instant::now();
    let cat = Catalog::load(app);
    let plan = Arc::new(Plan::new(&cat, seed, scale));
    // Sorted ascending and popped from the end: the biggest tables start first, the small ones fill the gaps.
    let mut tables: Vec<FactTable> = cat
        .tables
        .values()
        .filter(|t| !seeded_table(app, &t.name))
        .cloned()
        .collect();
    tables.sort_by_key(|t| plan.counts[&t.name]);
    let queue = Arc::new(Mutex::new(tables));
    let report = Arc::new(Mutex::new(GenReport::default()));
    let mut tasks = Vec::new();
    for _ in 0..workers.max(1) {
        let (queue, plan, report, url) =
            (queue.clone(), plan.clone(), report.clone(), url.to_string());
        tasks.push(tokio::spawn(async move {
            let mut conn = session(&url, app).await?;
            loop {
                let next = queue.lock().expect("queue lock").pop();
                let Some(t) = next else { break };
                let (tx, mut rx) = tokio::sync::mpsc::channel(QUEUE_STATEMENTS);
                let p = plan.clone();
                let tt = t.clone();
                let producer = std::thread::spawn(move || table_statements(&p, &tt, tx));
                let (mut rows, mut bytes) = (0u64, 0u64);
                while let Some((stmt, n)) = rx.recv().await {
                    bytes += stmt.len() as u64;
                    conn.query_drop(stmt)
                        .await
                        .map_err(|source| GenError::Insert {
                            table: t.name.clone(),
                            source,
                        })?;
                    rows += n;
                }
                let _ = producer.join();
                let mut r = report.lock().expect("report lock");
                r.rows.insert(t.name.clone(), rows);
                r.total_rows += rows;
                r.sql_bytes += bytes;
                tracing::info!(table = %t.name, rows, "Table generated.");
            }
            conn.disconnect().await.ok();
            Ok::<(), GenError>(())
        }));
    }
    for t in tasks {
        t.await.expect("generator task panicked")?;
    }
    let mut r = report.lock().expect("report lock").clone();
    r.seconds = started.elapsed().as_secs_f64();
    Ok(r)
}

/// Drops and re-creates database `db` on the server of `admin_url`, then loads the app's MySQL fixture schema.
pub async fn create_source_schema(admin_url: &str, db: &str, app: App) -> Result<(), GenError> {
    let mut conn = session(admin_url, app).await?;
    let prep = |source| GenError::Prepare {
        db: db.to_string(),
        source,
    };
    conn.query_drop(format!("DROP DATABASE IF EXISTS `{db}`"))
        .await
        .map_err(prep)?;
    conn.query_drop(format!(
        "CREATE DATABASE `{db}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
    ))
    .await
    .map_err(prep)?;
    conn.query_drop(format!("USE `{db}`")).await.map_err(prep)?;
    for stmt in crate::fixtures::statements(crate::fixtures::mysql_schema(app)) {
        conn.query_drop(stmt).await.map_err(prep)?;
    }
    conn.disconnect().await.ok();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_deterministic_unique_and_well_formed() {
        let a: Vec<String> = (0..10_000).map(|i| row_uuid(7, "user", i)).collect();
        let set: std::collections::HashSet<_> = a.iter().collect();
        assert_eq!(set.len(), a.len());
        assert_eq!(a[3], row_uuid(7, "user", 3));
        assert_ne!(a[3], row_uuid(8, "user", 3));
        assert!(a.iter().all(|u| u.len() == 36 && u.as_bytes()[14] == b'4'));
    }

    #[test]
    fn exact_length_text_counts_characters() {
        let mut rng = Rng::new(1);
        for n in [1, 36, 128, 512] {
            assert_eq!(text(&mut rng, n, true).chars().count(), n);
        }
    }
}
