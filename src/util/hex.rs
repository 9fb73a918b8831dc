//! Lower-case hex in both directions: bytea's `\x` input form, binary uuids, excerpts of non-UTF-8 values.

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Appends `bytes` as lower-case hex digits.
pub fn push_hex(out: &mut String, bytes: &[u8]) {
    out.reserve(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
}

/// Value of one hex digit, either case.
pub fn digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Appends the bytes that pairs of hex digits spell; `None` at an odd length or a non-digit.
pub fn decode_into(hex: &[u8], out: &mut Vec<u8>) -> Option<()> {
    if hex.len() % 2 != 0 {
        return None;
    }
    for p in hex.chunks(2) {
        out.push(digit(p[0])? << 4 | digit(p[1])?);
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut s = String::new();
        push_hex(&mut s, &[0, 0xab, 0xff]);
        assert_eq!(s, "00abff");
        let mut v = Vec::new();
        decode_into(b"00ABff", &mut v).unwrap();
        assert_eq!(v, vec![0, 0xab, 0xff]);
        assert!(decode_into(b"0", &mut v).is_none());
    }
}
