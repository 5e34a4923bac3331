//! Validation shared by the capability sections: the names that manifests declare
//! (secret names, config keys, approval actions) follow one rule.

use std::collections::BTreeSet;

use toml::Spanned;

use crate::manifest::Invalid;

/// Is `n` 1 to 64 characters of `a-z`, `0-9`, `-` and `_`, starting with a letter?
pub fn is_name(n: &str) -> bool {
    (1..=64).contains(&n.len())
        && n.starts_with(|c: char| c.is_ascii_lowercase())
        && n.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Check that every name is 1 to 64 characters of `a-z`, `0-9`, `-` and `_`, starts
/// with a letter, and appears once. `what` names the list in messages ("secret name").
pub fn check_names(names: &[Spanned<String>], what: &str) -> Result<(), Invalid> {
    let mut seen = BTreeSet::new();
    for name in names {
        let n = name.get_ref();
        if !is_name(n) {
            return Err(Invalid::at(
                name.span(),
                format!(
                    "invalid {what} `{n}`: use 1 to 64 characters of a-z, 0-9, `-` and `_`, starting with a letter"
                ),
            ));
        }
        if !seen.insert(n) {
            return Err(Invalid::at(name.span(), format!("duplicate {what} `{n}`")));
        }
    }
    Ok(())
}
