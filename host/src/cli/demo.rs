//! `pincer demo`: build the reference plugins and run one on a temporary home, printing
//! each step. It grows with every part of Pincer.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::commands::{Failure, block_on};
use crate::exit::Exit;
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
    .map_err(|e| Failure::new(Exit::Host, e.to_string()))
}

pub(super) fn cmd_demo(keep: bool) -> Result<(), Failure> {
    let repo = Path::new(REPO)
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from(REPO));
    let repo = repo.as_path();
    if !repo.join("plugins/Cargo.toml").exists() {
        return Err(Failure::new(
            Exit::Host,
            format!(
                "the demo builds plugins from the Pincer repository, which is not at {}; run it from a clone with `cargo run -p pincer -- demo`",
                repo.display()
            ),
        ));
    }
    let tmp = tempfile::Builder::new()
        .prefix("pincer-demo-")
        .tempdir()
        .map_err(|e| Failure::new(Exit::Host, format!("cannot make a temporary home: {e}")))?;
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
    std::fs::create_dir_all(&src).map_err(|e| Failure::new(Exit::Host, e.to_string()))?;
    std::fs::copy(repo.join("manifests/hello.toml"), src.join("manifest.toml"))
        .and_then(|_| std::fs::copy(&wasm, src.join("hello.wasm")))
        .map_err(|e| Failure::new(Exit::Host, format!("cannot copy the plugin: {e}")))?;
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
        &std::fs::read_to_string(&public_key)
            .map_err(|e| Failure::new(Exit::Host, e.to_string()))?,
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
    let text =
        std::fs::read_to_string(&manifest).map_err(|e| Failure::new(Exit::Host, e.to_string()))?;
    let wider = text.replace("version = \"0.1.0\"", "version = \"0.2.0\"").replace(
        "[limits]",
        "[[capabilities.filesystem.mounts]]\nguest = \"/workspace\"\nroot = \"workspace\"\naccess = \"read-write\"\n\n[limits]",
    );
    std::fs::write(&manifest, wider).map_err(|e| Failure::new(Exit::Host, e.to_string()))?;
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
        .map_err(|e| Failure::new(Exit::Host, e.to_string()))?;
    match runtime.load_installed(ID) {
        Err(e) => println!("   refused: {e}\n"),
        Ok(_) => {
            return Err(Failure::new(
                Exit::Host,
                "the tampered plugin was not refused",
            ));
        }
    }

    println!("8. The reference MCP plugins: signed, installed, served");
    let runtime = reference_plugins(tmp.path(), &home_path, repo, &built, &key)?;
    println!();

    println!("9. The gateway: record a scripted session, view it, export it, chat");
    gateway_demo(tmp.path(), &home_path, &built, &key)?;
    println!();

    println!("10. The audit trail (HMAC-chained; `pincer audit verify` checks it)");
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
    let io = |e: std::io::Error| Failure::new(Exit::Host, e.to_string());
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
    policy.bind_root("workspace", &workspace, &home)?;
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
            .map_err(|e| Failure::new(Exit::Host, e))?;
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

/// A `width`×`height` frame of a form: a blue page with two fields, the second
/// `highlight`ed once it is filled in.
fn demo_frame(highlight: bool) -> Result<Vec<u8>, Failure> {
    let (w, h) = (320u16, 180u16);
    let mut pixels = Vec::with_capacity(usize::from(w) * usize::from(h) * 3);
    for y in 0..h {
        for x in 0..w {
            let field1 = (40..200).contains(&x) && (40..80).contains(&y);
            let field2 = (40..120).contains(&x) && (110..140).contains(&y);
            let rgb = match (field1, field2) {
                (true, _) => [255, 255, 255],
                (_, true) if highlight => [60, 200, 60],
                (_, true) => [255, 255, 255],
                _ => [47, 95, 179],
            };
            pixels.extend_from_slice(&rgb);
        }
    }
    let mut jpeg = Vec::new();
    jpeg_encoder::Encoder::new(&mut jpeg, 80)
        .encode(&pixels, w, h, jpeg_encoder::ColorType::Rgb)
        .map_err(|e| Failure::new(Exit::Host, format!("cannot draw a demo frame: {e}")))?;
    Ok(jpeg)
}

/// Step 9: install the chat, recorder and viewer plugins; start the gateway and a
/// stand-in chat provider on 127.0.0.1; record a short scripted session through the
/// API, view it, export it as HTML, and chat.
fn gateway_demo(
    tmp: &Path,
    home_path: &Path,
    built: &Path,
    key: &SigningKey,
) -> Result<(), Failure> {
    let id = gateway_session(tmp, home_path, built, key)?;
    let out = tmp.join("recording.html");
    super::recordings::cmd_export(&Runtime::new(Home::open_at(home_path)?)?, &id, &out, None)?;
    println!(
        "   (open {} in a browser: the timeline beside the frames)",
        out.display()
    );
    Ok(())
}

/// The part of step 9 that runs while the gateway is up; the recording's id.
fn gateway_session(
    tmp: &Path,
    home_path: &Path,
    built: &Path,
    key: &SigningKey,
) -> Result<String, Failure> {
    let io = |e: std::io::Error| Failure::new(Exit::Host, e.to_string());
    let web =
        |e: reqwest::Error| Failure::new(Exit::Host, format!("the demo's request failed: {e}"));
    block_on(async {
        // A stand-in for an OpenAI-compatible provider, so the demo needs no account.
        let provider = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(io)?;
        let provider_port = provider.local_addr().map_err(io)?.port();
        let app = axum::Router::new().route(
            "/v1/chat/completions",
            axum::routing::post(|body: axum::body::Bytes| async move {
                let request: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                let said = request["messages"]
                    .as_array()
                    .and_then(|m| m.last())
                    .and_then(|m| m["content"].as_str())
                    .unwrap_or("")
                    .to_owned();
                axum::Json(serde_json::json!({
                    "id": "demo", "object": "chat.completion",
                    "model": request["model"],
                    "choices": [{ "index": 0, "finish_reason": "stop", "message": {
                        "role": "assistant",
                        "content": format!("(the demo's stand-in provider) You said: {said}") } }],
                    "usage": { "prompt_tokens": said.len(), "completion_tokens": 12 }
                }))
            }),
        );
        tokio::spawn(async move { axum::serve(provider, app).await });

        // Pack, sign and install the three plugins; the chat plugin's grant names the
        // stand-in's origin, which is on loopback, so the admin allows that too.
        let home = Home::open_at(home_path)?;
        let mut policy = crate::policy::Policy::load(&home)?;
        policy
            .http
            .entry("dev.pincer.chat".into())
            .or_default()
            .allow_private_networks = true;
        policy.save(&home)?;
        let runtime = Runtime::new(Home::open_at(home_path)?)?;
        for name in ["chat", "recorder", "viewer"] {
            let src = tmp.join(format!("{name}-src"));
            std::fs::create_dir_all(&src).map_err(io)?;
            let mut manifest =
                std::fs::read_to_string(Path::new(REPO).join(format!("manifests/{name}.toml")))
                    .map_err(io)?;
            if name == "chat" {
                // The stand-in is on loopback: the grant must ask for it, as the
                // admin's policy allowed above.
                manifest = manifest.replace(
                    "origins = [\"https://api.openai.com\"]",
                    &format!(
                        "origins = [\"http://127.0.0.1:{provider_port}\"]\nprivate_networks = true"
                    ),
                );
            }
            std::fs::write(src.join("manifest.toml"), manifest).map_err(io)?;
            let bundle = tmp.join(format!("{name}-bundle"));
            trust::pack(
                &src.join("manifest.toml"),
                Some(&built.join(format!("{name}.wasm"))),
                key,
                &bundle,
            )?;
            install::install(&runtime, "admin:demo", &bundle, &Default::default(), |_| {
                Ok(true)
            })?;
        }
        for (key, value) in [
            ("base_url", format!("http://127.0.0.1:{provider_port}/v1")),
            ("model", "demo-model".to_owned()),
        ] {
            super::settings::cmd_config(
                runtime.home(),
                &super::ConfigCommand::Set {
                    id: "dev.pincer.chat".into(),
                    key: key.into(),
                    value,
                },
            )?;
        }
        crate::vault::Vault::open(runtime.home())?.set(
            "dev.pincer.chat",
            "api_key",
            b"demo-key-not-a-real-one",
        )?;
        println!("   installed dev.pincer.chat, dev.pincer.recorder, dev.pincer.viewer");

        // The gateway, as `pincer serve --port 0` runs it.
        let approvals = std::sync::Arc::new(crate::gateway::approvals::Approvals::default());
        let runtime = std::sync::Arc::new(
            Runtime::new(Home::open_at(home_path)?)?.with_approver(approvals.clone()),
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let options = crate::gateway::Options {
            addr: "127.0.0.1:0".parse().expect("an address"),
            allowed_origins: Vec::new(),
        };
        let gateway = tokio::spawn(crate::gateway::serve_until(
            runtime.clone(),
            approvals,
            options,
            async move {
                let _ = stopped.await;
            },
        ));
        let token_file = home_path.join(crate::gateway::TOKEN_FILE);
        let mut written = None;
        for _ in 0..500 {
            if let Ok(text) = std::fs::read_to_string(&token_file)
                && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
            {
                written = Some(v);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let written =
            written.ok_or_else(|| Failure::new(Exit::Host, "the gateway did not start"))?;
        let url = written["url"].as_str().unwrap_or_default().to_owned();
        let token = written["token"].as_str().unwrap_or_default().to_owned();
        println!("   gateway at {url}; its token is in run/gateway.json (0600)");
        let client = reqwest::Client::builder().no_proxy().build().map_err(web)?;
        let post = |path: &str, body: serde_json::Value| {
            client
                .post(format!("{url}{path}"))
                .bearer_auth(&token)
                .json(&body)
                .send()
        };
        let unauthenticated = client
            .get(format!("{url}/v1/health"))
            .send()
            .await
            .map_err(web)?;
        println!(
            "   GET /v1/health without the token -> {}",
            unauthenticated.status()
        );

        let started: serde_json::Value = post(
            "/v1/recordings/start",
            serde_json::json!({ "title": "Sign in to the demo" }),
        )
        .await
        .map_err(web)?
        .json()
        .await
        .map_err(web)?;
        let id = started["recording_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        println!("   POST /v1/recordings/start -> recording {id}");
        let script = [
            serde_json::json!({ "kind": "navigate", "time_ms": 0, "target": "https://example.com/login" }),
            serde_json::json!({ "kind": "input", "time_ms": 800, "target": "#user", "value": "ada" }),
            serde_json::json!({ "kind": "input", "time_ms": 1600, "target": "#password", "value": "correct horse battery staple" }),
            serde_json::json!({ "kind": "click", "time_ms": 2400, "target": "#sign-in", "x": 80, "y": 125 }),
        ];
        for (i, event) in script.into_iter().enumerate() {
            post(
                "/v1/recordings/events",
                serde_json::json!({ "event": event }),
            )
            .await
            .map_err(web)?;
            if i == 0 || i == 3 {
                let frame = demo_frame(i == 3)?;
                client
                    .post(format!("{url}/v1/recordings/frames?time_ms={}", i * 800))
                    .bearer_auth(&token)
                    .header("content-type", "image/jpeg")
                    .body(frame)
                    .send()
                    .await
                    .map_err(web)?;
            }
        }
        let summary: serde_json::Value = post("/v1/recordings/stop", serde_json::json!({}))
            .await
            .map_err(web)?
            .json()
            .await
            .map_err(web)?;
        println!(
            "   recorded {} steps and {} frames; {} value redacted before it was written",
            summary["steps"], summary["frames"], summary["redactions"]
        );
        let timeline: serde_json::Value = client
            .get(format!("{url}/v1/recordings/{id}/timeline"))
            .bearer_auth(&token)
            .send()
            .await
            .map_err(web)?
            .json()
            .await
            .map_err(web)?;
        for step in timeline["steps"].as_array().into_iter().flatten() {
            println!(
                "     {:>5} ms  {}",
                step["time_ms"],
                step["description"].as_str().unwrap_or("")
            );
        }
        let mapped: serde_json::Value = post(
            &format!("/v1/recordings/{id}/map-input"),
            serde_json::json!({ "viewport": { "width": 640, "height": 480 }, "point": { "x": 320, "y": 240 } }),
        )
        .await
        .map_err(web)?
        .json()
        .await
        .map_err(web)?;
        println!(
            "   the centre of a 640x480 viewer is screen point {}",
            mapped["point"]
        );

        let reply: serde_json::Value = post(
            "/v1/chat",
            serde_json::json!({ "plugin": "dev.pincer.chat", "messages": [{ "role": "user", "content": "What did I just record?" }] }),
        )
        .await
        .map_err(web)?
        .json()
        .await
        .map_err(web)?;
        match reply["message"]["content"].as_str() {
            Some(text) => println!("   POST /v1/chat -> {text}"),
            None => println!("   POST /v1/chat failed: {}", reply["error"]["message"]),
        }

        let _ = stop.send(());
        let _ = gateway.await;
        Ok::<_, Failure>(id)
    })
}
