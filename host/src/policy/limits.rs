//! The caps on every plugin's limits (`[limits]` in `policy.toml`), and a plugin's
//! effective limits: what its manifest asks, cut to the caps.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::manifest::LimitsRequest;

/// The largest limits any plugin gets, whatever its manifest asks.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct LimitCaps {
    /// Linear memory per instance, in MiB. Default 1024.
    pub max_memory_mib: u32,
    /// Wall time per call, in milliseconds. Default 300000 (5 minutes).
    pub max_timeout_ms: u64,
    /// Instances of one plugin at once. Default 64.
    pub max_concurrency: u32,
    /// The largest HTTP answer a plugin reads, in bytes (its `max_response_bytes`).
    /// Default 256 MiB.
    pub max_response_bytes: u64,
    /// The largest key-value store of one plugin, in bytes (its `quota_bytes`).
    /// Default 1 GiB.
    pub max_kv_quota_bytes: u64,
}

impl Default for LimitCaps {
    fn default() -> Self {
        LimitCaps {
            max_memory_mib: 1024,
            max_timeout_ms: 300_000,
            max_concurrency: 64,
            max_response_bytes: 256 << 20,
            max_kv_quota_bytes: 1 << 30,
        }
    }
}

impl LimitCaps {
    /// `asked` of the capability setting `what`, cut to `max`; the line for the load
    /// report when it was cut.
    pub fn cap_bytes(what: &str, asked: u64, max: u64) -> (u64, Option<String>) {
        if asked > max {
            (
                max,
                Some(format!(
                    "{what} {asked} is above the policy's cap, using {max}"
                )),
            )
        } else {
            (asked, None)
        }
    }
}

/// What a plugin gets when its manifest does not say: 64 MiB, 10 s, 4 at once.
pub const DEFAULT_LIMITS: Limits = Limits {
    memory_bytes: 64 << 20,
    timeout: Duration::from_secs(10),
    concurrency: 4,
};

/// A plugin's effective limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// Linear memory per instance, in bytes.
    pub memory_bytes: u64,
    /// Wall time per call.
    #[serde(serialize_with = "millis")]
    pub timeout: Duration,
    /// Instances at once.
    pub concurrency: u32,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

/// The effective limits and the requests that the caps cut down, for the load report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CappedLimits {
    /// What the plugin gets.
    pub limits: Limits,
    /// One line per request that was above its cap.
    pub capped: Vec<String>,
}

impl LimitCaps {
    /// The limits a plugin gets: what it asks for (or the default), cut to the caps.
    pub fn apply(&self, asked: &LimitsRequest) -> CappedLimits {
        let mut capped = Vec::new();
        let mut cap = |what: &str, asked: Option<u64>, default: u64, max: u64| -> u64 {
            match asked {
                Some(want) if want > max => {
                    capped.push(format!(
                        "{what} {want} is above the policy's cap, using {max}"
                    ));
                    max
                }
                Some(want) => want,
                None => default.min(max),
            }
        };
        let memory_mib = cap(
            "memory_mib",
            asked.memory_mib.map(u64::from),
            DEFAULT_LIMITS.memory_bytes >> 20,
            self.max_memory_mib.into(),
        );
        let timeout_ms = cap(
            "timeout_ms",
            asked.timeout_ms,
            DEFAULT_LIMITS.timeout.as_millis() as u64,
            self.max_timeout_ms,
        );
        let concurrency = cap(
            "concurrency",
            asked.concurrency.map(u64::from),
            DEFAULT_LIMITS.concurrency.into(),
            self.max_concurrency.into(),
        );
        CappedLimits {
            limits: Limits {
                memory_bytes: memory_mib << 20,
                timeout: Duration::from_millis(timeout_ms),
                concurrency: concurrency as u32,
            },
            capped,
        }
    }
}
