//! How the `pincer` binary is linked.
//!
//! An idle `pincer mcp` holds resident every page of its own code that start-up and a
//! call touched, and the kernel maps files 64 KiB around each page fault, so code that
//! runs once, spread over a 25 MB `.text`, kept about 15 MB of it resident. A release
//! build for x86_64 Linux, which rustc links with rust-lld, therefore places the
//! functions listed in `link/pincer.order` (those that start-up, `tools/list` and the
//! reference plugins' calls ran, recorded by `scripts/order-functions`) first and
//! together in `.text`. A name the list has and the build lacks is skipped, so a list
//! gone stale after a change costs memory, never a failed link. Set
//! `PINCER_NO_FUNCTION_ORDER=1` to link without it.

use std::env;

fn main() {
    println!("cargo:rerun-if-changed=link/pincer.order");
    println!("cargo:rerun-if-env-changed=PINCER_NO_FUNCTION_ORDER");
    let var = |name: &str| env::var(name).unwrap_or_default();
    let lld_links_it = var("TARGET") == "x86_64-unknown-linux-gnu"
        // A linker of the user's choice may not know the option.
        && env::var_os("RUSTC_LINKER").is_none()
        && !var("CARGO_ENCODED_RUSTFLAGS").contains("link");
    if var("PROFILE") != "release"
        || !lld_links_it
        || env::var_os("PINCER_NO_FUNCTION_ORDER").is_some()
    {
        return;
    }
    let order = format!("{}/link/pincer.order", var("CARGO_MANIFEST_DIR"));
    println!("cargo:rustc-link-arg-bin=pincer=-Wl,--symbol-ordering-file={order}");
    println!("cargo:rustc-link-arg-bin=pincer=-Wl,--no-warn-symbol-ordering");
}
