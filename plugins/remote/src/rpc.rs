//! JSON-RPC 2.0 as MCP's Streamable HTTP transport carries it: the bodies this client
//! posts, and the search for the answer to one request in what the server sends back,
//! either one JSON document or a `text/event-stream` whose events carry messages.
//!
//! Pure functions over bytes, tested natively; this module never makes a request.

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

/// The JSON-RPC error code for invalid parameters, which MCP also uses for an unknown
/// tool.
pub const INVALID_PARAMS: i64 = -32602;

/// The body of a request with the id `id`.
pub fn request(id: u64, method: &str, params: &Value) -> Vec<u8> {
    let message =
        serde_json::json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
    message.to_string().into_bytes()
}

/// The body of a notification, which has no id and gets no answer.
pub fn notification(method: &str) -> Vec<u8> {
    let message = serde_json::json!({ "jsonrpc": "2.0", "method": method });
    message.to_string().into_bytes()
}

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RpcError {
    /// The error code: `-32602` for invalid parameters, and so on.
    pub code: i64,
    /// What went wrong, in the server's words.
    pub message: String,
}

/// The server's answer to one request.
#[derive(Debug)]
pub enum Reply {
    /// The request's result, as the JSON text the server sent.
    Result(Box<RawValue>),
    /// The request failed.
    Error(RpcError),
}

/// One message from the server: an answer (id and result or error), a notification
/// (method, no id) or a request of its own (method and id). Other fields are ignored.
#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    result: Option<Box<RawValue>>,
    #[serde(default)]
    error: Option<RpcError>,
}

/// Find the answer to the request `id` in a response body of the media type
/// `content_type`. Messages that are not that answer (progress and log notifications,
/// the server's own requests) are skipped. An error with a null id (the server could
/// not read the request) counts as the answer when no other comes.
///
/// The error text completes "the answer ...".
pub fn find_reply(content_type: &str, body: &[u8], id: u64) -> Result<Reply, String> {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let body = std::str::from_utf8(body).map_err(|_| "is not UTF-8 text".to_owned())?;
    let messages = match essence.as_str() {
        "application/json" => {
            messages(body).map_err(|e| format!("is not a JSON-RPC message: {e}"))?
        }
        "text/event-stream" => events(body)
            .into_iter()
            .filter(|event| event.kind.is_empty() || event.kind == "message")
            // A stream may also carry events with no message, such as the empty event
            // that primes a client for resuming.
            .filter_map(|event| messages(&event.data).ok())
            .flatten()
            .collect(),
        "" => return Err("has no Content-Type".to_owned()),
        other => {
            return Err(format!(
                "is of type {other}, not application/json or text/event-stream"
            ));
        }
    };
    let id = Value::from(id);
    let mut unattributed = None;
    for message in messages {
        if message.method.is_some() {
            continue;
        }
        match (message.id, message.result, message.error) {
            (Some(got), Some(result), None) if got == id => return Ok(Reply::Result(result)),
            (Some(got), _, Some(error)) if got == id => return Ok(Reply::Error(error)),
            (None, None, Some(error)) => unattributed = Some(error),
            _ => {}
        }
    }
    unattributed
        .map(Reply::Error)
        .ok_or_else(|| "holds no response to the request".to_owned())
}

/// The messages of one JSON text: a single message or a batch.
fn messages(json: &str) -> Result<Vec<Message>, serde_json::Error> {
    if json.trim_start().starts_with('[') {
        serde_json::from_str(json)
    } else {
        serde_json::from_str(json).map(|message| vec![message])
    }
}

/// One event of a `text/event-stream`.
#[derive(Debug, PartialEq, Eq)]
pub struct Event {
    /// The event type; empty for the default, `message`.
    pub kind: String,
    /// The data lines, joined with newlines.
    pub data: String,
}

/// Parse a whole `text/event-stream` body into its events, as the HTML standard's
/// "interpret an event stream" does, except that an event the stream ends in without
/// a blank line is kept: the body is complete, so that event is too.
pub fn events(stream: &str) -> Vec<Event> {
    let stream = stream.strip_prefix('\u{feff}').unwrap_or(stream);
    let mut events = Vec::new();
    let mut kind = String::new();
    let mut data: Option<String> = None;
    let mut dispatch = |kind: &mut String, data: &mut Option<String>| {
        if let Some(data) = data.take() {
            events.push(Event {
                kind: std::mem::take(kind),
                data,
            });
        }
        kind.clear();
    };
    for line in lines(stream) {
        if line.is_empty() {
            dispatch(&mut kind, &mut data);
            continue;
        }
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => value.clone_into(&mut kind),
            "data" => match &mut data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => data = Some(value.to_owned()),
            },
            // `id` and `retry` serve reconnection, which a complete body never needs.
            _ => {}
        }
    }
    dispatch(&mut kind, &mut data);
    events
}

/// The lines of an event stream, which may end in CRLF, LF or CR.
fn lines(stream: &str) -> impl Iterator<Item = &str> {
    let mut rest = stream;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let Some(end) = rest.find(['\r', '\n']) else {
            return Some(std::mem::take(&mut rest));
        };
        let line = &rest[..end];
        let skip = if rest[end..].starts_with("\r\n") {
            2
        } else {
            1
        };
        rest = &rest[end + skip..];
        Some(line)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result_text(reply: Reply) -> String {
        match reply {
            Reply::Result(raw) => raw.get().to_owned(),
            Reply::Error(e) => panic!("an error: {e:?}"),
        }
    }

    #[test]
    fn writes_requests_and_notifications() {
        let body = request(7, "tools/list", &serde_json::json!({}));
        let value: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"jsonrpc":"2.0","id":7,"method":"tools/list","params":{}})
        );
        let body = notification("notifications/initialized");
        let value: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"jsonrpc":"2.0","method":"notifications/initialized"})
        );
    }

    #[test]
    fn parses_events_with_multiline_data_and_comments() {
        let stream =
            ": a comment\nevent: message\ndata: {\"a\":\ndata:1}\nid: 4\n\ndata: second\n\n";
        assert_eq!(
            events(stream),
            vec![
                Event {
                    kind: "message".to_owned(),
                    data: "{\"a\":\n1}".to_owned()
                },
                Event {
                    kind: String::new(),
                    data: "second".to_owned()
                },
            ]
        );
    }

    #[test]
    fn parses_events_with_any_line_ending() {
        let expected = vec![
            Event {
                kind: String::new(),
                data: "one".to_owned(),
            },
            Event {
                kind: String::new(),
                data: "two".to_owned(),
            },
        ];
        assert_eq!(events("data: one\r\n\r\ndata: two\r\n\r\n"), expected);
        assert_eq!(events("data: one\r\rdata: two\r\r"), expected);
        assert_eq!(events("\u{feff}data: one\n\ndata: two"), expected);
    }

    #[test]
    fn skips_events_without_data() {
        assert_eq!(events("id: 1\nretry: 100\n\nevent: ping\n\n"), vec![]);
        assert_eq!(
            events("data\n\n"),
            vec![Event {
                kind: String::new(),
                data: String::new()
            }]
        );
    }

    #[test]
    fn finds_the_result_in_a_json_body() {
        let body = br#"{"jsonrpc":"2.0","id":3,"result":{"tools":[]}}"#;
        let reply = find_reply("application/json; charset=utf-8", body, 3).unwrap();
        assert_eq!(result_text(reply), r#"{"tools":[]}"#);
    }

    #[test]
    fn finds_the_result_in_a_batch() {
        let body = br#"[{"jsonrpc":"2.0","method":"notifications/message","params":{}},{"jsonrpc":"2.0","id":2,"result":{}}]"#;
        assert_eq!(
            result_text(find_reply("application/json", body, 2).unwrap()),
            "{}"
        );
    }

    #[test]
    fn finds_the_result_among_other_events_of_a_stream() {
        let body = concat!(
            "id: prime\ndata:\n\n",
            "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progress\":1}}\n\n",
            "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n\n",
            "data: {\"jsonrpc\":\"2.0\",\"id\":9,\"result\":{\"other\":true}}\n\n",
            "data: {\"jsonrpc\":\"2.0\",\"id\":1,\n",
            "data: \"result\":{\"content\":[]}}\n\n",
        );
        let reply = find_reply("text/event-stream", body.as_bytes(), 1).unwrap();
        assert_eq!(result_text(reply), r#"{"content":[]}"#);
    }

    #[test]
    fn returns_the_error_of_a_failed_request() {
        let body =
            br#"{"jsonrpc":"2.0","id":5,"error":{"code":-32602,"message":"Unknown tool: x"}}"#;
        match find_reply("application/json", body, 5).unwrap() {
            Reply::Error(e) => assert_eq!(
                e,
                RpcError {
                    code: INVALID_PARAMS,
                    message: "Unknown tool: x".to_owned()
                }
            ),
            Reply::Result(_) => panic!("a result"),
        }
    }

    #[test]
    fn takes_an_error_without_id_when_no_answer_comes() {
        let body =
            br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}"#;
        assert!(matches!(
            find_reply("application/json", body, 1),
            Ok(Reply::Error(RpcError { code: -32700, .. }))
        ));
    }

    #[test]
    fn ignores_answers_to_other_requests() {
        let body = "data: {\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{}}\n\n";
        let error = find_reply("text/event-stream", body.as_bytes(), 1).unwrap_err();
        assert_eq!(error, "holds no response to the request");
        let body = br#"{"jsonrpc":"2.0","id":"1","result":{}}"#;
        assert!(find_reply("application/json", body, 1).is_err());
    }

    #[test]
    fn rejects_bodies_of_other_types_or_not_json() {
        assert!(
            find_reply("text/html", b"<html>", 1)
                .unwrap_err()
                .contains("text/html")
        );
        assert!(
            find_reply("application/json", b"not json", 1)
                .unwrap_err()
                .starts_with("is not a JSON-RPC message")
        );
        assert_eq!(find_reply("", b"{}", 1).unwrap_err(), "has no Content-Type");
    }
}
