//! What a name in `starq.toml` may be: queue names, agent ids, node names, the instance and
//! the site.
//!
//! Names travel far: into store keys, lease owners, environment variable names
//! (`STARQ_NODE_<NAME>_PASSWORD`), HTTP paths of the API, `Stasis(starq,queue=NAME)` arguments
//! (comma-separated) and `queue_log` lines (`|`-separated). An empty name, or one with
//! whitespace or control characters, is a mistake in the file that would surface much later as
//! an agent nobody can address or a corrupt log line; it is refused here, by key.

/// The longest name, in bytes.
pub(super) const MAX_LEN: usize = 128;

/// Why `name` cannot name a queue, an agent, a node or an instance, if it cannot.
pub(super) fn check(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if name.len() > MAX_LEN {
        return Err(format!("{} bytes long: at most {MAX_LEN}", name.len()));
    }
    // `|` separates queue_log fields, `,` the arguments of Stasis().
    match name.chars().find(|c| c.is_whitespace() || c.is_control() || matches!(c, '|' | ',')) {
        Some(c) => Err(format!(
            "{name:?} contains {c:?}: names take no whitespace, control characters, `|` or `,`"
        )),
        None => Ok(()),
    }
}

/// Why `site` cannot name the store's site, if it cannot: a name whose braces would not end the
/// Redis hash tag (`starq:{site}:…`) that keeps a site in one slot.
pub(super) fn check_site(site: &str) -> Result<(), String> {
    check(site)?;
    match site.chars().find(|c| matches!(c, '{' | '}')) {
        Some(c) => Err(format!("{site:?} contains {c:?}: it would break the Redis hash tag")),
        None => Ok(()),
    }
}

/// Why `name` cannot be an agent's display name (`membername` in `queue_log`), if it cannot:
/// spaces are fine there, line breaks and `|` are not.
pub(super) fn check_display(name: &str) -> Result<(), String> {
    if name.len() > MAX_LEN {
        return Err(format!("{} bytes long: at most {MAX_LEN}", name.len()));
    }
    match name.chars().find(|c| c.is_control() || *c == '|') {
        Some(c) => Err(format!("{name:?} contains {c:?}: no control characters or `|`")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_non_empty_printable_words() {
        for good in ["support", "backup-team", "n1", "agent_7", "file.d'attente", "Zürich"] {
            assert_eq!(check(good), Ok(()), "{good}");
        }
        assert_eq!(check(""), Err("must not be empty".into()));
        for bad in [" ", "a b", "a\tb", "tail\n", "a\u{0}b", "a|b", "a,b", "\u{a0}"] {
            assert!(check(bad).is_err(), "{bad:?}");
        }
        assert!(check(&"x".repeat(MAX_LEN + 1)).unwrap_err().contains("at most 128"));
        assert!(check_site("a}b").unwrap_err().contains("hash tag"));
        assert_eq!(check_display("Alice Martin"), Ok(()));
        assert!(check_display("Alice|Martin").is_err());
        assert!(check_display("Alice\r\n").is_err());
    }
}
