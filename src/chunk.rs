//! The core types every layer shares about what a run reads: a chunk's half-open range of a table's first key
//! column and its bounds (stored in the ledger and the export journal), the source snapshot's position, and the
//! pure arithmetic that proposes range boundaries (the MySQL side snaps them to real keys: `source::mysql::ranges`).

use serde::{Deserialize, Serialize};

use crate::util::sql::mysql_string;

/// The point in time every reader sees.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SnapshotInfo {
    /// True when taken under a global read lock; false when the operator declared the source quiesced.
    pub locked: bool,
    /// `file:position` of the binary log, when the server has one and lets us see it.
    pub binlog: Option<String>,
    /// MariaDB `gtid_current_pos` or MySQL `gtid_executed`, when available.
    pub gtid: Option<String>,
    /// When it was taken (UTC, RFC 3339): the global read lock's release, or without the lock the last reader's
    /// start. Absent in ledgers and manifests written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taken_at: Option<String>,
}

impl SnapshotInfo {
    /// Whether the source's position moved from `then` to `self`: `None` when no binary log position or GTID set
    /// was seen on both occasions to tell. The position is server-wide: writes to other databases move it too.
    pub fn moved_since(&self, then: &SnapshotInfo) -> Option<bool> {
        let binlog = then.binlog.is_some() && self.binlog.is_some();
        let gtid = then.gtid.is_some() && self.gtid.is_some();
        (binlog || gtid)
            .then(|| (binlog && then.binlog != self.binlog) || (gtid && then.gtid != self.gtid))
    }

    /// The instant in words, for reports and messages: `binlog f:p, GTID g, taken t under the global read lock`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(b) = &self.binlog {
            parts.push(format!("binlog {b}"));
        }
        if let Some(g) = &self.gtid {
            parts.push(format!("GTID {g}"));
        }
        if let Some(t) = &self.taken_at {
            parts.push(format!("taken {t}"));
        }
        if parts.is_empty() {
            parts.push("no binary log position".into());
        }
        format!(
            "{}{}",
            parts.join(", "),
            if self.locked {
                " under the global read lock"
            } else {
                " without the global read lock (--source-quiesced)"
            }
        )
    }
}

/// A bound on the first primary-key column. In JSON (the ledger): a number, a string, or an array of bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Hash)]
#[serde(untagged)]
pub enum KeyBound {
    /// Any MySQL integer, BIGINT UNSIGNED above 2^63 included.
    Int(i128),
    Text(String),
    /// A BINARY/VARBINARY key, compared byte by byte (its values need not be UTF-8).
    Binary(Vec<u8>),
}

// By hand: serde's untagged buffering has no 128-bit integers, and BIGINT UNSIGNED bounds exceed i64.
impl<'de> Deserialize<'de> for KeyBound {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Number(n) => n
                .as_i64()
                .map(i128::from)
                .or_else(|| n.as_u64().map(i128::from))
                .map(KeyBound::Int)
                .ok_or_else(|| D::Error::custom(format!("key bound {n} is not an integer"))),
            serde_json::Value::String(s) => Ok(KeyBound::Text(s)),
            serde_json::Value::Array(a) => a
                .iter()
                .map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                .collect::<Option<Vec<u8>>>()
                .map(KeyBound::Binary)
                .ok_or_else(|| D::Error::custom("a binary key bound holds a non-byte")),
            other => Err(D::Error::custom(format!("unexpected key bound {other}"))),
        }
    }
}

impl KeyBound {
    /// SQL literal; strings go through the column's collation because a string literal is coercible; binary
    /// keys are hex literals.
    pub fn literal(&self) -> String {
        match self {
            KeyBound::Int(v) => v.to_string(),
            KeyBound::Text(s) => mysql_string(s),
            KeyBound::Binary(b) => {
                let mut hex = String::from("X'");
                crate::util::hex::push_hex(&mut hex, b);
                hex.push('\'');
                hex
            }
        }
    }
}

/// One half-open range of a table's first key column: `lo <= k < hi`, unbounded where None.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkRange {
    pub lo: Option<KeyBound>,
    pub hi: Option<KeyBound>,
}

/// About `want` equal-width boundaries strictly inside `lo..=hi`.
pub(crate) fn int_bounds(lo: i128, hi: i128, want: usize) -> Vec<i128> {
    let span = (hi - lo + 1).max(1);
    let mut bounds: Vec<i128> = (1..want as i128)
        .map(|i| lo + span * i / want as i128)
        .collect();
    bounds.dedup();
    bounds.retain(|b| *b > lo);
    bounds
}

/// The ranges between consecutive `bounds` (strictly increasing), unbounded below the first and above the last.
pub(crate) fn ranges_from(bounds: Vec<KeyBound>) -> Vec<ChunkRange> {
    let mut out = Vec::with_capacity(bounds.len() + 1);
    let mut lo = None;
    for b in bounds {
        out.push(ChunkRange {
            lo: lo.clone(),
            hi: Some(b.clone()),
        });
        lo = Some(b);
    }
    out.push(ChunkRange { lo, hi: None });
    out
}

/// Whether `s` begins like a uuid (8 hex digits, a dash, 4 hex digits): its bounds are interpolated as numbers.
pub(crate) fn is_uuidish(s: &str) -> bool {
    s.len() >= 13
        && s.bytes().take(13).enumerate().all(|(i, b)| {
            if i == 8 {
                b == b'-'
            } else {
                b.is_ascii_hexdigit()
            }
        })
}

/// Candidate boundaries strictly between `min` and `max`.
pub(crate) fn interpolate_text(min: &str, max: &str, want: usize) -> Vec<String> {
    if is_uuidish(min) && is_uuidish(max) {
        let num =
            |s: &str| u64::from_str_radix(&format!("{}{}", &s[..8], &s[9..13]), 16).unwrap_or(0);
        let (a, b) = (num(min) as u128, num(max) as u128);
        return (1..want as u128)
            .map(|i| {
                let v = a + (b.saturating_sub(a)) * i / want as u128;
                format!("{:08x}-{:04x}", v >> 16, v & 0xffff)
            })
            .collect();
    }
    interpolate_bytes(min.as_bytes(), max.as_bytes(), want)
        .into_iter()
        .filter_map(|bytes| {
            let valid = match std::str::from_utf8(&bytes) {
                Ok(s) => s.to_string(),
                Err(e) => String::from_utf8_lossy(&bytes[..e.valid_up_to()]).into_owned(),
            };
            (!valid.is_empty()).then_some(valid)
        })
        .collect()
}

/// About `want` byte strings between `min` and `max`: their common prefix, then equal steps in the next eight
/// bytes (trailing zero bytes dropped).
pub(crate) fn interpolate_bytes(mb: &[u8], xb: &[u8], want: usize) -> Vec<Vec<u8>> {
    let prefix = mb.iter().zip(xb).take_while(|(a, b)| a == b).count();
    let word = |s: &[u8]| -> u64 {
        let mut w = [0u8; 8];
        for (i, b) in s.iter().skip(prefix).take(8).enumerate() {
            w[i] = *b;
        }
        u64::from_be_bytes(w)
    };
    let (a, b) = (word(mb) as u128, word(xb) as u128);
    (1..want as u128)
        .map(|i| {
            let v = (a + b.saturating_sub(a) * i / want as u128) as u64;
            let mut bytes = mb[..prefix].to_vec();
            bytes.extend(v.to_be_bytes().iter().copied().take_while(|b| *b != 0));
            bytes
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(binlog: Option<&str>, gtid: Option<&str>) -> SnapshotInfo {
        SnapshotInfo {
            locked: true,
            binlog: binlog.map(Into::into),
            gtid: gtid.map(Into::into),
            taken_at: None,
        }
    }

    #[test]
    fn a_position_moves_only_where_both_were_seen() {
        let then = at(Some("b.1:100"), Some("0-1-5"));
        assert_eq!(
            at(Some("b.1:100"), Some("0-1-5")).moved_since(&then),
            Some(false)
        );
        assert_eq!(
            at(Some("b.1:200"), Some("0-1-5")).moved_since(&then),
            Some(true)
        );
        assert_eq!(
            at(Some("b.1:100"), Some("0-1-6")).moved_since(&then),
            Some(true)
        );
        assert_eq!(at(None, Some("0-1-5")).moved_since(&then), Some(false));
        assert_eq!(at(None, None).moved_since(&then), None);
        assert_eq!(
            at(Some("b.1:1"), None).moved_since(&at(None, Some("0-1-5"))),
            None
        );
    }

    #[test]
    fn integer_bounds_hold_beyond_i64() {
        let max = u64::MAX as i128;
        let b = int_bounds(0, max, 4);
        assert_eq!(b.len(), 3);
        assert!(
            b.windows(2).all(|w| w[0] < w[1]) && b[0] > 0 && b[2] < max,
            "{b:?}"
        );
        assert!(b[2] > i64::MAX as i128, "{b:?}");
        assert_eq!(KeyBound::Int(max).literal(), "18446744073709551615");
        assert_eq!(int_bounds(5, 5, 4), Vec::<i128>::new());
    }

    #[test]
    fn binary_bounds_are_hex_literals_in_byte_order() {
        let c = interpolate_bytes(&[0x00, 0xff], &[0xf0, 0x01], 4);
        assert_eq!(c.len(), 3);
        assert!(c.windows(2).all(|w| w[0] < w[1]), "{c:?}");
        assert_eq!(KeyBound::Binary(vec![0x00, 0xfe]).literal(), "X'00fe'");
        // Stored in the ledger and read back unchanged, next to the other kinds.
        for b in [
            KeyBound::Binary(vec![0, 255]),
            KeyBound::Int(u64::MAX as i128),
            KeyBound::Text("7".into()),
        ] {
            let json = serde_json::to_string(&b).unwrap();
            assert_eq!(
                serde_json::from_str::<KeyBound>(&json).unwrap(),
                b,
                "{json}"
            );
        }
    }

    #[test]
    fn uuid_interpolation_is_increasing_hex() {
        let c = interpolate_text(
            "00000000-0000-4000-8000-000000000000",
            "ffffffff-ffff-4fff-bfff-ffffffffffff",
            4,
        );
        assert_eq!(c, vec!["3fffffff-ffff", "7fffffff-ffff", "bfffffff-ffff"]);
    }

    #[test]
    fn text_interpolation_stays_valid_utf8() {
        let c = interpolate_text("apple", "zebra", 5);
        assert_eq!(c.len(), 4);
        assert!(c.windows(2).all(|w| w[0] < w[1]));
        assert!(interpolate_text("é", "ü", 3).iter().all(|s| !s.is_empty()));
    }

    #[test]
    fn ranges_cover_everything() {
        let r = ranges_from(vec![KeyBound::Int(10), KeyBound::Int(20)]);
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].lo, None);
        assert_eq!(r[1].lo, Some(KeyBound::Int(10)));
        assert_eq!(r[2].hi, None);
    }
}
