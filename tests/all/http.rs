//! The `http` capability end to end: the http-client fixture, installed with grants,
//! against a server this test starts on 127.0.0.1. No test reaches any other address.

use std::path::Path;

use pincer_test_support::http::TestServer;
use pincer_test_support::{Pincer, fixture};

const ID: &str = "com.example.http";

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Install the http-client fixture with `http` as its `[capabilities.http]` body, and
/// `policy` as the admin's policy. Its calls have 30 s: more than a TLS handshake and
/// five redirect hops need on a loaded machine.
fn plugin(http: &str, policy: &str) -> Pincer {
    plugin_timed(http, policy, 30_000)
}

/// [`plugin`] with a time limit per call of `timeout_ms`.
fn plugin_timed(http: &str, policy: &str, timeout_ms: u64) -> Pincer {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    let key = p.trusted_key("admin");
    let sections = format!("[capabilities.http]\n{http}\n[limits]\ntimeout_ms = {timeout_ms}\n");
    let bundle = p.bundle(&fixture("http-client"), ID, "1.0.0", &sections, &key);
    p.ok(&["install", s(&bundle), "--yes"]);
    std::fs::write(p.home.path().join("policy.toml"), policy).unwrap();
    p
}

const ALLOW_PRIVATE: &str = "[http.\"com.example.http\"]\nallow_private_networks = true\n";

fn loopback(server: &TestServer, extra: &str) -> Pincer {
    loopback_timed(server, extra, 30_000)
}

/// [`loopback`] with a time limit per call of `timeout_ms`.
fn loopback_timed(server: &TestServer, extra: &str, timeout_ms: u64) -> Pincer {
    plugin_timed(
        &format!(
            "origins = [\"http://127.0.0.1:{}\"]\nprivate_networks = true\n{extra}",
            server.port
        ),
        ALLOW_PRIVATE,
        timeout_ms,
    )
}

/// Run the `fetch` tool; returns (is the result an error, its text).
fn fetch(p: &Pincer, args: serde_json::Value) -> (bool, String) {
    let out = p.run(&["call", ID, "fetch", "--args", &args.to_string()]);
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    // The fixture prints error values with Debug: `Error::Denied("...")`.
    let text = text
        .strip_prefix("Error::")
        .map(str::to_owned)
        .unwrap_or(text);
    match out.status.code() {
        Some(0) => (false, text),
        Some(5) => (true, text),
        other => panic!(
            "exit {other:?}: {text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

fn get(p: &Pincer, url: &str) -> (bool, String) {
    fetch(p, serde_json::json!({ "url": url }))
}

fn denied(result: (bool, String), expect: &str) {
    let (is_error, text) = result;
    assert!(
        is_error && text.starts_with("Denied("),
        "expected a denial: {text}"
    );
    assert!(text.contains(expect), "expected `{expect}` in: {text}");
}

#[test]
fn allows_a_granted_origin() {
    let server = TestServer::start();
    let p = loopback(&server, "");
    let (is_error, text) = get(&p, &server.url("/bytes/1024"));
    assert!(
        !is_error && text.starts_with("status 200 bytes 1024"),
        "{text}"
    );
}

#[test]
fn denies_an_unlisted_origin_naming_the_line_to_add() {
    let server = TestServer::start();
    let other = TestServer::start();
    let p = loopback(&server, "");
    denied(
        get(&p, &other.url("/bytes/1")),
        &format!("origins = [\\\"http://127.0.0.1:{}\\\"]", other.port),
    );
    assert_eq!(other.requests(), 0);
}

#[test]
fn denies_a_name_that_resolves_to_loopback_without_the_admins_allowance() {
    let server = TestServer::start();
    // The manifest asks for private networks, the admin did not allow them.
    let p = plugin(
        &format!(
            "origins = [\"http://localhost:{0}\", \"http://127.0.0.1:{0}\"]\nprivate_networks = true\n",
            server.port
        ),
        "",
    );
    denied(
        get(&p, &format!("http://localhost:{}/bytes/1", server.port)),
        "resolves to 127.0.0.1, a loopback address",
    );
    denied(get(&p, &server.url("/bytes/1")), "a loopback address");
    assert_eq!(server.requests(), 0, "nothing reached the server");
}

#[test]
fn the_admins_allowance_alone_does_not_open_private_networks() {
    let server = TestServer::start();
    let p = plugin(
        &format!("origins = [\"http://127.0.0.1:{}\"]\n", server.port),
        ALLOW_PRIVATE,
    );
    denied(get(&p, &server.url("/bytes/1")), "private_networks = true");
    assert_eq!(server.requests(), 0);
}

#[test]
fn checks_every_redirect_hop() {
    let server = TestServer::start();
    let p = loopback(&server, "");
    let to = format!("http://localhost:{}/bytes/3", server.port);
    denied(
        get(&p, &server.url(&format!("/redirect?to={to}"))),
        "is not an allowed origin",
    );
    let (is_error, text) = get(&p, &server.url("/hops/5"));
    assert!(
        !is_error && text.starts_with("status 200 bytes 2"),
        "5 hops are fine: {text}"
    );
    denied(get(&p, &server.url("/hops/6")), "more than 5 redirects");
}

#[test]
fn refuses_a_response_over_the_cap_while_streaming() {
    let server = TestServer::start();
    let p = loopback(&server, "max_response_bytes = 1000\n");
    let (is_error, text) = get(&p, &server.url("/bytes/1000"));
    assert!(!is_error, "{text}");
    assert_eq!(
        get(&p, &server.url("/bytes/4096")),
        (true, "TooLarge(1000)".into())
    );
    assert_eq!(
        get(&p, &server.url("/chunked/4096")),
        (true, "TooLarge(1000)".into())
    );
}

#[test]
fn a_slow_server_times_out_within_the_request_and_the_call() {
    let server = TestServer::start();
    // The request's own 300 ms ends it, well before the server's 20 s answer and the
    // call's 30 s limit: anything else would take at least 20 s.
    let p = loopback(&server, "");
    let started = std::time::Instant::now();
    let r = fetch(
        &p,
        serde_json::json!({ "url": server.url("/slow/20000"), "timeout_ms": 300 }),
    );
    assert_eq!(r, (true, "Timeout".into()));
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
    // No timeout of its own: the call's deadline (3 s) bounds it, as a value, not a
    // fault, since the wait leaves the plugin a share of its limit to say so.
    let p = loopback_timed(&server, "", 3000);
    let r = get(&p, &server.url("/slow/8000"));
    assert_eq!(r, (true, "Timeout".into()));
}

#[test]
fn denies_host_and_proxy_headers_methods_and_userinfo() {
    let server = TestServer::start();
    let p = loopback(&server, "");
    let url = server.url("/headers");
    denied(
        fetch(
            &p,
            serde_json::json!({ "url": url, "headers": { "Host": "evil.test" } }),
        ),
        "`Host` header is set by Pincer",
    );
    denied(
        fetch(
            &p,
            serde_json::json!({ "url": url, "headers": { "Proxy-Authorization": "x" } }),
        ),
        "`Proxy-Authorization` header",
    );
    denied(
        fetch(&p, serde_json::json!({ "url": url, "method": "POST" })),
        "methods = [\\\"POST\\\"]",
    );
    denied(
        get(
            &p,
            &format!("http://user:pw@127.0.0.1:{}/headers", server.port),
        ),
        "user name or password",
    );
    let (is_error, text) = fetch(
        &p,
        serde_json::json!({ "url": url, "headers": { "X-Token": "t" } }),
    );
    assert!(
        !is_error && text.to_lowercase().contains("x-token: t"),
        "{text}"
    );
}

#[test]
fn malformed_urls_and_origins_are_refused() {
    let server = TestServer::start();
    let p = loopback(&server, "");
    let (is_error, text) = get(&p, "not a url");
    assert!(is_error && text.starts_with("InvalidRequest("), "{text}");
    let err = p.pack_refused(
        &fixture("http-client"),
        ID,
        "[capabilities.http]\norigins = [\"ftp://files.example.com\"]\n",
        &p.path("admin.key"),
    );
    assert!(err.contains("scheme `ftp` is not http or https"), "{err}");
}

#[test]
fn every_request_is_audited_without_its_query_string() {
    let server = TestServer::start();
    let p = loopback(&server, "");
    let (is_error, _) = get(&p, &server.url("/bytes/10?token=hunter2"));
    assert!(!is_error);
    denied(
        get(&p, "http://127.0.0.1:1/x?token=hunter2"),
        "not an allowed origin",
    );
    let records = p.ok(&["audit", "show", "--json", "--plugin", ID]);
    let lines: Vec<serde_json::Value> = records
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let request = lines
        .iter()
        .find(|r| r["event"] == "http-request")
        .expect("an http-request record");
    assert_eq!(request["details"]["path"], "/bytes/10");
    assert_eq!(request["details"]["status"], 200);
    assert_eq!(request["details"]["bytes"], 10);
    assert_eq!(
        request["details"]["origin"],
        format!("http://127.0.0.1:{}", server.port)
    );
    let denial = lines
        .iter()
        .find(|r| r["event"] == "http-denied")
        .expect("an http-denied record");
    assert!(
        denial["details"]["reason"]
            .as_str()
            .unwrap()
            .contains("not an allowed origin")
    );
    assert!(!records.contains("hunter2"), "{records}");
}

#[test]
fn requests_go_through_the_proxy_from_the_environment() {
    let target = TestServer::start();
    let proxy = TestServer::start();
    let p = loopback(&target, "");
    let out = p
        .command(&[
            "call",
            ID,
            "get",
            "--args",
            &serde_json::json!({ "url": target.url("/bytes/5") }).to_string(),
        ])
        .env("HTTP_PROXY", proxy.url(""))
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .output()
        .unwrap();
    // The proxy (a plain server here) got the request in absolute form and answered it.
    assert_eq!(proxy.requests(), 1, "{out:?}");
    assert_eq!(target.requests(), 0);
    // NO_PROXY sends it direct.
    let out = p
        .command(&[
            "call",
            ID,
            "get",
            "--args",
            &serde_json::json!({ "url": target.url("/bytes/5") }).to_string(),
        ])
        .env("HTTP_PROXY", proxy.url(""))
        .env("NO_PROXY", "127.0.0.1")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("status 200 bytes 5"),
        "{out:?}"
    );
    assert_eq!(target.requests(), 1);
}

/// `openssl s_server` on 127.0.0.1 with a certificate from a throwaway CA; killed on
/// drop. `extra` adds s_server options (such as `-tls1_1`).
struct TlsServer {
    port: u16,
    child: std::process::Child,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run `openssl` ({e}): scripts/test installs it (the Debian package `openssl`)")
        });
    assert!(out.status.success(), "openssl {args:?}: {out:?}");
}

/// A CA (`ca.pem`) and a certificate for localhost and 127.0.0.1 that it signed.
fn certificates(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=Pincer test CA",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "leaf.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
}

fn tls_server(dir: &Path, extra: &[&str]) -> TlsServer {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let accept = format!("127.0.0.1:{port}");
    let child = std::process::Command::new("openssl")
        .current_dir(dir)
        .args([
            "s_server", "-accept", &accept, "-cert", "leaf.pem", "-key", "leaf.key", "-www",
            "-quiet",
        ])
        .args(extra)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("starting openssl s_server");
    let server = TlsServer { port, child };
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "s_server did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    server
}

fn https_get(p: &Pincer, port: u16, ca: Option<&Path>) -> String {
    let url = format!("https://localhost:{port}/");
    let mut cmd = p.command(&[
        "call",
        ID,
        "get",
        "--args",
        &serde_json::json!({ "url": url }).to_string(),
    ]);
    if let Some(ca) = ca {
        cmd.env("SSL_CERT_FILE", ca);
    }
    let out = cmd.output().unwrap();
    // 0 answered, 5 the tool's error value; anything else (a fault) is no answer at all.
    assert!(
        matches!(out.status.code(), Some(0 | 5)),
        "pincer call: {out:?}"
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn https_verifies_certificates_with_the_system_trust_store_and_needs_tls_1_2() {
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path());
    let modern = tls_server(dir.path(), &[]);
    let old = tls_server(dir.path(), &["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"]);
    let p = plugin(
        &format!(
            "origins = [\"https://localhost:{}\", \"https://localhost:{}\"]\nprivate_networks = true\n",
            modern.port, old.port
        ),
        ALLOW_PRIVATE,
    );
    let ca = dir.path().join("ca.pem");
    // Trusted through the trust store (SSL_CERT_FILE points the system's at our CA).
    let text = https_get(&p, modern.port, Some(&ca));
    assert!(text.starts_with("status 200"), "{text}");
    // The same server, with the machine's usual trust store: an unknown issuer.
    let text = https_get(&p, modern.port, None);
    assert!(
        text.contains("Connection(") && text.to_lowercase().contains("certificate"),
        "{text}"
    );
    // A TLS 1.1 server is refused even with its CA trusted.
    let text = https_get(&p, old.port, Some(&ca));
    assert!(text.contains("Connection("), "{text}");
}

#[test]
fn a_failed_request_audits_no_query_string() {
    let server = TestServer::start();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let p = plugin(
        &format!(
            "origins = [\"http://127.0.0.1:{}\", \"http://127.0.0.1:{closed}\"]\nprivate_networks = true\n",
            server.port
        ),
        ALLOW_PRIVATE,
    );
    let (is_error, text) = get(&p, &format!("http://127.0.0.1:{closed}/x?token=hunter2"));
    assert!(is_error && text.starts_with("Connection("), "{text}");
    assert!(
        !text.contains("hunter2"),
        "the error shows the query: {text}"
    );
    let records = p.ok(&["audit", "show", "--json", "--plugin", ID]);
    assert!(records.contains("\"error\""), "{records}");
    assert!(!records.contains("hunter2"), "{records}");
}

#[test]
fn credentials_do_not_follow_a_redirect_to_another_origin() {
    let first = TestServer::start();
    let second = TestServer::start();
    let p = plugin(
        &format!(
            "origins = [\"http://127.0.0.1:{}\", \"http://127.0.0.1:{}\"]\nprivate_networks = true\n",
            first.port, second.port
        ),
        ALLOW_PRIVATE,
    );
    let to = second.url("/headers");
    let (is_error, text) = fetch(
        &p,
        serde_json::json!({
            "url": first.url(&format!("/redirect?to={to}")),
            "headers": { "Authorization": "Bearer s3cret", "X-Trace": "1",
                         "X-Api-Key": "k3y", "Accept-Language": "en" }
        }),
    );
    assert!(!is_error, "{text}");
    let text = text.to_lowercase();
    // Only a short list of harmless headers crosses origins: not a credential under
    // any name.
    assert!(text.contains("accept-language: en"), "{text}");
    assert!(
        !text.contains("authorization") && !text.contains("s3cret"),
        "{text}"
    );
    assert!(
        !text.contains("x-api-key") && !text.contains("k3y"),
        "{text}"
    );
    assert!(!text.contains("x-trace"), "{text}");
}

#[test]
fn a_redirect_that_changes_the_method_or_carries_a_body_elsewhere_is_checked_again() {
    let first = TestServer::start();
    let second = TestServer::start();
    // POST is allowed, GET is not: a 303 turns the POST into a GET.
    let p = plugin(
        &format!(
            "origins = [\"http://127.0.0.1:{}\", \"http://127.0.0.1:{}\"]\nmethods = [\"POST\"]\nprivate_networks = true\n",
            first.port, second.port
        ),
        ALLOW_PRIVATE,
    );
    let (is_error, text) = fetch(
        &p,
        serde_json::json!({
            "url": first.url(&format!("/see-other?to={}", first.url("/headers"))),
            "method": "POST",
            "body": "payload",
        }),
    );
    assert!(is_error, "{text}");
    assert!(text.contains("method GET is not allowed"), "{text}");
    // A 307 to another origin would resend the body there: refused, not sent.
    let before = second.requests();
    let (is_error, text) = fetch(
        &p,
        serde_json::json!({
            "url": first.url(&format!("/temporary?to={}", second.url("/headers"))),
            "method": "POST",
            "body": "secret payload",
        }),
    );
    assert!(is_error, "{text}");
    assert!(text.contains("would send the request body there"), "{text}");
    assert_eq!(
        second.requests(),
        before,
        "the body reached the other origin"
    );
    // Within the origin a 307 keeps its method and body.
    let (is_error, text) = fetch(
        &p,
        serde_json::json!({
            "url": first.url(&format!("/temporary?to={}", first.url("/headers"))),
            "method": "POST",
            "body": "payload",
        }),
    );
    assert!(!is_error, "{text}");
}

#[test]
fn the_policy_caps_the_response_size_whatever_the_manifest_asks() {
    let server = TestServer::start();
    let p = plugin(
        &format!(
            "origins = [\"http://127.0.0.1:{}\"]\nprivate_networks = true\nmax_response_bytes = 1000000\n",
            server.port
        ),
        &format!("[limits]\nmax_response_bytes = 1000\n\n{ALLOW_PRIVATE}"),
    );
    let (is_error, text) = get(&p, &server.url("/bytes/900"));
    assert!(!is_error, "{text}");
    assert_eq!(
        get(&p, &server.url("/bytes/2000")),
        (true, "TooLarge(1000)".into())
    );
}
