//! Reads the `KEY=VALUE` files that `tests/testenv.sh up` writes for each running server.

use std::collections::HashMap;

/// Parses `KEY=VALUE` lines; blank lines and `#` comments are skipped.
pub(crate) fn parse(text: &str) -> HashMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.trim().to_owned(), value.trim().to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn parses_pairs_and_skips_comments() {
        let env = parse("# c\nA=1\n\nB=x=y\n");
        assert_eq!(env.get("A").map(String::as_str), Some("1"));
        assert_eq!(env.get("B").map(String::as_str), Some("x=y"));
        assert_eq!(env.len(), 2);
    }
}
