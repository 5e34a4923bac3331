//! Content digests: the SHA-256 that pins a component, a manifest, a grant set or a
//! tool definition.

use sha2::{Digest as _, Sha256};

/// The SHA-256 of `bytes`, as lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
