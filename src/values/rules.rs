//! What a bad value is: the rule it broke, the violation that names table, key, column, rule and a safe excerpt,
//! and that excerpt.

use serde::Serialize;

use crate::util::hex;

/// The rule a value broke.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    InvalidUtf8,
    NulByte,
    TooLong {
        max: u32,
        chars: usize,
    },
    NotUuid,
    EmptyUuidInNotNull,
    InvalidJson,
    JsonbNul,
    /// A `\uD800`-`\uDFFF` escape outside a high-low pair: jsonb refuses it, json keeps it.
    JsonbSurrogate,
    ZeroDate,
    InvalidDate,
    NotBoolean,
    IntOutOfRange {
        min: i64,
        max: i64,
    },
    NotEnumLabel,
    NullInNotNull,
    NotLatin1,
    NotANumber,
    /// The target type would store the value differently (rounded): nothing is ever rounded silently.
    WouldRound {
        target: String,
    },
    /// More integer digits than the target numeric's precision leaves.
    TooManyDigits {
        max: u32,
    },
    /// A local time skipped by a daylight-saving change in the source zone: no instant had it.
    LocalTimeGap {
        zone: String,
    },
    /// A local time repeated by a daylight-saving change and the mapping does not say which instant it means.
    LocalTimeFold {
        zone: String,
    },
    /// A MySQL TIME outside 00:00:00..24:00:00, the range of PostgreSQL's `time`.
    TimeOutOfRange,
    /// A DATETIME with a time of day other than midnight, into `date`: the time would be lost.
    NotMidnight,
    /// A foreign key value whose parent row does not exist.
    OrphanForeignKey {
        parent: String,
    },
    /// Rows that share a value a target UNIQUE constraint forbids repeating.
    Duplicate {
        constraint: String,
    },
    /// PostgreSQL rejected the row during COPY (its message).
    RejectedByTarget {
        message: String,
    },
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rule::InvalidUtf8 => write!(f, "invalid UTF-8"),
            Rule::NulByte => write!(f, "NUL byte (PostgreSQL text cannot hold it)"),
            Rule::TooLong { max, chars } => write!(f, "{chars} characters, the target holds {max}"),
            Rule::NotUuid => write!(f, "not a uuid"),
            Rule::EmptyUuidInNotNull => write!(f, "empty string in a NOT NULL uuid column"),
            Rule::InvalidJson => write!(f, "invalid JSON"),
            Rule::JsonbNul => write!(f, "JSON with \\u0000, which jsonb rejects"),
            Rule::JsonbSurrogate => write!(
                f,
                "JSON with an unpaired surrogate escape (\\uD800-\\uDFFF), which jsonb rejects"
            ),
            Rule::ZeroDate => write!(f, "zero date"),
            Rule::InvalidDate => write!(f, "invalid date"),
            Rule::NotBoolean => write!(f, "boolean other than 0/1"),
            Rule::IntOutOfRange { min, max } => {
                write!(f, "integer outside the target range {min}..{max}")
            }
            Rule::NotEnumLabel => write!(f, "label the target enum lacks"),
            Rule::NullInNotNull => write!(f, "NULL in a NOT NULL target column"),
            Rule::NotLatin1 => write!(f, "character above U+00FF in latin1-bytes text"),
            Rule::NotANumber => write!(f, "not a number"),
            Rule::WouldRound { target } => write!(f, "{target} would store it rounded"),
            Rule::TooManyDigits { max } => {
                write!(f, "more than {max} integer digits, the target's precision")
            }
            Rule::LocalTimeGap { zone } => write!(
                f,
                "local time that did not exist in {zone} (skipped by a daylight-saving change)"
            ),
            Rule::LocalTimeFold { zone } => write!(
                f,
                "local time that happened twice in {zone} (a daylight-saving change); set \
                 ambiguous_local_times = \"earlier\" or \"later\" in the mapping to say which"
            ),
            Rule::TimeOutOfRange => write!(f, "time outside 00:00:00..24:00:00"),
            Rule::NotMidnight => write!(
                f,
                "a time of day other than midnight, which date cannot keep"
            ),
            Rule::OrphanForeignKey { parent } => {
                write!(f, "foreign key value with no parent row in {parent}")
            }
            Rule::Duplicate { constraint } => {
                write!(f, "duplicate value for target constraint {constraint}")
            }
            Rule::RejectedByTarget { message } => write!(f, "PostgreSQL rejected it: {message}"),
        }
    }
}

/// One bad value with its exact provenance.
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[error("data violation in {table} at {key}, column {column}: {rule}; value {excerpt}{}", hint.as_ref().map(|h| format!(" ({h})")).unwrap_or_default())]
pub struct Violation {
    pub table: String,
    pub key: String,
    pub column: String,
    pub rule: Rule,
    pub excerpt: String,
    pub hint: Option<String>,
}

/// A safe, short rendering of a raw value: quoted text, or hex when it is not UTF-8.
pub fn excerpt(v: &[u8]) -> String {
    match std::str::from_utf8(v) {
        Ok(s) => {
            let cut: String = s.chars().take(60).collect();
            let more = if s.chars().count() > 60 { "..." } else { "" };
            format!("{cut:?}{more}")
        }
        Err(_) => {
            let mut s = String::from("0x");
            hex::push_hex(&mut s, &v[..v.len().min(32)]);
            if v.len() > 32 {
                s.push_str("...");
            }
            s
        }
    }
}
