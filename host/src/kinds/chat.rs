//! The `chat` kind: complete a conversation in a fresh instance. The reply and the
//! plugin's errors are cleaned of its secret values (its API key, say) before they are
//! returned.

use serde::{Deserialize, Serialize};

use crate::caps::redact::Place;
use crate::runtime::{CallError, Plugin};

world_bindings!("chat");

use exports::pincer::plugin::completion as wit;

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions that set up the conversation.
    System,
    /// The person.
    User,
    /// The model.
    Assistant,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// What it says.
    pub content: String,
}

/// A completion request.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The conversation, oldest first.
    pub messages: Vec<Message>,
    /// A model that overrides the plugin's configured one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// The most tokens to write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
}

/// Token counts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Usage {
    /// Tokens read.
    pub prompt_tokens: u32,
    /// Tokens written.
    pub completion_tokens: u32,
}

/// The model's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatReply {
    /// The assistant's message.
    pub message: Message,
    /// The model that answered.
    pub model: String,
    /// Why it stopped, as the provider says.
    pub finish_reason: Option<String>,
    /// Token counts, if known.
    pub usage: Option<Usage>,
}

/// Why a chat plugin has no answer (its own error, not a fault).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChatFailure {
    /// The request is malformed.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The provider refused the credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// The provider asks to slow down.
    #[error("the provider is rate limiting requests{}", .0.map(|s| format!("; retry after {s} s")).unwrap_or_default())]
    RateLimited(Option<u32>),
    /// The provider failed or answered something that is not a completion.
    #[error("{0}")]
    Provider(String),
    /// A capability was denied; the text says which grant to add.
    #[error("{0}")]
    Denied(String),
}

impl From<wit::Role> for Role {
    fn from(role: wit::Role) -> Self {
        match role {
            wit::Role::System => Role::System,
            wit::Role::User => Role::User,
            wit::Role::Assistant => Role::Assistant,
        }
    }
}

impl From<Role> for wit::Role {
    fn from(role: Role) -> Self {
        match role {
            Role::System => wit::Role::System,
            Role::User => wit::Role::User,
            Role::Assistant => wit::Role::Assistant,
        }
    }
}

impl Plugin {
    /// Complete `request` in a fresh instance: the reply, or the plugin's reason for
    /// having none; `Err` for a fault or a plugin that is not a chat plugin.
    pub async fn complete(
        &self,
        request: &ChatRequest,
    ) -> Result<Result<ChatReply, ChatFailure>, CallError> {
        let pre = match &self.kind_pre {
            crate::kinds::KindPre::Chat(pre) => pre,
            _ => return Err(self.wrong_kind(crate::manifest::PluginKind::Chat)),
        };
        let wit_request = wit::Request {
            messages: request
                .messages
                .iter()
                .map(|m| wit::Message {
                    role: m.role.into(),
                    content: m.content.clone(),
                })
                .collect(),
            model: request.model.clone(),
            temperature: request.temperature,
            max_tokens: request.max_tokens,
        };
        let (answer, redact) = self
            .run(async |cs| {
                let chat = pre.instantiate_async(&mut cs.store).await?;
                let answer = chat
                    .pincer_plugin_completion()
                    .call_complete(&mut cs.store, &wit_request)
                    .await?;
                Ok((answer, cs.store.data().redact().clone()))
            })
            .await?;
        Ok(match answer {
            Ok(mut reply) => {
                redact.string(&mut reply.message.content, Place::Chat);
                redact.string(&mut reply.model, Place::Chat);
                redact.option(&mut reply.finish_reason, Place::Chat);
                Ok(ChatReply {
                    message: Message {
                        role: reply.message.role.into(),
                        content: reply.message.content,
                    },
                    model: reply.model,
                    finish_reason: reply.finish_reason,
                    usage: reply.usage.map(|u| Usage {
                        prompt_tokens: u.prompt_tokens,
                        completion_tokens: u.completion_tokens,
                    }),
                })
            }
            Err(e) => {
                let clean = |mut m: String| {
                    redact.string(&mut m, Place::ChatError);
                    m
                };
                Err(match e {
                    wit::ChatError::InvalidRequest(m) => ChatFailure::InvalidRequest(clean(m)),
                    wit::ChatError::Unauthorized(m) => ChatFailure::Unauthorized(clean(m)),
                    wit::ChatError::RateLimited(s) => ChatFailure::RateLimited(s),
                    wit::ChatError::Provider(m) => ChatFailure::Provider(clean(m)),
                    wit::ChatError::Denied(m) => ChatFailure::Denied(clean(m)),
                })
            }
        })
    }
}
