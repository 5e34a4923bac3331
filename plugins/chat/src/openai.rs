//! OpenAI's chat-completions protocol: the request checked and sent, the provider's
//! answer read as a reply, and what each failure means as a `chat-error`.
//!
//! Pure functions over the WIT's types, tested natively; this module never makes a
//! request nor reads a setting or secret.

use pincer_sdk::chat::{ChatError, Message, Reply, Request, Role, Usage};
use pincer_sdk::{CapabilityError, http};
use serde::{Deserialize, Serialize};

use crate::PLUGIN_ID;

/// The highest sampling temperature OpenAI accepts; the lowest is 0.
const MAX_TEMPERATURE: f32 = 2.0;

/// How many characters of an unexpected answer an error shows.
const SHOWN_BODY_CHARS: usize = 200;

/// Refuse what no provider would accept, before any capability is used.
pub fn check(request: &Request) -> Result<(), ChatError> {
    if request.messages.is_empty() {
        return Err(ChatError::InvalidRequest(
            "the conversation is empty: send at least one message".to_owned(),
        ));
    }
    if request.model.as_ref().is_some_and(|m| m.trim().is_empty()) {
        return Err(ChatError::InvalidRequest(
            "`model` is empty: name a model, or leave it out for the configured one".to_owned(),
        ));
    }
    if let Some(t) = request.temperature
        && !(0.0..=MAX_TEMPERATURE).contains(&t)
    {
        // NaN is in no range, so it is refused here too.
        return Err(ChatError::InvalidRequest(format!(
            "`temperature` must be between 0 and {MAX_TEMPERATURE}, not {t}"
        )));
    }
    if request.max_tokens == Some(0) {
        return Err(ChatError::InvalidRequest(
            "`max_tokens` must be at least 1".to_owned(),
        ));
    }
    Ok(())
}

/// The chat-completions request for `request`, sent to the API at `base_url` (with or
/// without a trailing slash) as `model`, with `api_key` as its bearer token. The
/// request must have passed [`check`].
pub fn request(base_url: &str, api_key: &str, model: &str, request: &Request) -> http::Request {
    let body = Body {
        model,
        messages: request
            .messages
            .iter()
            .map(|m| WireMessage {
                role: role_name(m.role),
                content: &m.content,
            })
            .collect(),
        temperature: request.temperature,
        max_tokens: request.max_tokens,
    };
    // The host bounds the request by the call's own time limit.
    http::Request::post(format!(
        "{}/chat/completions",
        base_url.trim_end_matches('/')
    ))
    .header("Authorization", format!("Bearer {api_key}"))
    .json(&body)
    // Strings and finite numbers always serialize.
    .expect("a chat request serializes")
}

/// The request body: the fields of OpenAI's that the WIT's request has.
#[derive(Serialize)]
struct Body<'a> {
    model: &'a str,
    messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
}

#[derive(Serialize)]
struct WireMessage<'a> {
    role: &'static str,
    content: &'a str,
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
    }
}

/// The reply in the provider's `response` to a request for `model`, or what its
/// failure means.
pub fn reply(response: &http::Response, model: &str) -> Result<Reply, ChatError> {
    if !response.is_success() {
        return Err(status_error(response));
    }
    let completion: Completion = match serde_json::from_slice(&response.body) {
        Ok(completion) => completion,
        Err(e) => {
            return Err(not_a_completion(
                response,
                &format!("not a chat completion: {e}"),
            ));
        }
    };
    let Some(choice) = completion.choices.into_iter().next() else {
        return Err(not_a_completion(response, "no choices"));
    };
    Ok(Reply {
        message: Message {
            role: Role::Assistant,
            // A refusal comes instead of content, and is the model's answer as well.
            content: choice
                .message
                .content
                .or(choice.message.refusal)
                .unwrap_or_default(),
        },
        model: completion
            .model
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| model.to_owned()),
        finish_reason: choice.finish_reason,
        usage: completion.usage.and_then(|u| {
            Some(Usage {
                prompt_tokens: u.prompt_tokens?,
                completion_tokens: u.completion_tokens?,
            })
        }),
    })
}

/// The parts of a chat completion that the WIT's reply has.
#[derive(Deserialize)]
struct Completion {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct Choice {
    message: ChoiceMessage,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct ChoiceMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: Option<u32>,
    #[serde(default)]
    completion_tokens: Option<u32>,
}

/// What a response with a status other than 2xx means.
fn status_error(response: &http::Response) -> ChatError {
    let status = response.status;
    let error = provider_error(&response.body);
    // OpenAI answers 429 both to slow down and when the account's credit is spent;
    // retrying the second never helps.
    let out_of_quota = error.as_ref().is_some_and(|e| {
        [&e.code, &e.kind]
            .iter()
            .any(|v| v.as_deref() == Some("insufficient_quota"))
    });
    let detail = error.map_or_else(|| shown(&response.body), |e| e.message);
    match status {
        401 => ChatError::Unauthorized(format!(
            "the provider refused the API key (HTTP 401): {detail}; check the key set with `pincer secrets set {PLUGIN_ID} api_key`"
        )),
        403 => ChatError::Unauthorized(format!("the provider refused access (HTTP 403): {detail}")),
        429 if out_of_quota => ChatError::Provider(format!(
            "the provider's quota is used up (HTTP 429): {detail}"
        )),
        429 => ChatError::RateLimited(retry_after(response)),
        404 => ChatError::InvalidRequest(format!(
            "the provider refused the request (HTTP 404): {detail}; check the model and the `base_url` setting, which usually ends in /v1"
        )),
        400..=499 => ChatError::InvalidRequest(format!(
            "the provider refused the request (HTTP {status}): {detail}"
        )),
        _ => ChatError::Provider(format!("the provider failed (HTTP {status}): {detail}")),
    }
}

/// The `retry-after` header as whole seconds; none when it is absent or a date.
fn retry_after(response: &http::Response) -> Option<u32> {
    response.header("retry-after")?.trim().parse().ok()
}

/// An error in OpenAI's shape, `{"error": {"message": ..., "type": ..., "code": ...}}`,
/// or the `{"error": "message"}` of some compatible providers.
struct ProviderError {
    message: String,
    kind: Option<String>,
    code: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorField,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ErrorField {
    Object {
        message: String,
        #[serde(default, rename = "type")]
        kind: Option<serde_json::Value>,
        #[serde(default)]
        code: Option<serde_json::Value>,
    },
    Text(String),
}

/// The provider's error in `body`, if it has one with a message.
fn provider_error(body: &[u8]) -> Option<ProviderError> {
    let text = |v: Option<serde_json::Value>| v.and_then(|v| v.as_str().map(str::to_owned));
    let error = match serde_json::from_slice::<ErrorBody>(body).ok()?.error {
        ErrorField::Object {
            message,
            kind,
            code,
        } => ProviderError {
            message,
            kind: text(kind),
            code: text(code),
        },
        ErrorField::Text(message) => ProviderError {
            message,
            kind: None,
            code: None,
        },
    };
    (!error.message.trim().is_empty()).then_some(error)
}

/// What sending the request failing means: the SDK's sentence, which names the URL
/// and, for a denial, the manifest line to add. A malformed request is made from the
/// admin's `base_url` and key, so it is `denied` too, naming both settings; anything
/// else is `provider`.
pub fn http_error(error: CapabilityError) -> ChatError {
    match error {
        CapabilityError::Invalid(why) => ChatError::Denied(format!(
            "{why}; check the `base_url` setting (`pincer config set {PLUGIN_ID} base_url https://api.openai.com/v1`) and the key (`pincer secrets set {PLUGIN_ID} api_key`)"
        )),
        other => other.into(),
    }
}

/// What a 2xx answer that is not a completion means: the provider's error if it holds
/// one, else that it is malformed, and `why`.
fn not_a_completion(response: &http::Response, why: &str) -> ChatError {
    ChatError::Provider(match provider_error(&response.body) {
        Some(error) => format!(
            "the provider answered HTTP {} with an error: {}",
            response.status, error.message
        ),
        None => format!(
            "the provider's answer is malformed ({why}): {}",
            shown(&response.body)
        ),
    })
}

/// The start of a body on one line, for an error message.
fn shown(body: &[u8]) -> String {
    pincer_sdk::body_excerpt(body, SHOWN_BODY_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(content: &str) -> Message {
        Message {
            role: Role::User,
            content: content.to_owned(),
        }
    }

    fn ask(messages: Vec<Message>) -> Request {
        Request {
            messages,
            model: None,
            temperature: None,
            max_tokens: None,
        }
    }

    fn response(status: u16, headers: &[(&str, &str)], body: &str) -> http::Response {
        http::Response {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    fn body_json(request: &http::Request) -> serde_json::Value {
        serde_json::from_slice(request.body.as_deref().expect("a body")).expect("JSON")
    }

    const COMPLETION: &str = r#"{
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello!", "refusal": null},
                     "logprobs": null, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}
    }"#;

    #[test]
    fn accepts_a_conversation_with_sane_options() {
        let mut request = ask(vec![user("hi")]);
        request.model = Some("gpt-4o".to_owned());
        request.temperature = Some(2.0);
        request.max_tokens = Some(1);
        assert_eq!(check(&request), Ok(()));
    }

    #[test]
    fn refuses_an_empty_conversation() {
        assert_eq!(
            check(&ask(Vec::new())),
            Err(ChatError::InvalidRequest(
                "the conversation is empty: send at least one message".to_owned()
            ))
        );
    }

    #[test]
    fn refuses_bad_options() {
        let hi = || ask(vec![user("hi")]);
        let cases = [
            (
                Request {
                    temperature: Some(2.5),
                    ..hi()
                },
                "`temperature` must be between 0 and 2, not 2.5",
            ),
            (
                Request {
                    temperature: Some(-0.1),
                    ..hi()
                },
                "`temperature` must be between 0 and 2, not -0.1",
            ),
            (
                Request {
                    temperature: Some(f32::NAN),
                    ..hi()
                },
                "`temperature` must be between 0 and 2, not NaN",
            ),
            (
                Request {
                    max_tokens: Some(0),
                    ..hi()
                },
                "`max_tokens` must be at least 1",
            ),
            (
                Request {
                    model: Some(" ".to_owned()),
                    ..hi()
                },
                "`model` is empty: name a model, or leave it out for the configured one",
            ),
        ];
        for (request, why) in cases {
            assert_eq!(
                check(&request),
                Err(ChatError::InvalidRequest(why.to_owned()))
            );
        }
    }

    #[test]
    fn posts_the_conversation_with_the_bearer_key() {
        let conversation = ask(vec![
            Message {
                role: Role::System,
                content: "Be brief.".to_owned(),
            },
            user("hi"),
            Message {
                role: Role::Assistant,
                content: "Hello.".to_owned(),
            },
        ]);
        let sent = request(
            "https://api.openai.com/v1",
            "sk-test",
            "gpt-4o-mini",
            &conversation,
        );
        assert_eq!(sent.method, "POST");
        assert_eq!(sent.url, "https://api.openai.com/v1/chat/completions");
        assert_eq!(
            sent.headers,
            vec![
                ("Authorization".to_owned(), "Bearer sk-test".to_owned()),
                ("Content-Type".to_owned(), "application/json".to_owned()),
            ]
        );
        assert_eq!(
            body_json(&sent),
            serde_json::json!({
                "model": "gpt-4o-mini",
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": "Hello."},
                ],
            })
        );
    }

    #[test]
    fn sends_the_options_that_are_set() {
        let mut conversation = ask(vec![user("hi")]);
        conversation.temperature = Some(0.7);
        conversation.max_tokens = Some(100);
        let body = body_json(&request("https://x.example/v1/", "k", "m", &conversation));
        assert_eq!(body["temperature"].to_string(), "0.7");
        assert_eq!(body["max_tokens"], 100);
    }

    #[test]
    fn joins_a_base_url_with_a_trailing_slash() {
        let sent = request("https://x.example/v1/", "k", "m", &ask(vec![user("hi")]));
        assert_eq!(sent.url, "https://x.example/v1/chat/completions");
    }

    #[test]
    fn reads_a_completion() {
        assert_eq!(
            reply(&response(200, &[], COMPLETION), "gpt-4o-mini"),
            Ok(Reply {
                message: Message {
                    role: Role::Assistant,
                    content: "Hello!".to_owned(),
                },
                model: "gpt-4o-mini-2024-07-18".to_owned(),
                finish_reason: Some("stop".to_owned()),
                usage: Some(Usage {
                    prompt_tokens: 9,
                    completion_tokens: 3,
                }),
            })
        );
    }

    #[test]
    fn fills_in_what_a_sparse_completion_leaves_out() {
        let sparse = r#"{"choices": [{"message": {"content": "ok"}}]}"#;
        let reply = reply(&response(200, &[], sparse), "local-model").expect("a reply");
        assert_eq!(reply.message.content, "ok");
        assert_eq!(reply.model, "local-model");
        assert_eq!(reply.finish_reason, None);
        assert_eq!(reply.usage, None);
    }

    #[test]
    fn gives_a_refusal_as_the_answer() {
        let refused = r#"{"model": "m", "choices": [{"message": {"role": "assistant", "content": null,
            "refusal": "I can't help with that."}, "finish_reason": "stop"}]}"#;
        let reply = reply(&response(200, &[], refused), "m").expect("a reply");
        assert_eq!(reply.message.content, "I can't help with that.");
    }

    #[test]
    fn says_a_2xx_answer_that_is_not_a_completion_is_malformed() {
        let Err(ChatError::Provider(why)) = reply(&response(200, &[], "<html>oops</html>"), "m")
        else {
            panic!("not a provider error");
        };
        assert!(
            why.starts_with("the provider's answer is malformed (not a chat completion: "),
            "{why}"
        );
        assert!(why.ends_with("): <html>oops</html>"), "{why}");
        assert_eq!(
            reply(&response(200, &[], r#"{"choices": []}"#), "m"),
            Err(ChatError::Provider(
                r#"the provider's answer is malformed (no choices): {"choices": []}"#.to_owned()
            ))
        );
        assert_eq!(
            reply(&response(200, &[], ""), "m"),
            Err(ChatError::Provider(
                "the provider's answer is malformed (not a chat completion: EOF while parsing a value at line 1 column 0): (empty body)".to_owned()
            ))
        );
    }

    #[test]
    fn gives_the_error_of_a_2xx_answer_that_holds_one() {
        let body = r#"{"error": {"message": "model overloaded", "type": "server_error"}}"#;
        assert_eq!(
            reply(&response(200, &[], body), "m"),
            Err(ChatError::Provider(
                "the provider answered HTTP 200 with an error: model overloaded".to_owned()
            ))
        );
    }

    #[test]
    fn says_a_refused_key_is_unauthorized_with_the_providers_message() {
        let body = r#"{"error": {"message": "Incorrect API key provided: sk-bad.", "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}}"#;
        assert_eq!(
            reply(&response(401, &[], body), "m"),
            Err(ChatError::Unauthorized(
                "the provider refused the API key (HTTP 401): Incorrect API key provided: sk-bad.; check the key set with `pincer secrets set dev.pincer.chat api_key`".to_owned()
            ))
        );
        let body = r#"{"error": {"message": "Country, region, or territory not supported", "code": "unsupported_country_region_territory"}}"#;
        assert_eq!(
            reply(&response(403, &[], body), "m"),
            Err(ChatError::Unauthorized(
                "the provider refused access (HTTP 403): Country, region, or territory not supported".to_owned()
            ))
        );
    }

    #[test]
    fn shows_the_body_of_an_error_in_another_shape() {
        assert_eq!(
            reply(&response(401, &[], "Unauthorized\n"), "m"),
            Err(ChatError::Unauthorized(
                "the provider refused the API key (HTTP 401): Unauthorized; check the key set with `pincer secrets set dev.pincer.chat api_key`".to_owned()
            ))
        );
        assert_eq!(
            reply(
                &response(400, &[], r#"{"error": "model is required"}"#),
                "m"
            ),
            Err(ChatError::InvalidRequest(
                "the provider refused the request (HTTP 400): model is required".to_owned()
            ))
        );
    }

    #[test]
    fn reads_retry_after_as_whole_seconds() {
        let cases = [
            (vec![("Retry-After", "20")], Some(20)),
            (vec![("retry-after", " 0 ")], Some(0)),
            (vec![("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")], None),
            (vec![("retry-after", "1.5")], None),
            (vec![("x-ratelimit-reset-requests", "1s")], None),
            (vec![], None),
        ];
        for (headers, seconds) in cases {
            let body = r#"{"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}"#;
            assert_eq!(
                reply(&response(429, &headers, body), "m"),
                Err(ChatError::RateLimited(seconds)),
                "{headers:?}"
            );
        }
    }

    #[test]
    fn says_a_spent_quota_is_the_providers_failure_not_a_rate_limit() {
        let body = r#"{"error": {"message": "You exceeded your current quota.", "type": "insufficient_quota", "param": null, "code": "insufficient_quota"}}"#;
        assert_eq!(
            reply(&response(429, &[("retry-after", "20")], body), "m"),
            Err(ChatError::Provider(
                "the provider's quota is used up (HTTP 429): You exceeded your current quota."
                    .to_owned()
            ))
        );
    }

    #[test]
    fn names_the_status_and_message_of_a_provider_failure() {
        let body = r#"{"error": {"message": "The server had an error while processing your request.", "type": "server_error"}}"#;
        assert_eq!(
            reply(&response(500, &[], body), "m"),
            Err(ChatError::Provider(
                "the provider failed (HTTP 500): The server had an error while processing your request.".to_owned()
            ))
        );
        assert_eq!(
            reply(&response(502, &[], ""), "m"),
            Err(ChatError::Provider(
                "the provider failed (HTTP 502): (empty body)".to_owned()
            ))
        );
    }

    #[test]
    fn says_what_to_check_when_the_endpoint_or_model_is_not_found() {
        let body = r#"{"error": {"message": "The model `gpt-9` does not exist or you do not have access to it.", "code": "model_not_found"}}"#;
        assert_eq!(
            reply(&response(404, &[], body), "gpt-9"),
            Err(ChatError::InvalidRequest(
                "the provider refused the request (HTTP 404): The model `gpt-9` does not exist or you do not have access to it.; check the model and the `base_url` setting, which usually ends in /v1".to_owned()
            ))
        );
    }

    #[test]
    fn shortens_a_long_body() {
        let long = "word ".repeat(100);
        let Err(ChatError::Provider(why)) = reply(&response(503, &[], &long), "m") else {
            panic!("not a provider error");
        };
        assert_eq!(
            why,
            format!(
                "the provider failed (HTTP 503): {}…",
                &long[..SHOWN_BODY_CHARS]
            )
        );
    }

    #[test]
    fn keeps_the_sdks_text_for_a_denied_request() {
        let why = "Pincer did not allow the request to https://api.openai.com/v1/chat/completions: method POST is not allowed; add it to the manifest: [capabilities.http] methods = [\"POST\"]";
        assert_eq!(
            http_error(CapabilityError::Denied(why.to_owned())),
            ChatError::Denied(why.to_owned())
        );
    }

    #[test]
    fn names_the_settings_for_a_malformed_request() {
        let why = "cannot send the request to not a url: relative URL without a base";
        let ChatError::Denied(told) = http_error(CapabilityError::Invalid(why.to_owned())) else {
            panic!("not a denial");
        };
        assert!(told.starts_with(why), "{told}");
        assert!(
            told.contains("base_url") && told.contains("api_key"),
            "{told}"
        );
    }

    #[test]
    fn says_the_provider_failed_when_it_cannot_be_reached() {
        let why = "the request to https://api.openai.com/v1/chat/completions timed out";
        assert_eq!(
            http_error(CapabilityError::Failed(why.to_owned())),
            ChatError::Provider(why.to_owned())
        );
    }
}
