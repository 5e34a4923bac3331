//! Pincer's end-to-end tests: one test binary, so that the host (and wasmtime) is linked
//! into a test once, not once per area. Each module is one area; what they share is the
//! harness in `tests/support` (the `pincer-test-support` crate: built guests, scratch
//! plugins, a `Pincer` home, an HTTP test server, raw MCP over stdio) and
//! [`remote_mcp`], a remote MCP server for the `remote` adapter.
//!
//! Run one area with `scripts/test --test all http::` (a module name, or any part of a
//! test's path).

mod audit_trail;
mod cache;
mod capabilities;
mod chat;
mod cli;
mod dev;
mod egress;
mod gateway;
mod guest_unit_tests;
mod hardening;
mod http;
mod install;
mod layout;
mod limits;
mod mcp;
mod mcp_2026;
mod mcp_client;
mod mcp_tasks;
mod minisign;
mod mount_links;
mod pinning;
mod poisoning;
mod python_mcp;
mod python_plugin;
mod recordings;
mod redaction;
mod reference;
mod remote_mcp;
mod review;
mod sandbox;
mod scaffold;
mod takeover;
mod terminal;
mod tutorial;
mod viewer_confinement;
mod wit_frozen;
