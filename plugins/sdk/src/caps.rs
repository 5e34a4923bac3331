//! Helpers over the capability interfaces: [`CapabilityError`], which every
//! capability's error converts into with `?`; the HTTP request builder and response
//! readers; asking for approval as a yes-or-error; and one function per log level.
//!
//! This module owns the sentences a plugin shows its user when a capability says no.
//! A denial keeps the host's text whole, since that text names the manifest line that
//! would allow the call; nothing here retries, widens or hides a refusal.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::pincer::plugin::{approval, config, http, kv, secrets};
use crate::chat::ChatError;
use crate::recording::RecorderError;

/// Why a capability call did not do what was asked, as a sentence for the plugin's
/// user. Every capability's error converts into it, and it converts into a tool's,
/// a chat plugin's and a recorder's error, all with `?`:
///
/// ```
/// use pincer_sdk::{CapabilityError, ToolError, secrets};
///
/// fn api_key() -> Result<String, ToolError> {
///     Ok(secrets::get("api_key")?)
/// }
///
/// // What the host answers when the manifest does not declare the secret:
/// let host = "secret `api_key` is not declared; add it to the manifest: [capabilities.secrets] names = [\"api_key\"]";
/// let error = CapabilityError::from(secrets::Error::Denied(host.to_owned()));
/// assert!(error.is_denied());
/// assert!(error.to_string().ends_with("[capabilities.secrets] names = [\"api_key\"]"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CapabilityError {
    /// The plugin's grant does not allow the call. The text says so and keeps the
    /// host's reason, which names the manifest line (or the admin's policy) to change.
    Denied(String),
    /// The grant allows it, but the admin has not provided what it needs: a secret's
    /// value. The text names the command that sets it.
    NotSet(String),
    /// Approval was asked for and not given: a person said no, the admin's policy
    /// refuses the action, or no answer came in time.
    Rejected(String),
    /// The call itself is malformed: a bad URL, method or header, or a bad key.
    Invalid(String),
    /// The call was allowed and failed: a timeout, an unreachable server, a response
    /// over the granted size, a full or failing store.
    Failed(String),
}

impl CapabilityError {
    /// Whether the plugin's grant refused the call, and a manifest line would allow it.
    pub fn is_denied(&self) -> bool {
        matches!(self, CapabilityError::Denied(_))
    }

    /// The sentence for the plugin's user.
    pub fn message(&self) -> &str {
        match self {
            CapabilityError::Denied(m)
            | CapabilityError::NotSet(m)
            | CapabilityError::Rejected(m)
            | CapabilityError::Invalid(m)
            | CapabilityError::Failed(m) => m,
        }
    }

    /// A denial of `what` (such as `reading a secret`), keeping the host's reason.
    fn denied(what: &str, reason: String) -> Self {
        CapabilityError::Denied(format!("Pincer did not allow {what}: {reason}"))
    }

    /// What `http.fetch` failing means, for the request to `url` if known.
    fn http(error: http::Error, url: Option<&str>) -> Self {
        let (request, from) = match url {
            Some(url) => (format!("the request to {url}"), format!("from {url} ")),
            None => ("an HTTP request".to_owned(), String::new()),
        };
        match error {
            http::Error::Denied(why) => CapabilityError::denied(&request, why),
            http::Error::InvalidRequest(why) => {
                CapabilityError::Invalid(format!("cannot send {request}: {why}"))
            }
            http::Error::Timeout => CapabilityError::Failed(format!("{request} timed out")),
            http::Error::TooLarge(limit) => CapabilityError::Failed(format!(
                "the response {from}is larger than {limit} bytes, the most this plugin may read; an admin can raise `max_response_bytes` in the manifest's [capabilities.http]"
            )),
            http::Error::Connection(why) => {
                CapabilityError::Failed(format!("{request} failed: {why}"))
            }
        }
    }
}

impl std::fmt::Display for CapabilityError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for CapabilityError {}

impl From<http::Error> for CapabilityError {
    fn from(e: http::Error) -> Self {
        CapabilityError::http(e, None)
    }
}

impl From<secrets::Error> for CapabilityError {
    fn from(e: secrets::Error) -> Self {
        match e {
            secrets::Error::Denied(why) => CapabilityError::denied("reading a secret", why),
            secrets::Error::NotSet(why) => CapabilityError::NotSet(why),
        }
    }
}

impl From<kv::Error> for CapabilityError {
    fn from(e: kv::Error) -> Self {
        match e {
            kv::Error::Denied(why) => CapabilityError::denied("using the key-value store", why),
            kv::Error::QuotaExceeded(why) => CapabilityError::Failed(why),
            kv::Error::InvalidKey(why) => {
                CapabilityError::Invalid(format!("the key-value store refused the key: {why}"))
            }
            kv::Error::Storage(why) => {
                CapabilityError::Failed(format!("the key-value store failed: {why}"))
            }
        }
    }
}

impl From<config::Error> for CapabilityError {
    fn from(e: config::Error) -> Self {
        match e {
            config::Error::Denied(why) => CapabilityError::denied("reading a setting", why),
        }
    }
}

impl From<approval::Error> for CapabilityError {
    fn from(e: approval::Error) -> Self {
        match e {
            approval::Error::Denied(why) => CapabilityError::denied("asking for approval", why),
        }
    }
}

impl From<CapabilityError> for ChatError {
    /// A denial, a missing secret and a refused approval are `denied` (the admin fixes
    /// them); anything else is `provider`, since no provider answered.
    fn from(e: CapabilityError) -> Self {
        match e {
            CapabilityError::Denied(m)
            | CapabilityError::NotSet(m)
            | CapabilityError::Rejected(m) => ChatError::Denied(m),
            CapabilityError::Invalid(m) | CapabilityError::Failed(m) => ChatError::Provider(m),
        }
    }
}

impl From<CapabilityError> for RecorderError {
    /// `storage`: the session could not be kept, and the text says why.
    fn from(e: CapabilityError) -> Self {
        RecorderError::Storage(e.to_string())
    }
}

/// Each capability's own error converts into each plugin kind's error through
/// [`CapabilityError`], so that `?` works on a capability call directly.
macro_rules! convert_through_capability_error {
    ($($target:ty),*) => {$(
        convert_through_capability_error!(
            @into $target: http::Error, secrets::Error, kv::Error, config::Error, approval::Error
        );
    )*};
    (@into $target:ty: $($error:ty),*) => {$(
        impl From<$error> for $target {
            fn from(e: $error) -> Self {
                CapabilityError::from(e).into()
            }
        }
    )*};
}

convert_through_capability_error!(crate::ToolError, ChatError, RecorderError);

impl http::Request {
    /// A `method` request to `url`, with no headers, no body and the call's own time
    /// limit.
    pub fn new(method: &str, url: impl Into<String>) -> Self {
        http::Request {
            method: method.to_owned(),
            url: url.into(),
            headers: Vec::new(),
            body: None,
            timeout_ms: None,
        }
    }

    /// A `GET` request to `url`.
    pub fn get(url: impl Into<String>) -> Self {
        http::Request::new("GET", url)
    }

    /// A `POST` request to `url`, with no body yet.
    pub fn post(url: impl Into<String>) -> Self {
        http::Request::new("POST", url)
    }

    /// This request, with the header `name: value` added.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// This request, with `body` as its body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// This request, with `value` as a JSON body and `Content-Type: application/json`.
    pub fn json(self, value: &impl Serialize) -> Result<Self, serde_json::Error> {
        let body = serde_json::to_vec(value)?;
        Ok(self.header("Content-Type", "application/json").body(body))
    }

    /// This request, given up after `timeout` (the host never lets it outlive the
    /// plugin call that sends it, whatever this says).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout_ms = Some(u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX));
        self
    }

    /// Send this request and wait for the whole response. The error names the URL and,
    /// for a denial, keeps the host's text, which names the manifest line to add.
    pub fn send(&self) -> Result<http::Response, CapabilityError> {
        http::fetch(self).map_err(|e| CapabilityError::http(e, Some(&self.url)))
    }
}

impl http::Response {
    /// Whether the status is a success (2xx).
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The value of the first header called `name`, in any case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The body as text, with what is not UTF-8 replaced by U+FFFD.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body read as JSON into a `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}

impl approval::Request {
    /// A request to approve `action` (a short, stable name such as `send-email`), with
    /// the one line a person reads to decide.
    pub fn new(action: &str, summary: impl Into<String>) -> Self {
        approval::Request {
            action: action.to_owned(),
            summary: summary.into(),
            details: None,
        }
    }

    /// This request, with `details` shown on request.
    pub fn details(mut self, details: impl Into<String>) -> Self {
        self.details = Some(details.into());
        self
    }

    /// Ask, and wait for the answer: `Ok` when approved, [`CapabilityError::Rejected`]
    /// when not (with why), [`CapabilityError::Denied`] when the manifest does not
    /// declare the action.
    pub fn confirm(&self) -> Result<(), CapabilityError> {
        match approval::ask(self)? {
            approval::Decision::Approved => Ok(()),
            approval::Decision::Rejected(why) => Err(CapabilityError::Rejected(format!(
                "`{}` was not approved: {why}",
                self.action
            ))),
        }
    }
}

/// Write to the host's log, tagged with the plugin's id: the `log` interface, and one
/// function per level. Always granted; the host limits the rate and size of lines.
pub mod log {
    pub use crate::bindings::pincer::plugin::log::{Level, log};

    /// Log `message` at the `trace` level: fine-grained detail, normally hidden.
    pub fn trace(message: impl AsRef<str>) {
        log(Level::Trace, message.as_ref());
    }

    /// Log `message` at the `debug` level: detail useful when debugging the plugin.
    pub fn debug(message: impl AsRef<str>) {
        log(Level::Debug, message.as_ref());
    }

    /// Log `message` at the `info` level: normal operation.
    pub fn info(message: impl AsRef<str>) {
        log(Level::Info, message.as_ref());
    }

    /// Log `message` at the `warn` level: something unexpected that the plugin
    /// recovered from.
    pub fn warn(message: impl AsRef<str>) {
        log(Level::Warn, message.as_ref());
    }

    /// Log `message` at the `error` level: something failed.
    pub fn error(message: impl AsRef<str>) {
        log(Level::Error, message.as_ref());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CallResult, Content, ToolError};

    /// The host's denial texts, as `host/src/caps/` writes them.
    const SECRET_DENIED: &str = "secret `api_key` is not declared; add it to the manifest: [capabilities.secrets] names = [\"api_key\"]";
    const CONFIG_DENIED: &str = "config key `model` is not declared; add it to the manifest: [capabilities.config] keys = [\"model\"] (plugin `com.example.x`)";
    const KV_DENIED: &str =
        "no key-value store is granted; add [capabilities.kv] quota_bytes = N to the manifest";
    const APPROVAL_DENIED: &str = "action `send-email` is not declared; add it to the manifest: [capabilities.approval] actions = [\"send-email\"]";
    const HTTP_DENIED: &str = "https://other.example is not an allowed origin; add it to the manifest: [capabilities.http] origins = [\"https://other.example\"]";

    fn text_of(result: &CallResult) -> &str {
        match &result.content[..] {
            [Content::Text(text)] => text,
            other => panic!("not one text: {other:?}"),
        }
    }

    #[test]
    fn denials_keep_the_manifest_line_and_say_they_are_denials() {
        let denials = [
            (
                CapabilityError::from(secrets::Error::Denied(SECRET_DENIED.into())),
                "Pincer did not allow reading a secret: ",
                SECRET_DENIED,
            ),
            (
                CapabilityError::from(config::Error::Denied(CONFIG_DENIED.into())),
                "Pincer did not allow reading a setting: ",
                CONFIG_DENIED,
            ),
            (
                CapabilityError::from(kv::Error::Denied(KV_DENIED.into())),
                "Pincer did not allow using the key-value store: ",
                KV_DENIED,
            ),
            (
                CapabilityError::from(approval::Error::Denied(APPROVAL_DENIED.into())),
                "Pincer did not allow asking for approval: ",
                APPROVAL_DENIED,
            ),
            (
                CapabilityError::from(http::Error::Denied(HTTP_DENIED.into())),
                "Pincer did not allow an HTTP request: ",
                HTTP_DENIED,
            ),
        ];
        for (error, prefix, host) in denials {
            assert!(error.is_denied(), "{error}");
            assert_eq!(error.to_string(), format!("{prefix}{host}"));
        }
    }

    #[test]
    fn a_denied_capability_becomes_an_error_result_that_names_the_manifest_line() {
        fn handler() -> Result<String, ToolError> {
            Err(secrets::Error::Denied(SECRET_DENIED.into()))?
        }
        let outcome = handler().unwrap_err().into_outcome().unwrap();
        assert!(outcome.is_error);
        assert!(
            text_of(&outcome).ends_with("[capabilities.secrets] names = [\"api_key\"]"),
            "{outcome:?}"
        );
    }

    #[test]
    fn a_denied_capability_becomes_a_chat_denial_and_a_recorder_storage_error() {
        let chat: ChatError = config::Error::Denied(CONFIG_DENIED.into()).into();
        assert_eq!(
            chat,
            ChatError::Denied(format!(
                "Pincer did not allow reading a setting: {CONFIG_DENIED}"
            ))
        );
        let chat: ChatError = http::Error::Timeout.into();
        assert_eq!(
            chat,
            ChatError::Provider("an HTTP request timed out".into())
        );
        let recorder: RecorderError = kv::Error::Denied(KV_DENIED.into()).into();
        assert!(matches!(recorder, RecorderError::Storage(m) if m.ends_with(KV_DENIED)));
    }

    #[test]
    fn other_failures_are_not_denials() {
        let not_set = "secret `api_key` is not set; an admin sets it with `pincer secrets set com.example.x api_key`";
        let error = CapabilityError::from(secrets::Error::NotSet(not_set.into()));
        assert_eq!(error, CapabilityError::NotSet(not_set.into()));
        assert!(!error.is_denied());
        let error = CapabilityError::from(kv::Error::InvalidKey("a key is 1 to 1024 bytes".into()));
        assert!(matches!(error, CapabilityError::Invalid(_)));
    }

    #[test]
    fn http_errors_name_the_url_when_the_request_is_known() {
        let url = Some("https://api.example.com/v1");
        let cases = [
            (
                http::Error::Denied(HTTP_DENIED.into()),
                format!("Pincer did not allow the request to https://api.example.com/v1: {HTTP_DENIED}"),
            ),
            (
                http::Error::InvalidRequest("`x` is not a method".into()),
                "cannot send the request to https://api.example.com/v1: `x` is not a method".into(),
            ),
            (
                http::Error::Timeout,
                "the request to https://api.example.com/v1 timed out".into(),
            ),
            (
                http::Error::TooLarge(1024),
                "the response from https://api.example.com/v1 is larger than 1024 bytes, the most this plugin may read; an admin can raise `max_response_bytes` in the manifest's [capabilities.http]".into(),
            ),
            (
                http::Error::Connection("dns error".into()),
                "the request to https://api.example.com/v1 failed: dns error".into(),
            ),
        ];
        for (error, expected) in cases {
            assert_eq!(CapabilityError::http(error, url).to_string(), expected);
        }
    }

    #[test]
    fn builds_requests_and_reads_responses() {
        let request = http::Request::post("https://api.example.com/v1")
            .header("Accept", "application/json")
            .json(&serde_json::json!({"q": 1}))
            .unwrap()
            .timeout(Duration::from_secs(2));
        assert_eq!(request.method, "POST");
        assert_eq!(
            request.headers,
            [
                ("Accept".to_owned(), "application/json".to_owned()),
                ("Content-Type".to_owned(), "application/json".to_owned())
            ]
        );
        assert_eq!(request.body.as_deref(), Some(&br#"{"q":1}"#[..]));
        assert_eq!(request.timeout_ms, Some(2000));
        let response = http::Response {
            status: 201,
            headers: vec![("content-type".into(), "application/json".into())],
            body: br#"{"ok":true}"#.to_vec(),
        };
        assert!(response.is_success());
        assert_eq!(response.header("Content-Type"), Some("application/json"));
        assert_eq!(response.header("Retry-After"), None);
        assert_eq!(response.json::<serde_json::Value>().unwrap()["ok"], true);
        assert_eq!(response.text(), r#"{"ok":true}"#);
    }
}
