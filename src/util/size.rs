//! Byte sizes as operators write them on the command line: `536870912`, `512MiB`, `512M`, `64k`, `2GB`.
//! `K`/`M`/`G`/`T` and `KiB`/`MiB`/`GiB`/`TiB` are powers of 1024; `KB`/`MB`/`GB`/`TB` are powers of 1000.

/// A size the command line cannot take, and what it accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SizeError(pub String);

/// Parses a size; the error says what is accepted.
pub fn parse(s: &str) -> Result<u64, SizeError> {
    parse_text(s).map_err(SizeError)
}

fn parse_text(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '_')
        .unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits.replace('_', "").parse().map_err(|_| {
        format!(
            "{s:?} is no size: write bytes, or a number with K, M, G, KiB, MiB, GiB, KB, MB, GB"
        )
    })?;
    let mult = multiplier(unit).ok_or_else(|| {
        format!(
            "{s:?}: unknown unit {unit:?}; use K, M, G, KiB, MiB, GiB (1024) or KB, MB, GB (1000)"
        )
    })?;
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?} is too large"))
}

fn multiplier(unit: &str) -> Option<u64> {
    Some(match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn sizes_as_operators_write_them() {
        assert_eq!(parse("536870912"), Ok(536_870_912));
        assert_eq!(parse("512MiB"), Ok(512 << 20));
        assert_eq!(parse("512M"), Ok(512 << 20));
        assert_eq!(parse("64k"), Ok(64 << 10));
        assert_eq!(parse("2GB"), Ok(2_000_000_000));
        assert_eq!(parse("1_024"), Ok(1024));
        assert!(parse("12 parsecs").is_err());
        assert!(parse("MiB").is_err());
        assert!(parse("99999999999T").is_err());
    }
}
