//! `pincer demo`: build the reference plugins and run one on a temporary home, printing
//! each step. It grows with every part of Pincer.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::commands::{Failure, block_on};
use crate::caps::filesystem::MountError;
use crate::kinds::mcp::ContentItem;
use crate::runtime::imports::ImportClass;
use crate::runtime::{LoadError, Runtime};
use crate::store::Home;

/// The repository this binary was built from: the demo builds its plugins there.
const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// Build the plugins workspace for `wasm32-wasip2` into `target/guests` and return the
/// directory that holds the components.
pub fn build_plugins(repo: &Path) -> Result<PathBuf, Failure> {
    pincer_guest_build::build(
        &repo.join("plugins/Cargo.toml"),
        &repo.join("target/guests"),
        false,
    )
    .map_err(|e| Failure::new(1, e.to_string()))
}

pub(super) fn cmd_demo(keep: bool) -> Result<(), Failure> {
    let repo = Path::new(REPO)
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from(REPO));
    let repo = repo.as_path();
    if !repo.join("plugins/Cargo.toml").exists() {
        return Err(Failure::new(
            1,
            format!(
                "the demo builds plugins from the Pincer repository, which is not at {}; run it from a clone with `cargo run -p pincer -- demo`",
                repo.display()
            ),
        ));
    }
    let tmp = tempfile::Builder::new()
        .prefix("pincer-demo-")
        .tempdir()
        .map_err(|e| Failure::new(1, format!("cannot make a temporary home: {e}")))?;
    let home_path = tmp.path().join("home");
    println!(
        "Pincer demo, on a temporary home: {}\n",
        home_path.display()
    );

    println!("1. Building the reference plugins for wasm32-wasip2 ...");
    let started = Instant::now();
    let built = build_plugins(repo)?;
    let wasm = built.join("hello.wasm");
    let size = std::fs::metadata(&wasm).map(|m| m.len()).unwrap_or(0);
    println!(
        "   built hello.wasm ({} KiB) in {:.1} s\n",
        size / 1024,
        started.elapsed().as_secs_f64()
    );

    // A plugin directory as an author would hand it over: manifest + component.
    let bundle = tmp.path().join("hello");
    std::fs::create_dir_all(&bundle).map_err(|e| Failure::new(1, e.to_string()))?;
    std::fs::copy(
        repo.join("manifests/hello.toml"),
        bundle.join("manifest.toml"),
    )
    .and_then(|_| std::fs::copy(&wasm, bundle.join("hello.wasm")))
    .map_err(|e| Failure::new(1, format!("cannot copy the plugin: {e}")))?;
    let manifest = bundle.join("manifest.toml");

    println!("2. Loading dev.pincer.hello (development mode: unsigned manifest)");
    let runtime = Runtime::new(Home::open_at(&home_path)?)?;
    let plugin = runtime.load_manifest(&manifest, None)?;
    let report = plugin.report();
    let base = report
        .imports
        .iter()
        .filter(|i| i.class == ImportClass::Base)
        .count();
    let others: Vec<&str> = report
        .imports
        .iter()
        .filter(|i| i.class != ImportClass::Base)
        .map(|i| i.name.as_str())
        .collect();
    println!(
        "   import audit: {base} interfaces from the WASI base set, plus {}",
        others.join(", ")
    );
    println!(
        "   linked: the base set (no preopened directory, no sockets) and `log`; nothing else"
    );
    let load = plugin.load_report();
    let compile_ms = load.load_ms;
    println!("   compiled in {compile_ms:.1} ms and cached, authenticated with HMAC-SHA256");
    let limits = plugin.limits();
    println!(
        "   limits: {} MiB memory, {} ms per call, {} instances at once\n",
        limits.memory_bytes >> 20,
        limits.timeout.as_millis(),
        limits.concurrency
    );

    println!("3. Listing its tools (a fresh instance)");
    let tools = block_on(plugin.list_tools())?;
    for t in &tools {
        println!("   {:<12} {}", t.name, t.description);
    }
    println!();

    let args = r#"{"name":"Pincer"}"#;
    println!("4. Calling greet {args} (another fresh instance)");
    let started = Instant::now();
    let output = block_on(plugin.call_tool("greet", args))?;
    let took = started.elapsed();
    for item in &output.content {
        if let ContentItem::Text { text } = item {
            println!("   -> {text}");
        }
    }
    println!("   in {:.2} ms\n", took.as_secs_f64() * 1000.0);

    println!("5. Loading it again: the compiled code comes from the authenticated cache");
    let again = runtime.load_manifest(&manifest, None)?;
    let cached_ms = again.load_report().load_ms;
    println!(
        "   {:?} in {cached_ms:.2} ms ({:.0}x faster than compiling)\n",
        again.load_report().cache,
        compile_ms / cached_ms.max(0.001)
    );

    println!(
        "6. A version that asks to mount the `workspace` root is refused until an admin binds it"
    );
    let text = std::fs::read_to_string(&manifest).map_err(|e| Failure::new(1, e.to_string()))?;
    let wider = text.replace(
        "[limits]",
        "[[capabilities.filesystem.mounts]]\nguest = \"/workspace\"\nroot = \"workspace\"\naccess = \"read-only\"\n\n[limits]",
    );
    std::fs::write(&manifest, wider).map_err(|e| Failure::new(1, e.to_string()))?;
    match runtime.load_manifest(&manifest, None) {
        Err(LoadError::Mount(e @ MountError::UnboundRoot { .. })) => println!("   refused: {e}\n"),
        Err(e) => return Err(Failure::new(1, format!("unexpected refusal: {e}"))),
        Ok(_) => return Err(Failure::new(1, "the unbound root was not refused")),
    }

    println!(
        "Done. Try `pincer inspect {}` or `pincer --help`.",
        wasm.display()
    );
    if keep {
        let kept = tmp.keep();
        println!("Kept the temporary home at {}", kept.join("home").display());
    }
    Ok(())
}
