//! `pincer demo`: build the reference plugins and run one on a temporary home, printing
//! each step. It grows with every part of Pincer.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::commands::{Failure, block_on};
use crate::install;
use crate::kinds::mcp::ContentItem;
use crate::runtime::Runtime;
use crate::store::Home;
use crate::store::plugins::PluginStore;
use crate::trust::{self, PublisherKey, SigningKey, TrustStore};

/// The demo plugin's id.
const ID: &str = "dev.pincer.hello";

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

    // The plugin as its author has it: a manifest next to the component.
    let src = tmp.path().join("hello");
    std::fs::create_dir_all(&src).map_err(|e| Failure::new(1, e.to_string()))?;
    std::fs::copy(repo.join("manifests/hello.toml"), src.join("manifest.toml"))
        .and_then(|_| std::fs::copy(&wasm, src.join("hello.wasm")))
        .map_err(|e| Failure::new(1, format!("cannot copy the plugin: {e}")))?;
    let manifest = src.join("manifest.toml");

    println!("2. The author makes a signing key and packs a signed bundle");
    let (key_id, sk, public_key) = trust::keygen(&tmp.path().join("author"), None)?;
    let key = SigningKey::load(&sk, || unreachable!("the demo key is unencrypted"))?;
    let bundle = tmp.path().join("hello-0.1.0");
    let packed = trust::pack(&manifest, None, &key, &bundle)?;
    println!("   key {key_id} (minisign format; the demo's is unencrypted)");
    println!(
        "   bundle {}: manifest.toml with sha256 {}..., manifest.toml.minisig, hello.wasm\n",
        bundle.display(),
        &packed.sha256[..16]
    );

    println!("3. The admin trusts the author's key, reviews the bundle and installs it");
    let home = Home::open_at(&home_path)?;
    let mut trust_store = TrustStore::load(&home)?;
    let public = PublisherKey::parse(
        &std::fs::read_to_string(&public_key).map_err(|e| Failure::new(1, e.to_string()))?,
        "the demo key",
    )?;
    trust_store.add(&public, "Pincer demo author")?;
    trust_store.save(&home)?;
    let runtime = Runtime::new(home)?;
    let started = Instant::now();
    let outcome = install::install(
        &runtime,
        "admin:demo",
        &bundle,
        &Default::default(),
        |review| {
            println!();
            super::admin::print_review(review);
            println!("\n   (the demo answers yes for the admin)");
            Ok(true)
        },
    )?;
    println!(
        "   {} {} {} in {:.0} ms (verified, import-audited, precompiled into the cache)\n",
        outcome.outcome,
        outcome.plugin,
        outcome.version,
        started.elapsed().as_secs_f64() * 1000.0
    );

    println!("4. Loading it by id verifies signature, digest and approval again");
    let started = Instant::now();
    let plugin = runtime.load_installed(ID)?;
    let verify_ms = started.elapsed().as_secs_f64() * 1000.0;
    let load = plugin.load_report();
    let limits = plugin.limits();
    println!(
        "   verified and loaded in {verify_ms:.2} ms ({:?} from the authenticated cache)",
        load.cache
    );
    println!(
        "   linked: the WASI base set (no preopened directory, no sockets) and `log`; limits {} MiB, {} ms, {} at once\n",
        limits.memory_bytes >> 20,
        limits.timeout.as_millis(),
        limits.concurrency
    );

    println!("5. Listing its tools and calling greet, each in a fresh instance");
    let tools = block_on(plugin.list_tools())?;
    for t in &tools {
        println!("   {:<12} {}", t.name, t.description);
    }
    let args = r#"{"name":"Pincer"}"#;
    let started = Instant::now();
    let output = block_on(plugin.call_tool("greet", args))?;
    let took = started.elapsed();
    for item in &output.content {
        if let ContentItem::Text { text } = item {
            println!(
                "   greet {args} -> {text} ({:.2} ms)",
                took.as_secs_f64() * 1000.0
            );
        }
    }
    println!();

    println!("6. Version 0.2.0 asks to mount the admin's `workspace` read-write: it waits");
    let text = std::fs::read_to_string(&manifest).map_err(|e| Failure::new(1, e.to_string()))?;
    let wider = text.replace("version = \"0.1.0\"", "version = \"0.2.0\"").replace(
        "[limits]",
        "[[capabilities.filesystem.mounts]]\nguest = \"/workspace\"\nroot = \"workspace\"\naccess = \"read-write\"\n\n[limits]",
    );
    std::fs::write(&manifest, wider).map_err(|e| Failure::new(1, e.to_string()))?;
    let bundle2 = tmp.path().join("hello-0.2.0");
    trust::pack(&manifest, None, &key, &bundle2)?;
    let outcome = install::install(
        &runtime,
        "admin:demo",
        &bundle2,
        &Default::default(),
        |_| Ok(true),
    )?;
    let (state, changes) = install::pending(&runtime, ID)?;
    println!(
        "   {}: {} keeps running; {} is pending until `pincer approve {ID}`:",
        outcome.outcome, state.active.version, outcome.version
    );
    for c in changes.iter().filter(|c| c.wider) {
        println!("     + {}: {}", c.capability, c.change);
    }
    println!();

    println!("7. A component swapped on disk after install is refused at load, and audited");
    let slot = PluginStore::new(runtime.home()).slot_dir(ID, &state.active);
    std::fs::write(slot.join("hello.wasm"), b"\0asm\x0d\0\x01\0")
        .map_err(|e| Failure::new(1, e.to_string()))?;
    match runtime.load_installed(ID) {
        Err(e) => println!("   refused: {e}\n"),
        Ok(_) => return Err(Failure::new(1, "the tampered plugin was not refused")),
    }

    println!("8. The reference MCP plugins: signed, installed, served");
    let runtime = reference_plugins(tmp.path(), &home_path, repo, &built, &key)?;
    println!();

    println!("9. The audit trail (HMAC-chained; `pincer audit verify` checks it)");
    let (records, _) = runtime.audit().read()?;
    for r in &records {
        let event = serde_json::to_value(r.event).expect("events serialise");
        println!(
            "   {:>2} {:<13} {:<12} {}",
            r.seq,
            event.as_str().unwrap_or_default(),
            r.actor,
            r.plugin.as_deref().unwrap_or("")
        );
    }
    let report = runtime.audit().verify()?;
    println!(
        "   verify: {}\n",
        if report.ok {
            format!("ok, {} records", report.records)
        } else {
            "FAILED".into()
        }
    );

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

/// The reference MCP plugins besides hello, each packed and signed from its manifest in
/// `manifests/`; `files` installed on a demo workspace and called the way `pincer mcp`
/// calls it, including an attempt to leave the workspace. Returns a runtime that sees
/// the bound workspace.
fn reference_plugins(
    tmp: &Path,
    home_path: &Path,
    repo: &Path,
    built: &Path,
    key: &SigningKey,
) -> Result<std::sync::Arc<Runtime>, Failure> {
    let io = |e: std::io::Error| Failure::new(1, e.to_string());
    let mut bundles = Vec::new();
    for name in ["files", "fetch", "remote", "conformance"] {
        let src = tmp.join(format!("{name}-src"));
        std::fs::create_dir_all(&src).map_err(io)?;
        std::fs::copy(
            repo.join(format!("manifests/{name}.toml")),
            src.join("manifest.toml"),
        )
        .map_err(io)?;
        let wasm = built.join(format!("{name}.wasm"));
        let bundle = tmp.join(format!("{name}-bundle"));
        let packed = trust::pack(&src.join("manifest.toml"), Some(&wasm), key, &bundle)?;
        let size = std::fs::metadata(&wasm).map(|m| m.len()).unwrap_or(0);
        println!(
            "   packed and signed {name:<12} {:>5} KiB  sha256 {}...",
            size / 1024,
            &packed.sha256[..16]
        );
        bundles.push((name, bundle));
    }
    let workspace = tmp.join("workspace");
    std::fs::create_dir_all(&workspace).map_err(io)?;
    std::fs::write(tmp.join("outside.txt"), "not yours").map_err(io)?;
    let home = Home::open_at(home_path)?;
    let mut policy = crate::policy::Policy::load(&home)?;
    policy.bind_root("workspace", &workspace)?;
    policy.save(&home)?;
    let runtime = std::sync::Arc::new(Runtime::new(home)?);
    let (_, files_bundle) = &bundles[0];
    install::install(
        &runtime,
        "admin:demo",
        files_bundle,
        &Default::default(),
        |_| Ok(true),
    )?;
    println!(
        "   installed dev.pincer.files; root `workspace` bound to {}",
        workspace.display()
    );
    block_on(async {
        let registry = crate::mcp::Registry::load(&runtime, &[])
            .await
            .map_err(|e| Failure::new(1, e))?;
        let files: Vec<&str> = registry
            .names()
            .into_iter()
            .filter(|n| n.starts_with("files__"))
            .collect();
        println!(
            "   `pincer mcp` would serve {} files tools: {}",
            files.len(),
            files.join(", ")
        );
        let plugin = runtime.load_installed("dev.pincer.files")?;
        for (tool, args) in [
            (
                "write_file",
                r##"{"path":"hello.md","content":"# Written by a confined plugin\n"}"##,
            ),
            ("read_text_file", r#"{"path":"hello.md"}"#),
            ("read_text_file", r#"{"path":"../outside.txt"}"#),
        ] {
            let out = plugin.call_tool(tool, args).await?;
            let text: Vec<String> = out
                .content
                .iter()
                .filter_map(|c| match c {
                    ContentItem::Text { text } => Some(text.trim().to_owned()),
                    ContentItem::Image { .. } => None,
                })
                .collect();
            println!(
                "   files__{tool} {args} -> {}{}",
                if out.is_error { "error: " } else { "" },
                text.join(" ")
            );
        }
        Ok::<_, Failure>(())
    })?;
    Ok(runtime)
}
