//! One-dimensional PostgreSQL array literals of strings: written for COPY (`{"a","b"}`, every element quoted)
//! and read back from PostgreSQL's own output (`{a,"b c"}`), so that both sides compare element by element.

/// Appends `{"e1","e2",...}`: quoting every element makes spaces, braces, commas and the word NULL plain text.
pub fn push_literal<'a>(elems: impl IntoIterator<Item = &'a str>, out: &mut String) {
    out.push('{');
    for (i, e) in elems.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        for c in e.chars() {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
    }
    out.push('}');
}

/// The elements of a one-dimensional literal as PostgreSQL prints or reads it (default `,` delimiter; an
/// unquoted `NULL` is a NULL element). None when it is not such a literal.
pub fn parse(t: &str) -> Option<Vec<Option<String>>> {
    let inner = t.strip_prefix('{')?.strip_suffix('}')?;
    let mut out = Vec::new();
    if inner.is_empty() {
        return Some(out);
    }
    let mut chars = inner.chars().peekable();
    loop {
        let mut cur = String::new();
        let mut quoted = false;
        if chars.peek() == Some(&'"') {
            quoted = true;
            chars.next();
            loop {
                match chars.next()? {
                    '\\' => cur.push(chars.next()?),
                    '"' => break,
                    c => cur.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                if c == '{' || c == '}' || c == '"' {
                    return None;
                }
                chars.next();
                if c == '\\' {
                    cur.push(chars.next()?);
                } else {
                    cur.push(c);
                }
            }
            cur = cur.trim().to_string();
        }
        out.push((quoted || !cur.eq_ignore_ascii_case("null")).then_some(cur));
        match chars.next() {
            None => return Some(out),
            Some(',') => continue,
            Some(_) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_literals_read_back_and_postgresql_output_parses() {
        let mut s = String::new();
        push_literal(["a", "b c", "q\"\\", "NULL", "{x}", ""], &mut s);
        assert_eq!(s, r#"{"a","b c","q\"\\","NULL","{x}",""}"#);
        let got: Vec<String> = parse(&s).unwrap().into_iter().map(Option::unwrap).collect();
        assert_eq!(got, ["a", "b c", "q\"\\", "NULL", "{x}", ""]);
        assert_eq!(
            parse(r#"{a,"b c",NULL}"#).unwrap(),
            [Some("a".into()), Some("b c".into()), None]
        );
        assert_eq!(parse("{}").unwrap(), Vec::<Option<String>>::new());
        let mut e = String::new();
        push_literal([], &mut e);
        assert_eq!(e, "{}");
        assert_eq!(parse("a,b"), None);
        assert_eq!(parse("{{a},{b}}"), None);
    }
}
