//! Typed adapters for the plugin kinds: each turns a kind's exported world into plain
//! Rust calls on a [`crate::runtime::Plugin`], one fresh instance per call.

pub mod mcp;
