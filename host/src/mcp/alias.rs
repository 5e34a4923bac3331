//! Tool-name prefixes ("aliases") of `mcp-server` plugins.
//!
//! `pincer mcp` names a tool `<alias>__<tool>`. An alias is 1 to 32 of `a-z`, `0-9`
//! and `-`, so it never contains `_`: the first `__` of an exposed name always ends the
//! alias, and two plugins with different aliases can never expose the same name. That
//! is why a collision is refused once, when a plugin is installed or its alias changed,
//! and can never happen at call time.
//!
//! The empty alias serves a plugin's tools under their own names (a client that
//! expects a particular server's tool names, such as a conformance suite). At most one
//! plugin can have it, and its tools whose names contain `__` are not served, so that
//! it cannot collide with a prefixed name either.

use crate::manifest::PluginKind;
use crate::store::plugins::{Installed, PluginStore, StoreError};

/// The longest alias.
pub const MAX_LEN: usize = 32;

/// The alias a plugin gets unless the admin sets one: the last segment of its id.
pub fn default_alias(id: &str) -> &str {
    id.rsplit('.').next().unwrap_or(id)
}

/// The alias `installed` is served under.
pub fn alias_of(installed: &Installed) -> &str {
    installed
        .alias
        .as_deref()
        .unwrap_or_else(|| default_alias(&installed.id))
}

/// Check that `alias` is well formed; the error says the rule.
pub fn check_alias(alias: &str) -> Result<(), String> {
    let ok = (0..=MAX_LEN).contains(&alias.len())
        && alias
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{alias}` is not a valid alias: use 1 to {MAX_LEN} of a-z, 0-9 and `-` (no `_`, so that `ALIAS__TOOL` names cannot collide), or none at all"
        ))
    }
}

/// Does `installed` serve MCP tools now, or will it once its pending update is approved?
pub fn is_mcp(installed: &Installed) -> bool {
    let mcp = PluginKind::McpServer.as_str();
    installed.active.grants.kind == mcp
        || installed
            .pending
            .as_ref()
            .is_some_and(|p| p.grants.kind == mcp)
}

/// The installed `mcp-server` plugin other than `id` that is (or, once approved, will
/// be) served as `alias`, if any.
pub fn taken_by(store: &PluginStore, id: &str, alias: &str) -> Result<Option<String>, StoreError> {
    Ok(store
        .list()?
        .into_iter()
        .filter(|p| p.id != id && is_mcp(p))
        .find(|p| alias_of(p) == alias)
        .map(|p| p.id))
}

/// Check that `id` may be served as `alias`: well formed and not another plugin's.
/// The error names the way out.
pub fn check_free(store: &PluginStore, id: &str, alias: &str) -> Result<(), String> {
    check_alias(alias)?;
    match taken_by(store, id, alias).map_err(|e| e.to_string())? {
        None => Ok(()),
        Some(other) if alias.is_empty() => Err(format!(
            "plugin {other} already serves its tools without a prefix; only one plugin can (see `pincer alias`)"
        )),
        Some(other) => Err(format!(
            "its tools would be named `{alias}__…`, which plugin {other} already uses; choose another prefix with `--alias NAME` (or rename the other with `pincer alias {other} NAME`)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_cannot_make_colliding_names() {
        assert_eq!(default_alias("dev.pincer.files"), "files");
        assert!(check_alias("files").is_ok());
        assert!(check_alias("my-files2").is_ok());
        assert!(check_alias("").is_ok(), "no prefix at all is allowed");
        for bad in ["a_b", "a__b", "Files", "a.b", &"x".repeat(33)] {
            assert!(check_alias(bad).is_err(), "{bad:?} accepted");
        }
    }
}
