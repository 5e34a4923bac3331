//! The HTTP capability: outbound requests through the host's client.
//!
//! This module owns the `[capabilities.http]` manifest section and its origin patterns
//! ([`OriginPattern`], with the pure check [`HttpRules::allows`]); [`addr`] owns the
//! address ranges a plugin may not reach without the admin's leave; [`client`] owns the
//! host side of `pincer:plugin/http`: a reqwest client (rustls, the system's roots,
//! TLS 1.2 at least, proxies from the environment) whose DNS resolver and redirect
//! policy apply the same checks to every address and every hop.

pub mod addr;
pub mod client;

use serde::Deserialize;
use toml::Spanned;
use url::Url;

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
    /// Ask to reach loopback, private, link-local and other internal addresses. Takes
    /// effect only if the admin's policy also allows it for this plugin. Default false.
    #[serde(default)]
    pub private_networks: bool,
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

/// One allowed origin: `*` (any http or https origin), or a scheme, a host (or every
/// subdomain of one, `*.example.com`) and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginPattern {
    /// `*`.
    Any,
    /// `scheme://[*.]host[:port]`.
    Origin {
        /// `http` or `https`.
        scheme: String,
        /// Lower case, IDNs in punycode, no trailing dot.
        host: String,
        /// Subdomains of `host` (not `host` itself).
        wildcard: bool,
        /// The port, the scheme's default if not written.
        port: u16,
    },
}

impl OriginPattern {
    /// Parse an origin as a manifest writes it; host names are normalised (case,
    /// trailing dot, IDN), so `https://Bücher.Example.` is `https://xn--bcher-kva.example`.
    pub fn parse(origin: &str) -> Result<Self, String> {
        if origin == "*" {
            return Ok(OriginPattern::Any);
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
        let (wildcard, host) = match rest.strip_prefix("*.") {
            Some(h) => (true, h),
            None => (false, rest),
        };
        let url = Url::parse(&format!("{scheme}://{host}/")).map_err(|e| e.to_string())?;
        let host = match url.host() {
            Some(url::Host::Domain(d)) if !d.is_empty() && !d.contains('*') => {
                d.trim_end_matches('.').to_owned()
            }
            Some(url::Host::Domain(_)) | None => {
                return Err(
                    "the host is missing or has a wildcard other than a leading `*.`".into(),
                );
            }
            Some(ip) if !wildcard => ip.to_string(),
            Some(_) => return Err("a wildcard origin needs a domain, not an address".into()),
        };
        Ok(OriginPattern::Origin {
            scheme: scheme.to_owned(),
            host,
            wildcard,
            port: url
                .port_or_known_default()
                .expect("http and https have default ports"),
        })
    }

    /// Does this pattern allow `scheme://host:port` (`host` already normalised)?
    fn matches(&self, scheme: &str, host: &str, port: u16) -> bool {
        match self {
            OriginPattern::Any => true,
            OriginPattern::Origin {
                scheme: s,
                host: h,
                wildcard,
                port: p,
            } => {
                s == scheme
                    && *p == port
                    && if *wildcard {
                        host.len() > h.len() + 1 && host.ends_with(&format!(".{h}"))
                    } else {
                        host == h
                    }
            }
        }
    }
}

impl std::fmt::Display for OriginPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OriginPattern::Any => f.write_str("*"),
            OriginPattern::Origin {
                scheme,
                host,
                wildcard,
                port,
            } => {
                let default = if scheme == "https" { 443 } else { 80 };
                let star = if *wildcard { "*." } else { "" };
                let host = if host.contains(':') {
                    format!("[{host}]")
                } else {
                    host.clone()
                };
                if *port == default {
                    write!(f, "{scheme}://{star}{host}")
                } else {
                    write!(f, "{scheme}://{star}{host}:{port}")
                }
            }
        }
    }
}

fn check_origin(origin: &str) -> Result<(), String> {
    OriginPattern::parse(origin).map(|_| ())
}

/// A plugin's effective HTTP rules: its grant, checked, with the admin's word on
/// private networks. By default (no grant) nothing is allowed.
#[derive(Debug, Clone, Default)]
pub struct HttpRules {
    /// Allowed origins.
    pub origins: Vec<OriginPattern>,
    /// Allowed methods.
    pub methods: Vec<String>,
    /// The response size cap.
    pub max_response_bytes: u64,
    /// Both the manifest asked and the admin allowed private networks.
    pub private_networks: bool,
}

impl HttpRules {
    /// The rules of `grant`; `admin_allows_private` is the policy's answer to its ask.
    pub fn new(grant: &HttpGrant, admin_allows_private: bool) -> Self {
        HttpRules {
            origins: grant
                .origins
                .iter()
                .filter_map(|o| OriginPattern::parse(o.get_ref()).ok())
                .collect(),
            methods: if grant.methods.is_empty() {
                DEFAULT_METHODS.iter().map(|m| m.to_string()).collect()
            } else {
                grant.methods.iter().map(|m| m.get_ref().clone()).collect()
            },
            max_response_bytes: grant
                .max_response_bytes
                .unwrap_or(DEFAULT_MAX_RESPONSE_BYTES),
            private_networks: grant.private_networks && admin_allows_private,
        }
    }

    /// May the plugin request `url`? The reason if not. Checks scheme, userinfo and
    /// origin; addresses are checked when they are known (see [`addr`]).
    pub fn allows(&self, url: &Url) -> Result<(), String> {
        let scheme = url.scheme();
        if scheme != "http" && scheme != "https" {
            return Err(format!("scheme `{scheme}` is not http or https"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(
                "a URL with a user name or password is refused; send credentials in a header"
                    .into(),
            );
        }
        let host = match url.host() {
            Some(url::Host::Domain(d)) => d.trim_end_matches('.').to_ascii_lowercase(),
            Some(ip) => ip.to_string(),
            None => return Err("the URL has no host".into()),
        };
        let port = url.port_or_known_default().unwrap_or(0);
        if self.origins.iter().any(|o| o.matches(scheme, &host, port)) {
            return Ok(());
        }
        let default = if scheme == "https" { 443 } else { 80 };
        let origin = if port == default {
            format!("{scheme}://{host}")
        } else {
            format!("{scheme}://{host}:{port}")
        };
        Err(format!(
            "{origin} is not an allowed origin; add it to the manifest: [capabilities.http] origins = [\"{origin}\"]"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(origins: &[&str]) -> HttpRules {
        HttpRules {
            origins: origins
                .iter()
                .map(|o| OriginPattern::parse(o).unwrap())
                .collect(),
            methods: vec!["GET".into()],
            max_response_bytes: 10,
            private_networks: false,
        }
    }

    fn allowed(r: &HttpRules, url: &str) -> bool {
        r.allows(&Url::parse(url).unwrap()).is_ok()
    }

    #[test]
    fn allows_exact_origins_with_their_default_or_listed_port() {
        let r = rules(&["https://api.example.com", "http://localhost:8080"]);
        assert!(allowed(&r, "https://api.example.com/v1?q=1"));
        assert!(allowed(&r, "https://api.example.com:443/"));
        assert!(allowed(&r, "http://localhost:8080/x"));
        assert!(!allowed(&r, "https://api.example.com:8443/"));
        assert!(!allowed(&r, "http://api.example.com/"));
        assert!(!allowed(&r, "http://localhost/"));
        assert!(!allowed(&r, "https://example.com/"));
        assert!(!allowed(&r, "https://api.example.com.evil.net/"));
    }

    #[test]
    fn allows_wildcard_subdomains_but_not_the_apex_or_lookalikes() {
        let r = rules(&["https://*.example.com"]);
        assert!(allowed(&r, "https://a.example.com/"));
        assert!(allowed(&r, "https://a.b.example.com/"));
        assert!(!allowed(&r, "https://example.com/"));
        assert!(!allowed(&r, "https://evilexample.com/"));
        assert!(!allowed(&r, "http://a.example.com/"));
        assert!(allowed(&rules(&["*"]), "http://anything.test:1234/"));
        assert!(!allowed(&rules(&["*"]), "ftp://anything.test/"));
    }

    #[test]
    fn normalises_case_trailing_dots_and_idns() {
        let r = rules(&["https://Bücher.Example."]);
        assert_eq!(r.origins[0].to_string(), "https://xn--bcher-kva.example");
        assert!(allowed(&r, "https://BÜCHER.example./"));
        assert!(allowed(&r, "https://xn--bcher-kva.example/"));
        assert!(allowed(
            &rules(&["https://api.example.com"]),
            "https://API.EXAMPLE.COM./"
        ));
    }

    #[test]
    fn refuses_userinfo_tricks_and_other_schemes() {
        let r = rules(&["https://api.example.com"]);
        assert!(!allowed(&r, "https://api.example.com@evil.net/"));
        assert!(!allowed(&r, "https://user:pw@api.example.com/"));
        assert!(!allowed(&r, "file:///etc/passwd"));
        let why = r
            .allows(&Url::parse("https://evil.net/").unwrap())
            .unwrap_err();
        assert!(why.contains("origins = [\"https://evil.net\"]"), "{why}");
    }

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
