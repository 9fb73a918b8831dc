//! The fact catalogues of the Alkemio and Kratos schemas (testbed/facts/*.tsv), parsed for the generator and tests.
//!
//! These catalogues describe the *pristine* application schemas. The migrator itself never reads them: it
//! introspects the live servers. They drive the data generator and the fixture-vs-facts tests.

use std::collections::BTreeMap;

/// Which application a catalogue describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum App {
    Alkemio,
    Kratos,
}

impl App {
    pub const ALL: [App; 2] = [App::Alkemio, App::Kratos];

    pub fn name(self) -> &'static str {
        match self {
            App::Alkemio => "alkemio",
            App::Kratos => "kratos",
        }
    }

    fn columns_tsv(self) -> &'static str {
        match self {
            App::Alkemio => include_str!("../facts/alkemio-columns.tsv"),
            App::Kratos => include_str!("../facts/kratos-columns.tsv"),
        }
    }

    fn constraints_tsv(self) -> &'static str {
        match self {
            App::Alkemio => include_str!("../facts/alkemio-constraints.tsv"),
            App::Kratos => include_str!("../facts/kratos-constraints.tsv"),
        }
    }

    /// Seeded rows of the target (Kratos credential types) as (table, name, id).
    pub fn fixed_rows(self) -> Vec<(&'static str, &'static str, &'static str)> {
        match self {
            App::Alkemio => Vec::new(),
            App::Kratos => include_str!("../facts/kratos-seeded-rows.tsv")
                .lines()
                .skip(1)
                .filter_map(|l| {
                    let f: Vec<&str> = l.split('\t').collect();
                    (f.len() >= 3).then(|| (f[0], f[1], f[2]))
                })
                .collect(),
        }
    }
}

/// One column as the catalogue describes it on both engines.
#[derive(Debug, Clone)]
pub struct FactColumn {
    pub name: String,
    pub ordinal: u32,
    /// MySQL 8 COLUMN_TYPE without the ` auto_increment` suffix.
    pub mysql_type: String,
    pub auto_increment: bool,
    pub mysql_nullable: bool,
    pub pg_type: String,
    pub pg_nullable: bool,
    pub notes: String,
    /// Referenced table when the column carries a foreign key.
    pub fk: Option<String>,
}

/// One constraint or index row of the catalogue.
#[derive(Debug, Clone)]
pub struct FactConstraint {
    pub table: String,
    pub kind: String,
    pub name: String,
    pub columns: Vec<String>,
    pub ref_table: String,
    pub mysql: String,
}

/// One table with its columns in MySQL ordinal order.
#[derive(Debug, Clone)]
pub struct FactTable {
    pub name: String,
    pub columns: Vec<FactColumn>,
    pub pk: Vec<String>,
    /// Column sets of UNIQUE constraints present in the MySQL source or the PostgreSQL target.
    pub uniques: Vec<Vec<String>>,
}

impl FactTable {
    pub fn column(&self, name: &str) -> Option<&FactColumn> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// True when the column takes part in any unique key (PK included).
    pub fn is_unique_part(&self, column: &str) -> bool {
        self.pk.iter().any(|c| c == column)
            || self.uniques.iter().any(|u| u.iter().any(|c| c == column))
    }

    /// True when the column alone is a unique key.
    pub fn is_unique_alone(&self, column: &str) -> bool {
        (self.pk.len() == 1 && self.pk[0] == column)
            || self.uniques.iter().any(|u| u.len() == 1 && u[0] == column)
    }
}

/// A whole application catalogue.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub app: App,
    pub tables: BTreeMap<String, FactTable>,
    pub constraints: Vec<FactConstraint>,
}

fn rows(tsv: &str) -> impl Iterator<Item = Vec<&str>> {
    tsv.lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| l.split('\t').collect())
}

impl Catalog {
    pub fn load(app: App) -> Catalog {
        let mut tables: BTreeMap<String, FactTable> = BTreeMap::new();
        for f in rows(app.columns_tsv()) {
            let (mysql_type, auto_increment) = match f[3].strip_suffix(" auto_increment") {
                Some(t) => (t.to_string(), true),
                None => (f[3].to_string(), false),
            };
            let notes = f[9].to_string();
            let fk = notes
                .split("fk->")
                .nth(1)
                .map(|rest| rest.split('.').next().unwrap_or("").to_string());
            let t = tables.entry(f[0].to_string()).or_insert_with(|| FactTable {
                name: f[0].to_string(),
                columns: Vec::new(),
                pk: Vec::new(),
                uniques: Vec::new(),
            });
            t.columns.push(FactColumn {
                name: f[1].to_string(),
                ordinal: f[2].parse().unwrap_or(0),
                mysql_type,
                auto_increment,
                mysql_nullable: f[4] == "YES",
                pg_type: f[6].to_string(),
                pg_nullable: f[7] == "YES",
                notes,
                fk,
            });
        }
        let constraints: Vec<FactConstraint> = rows(app.constraints_tsv())
            .map(|f| FactConstraint {
                table: f[0].to_string(),
                kind: f[1].to_string(),
                name: f[2].to_string(),
                columns: f[3]
                    .split(',')
                    .map(|c| c.split(' ').next().unwrap_or("").to_string())
                    .collect(),
                ref_table: f[4].to_string(),
                mysql: f.get(8).copied().unwrap_or("").to_string(),
            })
            .collect();
        for t in tables.values_mut() {
            t.columns.sort_by_key(|c| c.ordinal);
        }
        for c in &constraints {
            if let Some(t) = tables.get_mut(&c.table) {
                match c.kind.as_str() {
                    "pk" => t.pk = c.columns.clone(),
                    "unique" => t.uniques.push(c.columns.clone()),
                    _ => {}
                }
            }
        }
        Catalog {
            app,
            tables,
            constraints,
        }
    }

    /// Tables in an order where every FK parent comes before its children (self references and cycles ignored).
    pub fn parent_first_order(&self) -> Vec<&FactTable> {
        let mut done: Vec<&str> = Vec::new();
        let mut left: Vec<&FactTable> = self.tables.values().collect();
        while !left.is_empty() {
            let before = left.len();
            left.retain(|t| {
                let ready = t
                    .columns
                    .iter()
                    .filter_map(|c| c.fk.as_deref())
                    .all(|p| p == t.name || done.contains(&p) || !self.tables.contains_key(p));
                if ready {
                    done.push(&t.name);
                }
                !ready
            });
            if left.len() == before {
                // A cycle: take the first remaining table, its missing parents come later.
                let t = left.remove(0);
                done.push(&t.name);
            }
        }
        done.iter().map(|n| &self.tables[*n]).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogues_have_the_documented_sizes() {
        let a = Catalog::load(App::Alkemio);
        assert_eq!(a.tables.len(), 77);
        assert_eq!(
            a.tables.values().map(|t| t.columns.len()).sum::<usize>(),
            755
        );
        let k = Catalog::load(App::Kratos);
        assert_eq!(k.tables.len(), 26);
        assert_eq!(
            k.tables.values().map(|t| t.columns.len()).sum::<usize>(),
            266
        );
        assert_eq!(App::Kratos.fixed_rows().len(), 7);
    }

    #[test]
    fn composite_key_and_fks_are_read() {
        let a = Catalog::load(App::Alkemio);
        let aq = &a.tables["application_questions"];
        assert_eq!(aq.pk, vec!["applicationId", "nvpId"]);
        assert_eq!(
            a.tables["user"].column("profileId").unwrap().fk.as_deref(),
            Some("profile")
        );
        let order = a.parent_first_order();
        let pos = |n: &str| order.iter().position(|t| t.name == n).unwrap();
        assert!(pos("profile") < pos("user"));
    }
}
