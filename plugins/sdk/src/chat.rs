//! A chat plugin completes a conversation, usually by calling an LLM provider through
//! [`http`](crate::http) with a key from [`secrets`](crate::secrets). It implements
//! [`Chat`](crate::chat::Chat) and exports it with [`chat_plugin!`](crate::chat_plugin):
//!
//! ```
//! use pincer_sdk::chat::{Chat, ChatError, Message, Reply, Request, Role};
//!
//! struct Echo;
//!
//! impl Chat for Echo {
//!     fn complete(request: Request) -> Result<Reply, ChatError> {
//!         let last = request.messages.last().ok_or_else(|| {
//!             ChatError::InvalidRequest("the conversation is empty".to_owned())
//!         })?;
//!         Ok(Reply {
//!             message: Message { role: Role::Assistant, content: last.content.clone() },
//!             model: "echo".to_owned(),
//!             finish_reason: Some("stop".to_owned()),
//!             usage: None,
//!         })
//!     }
//! }
//!
//! pincer_sdk::chat_plugin!(Echo);
//! ```
//!
//! The capability interfaces are the crate root's ([`http`](crate::http),
//! [`secrets`](crate::secrets), [`config`](crate::config), ...): this world shares their
//! types with the `mcp-server` world's bindings.

/// Generated bindings for the `chat` world. Its capability imports are the crate root's
/// bindings, not a second copy of them.
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "chat",
        path: "../../wit/0.1.0",
        with: {
            "pincer:plugin/log@0.1.0": crate::bindings::pincer::plugin::log,
            "pincer:plugin/http@0.1.0": crate::bindings::pincer::plugin::http,
            "pincer:plugin/secrets@0.1.0": crate::bindings::pincer::plugin::secrets,
            "pincer:plugin/kv@0.1.0": crate::bindings::pincer::plugin::kv,
            "pincer:plugin/approval@0.1.0": crate::bindings::pincer::plugin::approval,
            "pincer:plugin/config@0.1.0": crate::bindings::pincer::plugin::config,
        },
        // So that a plugin's tests can compare requests, replies and errors.
        additional_derives: [PartialEq],
        pub_export_macro: true,
        export_macro_name: "export_chat_world",
        default_bindings_module: "pincer_sdk::chat::bindings",
    });
}

pub use bindings::exports::pincer::plugin::completion;
pub use bindings::exports::pincer::plugin::completion::{
    ChatError, Message, Reply, Request, Role, Usage,
};

/// A plugin of the `chat` kind.
pub trait Chat {
    /// Complete the conversation in `request`: the assistant's next message, or why
    /// there is none. Each call runs in a fresh instance, so nothing carries over
    /// between calls but what the plugin stores through a capability.
    fn complete(request: Request) -> Result<Reply, ChatError>;
}

/// Export a type that implements [`Chat`](crate::chat::Chat) as this component's `chat`
/// world.
#[macro_export]
macro_rules! chat_plugin {
    ($ty:ident) => {
        impl $crate::chat::completion::Guest for $ty {
            fn complete(
                request: $crate::chat::Request,
            ) -> ::std::result::Result<$crate::chat::Reply, $crate::chat::ChatError> {
                <$ty as $crate::chat::Chat>::complete(request)
            }
        }
        $crate::chat::bindings::export_chat_world!($ty with_types_in $crate::chat::bindings);
    };
}
