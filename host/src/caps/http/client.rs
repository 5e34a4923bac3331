//! The host side of `pincer:plugin/http`: one reqwest client per plugin, whose DNS
//! resolver refuses internal addresses and whose redirect policy checks every hop
//! against the grant, at most [`MAX_REDIRECTS`] of them.
//!
//! Order of checks for each request, the first failing one answers `denied`: method,
//! headers (no `Host`, no `Proxy-*`), URL against the grant (scheme, userinfo, origin),
//! an address literal against the internal ranges; then, while connecting, every
//! address the name resolves to; then every redirect hop, the same way. The response
//! body is read in chunks and refused past the cap; the request never outlives the
//! call's deadline. Every request is audited, denied ones with the reason; the fields a
//! plugin chose (a path, a URL in a reason) are cleaned of its secret values first.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::Url;

use super::HttpRules;
use super::addr::internal;
use wasmtime::component::{HasData, Linker};

use crate::audit::Event;
use crate::caps::bindings::pincer::plugin::http::{self as wit, Error, Host, Request, Response};
use crate::caps::redact::Place;
use crate::caps::{CapsError, CapsView, LoadContext, View};

/// The most redirects a request follows.
pub const MAX_REDIRECTS: usize = 5;

/// The largest request body a plugin may send: 16 MiB.
pub const MAX_REQUEST_BYTES: usize = 16 << 20;

/// A refusal raised inside reqwest (resolver, redirect policy), found again in the
/// error's source chain.
#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// Resolves names with the system resolver and refuses internal addresses unless
/// private networks are allowed.
struct CheckedResolver {
    allow_private: bool,
    /// The proxies' own host names: the admin chose them, so they may be internal.
    proxies: Arc<[String]>,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private
            || self
                .proxies
                .iter()
                .any(|p| p.eq_ignore_ascii_case(name.as_str()));
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            check_addresses(&host, &addrs, allow_private).map_err(|why| {
                Box::new(Refused(why)) as Box<dyn std::error::Error + Send + Sync>
            })?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

fn check_addresses(host: &str, addrs: &[SocketAddr], allow_private: bool) -> Result<(), String> {
    if allow_private {
        return Ok(());
    }
    match addrs
        .iter()
        .find_map(|a| internal(a.ip()).map(|why| (a.ip(), why)))
    {
        Some((ip, why)) => Err(private_refusal(Some(host), ip, why)),
        None => Ok(()),
    }
}

/// Why an internal address is refused: `host` is the name that resolved to `ip`, or
/// `None` when the URL named the address itself.
fn private_refusal(host: Option<&str>, ip: IpAddr, why: &str) -> String {
    let what = match host {
        Some(host) => format!("{host} resolves to {ip}, {why}"),
        None => format!("{ip} is {why}"),
    };
    format!(
        "{what}; internal networks need `private_networks = true` in [capabilities.http] and, in the admin's policy.toml, `allow_private_networks = true` for this plugin"
    )
}

/// An address literal in `url` that points inside, if private networks are not allowed.
fn literal_refusal(url: &Url, allow_private: bool) -> Option<String> {
    if allow_private {
        return None;
    }
    let ip: IpAddr = match url.host()? {
        url::Host::Ipv4(v4) => v4.into(),
        url::Host::Ipv6(v6) => v6.into(),
        url::Host::Domain(_) => return None,
    };
    internal(ip).map(|why| private_refusal(None, ip, why))
}

/// One plugin's HTTP client and rules; shared by its instances.
pub struct HttpClient {
    rules: Arc<HttpRules>,
    client: reqwest::Client,
    proxied: bool,
}

impl HttpClient {
    /// A client for `rules`: rustls with the system's trust store, TLS 1.2 at least,
    /// `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` from the environment.
    pub fn new(rules: HttpRules) -> Result<Self, String> {
        let rules = Arc::new(rules);
        let proxy_vars = ["HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY"];
        let proxies: Vec<String> = proxy_vars
            .iter()
            .flat_map(|v| [std::env::var(v).ok(), std::env::var(v.to_lowercase()).ok()])
            .flatten()
            .filter_map(|p| {
                let with_scheme = if p.contains("://") {
                    p
                } else {
                    format!("http://{p}")
                };
                Url::parse(&with_scheme).ok()?.host_str().map(str::to_owned)
            })
            .collect();
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(CheckedResolver {
                allow_private: rules.private_networks,
                proxies: proxies.clone().into(),
            }))
            // Redirects are followed in `fetch`, each hop checked like the first.
            .redirect(reqwest::redirect::Policy::none())
            .min_tls_version(reqwest::tls::Version::TLS_1_2)
            .user_agent(concat!("pincer/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(HttpClient {
            rules,
            client,
            proxied: !proxies.is_empty(),
        })
    }

    /// May a request go to `url`? Grant, address literal, and, through a proxy (which
    /// resolves the name itself), the addresses the name resolves to here; a name
    /// that does not resolve here is refused then.
    async fn check_target(&self, url: &Url) -> Result<(), String> {
        self.rules.allows(url)?;
        if let Some(why) = literal_refusal(url, self.rules.private_networks) {
            return Err(why);
        }
        if self.proxied
            && !self.rules.private_networks
            && let Some(url::Host::Domain(host)) = url.host()
        {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
                .await
                .map_err(|e| format!("{host} does not resolve here ({e}), so it cannot be checked before the proxy fetches it"))?
                .collect();
            check_addresses(host, &addrs, false)?;
        }
        Ok(())
    }
}

/// What one instance may do: its plugin's client, until its call's deadline.
#[derive(Clone, Default)]
pub struct HttpState {
    client: Option<Arc<HttpClient>>,
}

impl HttpState {
    /// The state of the plugin in `load`: a client for its `[capabilities.http]`
    /// grant, under the admin's policy (private networks, the response cap); without
    /// a grant, no client, and every request is denied.
    pub fn new(load: &LoadContext<'_>) -> Result<Self, CapsError> {
        let Some(grant) = &load.manifest.capabilities.http else {
            return Ok(HttpState::default());
        };
        let policy = load.policy;
        let allow_private = policy
            .http
            .get(&**load.plugin)
            .is_some_and(|p| p.allow_private_networks);
        let mut rules = HttpRules::new(grant, allow_private);
        rules.max_response_bytes = load.capped(
            "max_response_bytes",
            rules.max_response_bytes,
            policy.limits.max_response_bytes,
        );
        let client = HttpClient::new(rules).map_err(CapsError::Http)?;
        Ok(HttpState {
            client: Some(Arc::new(client)),
        })
    }
}

struct HasHttp;

impl HasData for HasHttp {
    type Data<'a> = View<'a, HttpState>;
}

/// Link `pincer:plugin/http`.
pub fn add_to_linker<T: CapsView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasHttp>(linker, |t| {
        let caps = t.caps().caps;
        View {
            call: &caps.call,
            state: &mut caps.http,
        }
    })
}

impl View<'_, HttpState> {
    /// Audit `event` with `details`, redacted (a URL's path may carry a secret value),
    /// then each text cut to [`MAX_AUDIT_FIELD`]: in that order, so that a value cut
    /// in two cannot slip past the redaction.
    fn record(&self, event: Event, mut details: serde_json::Value) {
        let call = self.call;
        call.redact.json(&mut details, Place::HttpAudit);
        if let Some(fields) = details.as_object_mut() {
            for value in fields.values_mut() {
                if let serde_json::Value::String(text) = value {
                    *text = clip(text);
                }
            }
        }
        if event == Event::HttpDenied {
            // A plugin can be refused as often as it likes: bounded.
            call.audit
                .enqueue_limited("host", event, Some(&call.plugin), details);
        } else {
            call.audit
                .enqueue("host", event, Some(&call.plugin), details);
        }
    }

    fn denied(&self, method: &str, url: &str, why: String) -> Error {
        self.record(
            Event::HttpDenied,
            serde_json::json!({ "method": method, "url": url, "reason": why }),
        );
        Error::Denied(self.call.denials.note(why))
    }
}

fn strip_query(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.to_string()
}

fn origin_of(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// Audit fields a plugin controls are cut to this many characters.
const MAX_AUDIT_FIELD: usize = 512;

fn clip(s: &str) -> String {
    crate::audit::clipped(s, MAX_AUDIT_FIELD)
}

/// The only headers a plugin set that follow a redirect to another origin: none that
/// can carry a credential, whatever its name.
const CROSS_ORIGIN_HEADERS: [&str; 6] = [
    "accept",
    "accept-language",
    "cache-control",
    "content-language",
    "pragma",
    "user-agent",
];

impl Host for View<'_, HttpState> {
    async fn fetch(&mut self, request: Request) -> Result<Response, Error> {
        let Some(http) = self.state.client.clone() else {
            return Err(Error::Denied(self.call.denials.note(
                "no HTTP access is granted; add [capabilities.http] origins = [...] to the manifest".into(),
            )));
        };
        let rules = &http.rules;
        let method = request.method.to_ascii_uppercase();
        let mut url = match Url::parse(&request.url) {
            Ok(u) => u,
            Err(e) => {
                return Err(Error::InvalidRequest(format!(
                    "`{}` is not a URL: {e}",
                    clip(&request.url)
                )));
            }
        };
        if !rules.methods.contains(&method) {
            let why = format!(
                "method {} is not allowed; add it to the manifest: [capabilities.http] methods = [\"{}\"]",
                clip(&method),
                clip(&method)
            );
            return Err(self.denied(&method, &strip_query(&url), why));
        }
        if let Some((name, _)) = request.headers.iter().find(|(n, _)| {
            let n = n.to_ascii_lowercase();
            n == "host" || n.starts_with("proxy-")
        }) {
            let why = format!(
                "the `{}` header is set by Pincer, not by plugins",
                clip(name)
            );
            return Err(self.denied(&method, &strip_query(&url), why));
        }
        if request
            .body
            .as_ref()
            .is_some_and(|b| b.len() > MAX_REQUEST_BYTES)
        {
            return Err(Error::InvalidRequest(format!(
                "the request body is over {MAX_REQUEST_BYTES} bytes"
            )));
        }
        let mut http_method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|_| Error::InvalidRequest(format!("`{}` is not a method", clip(&method))))?;
        // Never outlive the call, and leave the plugin time to act on the outcome.
        let left = self.call.clock.wait_left();
        let timeout = request
            .timeout_ms
            .map(|ms| Duration::from_millis(ms.into()))
            .unwrap_or(left)
            .min(left);
        let started = Instant::now();
        let mut headers = request.headers;
        let mut body = request.body;
        let mut hops = 0;
        let outcome = tokio::time::timeout(timeout, async {
            loop {
                if let Err(why) = http.check_target(&url).await {
                    let why = if hops == 0 {
                        why
                    } else {
                        format!("redirect to {}: {why}", strip_query(&url))
                    };
                    return Err(Error::Denied(why));
                }
                let mut builder = http.client.request(http_method.clone(), url.clone());
                for (name, value) in &headers {
                    builder = builder.header(name.as_str(), value.as_str());
                }
                if let Some(body) = &body {
                    builder = builder.body(body.clone());
                }
                let mut response = builder.send().await.map_err(classify)?;
                let status = response.status();
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .map(str::to_owned);
                if status.is_redirection()
                    && let Some(location) = location
                {
                    hops += 1;
                    if hops > MAX_REDIRECTS {
                        return Err(Error::Denied(format!(
                            "more than {MAX_REDIRECTS} redirects"
                        )));
                    }
                    let next = url.join(&location).map_err(|e| {
                        Error::Connection(format!("a redirect to an invalid location: {e}"))
                    })?;
                    self.record(
                        Event::HttpRequest,
                        serde_json::json!({
                            "method": http_method.as_str(), "origin": origin_of(&url),
                            "path": url.path(), "status": status.as_u16(),
                            "redirect_to": strip_query(&next),
                        }),
                    );
                    // 303, and 301/302 after a POST, continue as a GET without a body.
                    if status == reqwest::StatusCode::SEE_OTHER
                        || (http_method == reqwest::Method::POST
                            && (status == reqwest::StatusCode::MOVED_PERMANENTLY
                                || status == reqwest::StatusCode::FOUND))
                    {
                        http_method = reqwest::Method::GET;
                        body = None;
                    }
                    // Every hop is a request of its own: its method must be allowed too.
                    if !rules.methods.iter().any(|m| m == http_method.as_str()) {
                        return Err(Error::Denied(format!(
                            "redirect to {}: method {} is not allowed; add it to the manifest: [capabilities.http] methods = [\"{}\"]",
                            strip_query(&next),
                            http_method,
                            http_method
                        )));
                    }
                    if next.origin() != url.origin() {
                        // A 307 or 308 would resend the body to an origin it was not
                        // written for.
                        if body.is_some() {
                            return Err(Error::Denied(format!(
                                "a {} redirect to another origin ({}) would send the request body there; Pincer follows such a redirect only within the origin",
                                status.as_u16(),
                                origin_of(&next)
                            )));
                        }
                        // What the plugin set for one origin (credentials under any
                        // name, such as X-Api-Key) does not go to another.
                        headers.retain(|(n, _)| {
                            CROSS_ORIGIN_HEADERS.contains(&n.to_ascii_lowercase().as_str())
                        });
                    }
                    url = next;
                    continue;
                }
                let headers: Vec<(String, String)> = response
                    .headers()
                    .iter()
                    .map(|(n, v)| {
                        (
                            n.as_str().to_owned(),
                            String::from_utf8_lossy(v.as_bytes()).into_owned(),
                        )
                    })
                    .collect();
                let cap = rules.max_response_bytes;
                if response.content_length().is_some_and(|n| n > cap) {
                    return Err(Error::TooLarge(cap));
                }
                let mut body = Vec::new();
                while let Some(chunk) = response.chunk().await.map_err(classify)? {
                    if (body.len() + chunk.len()) as u64 > cap {
                        return Err(Error::TooLarge(cap));
                    }
                    body.extend_from_slice(&chunk);
                }
                return Ok(Response {
                    status: status.as_u16(),
                    headers,
                    body,
                });
            }
        })
        .await;
        let ms = (started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0;
        let result = outcome.unwrap_or(Err(Error::Timeout));
        let shown = strip_query(&url);
        match &result {
            Ok(r) => self.record(
                Event::HttpRequest,
                serde_json::json!({
                    "method": http_method.as_str(), "origin": origin_of(&url), "path": url.path(),
                    "status": r.status, "bytes": r.body.len(), "ms": ms,
                }),
            ),
            Err(Error::Denied(why)) => {
                let why = why.clone();
                self.denied(&method, &shown, why);
            }
            Err(e) => self.record(
                Event::HttpRequest,
                serde_json::json!({
                    "method": http_method.as_str(), "origin": origin_of(&url), "path": url.path(),
                    "error": clip(&format!("{e:?}")), "ms": ms,
                }),
            ),
        }
        result
    }
}

/// Map a reqwest error to the plugin's error value, without the request's URL (whose
/// query string may hold a secret).
fn classify(e: reqwest::Error) -> Error {
    if e.is_timeout() {
        return Error::Timeout;
    }
    let e = e.without_url();
    // reqwest's own message is generic; the cause (refused connection, unknown
    // certificate issuer, handshake failure) is in the chain.
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        if let Some(refused) = s.downcast_ref::<Refused>() {
            return Error::Denied(refused.0.clone());
        }
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    Error::Connection(message)
}

#[cfg(test)]
mod tests {
    use pincer_test_support::http::TestServer;

    use super::*;
    use crate::caps::testing::{Fixture, PLUGIN, block_on};

    fn fetch(f: &Fixture, sections: &str, request: Request) -> Result<Response, Error> {
        let mut caps = f.instance(sections);
        let mut view = View {
            call: &caps.call,
            state: &mut caps.http,
        };
        block_on(view.fetch(request))
    }

    fn get(url: &str) -> Request {
        Request {
            method: "GET".into(),
            url: url.into(),
            headers: Vec::new(),
            body: None,
            timeout_ms: None,
        }
    }

    fn grant(origin: &str) -> String {
        format!(
            "[capabilities.http]\norigins = [\"{origin}\"]\nmethods = [\"GET\"]\nprivate_networks = true\n"
        )
    }

    fn policy_allowing_private() -> Fixture {
        Fixture::with_policy(&format!(
            "[http.\"{PLUGIN}\"]\nallow_private_networks = true\n"
        ))
    }

    #[test]
    fn a_granted_origin_is_reached_and_the_request_audited_without_its_query() {
        let server = TestServer::start();
        let f = policy_allowing_private();
        let origin = server.url("");
        let response = fetch(&f, &grant(&origin), get(&server.url("/bytes/5?token=abc"))).unwrap();
        assert_eq!((response.status, response.body), (200, b"xxxxx".to_vec()));
        let records = f.records("http-request");
        assert_eq!(records.len(), 1);
        assert_eq!(records[0]["details"]["path"], "/bytes/5");
        assert!(!records[0].to_string().contains("token=abc"));
    }

    #[test]
    fn denials_name_their_fix_and_are_audited() {
        let server = TestServer::start();
        let f = policy_allowing_private();
        let granted = grant(&server.url(""));
        let cases = [
            (
                "",
                get(&server.url("/bytes/1")),
                "[capabilities.http] origins",
            ),
            (granted.as_str(), get("http://127.0.0.2:1/x"), "not"),
            (
                granted.as_str(),
                Request {
                    method: "DELETE".into(),
                    ..get(&server.url("/bytes/1"))
                },
                "methods = [\"DELETE\"]",
            ),
            (
                granted.as_str(),
                Request {
                    headers: vec![("Host".into(), "evil.example".into())],
                    ..get(&server.url("/bytes/1"))
                },
                "set by Pincer",
            ),
        ];
        for (sections, request, fix) in cases {
            match fetch(&f, sections, request) {
                Err(Error::Denied(why)) => assert!(why.contains(fix), "{why} lacks {fix}"),
                other => panic!("expected a denial with {fix}, got {other:?}"),
            }
        }
        assert_eq!(f.records("http-denied").len(), 3);
    }

    #[test]
    fn internal_addresses_are_refused_unless_the_admin_allows_them() {
        let server = TestServer::start();
        let f = Fixture::new();
        match fetch(&f, &grant(&server.url("")), get(&server.url("/bytes/1"))) {
            Err(Error::Denied(why)) => assert!(why.contains("127.0.0.1"), "{why}"),
            other => panic!("expected a denial, got {other:?}"),
        }
    }

    #[test]
    fn malformed_requests_are_invalid_not_denied() {
        let server = TestServer::start();
        let f = policy_allowing_private();
        let granted = grant(&server.url(""));
        for request in [
            get("not a url"),
            Request {
                method: "GET".into(),
                body: Some(vec![0; MAX_REQUEST_BYTES + 1]),
                ..get(&server.url("/bytes/1"))
            },
        ] {
            assert!(
                matches!(fetch(&f, &granted, request), Err(Error::InvalidRequest(_))),
                "expected invalid-request"
            );
        }
    }
}
