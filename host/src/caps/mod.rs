//! Capabilities: what a plugin may do beyond computing.
//!
//! One module per capability; each owns its manifest section type, its checks, its
//! per-instance state and its host functions. [`add_granted_to_linker`] is the only
//! place that knows them all: it links the base set that every plugin gets and then,
//! one by one, the interfaces that the plugin's grant allows. An interface that is not
//! granted is not linked at all, so a component that imports it cannot be instantiated
//! (and the import audit in [`crate::runtime::imports`] refuses it earlier, by name).

pub mod approval;
pub mod base;
pub mod config;
pub mod denials;
pub mod filesystem;
pub mod http;
pub mod kv;
pub mod log;
pub mod names;
pub mod redact;
pub mod secrets;

use std::time::{Duration, Instant};

use wasmtime::component::{HasData, Linker};

pub use denials::Denials;

use crate::runtime::InstanceState;

/// One call's time: when it must end, and the limit it was given. A host function
/// that waits (for the network, for a person) stops waiting early enough for the
/// plugin to act on the outcome.
#[derive(Debug, Clone, Copy)]
pub struct CallClock {
    /// When the call is interrupted.
    pub deadline: Instant,
    /// The plugin's wall-time limit per call.
    pub limit: Duration,
}

impl CallClock {
    /// A clock that has already run out: the state of an instance between calls.
    pub fn expired() -> Self {
        CallClock {
            deadline: Instant::now(),
            limit: Duration::ZERO,
        }
    }

    /// A call with `limit` that starts now.
    pub fn starting_now(limit: Duration) -> Self {
        CallClock {
            deadline: Instant::now() + limit,
            limit,
        }
    }

    /// How long a host function may still wait: the time left less
    /// [`CallClock::reserve`], zero if that is gone.
    pub fn wait_left(&self) -> Duration {
        self.deadline
            .saturating_duration_since(Instant::now())
            .saturating_sub(self.reserve())
    }

    /// What a wait leaves to the plugin to hear the outcome and act on it: a quarter of
    /// the limit, at least 250 ms and at most 2 s, but never more than half the limit
    /// (so a short limit still leaves time to wait). A fixed sliver would be eaten by a
    /// loaded machine's scheduling and an audit write's fsync, and the call would fault
    /// instead of being told the outcome.
    pub fn reserve(&self) -> Duration {
        (self.limit / 4)
            .clamp(Duration::from_millis(250), Duration::from_secs(2))
            .min(self.limit / 2)
    }
}

/// Host bindings for the capability interfaces of `pincer:plugin`.
pub mod bindings {
    wasmtime::component::bindgen!({
        world: "capabilities",
        path: "../wit/0.1.0",
        // Only these wait: on the network, and on a person.
        imports: {
            "pincer:plugin/http.fetch": async,
            // A person's answer is awaited without holding a runtime thread.
            "pincer:plugin/approval.ask": async,
        },
    });
}

/// The capabilities a plugin's manifest can ask for, besides the base set. Used to name
/// the manifest section that grants an import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Capability {
    /// `pincer:plugin/http`.
    Http,
    /// `pincer:plugin/secrets`.
    Secrets,
    /// `pincer:plugin/kv`.
    Kv,
    /// `pincer:plugin/approval`.
    Approval,
    /// `pincer:plugin/config`.
    Config,
}

impl Capability {
    /// The interface's name in `pincer:plugin`.
    pub fn interface(self) -> &'static str {
        match self {
            Capability::Http => "http",
            Capability::Secrets => "secrets",
            Capability::Kv => "kv",
            Capability::Approval => "approval",
            Capability::Config => "config",
        }
    }

    /// The manifest section that grants it.
    pub fn section(self) -> &'static str {
        match self {
            Capability::Http => "[capabilities.http]",
            Capability::Secrets => "[capabilities.secrets]",
            Capability::Kv => "[capabilities.kv]",
            Capability::Approval => "[capabilities.approval]",
            Capability::Config => "[capabilities.config]",
        }
    }

    /// Is it requested by `caps`?
    pub fn requested_by(self, caps: &crate::manifest::Capabilities) -> bool {
        match self {
            Capability::Http => caps.http.is_some(),
            Capability::Secrets => caps.secrets.is_some(),
            Capability::Kv => caps.kv.is_some(),
            Capability::Approval => caps.approval.is_some(),
            Capability::Config => caps.config.is_some(),
        }
    }

    /// Every capability, in a fixed order.
    pub const ALL: [Capability; 5] = [
        Capability::Http,
        Capability::Secrets,
        Capability::Kv,
        Capability::Approval,
        Capability::Config,
    ];
}

struct Log;

impl HasData for Log {
    type Data<'a> = &'a mut log::LogState;
}

struct Secrets;

impl HasData for Secrets {
    type Data<'a> = &'a mut secrets::SecretsState;
}

struct Http;

impl HasData for Http {
    type Data<'a> = &'a mut http::client::HttpState;
}

struct Approval;

impl HasData for Approval {
    type Data<'a> = &'a mut approval::ApprovalState;
}

struct Kv;

impl HasData for Kv {
    type Data<'a> = &'a mut kv::KvState;
}

struct Config;

impl HasData for Config {
    type Data<'a> = &'a mut config::ConfigState;
}

/// Link the base set and the granted capability interfaces. `granted` lists the
/// capabilities the plugin's effective grant allows.
pub fn add_granted_to_linker(
    linker: &mut Linker<InstanceState>,
    granted: &[Capability],
) -> wasmtime::Result<()> {
    base::add_to_linker(linker)?;
    bindings::pincer::plugin::log::add_to_linker::<_, Log>(linker, |s| &mut s.log)?;
    use bindings::pincer::plugin as wit;
    for cap in granted {
        match cap {
            Capability::Secrets => {
                wit::secrets::add_to_linker::<_, Secrets>(linker, |s| &mut s.secrets)?
            }
            Capability::Config => {
                wit::config::add_to_linker::<_, Config>(linker, |s| &mut s.config)?
            }
            Capability::Kv => wit::kv::add_to_linker::<_, Kv>(linker, |s| &mut s.kv)?,
            Capability::Approval => {
                wit::approval::add_to_linker::<_, Approval>(linker, |s| &mut s.approval)?
            }
            Capability::Http => wit::http::add_to_linker::<_, Http>(linker, |s| &mut s.http)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::CallClock;

    #[test]
    fn a_wait_leaves_the_plugin_a_quarter_of_its_limit_within_bounds() {
        let ms = Duration::from_millis;
        let reserve = |limit| CallClock::starting_now(limit).reserve();
        assert_eq!(reserve(ms(400)), ms(200));
        assert_eq!(reserve(ms(1000)), ms(250));
        assert_eq!(reserve(ms(1500)), ms(375));
        assert_eq!(reserve(ms(10_000)), ms(2000));
        assert_eq!(reserve(ms(300_000)), ms(2000));
    }

    #[test]
    fn a_wait_may_use_the_time_left_less_the_reserve_and_never_less_than_nothing() {
        let clock = CallClock::starting_now(Duration::from_secs(8));
        let left = clock.wait_left();
        assert!(
            left <= Duration::from_secs(6) && !left.is_zero(),
            "{left:?}"
        );
        assert_eq!(CallClock::expired().wait_left(), Duration::ZERO);
        // A short limit keeps half of itself for waiting.
        let short = CallClock::starting_now(Duration::from_millis(100));
        assert!(short.wait_left() <= Duration::from_millis(50));
    }
}
