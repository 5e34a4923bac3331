//! The HTTP capability: outbound requests through the host's client.
//!
//! This module owns the `[capabilities.http]` manifest section. The host side of the
//! `pincer:plugin/http` interface (URL, DNS and redirect checks on a reqwest client)
//! is not in this version yet: a component that imports it is refused at load time
//! with that reason, even when its manifest asks for the grant.

use serde::Deserialize;
use toml::Spanned;

use crate::manifest::Invalid;

/// The `[capabilities.http]` section: the origins, methods and response size a
/// plugin asks for. By default (no section) no request is allowed.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HttpGrant {
    /// Allowed origins: `https://api.example.com`, `https://*.example.com`,
    /// `http://host:8080`, or `*` for any (a high-risk grant).
    #[serde(default)]
    pub origins: Vec<Spanned<String>>,
    /// Allowed methods, upper case. Default: `GET` only.
    #[serde(default)]
    pub methods: Vec<Spanned<String>>,
    /// The largest response body in bytes. Default: 10 MiB.
    #[serde(default)]
    pub max_response_bytes: Option<u64>,
}

/// The methods a grant allows when it lists none.
pub const DEFAULT_METHODS: [&str; 1] = ["GET"];

/// The response size cap when a grant sets none: 10 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 10 << 20;

const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

impl HttpGrant {
    /// Check the section on its own: each origin well-formed, methods known.
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.origins.is_empty() {
            return Err(Invalid::section(
                "[capabilities.http] needs `origins`, such as origins = [\"https://api.example.com\"]",
            ));
        }
        for origin in &self.origins {
            check_origin(origin.get_ref()).map_err(|why| {
                Invalid::at(
                    origin.span(),
                    format!("invalid origin `{}`: {why}", origin.get_ref()),
                )
            })?;
        }
        for method in &self.methods {
            if !METHODS.contains(&method.get_ref().as_str()) {
                return Err(Invalid::at(
                    method.span(),
                    format!(
                        "unknown method `{}`: use one of {}",
                        method.get_ref(),
                        METHODS.join(", ")
                    ),
                ));
            }
        }
        if self.max_response_bytes == Some(0) {
            return Err(Invalid::section("max_response_bytes must be at least 1"));
        }
        Ok(())
    }
}

/// Check one origin pattern: `*`, or `scheme://host[:port]` where the scheme is `http`
/// or `https`, the host may start with `*.`, and nothing follows the port.
fn check_origin(origin: &str) -> Result<(), String> {
    if origin == "*" {
        return Ok(());
    }
    let (scheme, rest) = origin
        .split_once("://")
        .ok_or("write it as scheme://host, such as https://api.example.com")?;
    if scheme != "https" && scheme != "http" {
        return Err(format!("scheme `{scheme}` is not http or https"));
    }
    if rest.contains(['/', '?', '#']) {
        return Err("an origin has no path, query or fragment".into());
    }
    if rest.contains('@') {
        return Err("an origin has no user name or password".into());
    }
    let host = rest.strip_prefix("*.").unwrap_or(rest);
    let probe = format!("{scheme}://{host}/");
    let url = url::Url::parse(&probe).map_err(|e| e.to_string())?;
    if url
        .host_str()
        .is_none_or(|h| h.is_empty() || h.contains('*'))
    {
        return Err("the host is missing or has a wildcard other than a leading `*.`".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_origin;

    #[test]
    fn accepts_exact_wildcard_and_ported_origins() {
        for ok in [
            "https://api.example.com",
            "https://*.example.com",
            "http://localhost:8080",
            "*",
        ] {
            assert!(check_origin(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_paths_userinfo_odd_schemes_and_inner_wildcards() {
        for bad in [
            "api.example.com",
            "ftp://example.com",
            "https://example.com/path",
            "https://user@example.com",
            "https://a.*.example.com",
            "https://",
        ] {
            assert!(check_origin(bad).is_err(), "{bad}");
        }
    }
}
