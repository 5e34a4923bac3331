//! Secret redaction: a plugin's secret values never leave the host in its output.
//!
//! Pincer knows every secret value it can have handed a plugin: those it handed it in
//! this process ([`Redactor::handed`]), and the current values of every secret the
//! plugin is granted, read once from the vault when the first output is scanned (the
//! plugin may have read a value in an earlier process and kept it, in its kv store
//! say). Before anything a plugin wrote leaves the host (a tool's result or error, a
//! resource, a prompt, a chat reply, a recorder's or viewer's answer, a log line, its
//! stdout and stderr, a fault's message, the audit record of its HTTP request or
//! approval request), each occurrence of such a value is replaced by
//! `[redacted:NAME]`, and the redaction is audited (`secret-redacted`: the name and
//! where, never the value), at most once per name and place in a call.
//!
//! What is caught: the value as it is, its standard base64 encoding (padded or not),
//! and its percent-encoding (upper- or lower-case hex); where values overlap, the
//! longest wins. Values shorter than [`MIN_SECRET_BYTES`] are not redacted: they
//! would mangle ordinary text (`pincer secrets set` warns about them). What is not
//! caught: a value the plugin splits, truncates, reverses or encodes any other way,
//! and a value it sends to an origin its grant lets it reach (that is what a secret is
//! for). Redaction is a safety net against careless or compromised plugins, not a
//! confinement: the grants are.
//!
//! A plugin that declares no secret pays nothing: no vault read, no scan. A scan that
//! finds nothing allocates nothing. The search automaton holds copies of the values
//! (and their encodings) for the plugin's lifetime; they are not wiped on drop.

use std::borrow::Cow;
use std::sync::{Arc, Mutex};

use aho_corasick::{AhoCorasick, MatchKind};
use base64::Engine as _;
use zeroize::Zeroizing;

use crate::audit::{Audit, Event};
use crate::vault::Vault;

/// Values shorter than this many bytes are not redacted: a secret of two or three
/// characters would turn up in ordinary text.
pub const MIN_SECRET_BYTES: usize = 4;

/// Where a secret's value was found: the `where` of its `secret-redacted` record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Place {
    /// A tool's successful result: its text, structured content or images.
    ToolResult,
    /// A tool's failure: an `is-error` result, or an unknown-tool or
    /// invalid-arguments error in the plugin's words.
    ToolError,
    /// The tool list: names, titles, descriptions and schemas.
    ToolList,
    /// A resource's listing, contents or error.
    Resource,
    /// A prompt's listing, messages or error.
    Prompt,
    /// A chat reply.
    Chat,
    /// A chat plugin's reason for having no reply.
    ChatError,
    /// A recorder's or viewer's answer or error.
    Recording,
    /// A line of `pincer:plugin/log`.
    Log,
    /// The plugin's stdout.
    Stdout,
    /// The plugin's stderr.
    Stderr,
    /// A fault's message (a panic message comes from stderr).
    Fault,
    /// The audit record of an outbound HTTP request (its path, say).
    HttpAudit,
    /// An approval request: shown to a person, and audited.
    Approval,
}

impl Place {
    /// Its name, as in the audit record.
    pub fn as_str(self) -> &'static str {
        match self {
            Place::ToolResult => "tool-result",
            Place::ToolError => "tool-error",
            Place::ToolList => "tool-list",
            Place::Resource => "resource",
            Place::Prompt => "prompt",
            Place::Chat => "chat",
            Place::ChatError => "chat-error",
            Place::Recording => "recording",
            Place::Log => "log",
            Place::Stdout => "stdout",
            Place::Stderr => "stderr",
            Place::Fault => "fault",
            Place::HttpAudit => "http-audit",
            Place::Approval => "approval",
        }
    }
}

/// The secret values of one plugin, shared by all its instances. By default (no
/// secret names) it knows none and redacts nothing.
#[derive(Clone, Default)]
pub struct Redactor(Option<Arc<Shared>>);

struct Shared {
    plugin: Arc<str>,
    /// The granted names; a value's owner is its index here.
    names: Vec<String>,
    /// `[redacted:NAME]` for each name.
    markers: Vec<String>,
    vault: Arc<Vault>,
    audit: Arc<Audit>,
    known: Mutex<Known>,
}

#[derive(Default)]
struct Known {
    /// Whether the granted names' values were read from the vault yet.
    vault_read: bool,
    /// Each value known, with its owner; at least [`MIN_SECRET_BYTES`] long.
    values: Vec<(usize, Zeroizing<String>)>,
    /// The automaton over `values`, once built; `None` when there is none.
    matcher: Option<Arc<Matcher>>,
    /// Whether `values` changed since `matcher` was built.
    stale: bool,
}

/// A search for every form of every known value.
struct Matcher {
    search: AhoCorasick,
    /// The owner of each pattern.
    owners: Vec<usize>,
}

impl Redactor {
    /// The redactor of `plugin`, which may read the secrets `names` from `vault`,
    /// auditing each redaction in `audit`. With no names it is the default, which
    /// redacts nothing and costs nothing.
    pub fn new(plugin: Arc<str>, names: &[String], vault: Arc<Vault>, audit: Arc<Audit>) -> Self {
        if names.is_empty() {
            return Redactor::default();
        }
        Redactor(Some(Arc::new(Shared {
            plugin,
            names: names.to_vec(),
            markers: names.iter().map(|n| format!("[redacted:{n}]")).collect(),
            vault,
            audit,
            known: Mutex::new(Known::default()),
        })))
    }

    /// Note that the plugin was handed `value` as its secret `name`.
    pub fn handed(&self, name: &str, value: &str) {
        let Some(shared) = &self.0 else { return };
        let Some(owner) = shared.names.iter().position(|n| n == name) else {
            return;
        };
        shared.lock().learn(owner, value);
    }

    /// The redactor of one call: it audits each name found at each place once.
    pub fn for_call(&self) -> CallRedactor {
        CallRedactor(self.0.as_ref().map(|shared| {
            Arc::new(Call {
                shared: shared.clone(),
                seen: Mutex::new(Vec::new()),
            })
        }))
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Known> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The automaton over every value known, reading the vault on first use.
    fn matcher(&self) -> Option<Arc<Matcher>> {
        let mut known = self.lock();
        if !known.vault_read {
            known.vault_read = true;
            match self.vault.values(&self.plugin, &self.names) {
                Ok(values) => {
                    for (name, value) in values {
                        let owner = self.names.iter().position(|n| *n == name);
                        match (owner, value) {
                            (Some(owner), Ok(value)) => known.learn(owner, &value),
                            (_, Err(e)) => {
                                tracing::warn!(plugin = %self.plugin, "cannot read a secret to redact it from the plugin's output: {e}")
                            }
                            (None, Ok(_)) => {}
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(plugin = %self.plugin, "cannot read the vault to redact secrets from the plugin's output: {e}")
                }
            }
        }
        if known.stale {
            known.stale = false;
            known.matcher = Matcher::build(&known.values).map(Arc::new);
        }
        known.matcher.clone()
    }
}

impl Known {
    fn learn(&mut self, owner: usize, value: &str) {
        if value.len() < MIN_SECRET_BYTES
            || self
                .values
                .iter()
                .any(|(o, v)| *o == owner && v.as_str() == value)
        {
            return;
        }
        self.values.push((owner, Zeroizing::new(value.to_owned())));
        self.stale = true;
    }
}

impl Matcher {
    fn build(values: &[(usize, Zeroizing<String>)]) -> Option<Matcher> {
        let mut patterns: Vec<Zeroizing<Vec<u8>>> = Vec::new();
        let mut owners = Vec::new();
        for (owner, value) in values {
            for form in forms(value) {
                if !patterns.contains(&form) {
                    patterns.push(form);
                    owners.push(*owner);
                }
            }
        }
        if patterns.is_empty() {
            return None;
        }
        let search = AhoCorasick::builder()
            // Of overlapping values, the longest is replaced whole.
            .match_kind(MatchKind::LeftmostLongest)
            .build(patterns.iter().map(|p| p.as_slice()));
        match search {
            Ok(search) => Some(Matcher { search, owners }),
            Err(e) => {
                tracing::error!("cannot build the secret redaction search: {e}");
                None
            }
        }
    }
}

/// The forms of `value` that are redacted: itself, standard base64 with and without
/// padding, and percent-encoded with upper- and lower-case hex.
fn forms(value: &str) -> Vec<Zeroizing<Vec<u8>>> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(value);
    let mut forms = vec![
        Zeroizing::new(value.as_bytes().to_vec()),
        Zeroizing::new(b64.trim_end_matches('=').as_bytes().to_vec()),
        Zeroizing::new(b64.into_bytes()),
    ];
    for hex in [b"0123456789ABCDEF", b"0123456789abcdef"] {
        let mut encoded = Zeroizing::new(Vec::with_capacity(value.len() * 3));
        for &b in value.as_bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                encoded.push(b);
            } else {
                encoded.extend([b'%', hex[usize::from(b >> 4)], hex[usize::from(b & 15)]]);
            }
        }
        forms.push(encoded);
    }
    forms
}

/// The redactor of one call (or one recorder session's call): replaces every known
/// secret value in what the plugin wrote, and audits each name found at each
/// [`Place`] once. By default it redacts nothing.
#[derive(Clone, Default)]
pub struct CallRedactor(Option<Arc<Call>>);

struct Call {
    shared: Arc<Shared>,
    /// The (owner, place) pairs audited in this call.
    seen: Mutex<Vec<(usize, Place)>>,
}

impl CallRedactor {
    /// `text` with every known secret value replaced by `[redacted:NAME]`; borrowed,
    /// without allocating, when there is none.
    pub fn text<'a>(&self, text: &'a str, place: Place) -> Cow<'a, str> {
        match self.replace(text.as_bytes(), place) {
            // Whole UTF-8 values matched in UTF-8 text: the cuts fall between
            // characters, and the markers are UTF-8.
            Some(bytes) => Cow::Owned(String::from_utf8(bytes).expect("cut at char boundaries")),
            None => Cow::Borrowed(text),
        }
    }

    /// Redact `text` in place.
    pub fn string(&self, text: &mut String, place: Place) {
        if let Cow::Owned(redacted) = self.text(text, place) {
            *text = redacted;
        }
    }

    /// Redact `text`, if any, in place.
    pub fn option(&self, text: &mut Option<String>, place: Place) {
        if let Some(text) = text {
            self.string(text, place);
        }
    }

    /// Redact the raw values in `bytes` (an image, a blob) in place.
    pub fn bytes(&self, bytes: &mut Vec<u8>, place: Place) {
        if let Some(redacted) = self.replace(bytes, place) {
            *bytes = redacted;
        }
    }

    /// Redact every string, object key and number of `value` in place; a number that
    /// holds a value becomes the marker string.
    pub fn json(&self, value: &mut serde_json::Value, place: Place) {
        use serde_json::Value;
        if self.0.is_none() {
            return;
        }
        match value {
            Value::String(s) => self.string(s, place),
            Value::Array(items) => items.iter_mut().for_each(|v| self.json(v, place)),
            Value::Object(map) => {
                if map.keys().any(|k| self.finds(k.as_bytes())) {
                    let old = std::mem::take(map);
                    for (key, mut v) in old {
                        self.json(&mut v, place);
                        map.insert(self.text(&key, place).into_owned(), v);
                    }
                } else {
                    map.values_mut().for_each(|v| self.json(v, place));
                }
            }
            Value::Number(n) => {
                // Written on the stack: a number's text is short.
                use std::io::Write;
                let mut buf = [0u8; 64];
                let mut cursor = std::io::Cursor::new(&mut buf[..]);
                let written = write!(cursor, "{n}").is_ok();
                let len = cursor.position() as usize;
                if written && self.finds(&buf[..len]) {
                    let text = String::from_utf8_lossy(&buf[..len]).into_owned();
                    *value = Value::String(self.text(&text, place).into_owned());
                }
            }
            Value::Null | Value::Bool(_) => {}
        }
    }

    /// Whether `haystack` holds a known value.
    fn finds(&self, haystack: &[u8]) -> bool {
        let Some(call) = &self.0 else { return false };
        if haystack.len() < MIN_SECRET_BYTES {
            return false;
        }
        call.shared
            .matcher()
            .is_some_and(|m| m.search.is_match(haystack))
    }

    /// `haystack` with each known value replaced, or `None` if it holds none.
    fn replace(&self, haystack: &[u8], place: Place) -> Option<Vec<u8>> {
        let call = self.0.as_ref()?;
        if haystack.len() < MIN_SECRET_BYTES {
            return None;
        }
        let matcher = call.shared.matcher()?;
        let mut found = matcher.search.find_iter(haystack).peekable();
        found.peek()?;
        let mut out = Vec::with_capacity(haystack.len());
        let mut last = 0;
        for m in found {
            let owner = matcher.owners[m.pattern().as_usize()];
            out.extend_from_slice(&haystack[last..m.start()]);
            out.extend_from_slice(call.shared.markers[owner].as_bytes());
            last = m.end();
            call.audit(owner, place);
        }
        out.extend_from_slice(&haystack[last..]);
        Some(out)
    }
}

/// Shows the plugin and the names, never a value.
impl std::fmt::Debug for CallRedactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            None => f.write_str("CallRedactor(none)"),
            Some(call) => f
                .debug_struct("CallRedactor")
                .field("plugin", &call.shared.plugin)
                .field("names", &call.shared.names)
                .finish_non_exhaustive(),
        }
    }
}

impl Call {
    /// Audit that `owner`'s value was found at `place`, unless this call already did.
    fn audit(&self, owner: usize, place: Place) {
        {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            if seen.contains(&(owner, place)) {
                return;
            }
            seen.push((owner, place));
        }
        let shared = &self.shared;
        let name = &shared.names[owner];
        tracing::warn!(
            plugin = %shared.plugin,
            "the value of secret `{name}` was redacted from the plugin's {}",
            place.as_str()
        );
        // Queued: a log line or an HTTP request must not wait for the disk.
        shared.audit.enqueue(
            "host",
            Event::SecretRedacted,
            Some(&shared.plugin),
            serde_json::json!({ "name": name, "where": place }),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Home;

    const PLUGIN: &str = "com.example.leaky";

    struct Fixture {
        _tmp: tempfile::TempDir,
        home: Home,
        vault: Arc<Vault>,
        audit: Arc<Audit>,
    }

    fn fixture() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let home = Home::open_at(tmp.path()).unwrap();
        Fixture {
            vault: Arc::new(Vault::open(&home).unwrap()),
            audit: Arc::new(Audit::open(&home).unwrap()),
            home,
            _tmp: tmp,
        }
    }

    fn redactor(f: &Fixture, names: &[&str]) -> Redactor {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        Redactor::new(PLUGIN.into(), &names, f.vault.clone(), f.audit.clone())
    }

    /// The `secret-redacted` records: (name, where).
    fn redactions(f: &Fixture) -> Vec<(String, String)> {
        f.audit.flush();
        let log = std::fs::read_to_string(f.home.join("audit/log.jsonl")).unwrap_or_default();
        log.lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|r| r["event"] == "secret-redacted")
            .map(|r| {
                assert_eq!(r["plugin"], PLUGIN);
                let d = &r["details"];
                (
                    d["name"].as_str().unwrap().to_owned(),
                    d["where"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn replaces_a_handed_value_with_its_name_and_audits_it_once_per_place_and_call() {
        let f = fixture();
        let r = redactor(&f, &["token"]);
        r.handed("token", "s3cr3t-value");
        let call = r.for_call();
        assert_eq!(
            call.text("a s3cr3t-value, again s3cr3t-value.", Place::Log),
            "a [redacted:token], again [redacted:token]."
        );
        assert_eq!(call.text("s3cr3t-value", Place::Log), "[redacted:token]");
        assert_eq!(
            call.text("s3cr3t-value", Place::ToolResult),
            "[redacted:token]"
        );
        r.for_call().text("s3cr3t-value", Place::Log);
        assert_eq!(
            redactions(&f),
            [
                ("token".to_owned(), "log".to_owned()),
                ("token".to_owned(), "tool-result".to_owned()),
                ("token".to_owned(), "log".to_owned()),
            ]
        );
    }

    #[test]
    fn leaves_text_without_a_value_borrowed() {
        let f = fixture();
        let r = redactor(&f, &["token"]);
        r.handed("token", "s3cr3t-value");
        let text = "nothing to see here, s3cr3t-valu";
        assert!(matches!(
            r.for_call().text(text, Place::Log),
            Cow::Borrowed(_)
        ));
        assert!(redactions(&f).is_empty());
    }

    #[test]
    fn reads_the_vault_for_values_handed_in_an_earlier_process() {
        let f = fixture();
        f.vault.set(PLUGIN, "token", b"kept-in-kv-1234").unwrap();
        f.vault.set(PLUGIN, "undeclared", b"not-mine-5678").unwrap();
        let r = redactor(&f, &["token", "unset"]);
        let call = r.for_call();
        assert_eq!(
            call.text("kept-in-kv-1234 not-mine-5678", Place::ToolResult),
            "[redacted:token] not-mine-5678"
        );
    }

    #[test]
    fn a_plugin_without_secrets_never_reads_the_vault() {
        let f = fixture();
        let r = redactor(&f, &[]);
        assert!(r.0.is_none());
        r.handed("token", "s3cr3t-value");
        let call = r.for_call();
        assert!(call.0.is_none());
        assert!(matches!(
            call.text("s3cr3t-value", Place::Log),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn catches_base64_and_percent_encoded_forms() {
        let f = fixture();
        let r = redactor(&f, &["token"]);
        let value = "p@ss word/+=";
        r.handed("token", value);
        let b64 = base64::engine::general_purpose::STANDARD.encode(value);
        let call = r.for_call();
        for (text, expected) in [
            (format!("b64 {b64}"), "b64 [redacted:token]"),
            (
                format!("b64 {}!", b64.trim_end_matches('=')),
                "b64 [redacted:token]!",
            ),
            (
                "url /p%40ss%20word%2F%2B%3D/x".to_owned(),
                "url /[redacted:token]/x",
            ),
            (
                "url /p%40ss%20word%2f%2b%3d/x".to_owned(),
                "url /[redacted:token]/x",
            ),
        ] {
            assert_eq!(call.text(&text, Place::HttpAudit), expected);
        }
    }

    #[test]
    fn the_longest_of_overlapping_values_is_replaced_whole() {
        let f = fixture();
        let r = redactor(&f, &["short", "long"]);
        r.handed("short", "abcd1234");
        r.handed("long", "abcd1234-and-more");
        assert_eq!(
            r.for_call()
                .text("x abcd1234-and-more abcd1234", Place::Log),
            "x [redacted:long] [redacted:short]"
        );
    }

    #[test]
    fn values_shorter_than_the_minimum_are_not_redacted() {
        let f = fixture();
        let r = redactor(&f, &["pin"]);
        r.handed("pin", "123");
        assert_eq!(r.for_call().text("code 123", Place::Log), "code 123");
        r.handed("pin", "1234");
        assert_eq!(
            r.for_call().text("code 1234", Place::Log),
            "code [redacted:pin]"
        );
    }

    #[test]
    fn redacts_json_strings_keys_and_numbers() {
        let f = fixture();
        let r = redactor(&f, &["token", "pin"]);
        r.handed("token", "s3cr3t-value");
        r.handed("pin", "987654");
        let mut value = serde_json::json!({
            "token": "s3cr3t-value",
            "s3cr3t-value": [1, "x s3cr3t-value", {"pin": 987654}],
        });
        r.for_call().json(&mut value, Place::ToolResult);
        assert_eq!(
            value,
            serde_json::json!({
                "token": "[redacted:token]",
                "[redacted:token]": [1, "x [redacted:token]", {"pin": "[redacted:pin]"}],
            })
        );
    }

    #[test]
    fn redacts_raw_bytes() {
        let f = fixture();
        let r = redactor(&f, &["token"]);
        r.handed("token", "s3cr3t-value");
        let call = r.for_call();
        let mut blob = b"\x00\xffs3cr3t-value\x01".to_vec();
        call.bytes(&mut blob, Place::Resource);
        assert_eq!(blob, b"\x00\xff[redacted:token]\x01");
    }

    #[test]
    fn a_value_set_again_is_redacted_in_both_versions() {
        let f = fixture();
        f.vault.set(PLUGIN, "token", b"old-value-1").unwrap();
        let r = redactor(&f, &["token"]);
        assert_eq!(
            r.for_call().text("old-value-1", Place::Log),
            "[redacted:token]"
        );
        r.handed("token", "new-value-2");
        assert_eq!(
            r.for_call().text("old-value-1 new-value-2", Place::Log),
            "[redacted:token] [redacted:token]"
        );
    }
}
