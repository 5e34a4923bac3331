//! Everything Pincer keeps on disk: the home directory ([`Home`], atomic writes, secret
//! key files) and the store of installed plugins ([`plugins`]).
//!
//! Nothing here decides what a plugin may do; it only keeps the bytes that were
//! verified and approved elsewhere, and swaps them in atomically.

pub mod beneath;
mod home;
pub mod plugins;

pub use beneath::Missing;
pub use home::{Home, HomeError};
