//! How a row's primary key is written in every message and report: `col=value, col=value`.

/// Renders (column, value) pairs as `a=1, b=x`; a missing value prints as NULL.
pub fn render<'a, I, N, V>(parts: I) -> String
where
    I: IntoIterator<Item = (N, Option<V>)>,
    N: std::fmt::Display + 'a,
    V: AsRef<[u8]>,
{
    let mut out = String::new();
    for (i, (name, value)) in parts.into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&name.to_string());
        out.push('=');
        match value {
            Some(v) => out.push_str(&String::from_utf8_lossy(v.as_ref())),
            None => out.push_str("NULL"),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_pairs() {
        assert_eq!(
            super::render([("id", Some("7")), ("v", None::<&str>)]),
            "id=7, v=NULL"
        );
    }
}
