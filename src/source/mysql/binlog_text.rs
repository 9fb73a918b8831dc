//! One binary log value as the text protocol's SELECT gives it (`reader::select_expr`), so the copy's conversions
//! and checks apply to followed rows unchanged: the binary log's own encodings undone (TIMESTAMP as a UTC epoch,
//! ENUM as its index, SET as a bitmask, BINARY(n) without its trailing zero bytes, BIT as bytes, YEAR 0 as 1900,
//! DECIMAL as its digits, fractional seconds without the column's width, MySQL 8's binary JSON).

use mysql_async::binlog::value::BinlogValue;
use mysql_async::Value;
use mysql_common::binlog::jsonb::Value as JsonbValue;

use crate::schema::SourceColumn;

/// The text protocol's bytes for one binary log value of column `c` (see the module's list of encodings).
pub fn text_value(v: BinlogValue<'_>, c: &SourceColumn) -> Result<Option<Vec<u8>>, String> {
    let v = match v {
        BinlogValue::Value(v) => v,
        BinlogValue::Jsonb(j) => {
            // MySQL 8's binary JSON: printed as MySQL prints JSON (`, ` and `: ` separators).
            let mut out = String::new();
            jsonb_text(j, &mut out).map_err(|e| format!("column {}: JSON: {e}", c.name))?;
            return Ok(Some(out.into_bytes()));
        }
        BinlogValue::JsonDiff(_) => {
            return Err(format!(
                "column {}: a partial JSON update (binlog_row_value_options=PARTIAL_JSON), which a full row image never has",
                c.name
            ))
        }
    };
    let dt = c.data_type.as_str();
    let fsp = c.fsp.unwrap_or(0) as usize;
    let text = match v {
        Value::NULL => return Ok(None),
        Value::Int(i) if dt == "timestamp" => utc_timestamp(i, 0, fsp)?,
        Value::Int(i) if dt == "enum" => {
            let labels = c.enum_labels();
            match usize::try_from(i).ok().and_then(|i| i.checked_sub(1)) {
                Some(i) => labels.get(i).cloned().ok_or_else(|| {
                    format!("column {}: enum index {} out of range", c.name, i + 1)
                })?,
                // Index 0 is the empty string MySQL stores for an invalid value in non-strict mode.
                None => String::new(),
            }
        }
        // Without binlog_row_metadata=FULL the log does not say which integers are unsigned, so the decoder
        // guesses: the column's own type and width say how to read the bits.
        Value::Int(i) => int_text(i as i128, c),
        Value::UInt(u) => int_text(u as i128, c),
        Value::Float(f) => float_text(f as f64),
        Value::Double(d) => float_text(d),
        Value::Date(y, m, d, ..) if dt == "date" => format!("{y:04}-{m:02}-{d:02}"),
        Value::Date(y, m, d, h, mi, s, us) => {
            let mut t = format!("{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02}");
            push_fraction(&mut t, us, fsp);
            t
        }
        Value::Time(neg, days, h, m, s, us) => {
            let hours = days as u64 * 24 + h as u64;
            let mut t = format!("{}{hours:02}:{m:02}:{s:02}", if neg { "-" } else { "" });
            push_fraction(&mut t, us, fsp);
            t
        }
        Value::Bytes(b) => match dt {
            "timestamp" => {
                let s = std::str::from_utf8(&b).map_err(|e| e.to_string())?;
                let (sec, frac) = s.split_once('.').unwrap_or((s, "0"));
                let sec: i64 = sec.parse().map_err(|_| format!("timestamp {s:?}"))?;
                let us: u32 = format!("{frac:0<6}")[..6]
                    .parse()
                    .map_err(|_| format!("timestamp {s:?}"))?;
                utc_timestamp(sec, us, fsp)?
            }
            "set" => {
                let labels = c.enum_labels();
                let mut mask = 0u64;
                for (i, byte) in b.iter().enumerate().take(8) {
                    mask |= (*byte as u64) << (8 * i);
                }
                labels
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| mask >> i & 1 == 1)
                    .map(|(_, l)| l.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            }
            "bit" => {
                let mut n = 0u64;
                for byte in &b {
                    n = n << 8 | *byte as u64;
                }
                n.to_string()
            }
            "year" => {
                // The binary log stores YEAR as years since 1900, 0 meaning the year 0000.
                let y = String::from_utf8_lossy(&b).into_owned();
                if y == "1900" {
                    "0000".to_string()
                } else {
                    y
                }
            }
            "binary" => {
                // BINARY(n) is logged without its trailing zero bytes; SELECT gives all n.
                let n = c.char_max_len.unwrap_or(b.len() as u64) as usize;
                let mut b = b;
                b.resize(n.max(b.len()), 0);
                return Ok(Some(b));
            }
            // DECIMAL (its digits), text and blobs: already the bytes a SELECT gives.
            _ => return Ok(Some(b)),
        },
    };
    Ok(Some(text.into_bytes()))
}

/// An integer of column `c` read back into the column's range (two's complement of its width).
fn int_text(v: i128, c: &SourceColumn) -> String {
    let bits = match c.data_type.as_str() {
        "tinyint" => 8,
        "smallint" => 16,
        "mediumint" => 24,
        "int" | "integer" => 32,
        "bigint" => 64,
        _ => return v.to_string(),
    };
    let modulus = 1i128 << bits;
    let mut v = v.rem_euclid(modulus);
    if !c.unsigned() && v >= modulus / 2 {
        v -= modulus;
    }
    v.to_string()
}

/// `YYYY-MM-DD HH:MM:SS[.f...]` in UTC (the snapshot's session time zone) of a Unix time, with `fsp` digits.
fn utc_timestamp(sec: i64, us: u32, fsp: usize) -> Result<String, String> {
    if sec == 0 && us == 0 {
        // MySQL's zero TIMESTAMP.
        let mut t = "0000-00-00 00:00:00".to_string();
        push_fraction(&mut t, 0, fsp);
        return Ok(t);
    }
    let days = sec.div_euclid(86_400);
    let rem = sec.rem_euclid(86_400);
    let (y, m, d) = crate::util::calendar::civil_from_days(days);
    let mut t = format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    push_fraction(&mut t, us, fsp);
    Ok(t)
}

/// `.ffffff` cut to the column's `fsp` digits, as the text protocol prints them (none for fsp 0).
fn push_fraction(t: &mut String, us: u32, fsp: usize) {
    if fsp > 0 {
        let f = format!("{us:06}");
        t.push('.');
        t.push_str(&f[..fsp.min(6)]);
    }
}

/// A float's shortest text that reads back to the same value; exponent form where MySQL uses one.
fn float_text(d: f64) -> String {
    let a = d.abs();
    if a != 0.0 && !(1e-5..1e15).contains(&a) {
        format!("{d:e}")
    } else {
        format!("{d}")
    }
}

/// MySQL 8's binary JSON printed as its SELECT prints it: members in stored order, `, ` and `: ` separators, and
/// the opaque scalars SQL can put into a document as MySQL prints them: a DECIMAL as its digits (a number), a DATE
/// as `"YYYY-MM-DD"`, a TIME or DATETIME with six fractional digits, anything else as `"base64:type<n>:<data>"`.
fn jsonb_text(v: JsonbValue<'_>, out: &mut String) -> Result<(), String> {
    use mysql_common::binlog::jsonb::{JsonDom, JsonNumber, JsonScalar};
    use mysql_common::constants::ColumnType;
    fn items<'a>(
        out: &mut String,
        open: char,
        close: char,
        it: impl Iterator<Item = std::io::Result<(Option<String>, JsonbValue<'a>)>>,
    ) -> Result<(), String> {
        out.push(open);
        for (n, item) in it.enumerate() {
            let (key, value) = item.map_err(|e| e.to_string())?;
            if n > 0 {
                out.push_str(", ");
            }
            if let Some(k) = key {
                out.push_str(&serde_json::Value::String(k).to_string());
                out.push_str(": ");
            }
            jsonb_text(value, out)?;
        }
        out.push(close);
        Ok(())
    }
    let key = |k: mysql_common::binlog::jsonb::ObjectKey<'_>| {
        Some(String::from_utf8_lossy(k.value_raw()).into_owned())
    };
    match v {
        JsonbValue::SmallArray(a) => items(out, '[', ']', a.iter().map(|r| r.map(|v| (None, v)))),
        JsonbValue::LargeArray(a) => items(out, '[', ']', a.iter().map(|r| r.map(|v| (None, v)))),
        JsonbValue::SmallObject(o) => {
            items(out, '{', '}', o.iter().map(|r| r.map(|(k, v)| (key(k), v))))
        }
        JsonbValue::LargeObject(o) => {
            items(out, '{', '}', o.iter().map(|r| r.map(|(k, v)| (key(k), v))))
        }
        JsonbValue::Opaque(o) => {
            let date = o.value_type() == ColumnType::MYSQL_TYPE_DATE;
            let scalar = JsonbValue::Opaque(o)
                .parse()
                .map_err(|e| format!("an opaque value: {e}"))?;
            match scalar {
                JsonDom::Scalar(JsonScalar::Number(JsonNumber::Decimal(d))) => {
                    out.push_str(&d.to_string())
                }
                JsonDom::Scalar(JsonScalar::DateTime(t)) if date => {
                    out.push_str(&format!("\"{t}\""))
                }
                JsonDom::Scalar(JsonScalar::DateTime(t)) => out.push_str(&format!("\"{t:.6}\"")),
                JsonDom::Scalar(JsonScalar::Opaque(o)) => out.push_str(&format!("\"{o}\"")),
                other => out.push_str(&serde_json::Value::from(other).to_string()),
            }
            Ok(())
        }
        scalar => {
            let json = serde_json::Value::try_from(scalar).map_err(|e| e.to_string())?;
            out.push_str(&json.to_string());
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_floats_and_json_print_as_select_does() {
        assert_eq!(utc_timestamp(1, 0, 0).unwrap(), "1970-01-01 00:00:01");
        assert_eq!(
            utc_timestamp(2_147_483_647, 999_999, 6).unwrap(),
            "2038-01-19 03:14:07.999999"
        );
        assert_eq!(utc_timestamp(0, 0, 3).unwrap(), "0000-00-00 00:00:00.000");
        assert_eq!(float_text(0.5), "0.5");
        assert_eq!(
            float_text(-1.7976931348623157e308),
            "-1.7976931348623157e308"
        );
    }

    /// MySQL 8 logs a JSON column in its binary form: decoded, it prints as MySQL's SELECT prints it, keys in
    /// the stored order (by length, then bytes), `, ` and `: ` separators. The document is hand-encoded from the
    /// format's description: a small object of `b` (an inlined int16) and `aa` (a small array of an inlined
    /// `true` and the string "x").
    #[test]
    fn mysql_8_binary_json_prints_as_select_does() {
        let doc: Vec<u8> = vec![
            0x00, // small object
            2, 0, 33, 0, // two members, 33 bytes
            18, 0, 1, 0, // key "b" at 18, 1 byte
            19, 0, 2, 0, // key "aa" at 19, 2 bytes
            0x05, 1, 0, // int16 1, inlined
            0x02, 21, 0, // small array at 21
            b'b', b'a', b'a', // the keys
            2, 0, 12, 0, // the array: two elements, 12 bytes
            0x04, 1, 0, // literal true, inlined
            0x0c, 10, 0, // string at 10
            1, b'x', // "x"
        ];
        assert_eq!(json_text(&doc), r#"{"b": 1, "aa": [true, "x"]}"#);
    }

    /// Values SQL puts into a document keep their MySQL type as opaque scalars: a DECIMAL prints as its digits
    /// (scale kept), a DATETIME and a TIME with six fractional digits, a DATE as a date, and any other type as
    /// MySQL's `base64:type<n>:` text. The array is hand-encoded: an opaque entry is its type byte and offset.
    #[test]
    fn mysql_8_opaque_json_scalars_print_as_select_does() {
        let ymd = ((2020i64 * 13 + 1) << 5) | 2;
        let hms = (3i64 << 12) | (4 << 6) | 5;
        let datetime = ((((ymd << 17) | hms) << 24) + 7).to_le_bytes();
        let date = ((ymd << 17) << 24).to_le_bytes();
        let time = ((hms << 24) + 500_000).to_le_bytes();
        let opaque = |field: u8, data: &[u8]| {
            let mut v = vec![field, data.len() as u8];
            v.extend_from_slice(data);
            v
        };
        let values = [
            opaque(246, &[3, 2, 0x81, 0x32]), // DECIMAL(3,2) 1.50
            opaque(12, &datetime),
            opaque(10, &date),
            opaque(11, &time),
            opaque(252, b"ab"), // a BLOB
        ];
        let header = 4 + 3 * values.len();
        let mut doc = vec![0x02u8]; // small array
        let total = header + values.iter().map(Vec::len).sum::<usize>();
        doc.extend_from_slice(&(values.len() as u16).to_le_bytes());
        doc.extend_from_slice(&(total as u16).to_le_bytes());
        let mut at = header;
        for v in &values {
            doc.push(0x0f);
            doc.extend_from_slice(&(at as u16).to_le_bytes());
            at += v.len();
        }
        for v in &values {
            doc.extend_from_slice(v);
        }
        assert_eq!(
            json_text(&doc),
            r#"[1.50, "2020-01-02 03:04:05.000007", "2020-01-02", "03:04:05.500000", "base64:type252:YWI="]"#
        );
    }

    /// The text of a binary JSON document as the follower gives it.
    fn json_text(doc: &[u8]) -> String {
        let value: mysql_common::binlog::jsonb::Value<'_> =
            mysql_common::io::ParseBuf(doc).parse(()).unwrap();
        let column = SourceColumn {
            name: "doc".into(),
            data_type: "json".into(),
            column_type: "json".into(),
            nullable: true,
            default: None,
            char_max_len: None,
            fsp: None,
            auto_increment: false,
            is_json: true,
            collation: None,
            generated: false,
        };
        let text = text_value(BinlogValue::Jsonb(value), &column)
            .unwrap()
            .unwrap();
        String::from_utf8(text).unwrap()
    }
}
