//! Pincer: a capability-secure host for WebAssembly component plugins.
//!
//! A plugin is a component plus a manifest. The host links only what the manifest
//! grants and an admin approved, for bundles a trusted publisher signed, runs every call in a
//! fresh instance under memory, time and concurrency limits, and explains precisely
//! why it refuses a plugin. See `docs/` for the manifest reference and guides.

#![warn(missing_docs)]

pub mod admin;
pub mod audit;
pub mod caps;
pub mod cli;
pub mod digest;
pub mod exit;
pub mod gateway;
pub mod install;
pub mod kinds;
pub mod manifest;
pub mod mcp;
pub mod policy;
pub mod runtime;
pub mod store;
pub mod text;
pub mod tools;
pub mod trust;
pub mod vault;
