//! A chat plugin for OpenAI's chat-completions API, or any API compatible with it: each
//! conversation is one `POST {base_url}/chat/completions` through the host's `http`
//! capability, so it reaches only the origins the admin granted, and every request is in
//! the audit log.
//!
//! Settings: the `base_url` config key (the API's base, such as
//! `https://api.openai.com/v1`), the `model` config key (the model used when a request
//! names none) and the `api_key` secret, sent as a bearer token.
//!
//! A setting or secret the admin has not provided is a `denied` error, like a grant
//! that is missing: the admin fixes both, and the text says how.

mod openai;

use pincer_sdk::chat::{Chat, ChatError, Reply, Request};
use pincer_sdk::{config, secrets};

/// The plugin's id, in the commands that errors tell the admin to run.
const PLUGIN_ID: &str = "dev.pincer.chat";

struct OpenAiChat;

impl Chat for OpenAiChat {
    fn complete(request: Request) -> Result<Reply, ChatError> {
        openai::check(&request)?;
        let base_url = setting("base_url")?.ok_or_else(|| {
            ChatError::Denied(format!(
                "no provider is configured: set its API's base URL with `pincer config set {PLUGIN_ID} base_url https://api.openai.com/v1`"
            ))
        })?;
        let model = match &request.model {
            Some(model) => model.trim().to_owned(),
            None => setting("model")?.ok_or_else(|| {
                ChatError::InvalidRequest(format!(
                    "no model was asked for and none is configured: name one in the request, or set a default with `pincer config set {PLUGIN_ID} model gpt-4o-mini`"
                ))
            })?,
        };
        let outbound = openai::request(&base_url, &api_key()?, &model, &request);
        let response = outbound.send().map_err(openai::http_error)?;
        openai::reply(&response, &model)
    }
}

pincer_sdk::chat_plugin!(OpenAiChat);

/// The setting `key`, or none when the admin has not set it or set it blank. A denial
/// keeps the host's text, which names the manifest line to add.
fn setting(key: &str) -> Result<Option<String>, ChatError> {
    let value = config::get(key)?;
    Ok(value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()))
}

/// The provider's API key. Read last, so that a request refused for another reason
/// never reads it.
fn api_key() -> Result<String, ChatError> {
    match secrets::get("api_key") {
        Ok(key) if !key.trim().is_empty() => Ok(key.trim().to_owned()),
        Ok(_) | Err(secrets::Error::NotSet(_)) => Err(ChatError::Denied(format!(
            "no API key is set for the provider: set it with `pincer secrets set {PLUGIN_ID} api_key`, which reads it from standard input"
        ))),
        // The host's text names the manifest line to add: the SDK keeps it whole.
        Err(denied) => Err(denied.into()),
    }
}
