//! Durations as operators write them on the command line: `30m`, `1h30m`, `90s`, `2 hours`, or plain seconds
//! (`600`). Parsed by jiff's friendly duration format rather than by hand.

/// A duration the command line cannot take, and what it accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DurationError(pub String);

/// Parses a duration into whole seconds (rounded up); the error says what is accepted.
pub fn parse(s: &str) -> Result<u64, DurationError> {
    parse_text(s).map_err(DurationError)
}

fn parse_text(s: &str) -> Result<u64, String> {
    let t = s.trim();
    if let Ok(n) = t.replace('_', "").parse::<u64>() {
        return Ok(n);
    }
    let d: jiff::SignedDuration = t.parse().map_err(|_| {
        format!("{s:?} is no duration: write seconds, or for example 90s, 30m, 1h30m, 2h")
    })?;
    if d.is_negative() {
        return Err(format!("{s:?} is negative"));
    }
    let secs = d.as_secs() as u64;
    Ok(if d.subsec_nanos() > 0 { secs + 1 } else { secs })
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn durations_as_operators_write_them() {
        assert_eq!(parse("600"), Ok(600));
        assert_eq!(parse("30m"), Ok(1800));
        assert_eq!(parse("1h30m"), Ok(5400));
        assert_eq!(parse("90s"), Ok(90));
        assert_eq!(parse("2 hours"), Ok(7200));
        assert_eq!(parse("1.5s"), Ok(2));
        assert!(parse("soon").is_err());
        assert!(parse("-5m").is_err());
    }
}
