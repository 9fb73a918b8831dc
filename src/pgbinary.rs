//! PostgreSQL's binary COPY format read back: the framing of `COPY ... TO STDOUT (FORMAT binary)` and the values of
//! the types `verify` compares, decoded to what the text format would have printed (ISO dates, UTC, `postgres`
//! intervals, hex bytea) or to the numbers behind them.
//!
//! Reading the target back in binary spares PostgreSQL its text output (escaping every byte of a JSON document,
//! printing every timestamp) and spares the reader the parsing of it; the canonical form stays the one the text
//! format gives, so digests of either kind compare.

use std::fmt::Write as _;

/// The 11-byte signature, flags and header-extension length of every binary COPY stream.
pub const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// The field count that ends a binary COPY stream.
pub const TRAILER: &[u8] = &[0xff, 0xff];
/// 2000-01-01, PostgreSQL's epoch, in days since 1970-01-01.
pub const PG_EPOCH_DAYS: i64 = 10_957;
const PG_EPOCH_MICROS: i64 = PG_EPOCH_DAYS * 86_400_000_000;

/// How a column's binary values are laid out, by the type PostgreSQL sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// The text itself (text, varchar, character, name, json, enum labels), in the client encoding.
    Text,
    /// A version byte (1), then jsonb's text.
    Jsonb,
    Int,
    Numeric,
    Float4,
    Float8,
    /// Microseconds since 2000-01-01 (timestamptz in UTC; `tz` says it prints with an offset).
    Timestamp {
        tz: bool,
    },
    Date,
    Time,
    Interval,
    Uuid,
    Bool,
    Bytea,
    /// bit and varbit: a bit count, then the bits.
    Bits,
}

impl Wire {
    /// The layout of a built-in type by OID; `is_enum` for an enum type (its values travel as their labels). None
    /// for a type this reader does not decode: the caller reads that table in the text format.
    pub fn of(oid: u32, is_enum: bool) -> Option<Wire> {
        Some(match oid {
            _ if is_enum => Wire::Text,
            // text, varchar, bpchar, name, json
            25 | 1043 | 1042 | 19 | 114 => Wire::Text,
            3802 => Wire::Jsonb,
            20 | 21 | 23 => Wire::Int,
            1700 => Wire::Numeric,
            700 => Wire::Float4,
            701 => Wire::Float8,
            1114 => Wire::Timestamp { tz: false },
            1184 => Wire::Timestamp { tz: true },
            1082 => Wire::Date,
            1083 => Wire::Time,
            1186 => Wire::Interval,
            2950 => Wire::Uuid,
            16 => Wire::Bool,
            17 => Wire::Bytea,
            1560 | 1562 => Wire::Bits,
            _ => return None,
        })
    }
}

/// A timestamp as PostgreSQL holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stamp {
    /// Microseconds since 1970-01-01 00:00 (UTC for timestamptz).
    Unix(i64),
    Infinity,
    NegInfinity,
}

fn be<const N: usize>(b: &[u8]) -> Option<[u8; N]> {
    b.try_into().ok()
}

/// int2, int4 or int8.
pub fn int(b: &[u8]) -> Option<i64> {
    match b.len() {
        2 => Some(i16::from_be_bytes(be(b)?) as i64),
        4 => Some(i32::from_be_bytes(be(b)?) as i64),
        8 => Some(i64::from_be_bytes(be(b)?)),
        _ => None,
    }
}

pub fn float4(b: &[u8]) -> Option<f32> {
    Some(f32::from_bits(u32::from_be_bytes(be(b)?)))
}

pub fn float8(b: &[u8]) -> Option<f64> {
    Some(f64::from_bits(u64::from_be_bytes(be(b)?)))
}

pub fn timestamp(b: &[u8]) -> Option<Stamp> {
    Some(match i64::from_be_bytes(be(b)?) {
        i64::MAX => Stamp::Infinity,
        i64::MIN => Stamp::NegInfinity,
        v => Stamp::Unix(v.checked_add(PG_EPOCH_MICROS)?),
    })
}

/// time: microseconds since midnight.
pub fn time(b: &[u8]) -> Option<i64> {
    Some(i64::from_be_bytes(be(b)?))
}

/// interval: (microseconds, days, months).
pub fn interval(b: &[u8]) -> Option<(i64, i32, i32)> {
    if b.len() != 16 {
        return None;
    }
    Some((
        i64::from_be_bytes(be(&b[..8])?),
        i32::from_be_bytes(be(&b[8..12])?),
        i32::from_be_bytes(be(&b[12..])?),
    ))
}

/// jsonb's text, after its version byte.
pub fn jsonb(b: &[u8]) -> Option<&[u8]> {
    match b.split_first() {
        Some((1, text)) => Some(text),
        _ => None,
    }
}

/// Appends a timestamp as PostgreSQL prints it in ISO style (`tz` adds the UTC offset `+00`), years before 1 AD
/// with ` BC`.
pub fn push_timestamp(s: Stamp, tz: bool, out: &mut String) {
    let v = match s {
        Stamp::Infinity => return out.push_str("infinity"),
        Stamp::NegInfinity => return out.push_str("-infinity"),
        Stamp::Unix(v) => v,
    };
    let (days, micros) = (v.div_euclid(86_400_000_000), v.rem_euclid(86_400_000_000));
    let (y, m, d) = crate::util::calendar::civil_from_days(days);
    let secs = micros / 1_000_000;
    let _ = write!(
        out,
        "{:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        if y < 1 { 1 - y } else { y },
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    push_fraction(micros % 1_000_000, out);
    if tz {
        out.push_str("+00");
    }
    if y < 1 {
        out.push_str(" BC");
    }
}

/// `.ffffff` without trailing zeros, nothing for a whole second.
fn push_fraction(micros: i64, out: &mut String) {
    if micros != 0 {
        let f = format!("{micros:06}");
        out.push('.');
        out.push_str(f.trim_end_matches('0'));
    }
}

/// Appends a date as PostgreSQL prints it in ISO style.
pub fn push_date(b: &[u8], out: &mut String) -> Option<()> {
    match i32::from_be_bytes(be(b)?) {
        i32::MAX => out.push_str("infinity"),
        i32::MIN => out.push_str("-infinity"),
        v => {
            let (y, m, d) = crate::util::calendar::civil_from_days(v as i64 + PG_EPOCH_DAYS);
            let _ = write!(out, "{:04}-{m:02}-{d:02}", if y < 1 { 1 - y } else { y });
            if y < 1 {
                out.push_str(" BC");
            }
        }
    }
    Some(())
}

/// Appends microseconds as `[-]H:MM:SS[.f]` (hours unbounded), the form of a time or of an interval of hours.
pub fn push_clock(v: i64, out: &mut String) {
    if v < 0 {
        out.push('-');
    }
    let a = v.unsigned_abs();
    let secs = a / 1_000_000;
    let _ = write!(
        out,
        "{:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    push_fraction((a % 1_000_000) as i64, out);
}

/// Appends a numeric as PostgreSQL prints it: every digit of its display scale, `NaN`, `Infinity`, `-Infinity`.
pub fn push_numeric(b: &[u8], out: &mut String) -> Option<()> {
    let word = |i: usize| -> Option<u16> { Some(u16::from_be_bytes(be(b.get(i..i + 2)?)?)) };
    let (ndigits, weight, sign, dscale) = (
        word(0)? as usize,
        word(2)? as i16 as i64,
        word(4)?,
        word(6)? as i64,
    );
    if b.len() != 8 + 2 * ndigits {
        return None;
    }
    let special = match sign {
        0x0000 => None,
        0x4000 => {
            out.push('-');
            None
        }
        0xC000 => Some("NaN"),
        0xD000 => Some("Infinity"),
        0xF000 => Some("-Infinity"),
        _ => return None,
    };
    if let Some(s) = special {
        out.push_str(s);
        return Some(());
    }
    // Digit group `i` (base 10,000) counts from the most significant, at weight `weight - i`.
    let group = |i: i64| -> Option<u16> {
        if i < 0 || i >= ndigits as i64 {
            return Some(0);
        }
        let g = word(8 + 2 * i as usize)?;
        (g < 10_000).then_some(g)
    };
    if weight < 0 {
        out.push('0');
    } else {
        for i in 0..=weight {
            let g = group(i)?;
            let _ = if i == 0 {
                write!(out, "{g}")
            } else {
                write!(out, "{g:04}")
            };
        }
    }
    if dscale > 0 {
        out.push('.');
        let mut left = dscale;
        let mut i = weight + 1;
        while left > 0 {
            let g = format!("{:04}", group(i)?);
            let take = left.min(4) as usize;
            out.push_str(&g[..take]);
            left -= take as i64;
            i += 1;
        }
    }
    Some(())
}

/// Appends a uuid in PostgreSQL's lower-case hyphenated form.
pub fn push_uuid(b: &[u8], out: &mut String) -> Option<()> {
    if b.len() != 16 {
        return None;
    }
    for (i, part) in [&b[0..4], &b[4..6], &b[6..8], &b[8..10], &b[10..16]]
        .into_iter()
        .enumerate()
    {
        if i > 0 {
            out.push('-');
        }
        crate::util::hex::push_hex(out, part);
    }
    Some(())
}

pub fn push_bool(b: &[u8], out: &mut String) -> Option<()> {
    match b {
        [0] => out.push('f'),
        [1] => out.push('t'),
        _ => return None,
    }
    Some(())
}

/// Appends bytea in its `\x` hex output form.
pub fn push_bytea(b: &[u8], out: &mut String) {
    out.push_str("\\x");
    crate::util::hex::push_hex(out, b);
}

/// Appends a bit string as its `0`/`1` digits.
pub fn push_bits(b: &[u8], out: &mut String) -> Option<()> {
    let n = i32::from_be_bytes(be(b.get(..4)?)?);
    let n = usize::try_from(n).ok()?;
    let bits = &b[4..];
    if bits.len() != n.div_ceil(8) {
        return None;
    }
    out.extend((0..n).map(|i| {
        if bits[i / 8] & (0x80 >> (i % 8)) != 0 {
            '1'
        } else {
            '0'
        }
    }));
    Some(())
}

/// Appends an interval in the `postgres` IntervalStyle: `1 year 2 mons 3 days 04:05:06`, the clock part left out
/// when it is zero and something precedes it, a `+` on a positive part that follows a negative one.
pub fn push_interval(micros: i64, days: i32, months: i32, out: &mut String) {
    let (mut any, mut before) = (false, false);
    for (n, unit) in [
        (months as i64 / 12, "year"),
        (months as i64 % 12, "mon"),
        (days as i64, "day"),
    ] {
        if n != 0 {
            let _ = write!(
                out,
                "{}{}{n} {unit}{}",
                if any { " " } else { "" },
                if before && n > 0 { "+" } else { "" },
                if n == 1 { "" } else { "s" }
            );
            (any, before) = (true, n < 0);
        }
    }
    if micros != 0 || !any {
        if any {
            out.push(' ');
        }
        if before && micros > 0 {
            out.push('+');
        }
        push_clock(micros, out);
    }
}

/// What [`tuple`] found at the start of the buffer, with the bytes it took.
#[derive(Debug, PartialEq, Eq)]
pub enum Tuple {
    Row(usize),
    End(usize),
}

/// Parses the stream's header at the start of `buf`: the bytes it takes, None if `buf` holds less than all of it.
pub fn header(buf: &[u8]) -> Result<Option<usize>, String> {
    if buf.len() < HEADER.len() {
        return Ok(None);
    }
    if buf[..11] != HEADER[..11] {
        return Err("not a binary COPY stream (bad signature)".into());
    }
    let ext = u32::from_be_bytes(be(&buf[15..19]).ok_or("short header")?) as usize;
    Ok((buf.len() >= 19 + ext).then_some(19 + ext))
}

/// Parses one tuple at the start of `buf` into `fields` (cleared first): None when `buf` holds less than all of it.
pub fn tuple(
    buf: &[u8],
    columns: usize,
    fields: &mut Vec<Option<std::ops::Range<usize>>>,
) -> Result<Option<Tuple>, String> {
    fields.clear();
    let Some(count) = buf.get(..2) else {
        return Ok(None);
    };
    let count = i16::from_be_bytes([count[0], count[1]]);
    if count == -1 {
        return Ok(Some(Tuple::End(2)));
    }
    if count as usize != columns {
        return Err(format!("a row of {count} fields, expected {columns}"));
    }
    let mut at = 2;
    for _ in 0..columns {
        let Some(len) = buf.get(at..at + 4) else {
            return Ok(None);
        };
        let len = i32::from_be_bytes([len[0], len[1], len[2], len[3]]);
        at += 4;
        if len == -1 {
            fields.push(None);
            continue;
        }
        let len = usize::try_from(len).map_err(|_| format!("a field of length {len}"))?;
        if buf.len() < at + len {
            return Ok(None);
        }
        fields.push(Some(at..at + len));
        at += len;
    }
    Ok(Some(Tuple::Row(at)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: impl FnOnce(&mut String)) -> String {
        let mut s = String::new();
        f(&mut s);
        s
    }

    #[test]
    fn numerics_print_every_digit_of_their_scale() {
        // 12345.6700 (dscale 4): groups 1, 2345, 6700 at weights 1, 0, -1.
        let mut b = vec![0, 3, 0, 1, 0, 0, 0, 4];
        for g in [1u16, 2345, 6700] {
            b.extend(g.to_be_bytes());
        }
        assert_eq!(text(|s| push_numeric(&b, s).unwrap()), "12345.6700");
        // -0.00012 (dscale 5): groups 1, 2000 at weights -1, -2.
        let b = [0, 2, 0xff, 0xff, 0x40, 0, 0, 5, 0, 1, 0x07, 0xd0];
        assert_eq!(text(|s| push_numeric(&b, s).unwrap()), "-0.00012");
        // 0 with dscale 2, and 10000 (group 1 at weight 1, no digits stored for weight 0).
        assert_eq!(
            text(|s| push_numeric(&[0, 0, 0, 0, 0, 0, 0, 2], s).unwrap()),
            "0.00"
        );
        assert_eq!(
            text(|s| push_numeric(&[0, 1, 0, 1, 0, 0, 0, 0, 0, 1], s).unwrap()),
            "10000"
        );
        assert_eq!(
            text(|s| push_numeric(&[0, 0, 0, 0, 0xc0, 0, 0, 0], s).unwrap()),
            "NaN"
        );
        assert!(push_numeric(&[0, 1, 0, 0, 0, 0, 0, 0], &mut String::new()).is_none());
    }

    #[test]
    fn dates_and_timestamps_in_iso_style() {
        let day = |d: i32| text(|s| push_date(&d.to_be_bytes(), s).unwrap());
        assert_eq!(day(0), "2000-01-01");
        assert_eq!(day(-730_485), "0001-01-01 BC");
        assert_eq!(day(i32::MAX), "infinity");
        let ts = |v: i64, tz| text(|s| push_timestamp(timestamp(&v.to_be_bytes()).unwrap(), tz, s));
        assert_eq!(ts(1_500_000, false), "2000-01-01 00:00:01.5");
        assert_eq!(ts(-1, true), "1999-12-31 23:59:59.999999+00");
        assert_eq!(ts(i64::MIN, false), "-infinity");
        assert_eq!(
            timestamp(&0i64.to_be_bytes()),
            Some(Stamp::Unix(PG_EPOCH_MICROS))
        );
    }

    #[test]
    fn clocks_intervals_and_small_types() {
        assert_eq!(text(|s| push_clock(-3_020_399_000_000, s)), "-838:59:59");
        assert_eq!(text(|s| push_clock(500_000, s)), "00:00:00.5");
        assert_eq!(
            text(|s| push_interval(7_200_000_000, 1, 14, s)),
            "1 year 2 mons 1 day 02:00:00"
        );
        assert_eq!(text(|s| push_interval(0, -3, 0, s)), "-3 days");
        assert_eq!(
            text(|s| push_interval(-14_706_500_000, 3, -14, s)),
            "-1 years -2 mons +3 days -04:05:06.5"
        );
        assert_eq!(
            text(|s| push_interval(7_200_000_000, -1, 0, s)),
            "-1 days +02:00:00"
        );
        assert_eq!(text(|s| push_interval(0, 0, 0, s)), "00:00:00");
        let u: Vec<u8> = (0u8..16).collect();
        assert_eq!(
            text(|s| push_uuid(&u, s).unwrap()),
            "00010203-0405-0607-0809-0a0b0c0d0e0f"
        );
        assert_eq!(
            text(|s| push_bits(&[0, 0, 0, 10, 0b1010_0000, 0b0100_0000], s).unwrap()),
            "1010000001"
        );
        assert_eq!(text(|s| push_bytea(&[0, 255], s)), "\\x00ff");
        assert_eq!(text(|s| push_bool(&[1], s).unwrap()), "t");
        assert_eq!(int(&(-5i16).to_be_bytes()), Some(-5));
        assert_eq!(jsonb(b"\x01{}"), Some(&b"{}"[..]));
        assert_eq!(jsonb(b"\x02{}"), None);
    }

    #[test]
    fn framing() {
        let mut s = HEADER.to_vec();
        assert_eq!(header(&s[..10]), Ok(None));
        assert_eq!(header(&s), Ok(Some(19)));
        s.extend([0, 2, 0, 0, 0, 2, b'h', b'i', 0xff, 0xff, 0xff, 0xff]);
        s.extend(TRAILER);
        let mut f = Vec::new();
        assert_eq!(tuple(&s[19..25], 2, &mut f), Ok(None));
        assert_eq!(tuple(&s[19..], 2, &mut f), Ok(Some(Tuple::Row(12))));
        assert_eq!(f, vec![Some(6..8), None]);
        assert_eq!(tuple(&s[31..], 2, &mut f), Ok(Some(Tuple::End(2))));
        assert!(tuple(&s[19..], 3, &mut f).is_err());
        assert!(header(b"PGCOPY\nxxxxxxxxxxxx").is_err());
    }
}
