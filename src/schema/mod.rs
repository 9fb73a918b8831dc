//! Introspected schemas of both sides: what the MySQL source and the PostgreSQL target really hold.
//!
//! The contract check (`plan`) and the data path work from these, never from the fact catalogues.

pub mod mysql;
pub mod pg;

use serde::Serialize;

/// A source column as `information_schema.COLUMNS` reports it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SourceColumn {
    pub name: String,
    /// DATA_TYPE, lower case: `char`, `varchar`, `int`, `datetime`, `json`, `longtext`, ...
    pub data_type: String,
    /// COLUMN_TYPE, lower case except ENUM and SET labels (case-sensitive), display widths and `unsigned` included.
    pub column_type: String,
    pub nullable: bool,
    pub default: Option<String>,
    /// CHARACTER_MAXIMUM_LENGTH for character types.
    pub char_max_len: Option<u64>,
    /// DATETIME_PRECISION for temporal types.
    pub fsp: Option<u32>,
    pub auto_increment: bool,
    /// True for MySQL `json`, or MariaDB's `longtext` guarded by `json_valid(col)`.
    pub is_json: bool,
    pub collation: Option<String>,
    /// A generated column (VIRTUAL or STORED on MySQL, also PERSISTENT on MariaDB): its values are read like
    /// any other's.
    #[serde(default)]
    pub generated: bool,
}

impl SourceColumn {
    pub fn unsigned(&self) -> bool {
        self.column_type.contains("unsigned")
    }

    /// Labels of an `enum(...)` column, in declaration order.
    pub fn enum_labels(&self) -> Vec<String> {
        parse_quoted_list(&self.column_type)
    }
}

/// Parses `enum('a','b''c')` into its labels.
pub fn parse_quoted_list(t: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut inside = false;
    let mut chars = t.chars().peekable();
    while let Some(c) = chars.next() {
        if !inside {
            if c == '\'' {
                inside = true;
                cur.clear();
            }
            continue;
        }
        if c == '\'' {
            if chars.peek() == Some(&'\'') {
                chars.next();
                cur.push('\'');
            } else {
                inside = false;
                out.push(cur.clone());
            }
        } else {
            cur.push(c);
        }
    }
    out
}

/// A source table: columns in ordinal order, primary key, and the size estimates the server keeps.
#[derive(Debug, Clone, Serialize)]
pub struct SourceTable {
    pub name: String,
    pub columns: Vec<SourceColumn>,
    pub primary_key: Vec<String>,
    /// Column sets of the source's UNIQUE indexes (the primary key included).
    pub unique_keys: Vec<Vec<String>>,
    /// Foreign keys the source declares: (columns, referenced table).
    pub foreign_keys: Vec<(Vec<String>, String)>,
    pub rows_estimate: u64,
    pub data_bytes: u64,
}

impl SourceTable {
    pub fn column(&self, name: &str) -> Option<&SourceColumn> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// A target column as `pg_catalog` reports it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TargetColumn {
    pub name: String,
    /// `format_type(atttypid, atttypmod)`: `uuid`, `character varying(128)`, `timestamp without time zone`, ...
    pub format_type: String,
    /// The type's own name (`varchar`, `int4`, `profile_type_enum`).
    pub type_name: String,
    pub nullable: bool,
    pub default: Option<String>,
    /// Labels when the type is an enum.
    pub enum_labels: Option<Vec<String>>,
    /// The sequence this column draws from, schema-qualified: owned by it (serial or identity) or only named by
    /// its `nextval(...)` default (hand-written DDL without `OWNED BY`; one sequence may serve several columns).
    /// Every one is set past the loaded maximum and verified.
    pub owned_sequence: Option<String>,
    /// `GENERATED ALWAYS AS (...) STORED`: PostgreSQL computes it and COPY cannot write it.
    #[serde(default)]
    pub generated: bool,
    /// The domain the column is declared with, when it is one (`format_type`/`type_name` are then its base
    /// type's: a domain converts as its base, and PostgreSQL checks the domain's constraints on every value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// The element type of an array column (`text[]`, `varchar(20)[]`, an enum's array).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub array_elem: Option<ArrayElem>,
}

/// The element type of a PostgreSQL array column.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ArrayElem {
    /// `text`, `varchar`, `bpchar` or an enum's name.
    pub type_name: String,
    /// The element type's OID: binary COPY names it in every array value.
    pub oid: u32,
    /// Labels when the element type is an enum.
    pub enum_labels: Option<Vec<String>>,
}

impl TargetColumn {
    /// The `n` of `character varying(n)` / `character(n)`.
    pub fn char_len(&self) -> Option<u32> {
        // An array's typmod is its elements': `character varying(20)[]` holds strings of up to 20 characters.
        let t = self.format_type.trim_end_matches("[]");
        let inner = t
            .strip_prefix("character varying(")
            .or_else(|| t.strip_prefix("character("))?;
        inner.trim_end_matches(')').parse().ok()
    }
}

/// One constraint of a target table with the exact definition PostgreSQL would re-create.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TargetConstraint {
    pub name: String,
    /// `p` primary key, `u` unique, `f` foreign key, `c` check, `x` exclusion.
    pub kind: char,
    pub definition: String,
    pub columns: Vec<String>,
    pub ref_table: Option<String>,
    pub ref_columns: Vec<String>,
}

/// A target table.
#[derive(Debug, Clone, Serialize)]
pub struct TargetTable {
    pub name: String,
    pub columns: Vec<TargetColumn>,
    pub constraints: Vec<TargetConstraint>,
    /// (name, CREATE INDEX definition) of indexes not backing a constraint.
    pub indexes: Vec<(String, String)>,
    /// Enabled row triggers that fire BEFORE INSERT (COPY fires them): they may fill NOT NULL columns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub before_insert_triggers: Vec<String>,
    /// The table this one inherits from or is a partition of (`pg_inherits`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// A plain table with inheritance children: its rows are routed by rules or triggers, which COPY does not
    /// fire (rules) or does not count (a trigger that moves the row), so it is loaded through an INSERT.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub inheritance_parent: bool,
}

impl TargetTable {
    pub fn column(&self, name: &str) -> Option<&TargetColumn> {
        self.columns.iter().find(|c| c.name == name)
    }

    pub fn primary_key(&self) -> Vec<String> {
        self.constraints
            .iter()
            .find(|c| c.kind == 'p')
            .map(|c| c.columns.clone())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_labels_with_quotes() {
        assert_eq!(
            parse_quoted_list("enum('a','b''c','d,e')"),
            vec!["a", "b'c", "d,e"]
        );
    }
}
