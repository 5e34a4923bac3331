//! The `chat` kind end to end: the reference `chat` plugin, installed from its real
//! manifest as an admin would, completes conversations against a fake OpenAI
//! chat-completions API that this test starts on 127.0.0.1, through `pincer chat` and
//! the gateway's `POST /v1/chat`: a reply that carries the whole request, each way the
//! provider can refuse or fail (and the key never shown), and a key never set.

use std::process::{Child, Output};
use std::time::Duration;

use pincer_test_support::{Pincer, fixture};
use serde_json::{Value, json};

use provider::{BROKEN, GARBLED, KEY, Provider, RATE_LIMITED, REVOKED};

/// The reference plugin's id.
const ID: &str = "dev.pincer.chat";

/// The model the admin configures.
const MODEL: &str = "gpt-test-mini";

/// A key the fake provider does not know.
const WRONG_KEY: &str = "sk-wrong-0d9e2c7b";

mod provider {
    //! A fake OpenAI chat-completions API on 127.0.0.1: `POST /v1/chat/completions`
    //! behind a bearer key, in its own thread and runtime. It records every request and
    //! answers by the last user message: a completion that repeats the request, or one
    //! of the provider's failures. It stops when dropped, or after ten minutes.

    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use axum::body::Bytes;
    use axum::http::{HeaderMap, StatusCode, header};
    use axum::response::{IntoResponse as _, Response};
    use serde_json::{Value, json};

    /// The key the provider accepts.
    pub const KEY: &str = "sk-test-7f3a9c51e2";
    /// A last user message answered 401, as to a key that was revoked.
    pub const REVOKED: &str = "pretend my key was revoked";
    /// A last user message answered 429 with `retry-after: 7`.
    pub const RATE_LIMITED: &str = "pretend you are busy";
    /// A last user message answered 500.
    pub const BROKEN: &str = "pretend you are broken";
    /// A last user message answered 200 with JSON cut short.
    pub const GARBLED: &str = "pretend your answer is cut short";

    /// The longest the server runs if it is never dropped.
    const LIFETIME: Duration = Duration::from_secs(600);

    /// One request the provider received.
    #[derive(Debug, Clone)]
    pub struct Seen {
        /// Its `authorization` header.
        pub authorization: Option<String>,
        /// Its body, as JSON (null if it was not JSON).
        pub body: Value,
    }

    /// The running provider.
    pub struct Provider {
        /// Its port on 127.0.0.1.
        pub port: u16,
        seen: Arc<Mutex<Vec<Seen>>>,
        stop: Option<tokio::sync::oneshot::Sender<()>>,
    }

    impl Provider {
        /// Start the provider on a free port of 127.0.0.1.
        pub fn start() -> Self {
            let seen = Arc::new(Mutex::new(Vec::new()));
            let (port_tx, port_rx) = std::sync::mpsc::channel();
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let record = seen.clone();
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                    port_tx.send(listener.local_addr().unwrap().port()).unwrap();
                    let app = axum::Router::new().route(
                        "/v1/chat/completions",
                        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                            let record = record.clone();
                            async move { answer(&record, &headers, &body) }
                        }),
                    );
                    let _ = axum::serve(listener, app)
                        .with_graceful_shutdown(async move {
                            let _ = tokio::time::timeout(LIFETIME, stopped).await;
                        })
                        .await;
                });
            });
            Provider {
                port: port_rx.recv().unwrap(),
                seen,
                stop: Some(stop),
            }
        }

        /// The API's base URL, as an admin sets it in `base_url`.
        pub fn base_url(&self) -> String {
            format!("http://127.0.0.1:{}/v1", self.port)
        }

        /// The requests received so far, oldest first.
        pub fn requests(&self) -> Vec<Seen> {
            self.seen.lock().unwrap().clone()
        }
    }

    impl Drop for Provider {
        fn drop(&mut self) {
            if let Some(stop) = self.stop.take() {
                let _ = stop.send(());
            }
        }
    }

    /// The provider's answer to a request with `headers` and `body`, recorded in `seen`.
    fn answer(seen: &Mutex<Vec<Seen>>, headers: &HeaderMap, body: &[u8]) -> Response {
        let authorization = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        seen.lock().unwrap().push(Seen {
            authorization: authorization.clone(),
            body: body.clone(),
        });
        let error = |status: StatusCode, message: &str, kind: &str| {
            let body = json!({ "error": { "message": message, "type": kind } });
            (status, axum::Json(body)).into_response()
        };

        let (Some(model), Some(messages)) = (body["model"].as_str(), body["messages"].as_array())
        else {
            return error(
                StatusCode::BAD_REQUEST,
                "you must provide a model and messages",
                "invalid_request_error",
            );
        };
        let last = messages
            .iter()
            .rev()
            .find(|m| m["role"] == "user")
            .and_then(|m| m["content"].as_str())
            .unwrap_or_default();
        if authorization.as_deref() != Some(format!("Bearer {KEY}").as_str()) || last == REVOKED {
            return error(
                StatusCode::UNAUTHORIZED,
                "Incorrect API key provided",
                "invalid_request_error",
            );
        }
        match last {
            RATE_LIMITED => {
                let mut response = error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Rate limit reached for requests",
                    "requests",
                );
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, "7".parse().unwrap());
                response
            }
            BROKEN => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The server had an error while processing your request.",
                "server_error",
            ),
            GARBLED => (
                [(header::CONTENT_TYPE, "application/json")],
                r#"{"id": "chatcmpl-9", "choices": [{"message": "#,
            )
                .into_response(),
            _ => {
                let content = super::reply_text(model, last);
                let prompt_tokens: usize = messages
                    .iter()
                    .filter_map(|m| m["content"].as_str())
                    .map(str::len)
                    .sum();
                let completion_tokens = content.split_whitespace().count();
                axum::Json(json!({
                    "id": "chatcmpl-1",
                    "object": "chat.completion",
                    "created": 1_700_000_000,
                    "model": super::answering_model(model),
                    "choices": [{
                        "index": 0,
                        "message": { "role": "assistant", "content": content, "refusal": null },
                        "logprobs": null,
                        "finish_reason": "stop"
                    }],
                    "usage": {
                        "prompt_tokens": prompt_tokens,
                        "completion_tokens": completion_tokens,
                        "total_tokens": prompt_tokens + completion_tokens
                    }
                }))
                .into_response()
            }
        }
    }
}

/// What the fake provider answers `model` when the last user message is `last`.
fn reply_text(model: &str, last: &str) -> String {
    format!("{model} heard: {last}")
}

/// The model the fake provider says answered a request for `model`: a dated version
/// of it, as OpenAI's does.
fn answering_model(model: &str) -> String {
    format!("{model}-2024-07-18")
}

/// The `--json` reply (and the gateway's) that the fake provider gives to a
/// conversation whose contents are `contents`, the last one the user's, for `model`.
fn expected_reply(model: &str, contents: &[&str]) -> Value {
    let text = reply_text(model, contents.last().unwrap());
    json!({
        "message": { "role": "assistant", "content": text },
        "model": answering_model(model),
        "finish_reason": "stop",
        "usage": {
            "prompt_tokens": contents.iter().map(|c| c.len()).sum::<usize>(),
            "completion_tokens": text.split_whitespace().count()
        }
    })
}

fn s(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

/// A home with the reference chat plugin installed, its origin edited to the
/// provider's and private networks allowed by the admin's policy, with `base_url` and
/// `model` set but no key.
fn chat_home(provider: &Provider) -> Pincer {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    let key = p.trusted_key("admin");
    let bundle = p.reference_bundle("chat", &key, |t| {
        let origin = "origins = [\"https://api.openai.com\"]";
        assert!(t.contains(origin), "the chat manifest's origin changed");
        t.replace(
            origin,
            &format!(
                "origins = [\"http://127.0.0.1:{}\"]\nprivate_networks = true",
                provider.port
            ),
        )
    });
    std::fs::write(
        p.home.path().join("policy.toml"),
        format!("[http.\"{ID}\"]\nallow_private_networks = true\n"),
    )
    .unwrap();
    p.ok(&["install", s(&bundle), "--yes"]);
    p.ok(&["config", "set", ID, "base_url", &provider.base_url()]);
    p.ok(&["config", "set", ID, "model", MODEL]);
    p
}

fn set_key(p: &Pincer, key: &str) {
    let out = p.set_secret(ID, "api_key", key);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `text` on one line, however the CLI wrapped it.
fn flat(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Fail unless `out` shows neither the provider's key nor the wrong one.
fn assert_no_key(out: &Output) {
    for stream in [&out.stdout, &out.stderr] {
        let text = String::from_utf8_lossy(stream);
        assert!(
            !text.contains(KEY) && !text.contains(WRONG_KEY),
            "a key was shown: {text}"
        );
    }
}

/// Run `pincer chat ARGS`, which must fail with exit code `code`, print nothing on
/// stdout and show no key; returns its stderr on one line.
fn chat_fails(p: &Pincer, code: i32, args: &[&str]) -> String {
    let mut all = vec!["chat", ID];
    all.extend_from_slice(args);
    let out = p.run(&all);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "pincer {all:?}: {stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "", "{stderr}");
    assert_no_key(&out);
    flat(&stderr)
}

/// `pincer serve --port 0` on `p`'s home, its URL and token; killed on drop.
struct Gateway {
    child: Child,
    url: String,
    token: String,
}

impl Gateway {
    fn start(p: &Pincer) -> Self {
        let (child, url, token) = p.start_server(&["serve", "--port", "0"], "run/gateway.json");
        Gateway { child, url, token }
    }

    /// `POST /v1/chat` with `body`: the status, the `retry-after` header and the JSON
    /// answer, which never shows the key.
    fn chat(&self, body: &Value) -> (u16, Option<String>, Value) {
        let response = reqwest::blocking::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap()
            .post(format!("{}/v1/chat", self.url))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .unwrap();
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        let text = response.text().unwrap();
        assert!(!text.contains(KEY), "the key was shown: {text}");
        let answer = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        (status, retry_after, answer)
    }

    /// `POST /v1/chat` with `body`, which must fail with `status` and the error `code`;
    /// returns the error's message.
    fn chat_fails(&self, body: &Value, status: u16, code: &str) -> String {
        let (got, _, answer) = self.chat(body);
        assert_eq!(got, status, "{body}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{body}: {answer}");
        answer["error"]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("not the error shape: {answer}"))
            .to_owned()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A gateway request for the plugin `plugin` with one user message, `content`.
fn ask(plugin: &str, content: &str) -> Value {
    json!({ "plugin": plugin, "messages": [{ "role": "user", "content": content }] })
}

#[test]
fn chat_replies_through_the_provider_with_the_configured_model_and_key() {
    let provider = Provider::start();
    let p = chat_home(&provider);
    set_key(&p, KEY);

    let question = "What is a capability?";
    let out = p.run(&["chat", ID, question, "--system", "Be brief."]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_no_key(&out);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        reply_text(MODEL, question)
    );
    let seen = provider.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some(&*format!("Bearer {KEY}"))
    );
    assert_eq!(
        seen[0].body,
        json!({
            "model": MODEL,
            "messages": [
                { "role": "system", "content": "Be brief." },
                { "role": "user", "content": question }
            ]
        })
    );

    // `--model` overrides the configured one; `--json` has the whole reply.
    let question = "And what is a grant?";
    let out = p.ok(&["chat", ID, question, "--model", "gpt-other", "--json"]);
    let reply: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(reply, expected_reply("gpt-other", &[question]));
    let seen = provider.requests();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(
        seen[1].body,
        json!({ "model": "gpt-other", "messages": [{ "role": "user", "content": question }] })
    );
}

#[test]
fn chat_says_why_the_provider_gave_no_answer_and_never_shows_the_key() {
    let provider = Provider::start();
    let p = chat_home(&provider);
    set_key(&p, KEY);

    let why = chat_fails(&p, 5, &[RATE_LIMITED]);
    assert!(
        why.contains("rate limit") && why.contains("retry after 7 s"),
        "{why}"
    );
    let why = chat_fails(&p, 5, &[BROKEN]);
    assert!(
        why.contains(
            "the provider failed (HTTP 500): The server had an error while processing your request."
        ),
        "{why}"
    );
    let why = chat_fails(&p, 5, &[GARBLED]);
    assert!(why.contains("the provider's answer is malformed"), "{why}");
    assert_eq!(provider.requests().len(), 3);

    // Refused before the provider is asked.
    let why = chat_fails(&p, 2, &["Hello", "--model", " "]);
    assert!(why.contains("model"), "{why}");
    assert_eq!(provider.requests().len(), 3);

    // A key the provider does not know: sent as set, refused, and the fix named.
    set_key(&p, WRONG_KEY);
    let why = chat_fails(&p, 5, &["Hello"]);
    assert!(
        why.contains("the provider refused the API key (HTTP 401): Incorrect API key provided"),
        "{why}"
    );
    assert!(
        why.contains(&format!("pincer secrets set {ID} api_key")),
        "{why}"
    );
    let seen = provider.requests();
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert_eq!(
        seen[3].authorization.as_deref(),
        Some(&*format!("Bearer {WRONG_KEY}"))
    );

    // Every request is audited, the key never.
    let audit = p.ok(&["audit", "show", "--plugin", ID, "--json"]);
    assert!(
        audit.contains("\"http-request\"")
            && audit.contains(&format!("127.0.0.1:{}", provider.port)),
        "{audit}"
    );
    assert!(
        !audit.contains(KEY) && !audit.contains(WRONG_KEY),
        "{audit}"
    );
}

#[test]
fn gateway_chat_replies_and_maps_each_failure_to_a_status_and_code() {
    let provider = Provider::start();
    let p = chat_home(&provider);
    set_key(&p, KEY);
    let author = p.trusted_key("fixtures");
    let echo = p.bundle(
        &fixture("well-behaved"),
        "com.example.echo",
        "1.0.0",
        "",
        &author,
    );
    p.ok(&["install", s(&echo), "--yes"]);
    let gw = Gateway::start(&p);

    // A whole conversation with every option: all of it reaches the provider.
    let conversation = [
        ("system", "Answer in one line."),
        ("user", "Name a sandbox."),
        ("assistant", "Wasm."),
        ("user", "Why that one?"),
    ];
    let messages: Vec<Value> = conversation
        .iter()
        .map(|(role, content)| json!({ "role": role, "content": content }))
        .collect();
    let (status, _, reply) = gw.chat(&json!({
        "plugin": ID,
        "messages": messages,
        "model": "gpt-gateway",
        "temperature": 0.5,
        "max_tokens": 64
    }));
    assert_eq!(status, 200, "{reply}");
    let contents: Vec<&str> = conversation.iter().map(|(_, c)| *c).collect();
    assert_eq!(reply, expected_reply("gpt-gateway", &contents));
    let seen = provider.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some(&*format!("Bearer {KEY}"))
    );
    assert_eq!(
        seen[0].body,
        json!({
            "model": "gpt-gateway",
            "messages": messages,
            "temperature": 0.5,
            "max_tokens": 64
        })
    );

    // The configured model when the request names none.
    let (status, _, reply) = gw.chat(&ask(ID, "Hello"));
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply, expected_reply(MODEL, &["Hello"]));

    // The provider's failures.
    let why = gw.chat_fails(&ask(ID, REVOKED), 502, "chat_unauthorized");
    assert!(
        why.contains("Incorrect API key provided")
            && why.contains(&format!("pincer secrets set {ID} api_key")),
        "{why}"
    );
    let (status, retry_after, answer) = gw.chat(&ask(ID, RATE_LIMITED));
    assert_eq!(status, 429, "{answer}");
    assert_eq!(answer["error"]["code"], "chat_rate_limited", "{answer}");
    assert_eq!(retry_after.as_deref(), Some("7"), "{answer}");
    let why = gw.chat_fails(&ask(ID, BROKEN), 502, "chat_provider");
    assert!(why.contains("HTTP 500"), "{why}");
    let why = gw.chat_fails(&ask(ID, GARBLED), 502, "chat_provider");
    assert!(why.contains("malformed"), "{why}");
    assert_eq!(provider.requests().len(), 6);

    // Requests refused before the provider is asked.
    let why = gw.chat_fails(
        &json!({ "plugin": ID, "messages": [] }),
        400,
        "chat_invalid_request",
    );
    assert!(why.contains("empty"), "{why}");
    gw.chat_fails(&ask("com.example.nothing", "Hello"), 404, "not_found");
    gw.chat_fails(&ask("com.example.echo", "Hello"), 400, "wrong_kind");
    assert_eq!(provider.requests().len(), 6);
}

#[test]
fn chat_without_a_key_names_the_command_that_sets_it() {
    let provider = Provider::start();
    let p = chat_home(&provider);
    let fix = format!("`pincer secrets set {ID} api_key`");

    let out = p.run(&["chat", ID, "Hello"]);
    let why = flat(&String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "{why}");
    assert!(why.starts_with("error: ") && why.contains(&fix), "{why}");

    let gw = Gateway::start(&p);
    let why = gw.chat_fails(&ask(ID, "Hello"), 502, "chat_denied");
    assert!(why.contains(&fix), "{why}");
    assert!(provider.requests().is_empty(), "{:?}", provider.requests());
}
