//! JSON text checked as PostgreSQL's `json` and `jsonb` input accepts it, without building the document: `check`
//! runs it on every JSON value of the source, so that what it lists is exactly what the load would refuse.
//!
//! The grammar is RFC 8259's, which PostgreSQL's parser follows (whitespace is space, tab, CR and LF; no leading
//! zeros, no bare `.5`, literals in lower case; control characters escaped). Two things differ from a general
//! parser. There is no nesting limit here: PostgreSQL's is its stack (`max_stack_depth`: 10,000 levels load and
//! 20,000 do not at the default), and a fixed limit would refuse values the load takes; the check's own stack is on
//! the heap. A value deeper than the server's stack passes the check and the load stops at it, naming the row. And
//! `jsonb` decodes every `\u` escape, so it refuses `\u0000` and a surrogate escape that is not a high one followed
//! at once by a low one, which `json` keeps as written. UTF-8 is checked by the caller.

/// Why a value is not what the target type accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    /// Not JSON at all.
    Syntax,
    /// `\u0000` in a string or key (jsonb only).
    Nul,
    /// A `\uD800`-`\uDFFF` escape not part of a high-low pair (jsonb only).
    Surrogate,
}

/// Checks one JSON text; `jsonb` adds the escapes jsonb refuses.
pub fn validate(v: &[u8], jsonb: bool) -> Result<(), Invalid> {
    // The open containers, innermost last: `{` or `[`.
    let mut open: Vec<u8> = Vec::new();
    let mut i = 0;
    'value: loop {
        skip_ws(v, &mut i);
        match v.get(i) {
            Some(&c @ (b'{' | b'[')) => {
                i += 1;
                skip_ws(v, &mut i);
                if v.get(i) == Some(&closing(c)) {
                    i += 1;
                } else {
                    open.push(c);
                    if c == b'{' {
                        key(v, &mut i, jsonb)?;
                    }
                    continue 'value;
                }
            }
            Some(b'"') => string(v, &mut i, jsonb)?,
            Some(b't') => literal(v, &mut i, b"true")?,
            Some(b'f') => literal(v, &mut i, b"false")?,
            Some(b'n') => literal(v, &mut i, b"null")?,
            Some(b'-' | b'0'..=b'9') => number(v, &mut i)?,
            _ => return Err(Invalid::Syntax),
        }
        // A value ended: close containers until one takes another member.
        loop {
            skip_ws(v, &mut i);
            let Some(&container) = open.last() else {
                return if i == v.len() {
                    Ok(())
                } else {
                    Err(Invalid::Syntax)
                };
            };
            match v.get(i) {
                Some(b',') => {
                    i += 1;
                    if container == b'{' {
                        skip_ws(v, &mut i);
                        key(v, &mut i, jsonb)?;
                    }
                    continue 'value;
                }
                Some(&c) if c == closing(container) => {
                    i += 1;
                    open.pop();
                }
                _ => return Err(Invalid::Syntax),
            }
        }
    }
}

fn closing(open: u8) -> u8 {
    if open == b'{' {
        b'}'
    } else {
        b']'
    }
}

fn skip_ws(v: &[u8], i: &mut usize) {
    while matches!(v.get(*i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        *i += 1;
    }
}

/// A member's key and its colon, `i` at the key's opening quote.
fn key(v: &[u8], i: &mut usize, jsonb: bool) -> Result<(), Invalid> {
    if v.get(*i) != Some(&b'"') {
        return Err(Invalid::Syntax);
    }
    string(v, i, jsonb)?;
    skip_ws(v, i);
    if v.get(*i) != Some(&b':') {
        return Err(Invalid::Syntax);
    }
    *i += 1;
    Ok(())
}

fn literal(v: &[u8], i: &mut usize, word: &[u8]) -> Result<(), Invalid> {
    if v[*i..].starts_with(word) {
        *i += word.len();
        Ok(())
    } else {
        Err(Invalid::Syntax)
    }
}

fn digits(v: &[u8], i: &mut usize) -> usize {
    let start = *i;
    while v.get(*i).is_some_and(u8::is_ascii_digit) {
        *i += 1;
    }
    *i - start
}

/// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`; what follows is the caller's to check.
fn number(v: &[u8], i: &mut usize) -> Result<(), Invalid> {
    if v.get(*i) == Some(&b'-') {
        *i += 1;
    }
    match v.get(*i) {
        Some(b'0') => *i += 1,
        Some(b'1'..=b'9') => {
            digits(v, i);
        }
        _ => return Err(Invalid::Syntax),
    }
    if v.get(*i) == Some(&b'.') {
        *i += 1;
        if digits(v, i) == 0 {
            return Err(Invalid::Syntax);
        }
    }
    if matches!(v.get(*i), Some(b'e' | b'E')) {
        *i += 1;
        if matches!(v.get(*i), Some(b'+' | b'-')) {
            *i += 1;
        }
        if digits(v, i) == 0 {
            return Err(Invalid::Syntax);
        }
    }
    Ok(())
}

/// A string, `i` at its opening quote; leaves `i` after the closing one.
fn string(v: &[u8], i: &mut usize, jsonb: bool) -> Result<(), Invalid> {
    *i += 1;
    // A high surrogate escape waiting for its low half (only tracked for jsonb).
    let mut high = false;
    loop {
        let end = plain(v, *i);
        if end > *i {
            if high {
                return Err(Invalid::Surrogate);
            }
            *i = end;
        }
        match *v.get(*i).ok_or(Invalid::Syntax)? {
            b'"' => {
                *i += 1;
                return if high {
                    Err(Invalid::Surrogate)
                } else {
                    Ok(())
                };
            }
            b'\\' => {
                let escape = *v.get(*i + 1).ok_or(Invalid::Syntax)?;
                *i += 2;
                match escape {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {
                        if high {
                            return Err(Invalid::Surrogate);
                        }
                    }
                    b'u' => {
                        let code = v
                            .get(*i..*i + 4)
                            .and_then(|h| {
                                h.iter().try_fold(0u16, |n, &b| {
                                    Some(n << 4 | (b as char).to_digit(16)? as u16)
                                })
                            })
                            .ok_or(Invalid::Syntax)?;
                        *i += 4;
                        if jsonb {
                            match code {
                                0xD800..=0xDBFF if !high => high = true,
                                0xDC00..=0xDFFF if high => high = false,
                                0xD800..=0xDFFF => return Err(Invalid::Surrogate),
                                _ if high => return Err(Invalid::Surrogate),
                                0 => return Err(Invalid::Nul),
                                _ => {}
                            }
                        }
                    }
                    _ => return Err(Invalid::Syntax),
                }
            }
            _ => return Err(Invalid::Syntax),
        }
    }
}

const ONES: u64 = u64::from_le_bytes([1; 8]);
const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);

/// Non-zero when a byte of `x` is below `n` (n <= 128; exact as a yes or no).
fn below(x: u64, n: u8) -> u64 {
    x.wrapping_sub(ONES * n as u64) & !x & HIGHS
}

/// Where the plain text of a string that starts at `i` ends: the first quote, backslash or control character, or
/// the end of `v`. Eight bytes a step, since documents are mostly long runs of plain text.
fn plain(v: &[u8], mut i: usize) -> usize {
    while let Some(word) = v.get(i..i + 8) {
        let x = u64::from_le_bytes(word.try_into().expect("eight bytes"));
        if below(x, 0x20) | below(x ^ (ONES * b'"' as u64), 1) | below(x ^ (ONES * b'\\' as u64), 1)
            != 0
        {
            break;
        }
        i += 8;
    }
    while v
        .get(i)
        .is_some_and(|&b| b != b'"' && b != b'\\' && b >= 0x20)
    {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both(v: &str) -> (Result<(), Invalid>, Result<(), Invalid>) {
        (validate(v.as_bytes(), false), validate(v.as_bytes(), true))
    }

    #[test]
    fn documents_and_scalars() {
        for v in [
            "{}",
            "[]",
            " { \"a\" : [1, -0, 0.5, 1e400, -2E-3, true, false, null, \"x\"], \"b\": {} } ",
            "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\"",
            "0",
            "\t\r\n[ ]\n",
            "[[],[[]],{\"\":{}}]",
        ] {
            assert_eq!(both(v), (Ok(()), Ok(())), "{v}");
        }
    }

    #[test]
    fn syntax_errors() {
        for v in [
            "",
            " ",
            "{",
            "}",
            "[1,]",
            "[,1]",
            "{\"a\"}",
            "{\"a\":}",
            "{\"a\" 1}",
            "{1:2}",
            "{\"a\":1,}",
            "01",
            "1.",
            ".5",
            "+1",
            "1e",
            "1e+",
            "-",
            "tru",
            "True",
            "nul",
            "trueX",
            "[1 2]",
            "\"a",
            "\"\\x\"",
            "\"\\u12\"",
            "\"\\u12g4\"",
            "\"a\nb\"",
            "\"\t\"",
            "[1]]",
            "{}{}",
            "1 2",
            "\u{feff}1",
        ] {
            assert_eq!(
                both(v),
                (Err(Invalid::Syntax), Err(Invalid::Syntax)),
                "{v:?}"
            );
        }
    }

    #[test]
    fn jsonb_refuses_nul_and_lone_surrogates_json_keeps_them() {
        for (v, jsonb) in [
            (r#""\u0000""#, Err(Invalid::Nul)),
            (r#"{"\u0000":1}"#, Err(Invalid::Nul)),
            (r#""\\u0000""#, Ok(())),
            (r#""\ud800""#, Err(Invalid::Surrogate)),
            (r#""\udc00""#, Err(Invalid::Surrogate)),
            (r#""\ud800x""#, Err(Invalid::Surrogate)),
            (r#""\ud800\n""#, Err(Invalid::Surrogate)),
            (r#""\ud800\ud800""#, Err(Invalid::Surrogate)),
            (r#""\ud800\u0041""#, Err(Invalid::Surrogate)),
            (r#""\ud800\udc00""#, Ok(())),
            (r#""\uD83D\uDE00 and \u00e9""#, Ok(())),
        ] {
            assert_eq!(both(v), (Ok(()), jsonb), "{v}");
        }
    }

    #[test]
    fn strings_are_scanned_right_across_every_word_boundary() {
        for len in 0..40 {
            for fill in ["x", "é", "\u{7f}"] {
                let text = fill.repeat(len);
                assert_eq!(
                    both(&format!("\"{text}\"")),
                    (Ok(()), Ok(())),
                    "{fill} x {len}"
                );
                let bytes = text.as_bytes();
                for at in 0..bytes.len() {
                    let mut bad = bytes.to_vec();
                    bad[at] = b'\n';
                    let doc = [b"\"".as_slice(), &bad, b"\""].concat();
                    assert_eq!(
                        validate(&doc, false),
                        Err(Invalid::Syntax),
                        "newline at {at}"
                    );
                    let mut cut = bytes[..at].to_vec();
                    cut.extend_from_slice(b"\"]");
                    let doc = [b"[\"".as_slice(), &cut].concat();
                    if std::str::from_utf8(&bytes[..at]).is_ok() {
                        assert_eq!(validate(&doc, false), Ok(()), "quote at {at}");
                    }
                }
            }
        }
    }

    #[test]
    fn nesting_has_no_limit() {
        let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(both(&deep), (Ok(()), Ok(())));
        let unclosed = "[".repeat(100_000);
        assert_eq!(validate(unclosed.as_bytes(), false), Err(Invalid::Syntax));
    }
}
