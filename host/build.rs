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
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=link/pincer.order");
    println!("cargo:rerun-if-env-changed=PINCER_NO_FUNCTION_ORDER");
    let var = |name: &str| env::var(name).unwrap_or_default();
    let opted_out = !matches!(var("PINCER_NO_FUNCTION_ORDER").as_str(), "" | "0");
    if var("PROFILE") != "release" || opted_out || !links_with_rust_lld(&var) {
        return;
    }
    let order = format!("{}/link/pincer.order", var("CARGO_MANIFEST_DIR"));
    for arg in ["-Xlinker", &format!("--symbol-ordering-file={order}")] {
        println!("cargo:rustc-link-arg-bin=pincer={arg}");
    }
    for arg in ["-Xlinker", "--no-warn-symbol-ordering"] {
        println!("cargo:rustc-link-arg-bin=pincer={arg}");
    }
}

/// Whether rustc links this build with its own rust-lld (its default for
/// x86_64-unknown-linux-gnu since 1.90), which knows the option; a linker of the
/// user's choice, or a rustc without rust-lld, may not.
fn links_with_rust_lld(var: &dyn Fn(&str) -> String) -> bool {
    if var("TARGET") != "x86_64-unknown-linux-gnu"
        || env::var_os("RUSTC_LINKER").is_some()
        || var("CARGO_ENCODED_RUSTFLAGS").contains("link")
    {
        return false;
    }
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let Ok(out) = Command::new(rustc).args(["--print", "sysroot"]).output() else {
        return false;
    };
    let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    sysroot
        .join("lib/rustlib/x86_64-unknown-linux-gnu/bin/gcc-ld/ld.lld")
        .exists()
}
