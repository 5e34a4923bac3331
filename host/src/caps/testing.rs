//! What the capabilities' unit tests share: a scratch home with its vault, audit trail
//! and policy, and a plugin's capabilities built from manifest sections, as the
//! runtime builds them at load.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::approval::{Approver, NoApprover};
use super::{CallClock, InstanceCaps, LoadContext, PluginCaps};
use crate::audit::Audit;
use crate::manifest::Manifest;
use crate::policy::Policy;
use crate::store::Home;
use crate::vault::Vault;

/// The plugin the tests' capabilities belong to.
pub const PLUGIN: &str = "com.example.probe";

/// A scratch home, removed on drop.
pub struct Fixture {
    _tmp: tempfile::TempDir,
    /// The home.
    pub home: Home,
    /// Its vault.
    pub vault: Arc<Vault>,
    /// Its audit trail.
    pub audit: Arc<Audit>,
    /// The admin's policy (`policy.toml`, none by default).
    pub policy: Policy,
    approver: Arc<dyn Approver>,
}

impl Fixture {
    /// A fresh home with no policy.
    pub fn new() -> Self {
        Fixture::with_policy("")
    }

    /// A fresh home whose `policy.toml` is `policy`.
    pub fn with_policy(policy: &str) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let home = Home::open_at(tmp.path()).unwrap();
        std::fs::write(home.join("policy.toml"), policy).unwrap();
        Fixture {
            vault: Arc::new(Vault::open(&home).unwrap()),
            audit: Arc::new(Audit::open(&home).unwrap()),
            policy: Policy::load(&home).unwrap(),
            approver: Arc::new(NoApprover),
            home,
            _tmp: tmp,
        }
    }

    /// The capabilities of [`PLUGIN`] whose manifest has the extra TOML `sections`,
    /// or why they cannot be built.
    pub fn try_caps(&self, sections: &str) -> Result<PluginCaps, super::CapsError> {
        let text = format!(
            "manifest_version = 1\n\n[plugin]\nid = \"{PLUGIN}\"\nname = \"Probe\"\nversion = \"1.0.0\"\nkind = \"mcp-server\"\ndescription = \"A test.\"\npublisher = \"Example\"\n\n[component]\nfile = \"probe.wasm\"\n\n{sections}"
        );
        let manifest = Manifest::parse(&text, Path::new("manifest.toml")).unwrap();
        PluginCaps::new(&LoadContext {
            plugin: &PLUGIN.into(),
            manifest: &manifest,
            home: &self.home,
            policy: &self.policy,
            vault: &self.vault,
            audit: &self.audit,
            approver: &self.approver,
        })
    }

    /// The capabilities of one instance of [`PLUGIN`] with the manifest `sections`,
    /// for a call of 10 s that starts now.
    pub fn instance(&self, sections: &str) -> InstanceCaps {
        self.try_caps(sections)
            .unwrap()
            .instance(CallClock::starting_now(Duration::from_secs(10)))
    }

    /// The audit records of `event`, oldest first.
    pub fn records(&self, event: &str) -> Vec<serde_json::Value> {
        self.audit.flush();
        std::fs::read_to_string(self.home.join("audit/log.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|r| r["event"] == event)
            .collect()
    }
}

/// Run an async host function to its end on a runtime of its own (time and I/O on).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}
