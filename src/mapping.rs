//! The mapping file (`mappings/*.toml`): only what introspection cannot know. Format: docs/mapping-format.md.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::util::zone::{Fold, Zone, ZoneError};

/// Errors loading a mapping file.
#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    #[error("cannot read mapping file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("mapping file {path} is invalid: {message}")]
    Parse { path: String, message: String },
}

/// Why a mapping file's text is no valid mapping.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidMapping(pub String);

/// A whole mapping file.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// Name of the application, for reports.
    pub app: String,
    /// Zone of the source's naive DATETIME values: `UTC`, a fixed offset like `+02:00`, or an IANA name like
    /// `Europe/Amsterdam` (daylight saving time applied per value). TIMESTAMP columns are read in UTC and never
    /// take this zone.
    #[serde(default = "utc")]
    pub source_time_zone: String,
    /// Which instant a DATETIME in a repeated (DST fold) hour of a named `source_time_zone` means:
    /// `refuse` (default: a data violation), `earlier` or `later`.
    #[serde(default)]
    pub ambiguous_local_times: Fold,
    /// Schema of the target tables.
    #[serde(default = "public")]
    pub target_schema: String,
    /// Source tables never copied, with the reason shown in every report.
    #[serde(default)]
    pub skip_tables: BTreeMap<String, String>,
    /// Target tables the source is known to lack, with the reason; any other such table is a contract problem.
    #[serde(default)]
    pub target_only_tables: BTreeMap<String, String>,
    /// Target tables whose rows the migrations seeded: deleted inside the run before loading.
    #[serde(default)]
    pub seeded_tables: Vec<String>,
    /// Per source table settings.
    #[serde(default)]
    pub tables: BTreeMap<String, TableMapping>,
    /// Critical-data checks `verify` runs: a source query and a target query that must return the same rows.
    #[serde(default)]
    pub checks: Vec<CriticalCheck>,
    /// Checklist items the operator ticks by hand after `verify` (sign in, browse, spot-check authorization).
    #[serde(default)]
    pub manual_checks: Vec<ManualCheck>,
}

/// A critical-data check: both queries must return the same rows, compared as text in order.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CriticalCheck {
    pub name: String,
    /// Checklist phase: data integrity, authentication, authorization, core features, performance, edge cases.
    pub phase: String,
    /// MySQL query on the source.
    pub source: String,
    /// PostgreSQL query on the target.
    pub target: String,
}

/// A checklist item for the operator.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ManualCheck {
    pub phase: String,
    pub item: String,
}

fn utc() -> String {
    "UTC".into()
}
fn public() -> String {
    "public".into()
}

/// Settings of one source table.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TableMapping {
    /// Target table name when it differs from the source's.
    pub target: Option<String>,
    /// Source columns never copied, with the reason.
    #[serde(default)]
    pub skip_columns: BTreeMap<String, String>,
    /// Per source column settings.
    #[serde(default)]
    pub columns: BTreeMap<String, ColumnMapping>,
    /// Target columns PostgreSQL fills itself (a default, a generated expression or a BEFORE INSERT trigger),
    /// with the reason: never written by the copy, and left out of the content comparison (rows still counted).
    /// `plan` checks that something really fills each one.
    #[serde(default)]
    pub target_fills: BTreeMap<String, String>,
}

/// Settings of one source column.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ColumnMapping {
    /// Target column name when it differs from the source's.
    pub target: Option<String>,
    /// A value rewrite applied before the type conversion.
    pub transform: Option<Rewrite>,
    /// What a NULL becomes when the source allows NULL and the target does not. Declaring it acknowledges the
    /// difference; without it the difference is a contract problem.
    pub on_null: Option<OnNull>,
    /// Accepts a target type narrower than the source's (fewer decimals, a smaller float, a shorter string, a
    /// coarser time), with the reason every value fits. Nothing is ever rounded: each value is checked and one the
    /// target would store differently stops the run.
    pub narrowing: Option<String>,
}

/// Value rewrites that introspection cannot infer.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Rewrite {
    /// Text whose characters U+0000..U+00FF are bytes (zlib output stored one byte per character), written as
    /// standard base64 of those bytes. Empty stays empty.
    Latin1BytesToBase64,
    /// A key of `table` replaced by the target's key of the row with the same `by` value
    /// (Kratos credential type ids, remapped by type name).
    RemapByLookup { table: String, by: String },
    /// ENUM or SET labels renamed (each SET member on its own): `map` names old -> new; labels it does not name
    /// are kept, or changed to `case` when given.
    Relabel {
        #[serde(default)]
        map: BTreeMap<String, String>,
        #[serde(default)]
        case: Option<Case>,
    },
    /// Every value replaced by `value` (in the target's text form, still checked by the column's conversion).
    Constant { value: String, reason: String },
    /// Every value becomes NULL (the target column must allow it, or `on_null` must say what to write).
    Null { reason: String },
}

/// Letter case for [`Rewrite::Relabel`].
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Case {
    Lower,
    Upper,
}

impl Rewrite {
    /// The name `kind` has in the mapping file.
    pub fn kind(&self) -> &'static str {
        match self {
            Rewrite::Latin1BytesToBase64 => "latin1_bytes_to_base64",
            Rewrite::RemapByLookup { .. } => "remap_by_lookup",
            Rewrite::Relabel { .. } => "relabel",
            Rewrite::Constant { .. } => "constant",
            Rewrite::Null { .. } => "null",
        }
    }

    /// The label a `relabel` makes of `label`; None for other transforms.
    pub fn relabel(&self, label: &str) -> Option<String> {
        let Rewrite::Relabel { map, case } = self else {
            return None;
        };
        Some(match (map.get(label), case) {
            (Some(to), _) => to.clone(),
            (None, Some(Case::Lower)) => label.to_lowercase(),
            (None, Some(Case::Upper)) => label.to_uppercase(),
            (None, None) => label.to_string(),
        })
    }
}

/// NULL policy for a nullable source column feeding a NOT NULL target column.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum OnNull {
    /// Stop the run at the first NULL, naming the row (the default policy, made explicit).
    Fail,
    /// Write this literal (in the target's text form) instead of NULL.
    Replace(String),
}

impl Mapping {
    pub fn load(path: &Path) -> Result<Mapping, MappingError> {
        let text = std::fs::read_to_string(path).map_err(|source| MappingError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Mapping::parse(&text).map_err(|e| MappingError::Parse {
            path: path.display().to_string(),
            message: e.0,
        })
    }

    pub fn parse(text: &str) -> Result<Mapping, InvalidMapping> {
        let m: Mapping = toml::from_str(text).map_err(|e| InvalidMapping(e.to_string()))?;
        m.validate()?;
        Ok(m)
    }

    fn validate(&self) -> Result<(), InvalidMapping> {
        self.source_zone()
            .map_err(|e| InvalidMapping(e.to_string()))?;
        for t in self.tables.keys() {
            if self.skip_tables.contains_key(t) {
                return Err(InvalidMapping(format!(
                    "table {t} is both skipped and mapped"
                )));
            }
        }
        Ok(())
    }

    /// The zone of naive DATETIME values.
    pub fn source_zone(&self) -> Result<Zone, ZoneError> {
        Zone::parse(&self.source_time_zone, self.ambiguous_local_times)
    }

    pub fn table(&self, source: &str) -> Option<&TableMapping> {
        self.tables.get(source)
    }

    /// Target table name of a source table.
    pub fn target_table<'a>(&'a self, source: &'a str) -> &'a str {
        self.tables
            .get(source)
            .and_then(|t| t.target.as_deref())
            .unwrap_or(source)
    }

    pub fn column(&self, table: &str, column: &str) -> Option<&ColumnMapping> {
        self.tables.get(table).and_then(|t| t.columns.get(column))
    }

    /// Target column name of a source column.
    pub fn target_column<'a>(&'a self, table: &str, column: &'a str) -> &'a str {
        self.column(table, column)
            .and_then(|c| c.target.as_deref())
            .unwrap_or(column)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_key() {
        let m = Mapping::parse(
            r#"
app = "x"
source_time_zone = "+02:00"
target_schema = "public"
seeded_tables = ["a"]
[skip_tables]
ledger = "bookkeeping"
[target_only_tables]
extra = "made by the app at start"
[tables.t]
target = "t2"
skip_columns = { legacy = "unused" }
[tables.t.columns.c]
target = "c2"
transform = { kind = "latin1_bytes_to_base64" }
on_null = "fail"
[tables.t.columns.d]
transform = { kind = "remap_by_lookup", table = "types", by = "name" }
on_null = { replace = "{}" }
[tables.t.columns.e]
transform = { kind = "relabel", map = { "Old" = "new" }, case = "lower" }
[tables.t.columns.f]
transform = { kind = "constant", value = "0", reason = "scrubbed" }
[tables.t.columns.g]
transform = { kind = "null", reason = "legacy" }
[tables.u]
target_fills = { slug = "the slug trigger" }
"#,
        )
        .unwrap();
        assert_eq!(m.source_zone().unwrap().fixed(), Some(7200));
        assert_eq!(m.target_table("t"), "t2");
        assert_eq!(m.target_column("t", "c"), "c2");
        assert_eq!(
            m.column("t", "d").unwrap().on_null,
            Some(OnNull::Replace("{}".into()))
        );
        let relabel = m.column("t", "e").unwrap().transform.clone().unwrap();
        assert_eq!(relabel.relabel("Old").unwrap(), "new");
        assert_eq!(relabel.relabel("PG-13").unwrap(), "pg-13");
        assert_eq!(relabel.kind(), "relabel");
        assert_eq!(
            m.table("u").unwrap().target_fills["slug"],
            "the slug trigger"
        );
    }

    #[test]
    fn rejects_unknown_keys_and_bad_zones() {
        assert!(Mapping::parse("app = \"x\"\nskip = 1\n")
            .unwrap_err()
            .0
            .contains("unknown field"));
        assert!(Mapping::parse("app = \"x\"\nsource_time_zone = \"Europe/Pariss\"\n").is_err());
        assert!(Mapping::parse("app = \"x\"\n[tables.t.columns.c]\ntransfrom = 1\n").is_err());
    }
}
