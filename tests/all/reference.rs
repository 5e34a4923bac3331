//! The reference MCP plugins, installed from their real manifests as an admin would:
//! `files` attacked from inside its workspace (`..`, absolute paths, planted symlinks)
//! and used as intended, read-only when its mount is; `fetch` against a page on
//! 127.0.0.1; `remote` against an MCP server that this test starts on 127.0.0.1.

use std::path::{Path, PathBuf};

use pincer_test_support::Pincer;
use pincer_test_support::http::TestServer;
use serde_json::{Value, json};

const SECRET: &str = "TOP SECRET: outside the workspace";

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A home with `files` installed, its workspace bound to a fresh directory beside a
/// secret file, with two symlinks planted in the workspace that lead to it.
fn files_plugin(access: &str) -> (Pincer, PathBuf) {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    let key = p.trusted_key("admin");
    let workspace = p.path("workspace");
    std::fs::create_dir_all(&workspace).unwrap();
    std::fs::write(p.path("secret.txt"), SECRET).unwrap();
    std::fs::write(workspace.join("notes.txt"), "one\n    two\nthree\n").unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(p.path("secret.txt"), workspace.join("leak.txt")).unwrap();
        std::os::unix::fs::symlink(p.work.path(), workspace.join("outside")).unwrap();
    }
    p.ok(&["root", "bind", "workspace", s(&workspace)]);
    let bundle = p.reference_bundle("files", &key, |t| {
        t.replace("access = \"read-write\"", &format!("access = \"{access}\""))
    });
    p.ok(&["install", s(&bundle), "--yes"]);
    (p, workspace)
}

fn files(p: &Pincer, tool: &str, args: Value) -> (bool, String) {
    p.call("dev.pincer.files", tool, &args.to_string())
}

#[test]
fn files_stays_inside_its_workspace() {
    let (p, workspace) = files_plugin("read-write");
    let secret = p.path("secret.txt");
    let escapes = [
        "../secret.txt".to_owned(),
        "/workspace/../secret.txt".to_owned(),
        "notes/../../secret.txt".to_owned(),
        "/etc/passwd".to_owned(),
        secret.to_str().unwrap().to_owned(),
        "leak.txt".to_owned(),
        "outside/secret.txt".to_owned(),
        "/workspace/outside/secret.txt".to_owned(),
    ];
    for path in &escapes {
        for tool in ["read_text_file", "get_file_info", "read_media_file"] {
            let (is_error, text) = files(&p, tool, json!({ "path": path }));
            assert!(is_error, "{tool} {path} was allowed: {text}");
            assert!(!text.contains("TOP SECRET"), "{tool} {path}: {text}");
        }
    }
    let (_, many) = files(&p, "read_multiple_files", json!({ "paths": escapes }));
    assert!(!many.contains("TOP SECRET"), "{many}");

    // Writes through the planted links, or aimed outside, change nothing outside.
    for path in ["outside/planted.txt", "../planted.txt", "leak.txt"] {
        let (is_error, text) = files(
            &p,
            "write_file",
            json!({ "path": path, "content": "pwned" }),
        );
        assert!(is_error, "write_file {path} was allowed: {text}");
    }
    assert!(!p.path("planted.txt").exists());
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), SECRET);
    let (is_error, _) = files(
        &p,
        "move_file",
        json!({ "source": "notes.txt", "destination": "../moved.txt" }),
    );
    assert!(is_error);
    let (is_error, _) = files(
        &p,
        "move_file",
        json!({ "source": "leak.txt", "destination": "stolen.txt" }),
    );
    assert!(
        is_error
            || std::fs::symlink_metadata(workspace.join("stolen.txt"))
                .is_ok_and(|m| m.is_symlink()),
        "moving the link may move the link itself, never the secret"
    );
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), SECRET);
    assert!(workspace.join("notes.txt").exists());
    let (is_error, _) = files(&p, "create_directory", json!({ "path": "outside/newdir" }));
    assert!(is_error);
    assert!(!p.path("newdir").exists());

    // Listing and searching do not descend through the link to the outside.
    for (tool, args) in [
        (
            "search_files",
            json!({ "path": ".", "pattern": "**/*secret*" }),
        ),
        ("directory_tree", json!({ "path": "." })),
        ("list_directory", json!({ "path": "outside" })),
    ] {
        let (_, text) = files(&p, tool, args);
        assert!(!text.contains("secret.txt"), "{tool}: {text}");
    }
}

#[test]
fn files_reads_writes_edits_and_lists_the_workspace() {
    let (p, workspace) = files_plugin("read-write");
    let (is_error, text) = files(
        &p,
        "read_text_file",
        json!({ "path": "notes.txt", "head": 1 }),
    );
    assert!(!is_error);
    assert_eq!(text, "one");

    // An edit with a preview: the diff, and the file unchanged until it is applied.
    let edit = json!({
        "path": "/workspace/notes.txt",
        "edits": [{ "oldText": "two", "newText": "2" }],
        "dryRun": true
    });
    let (is_error, diff) = files(&p, "edit_file", edit.clone());
    assert!(!is_error, "{diff}");
    assert!(
        diff.contains("-    two") && diff.contains("+    2"),
        "{diff}"
    );
    assert!(
        std::fs::read_to_string(workspace.join("notes.txt"))
            .unwrap()
            .contains("two")
    );
    let mut apply = edit;
    apply["dryRun"] = json!(false);
    files(&p, "edit_file", apply);
    assert_eq!(
        std::fs::read_to_string(workspace.join("notes.txt")).unwrap(),
        "one\n    2\nthree\n"
    );

    let (is_error, _) = files(&p, "create_directory", json!({ "path": "docs/deep" }));
    assert!(!is_error);
    let (is_error, _) = files(
        &p,
        "write_file",
        json!({ "path": "docs/deep/plan.md", "content": "# Plan\n" }),
    );
    assert!(!is_error);
    assert_eq!(
        std::fs::read_to_string(workspace.join("docs/deep/plan.md")).unwrap(),
        "# Plan\n"
    );
    let (_, listing) = files(&p, "list_directory_with_sizes", json!({ "path": "." }));
    assert!(
        listing.contains("[FILE] notes.txt") && listing.contains("[DIR] docs"),
        "{listing}"
    );
    let (_, found) = files(
        &p,
        "search_files",
        json!({ "path": ".", "pattern": "**/*.md" }),
    );
    assert!(found.contains("plan.md"), "{found}");
    let (is_error, _) = files(
        &p,
        "move_file",
        json!({ "source": "docs/deep/plan.md", "destination": "plan.md" }),
    );
    assert!(!is_error);
    assert!(workspace.join("plan.md").exists());

    // An image comes back as image content.
    const PNG: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    std::fs::write(workspace.join("dot.png"), PNG).unwrap();
    let out = p.ok(&[
        "call",
        "dev.pincer.files",
        "read_media_file",
        "--args",
        r#"{"path":"dot.png"}"#,
        "--json",
    ]);
    let out: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(out["content"][0]["type"], "image", "{out}");
    assert_eq!(out["content"][0]["mime_type"], "image/png", "{out}");
}

#[test]
fn files_on_a_read_only_mount_reads_but_changes_nothing() {
    let (p, workspace) = files_plugin("read-only");
    let (is_error, text) = files(&p, "read_text_file", json!({ "path": "notes.txt" }));
    assert!(!is_error && text.contains("three"), "{text}");
    for (tool, args) in [
        ("write_file", json!({ "path": "new.txt", "content": "x" })),
        ("create_directory", json!({ "path": "d" })),
        (
            "move_file",
            json!({ "source": "notes.txt", "destination": "n.txt" }),
        ),
        (
            "edit_file",
            json!({ "path": "notes.txt", "edits": [{ "oldText": "one", "newText": "1" }] }),
        ),
    ] {
        let (is_error, text) = files(&p, tool, args);
        assert!(is_error && text.contains("read-only"), "{tool}: {text}");
    }
    assert!(!workspace.join("new.txt").exists() && !workspace.join("d").exists());
    assert_eq!(
        std::fs::read_to_string(workspace.join("notes.txt")).unwrap(),
        "one\n    two\nthree\n"
    );
}

/// `fetch` on a loopback test server: that needs `private_networks` in the manifest
/// and the admin's policy, as any internal address would.
#[test]
fn fetch_returns_markdown_page_by_page() {
    let server = TestServer::start();
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    let key = p.trusted_key("admin");
    let bundle = p.reference_bundle("fetch", &key, |t| {
        t.replace(
            "methods = [\"GET\"]",
            "methods = [\"GET\"]\nprivate_networks = true",
        )
    });
    p.ok(&["install", s(&bundle), "--yes"]);
    let url = server.url("/article.html");

    // Without the admin's policy, the internal address is refused, and the reason says
    // what would allow it.
    let (is_error, text) = p.call(
        "dev.pincer.fetch",
        "fetch",
        &json!({ "url": url }).to_string(),
    );
    assert!(
        is_error && text.contains("allow_private_networks"),
        "{text}"
    );

    std::fs::write(
        p.home.path().join("policy.toml"),
        "[http.\"dev.pincer.fetch\"]\nallow_private_networks = true\n",
    )
    .unwrap();
    let (is_error, text) = p.call(
        "dev.pincer.fetch",
        "fetch",
        &json!({ "url": url }).to_string(),
    );
    assert!(!is_error, "{text}");
    assert!(text.starts_with(&format!("Contents of {url}:")), "{text}");
    assert!(text.contains("# Capability security"), "{text}");
    assert!(
        text.contains("**only**") && text.contains("filesystem"),
        "{text}"
    );
    assert!(
        !text.contains("tracking") && !text.contains("color:red"),
        "{text}"
    );

    let (_, first) = p.call(
        "dev.pincer.fetch",
        "fetch",
        &json!({ "url": url, "max_length": 20 }).to_string(),
    );
    assert!(first.contains("start_index=20"), "{first}");
    let (_, next) = p.call(
        "dev.pincer.fetch",
        "fetch",
        &json!({ "url": url, "max_length": 20, "start_index": 20 }).to_string(),
    );
    assert_ne!(first, next);
    let (is_error, _) = p.call(
        "dev.pincer.fetch",
        "fetch",
        &json!({ "url": server.url("/missing") }).to_string(),
    );
    assert!(is_error);
}

const TOKEN: &str = "remote-token-5e1f";

#[test]
fn remote_adapter_vets_a_remote_mcp_server() {
    let remote = crate::remote_mcp::RemoteMcp::start(Some(TOKEN));
    let (port, refused) = (remote.port, remote.refused.clone());
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    let key = p.trusted_key("admin");
    let bundle = p.reference_bundle("remote", &key, |t| {
        t.replace(
            "origins = [\"https://mcp.example.com\"]",
            &format!("origins = [\"http://127.0.0.1:{port}\"]\nprivate_networks = true"),
        )
    });
    std::fs::write(
        p.home.path().join("policy.toml"),
        "[http.\"dev.pincer.remote\"]\nallow_private_networks = true\n",
    )
    .unwrap();
    p.ok(&["install", s(&bundle), "--yes"]);
    let endpoint = format!("http://127.0.0.1:{port}/mcp");
    p.ok(&["config", "set", "dev.pincer.remote", "url", &endpoint]);

    // Without its token the server refuses the adapter: no tools, and a call says why.
    let tools = p.ok(&["tools", "dev.pincer.remote", "--json"]);
    assert_eq!(
        serde_json::from_str::<Value>(&tools).unwrap(),
        json!([]),
        "{tools}"
    );
    assert!(refused.load(std::sync::atomic::Ordering::SeqCst) > 0);

    assert!(
        p.set_secret("dev.pincer.remote", "token", TOKEN)
            .status
            .success()
    );
    // The remote's tools were never approved: withheld until an admin approves them
    // as they are (tests/all/pinning.rs shows the rest of that story).
    let refusal = p.fails(3, &["call", "dev.pincer.remote", "add", "--args", "{}"]);
    assert!(refusal.contains("withheld"), "{refusal}");
    p.ok(&["approve", "dev.pincer.remote", "--yes"]);
    let tools: Value =
        serde_json::from_str(&p.ok(&["tools", "dev.pincer.remote", "--json"])).unwrap();
    assert_eq!(tools[0]["name"], "add", "{tools}");
    assert_eq!(tools[0]["description"], "Adds two integers.");
    let (is_error, text) = p.call("dev.pincer.remote", "add", r#"{"a":2,"b":40}"#);
    assert!(!is_error, "{text}");
    assert_eq!(text, "42");

    // Served to MCP clients like any plugin, and every request is audited, the token
    // never.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use rmcp::ServiceExt as _;
        let mut command = tokio::process::Command::from(p.command(&["mcp"]));
        command.stderr(std::process::Stdio::null());
        let client =
            ().serve(rmcp::transport::TokioChildProcess::new(command).unwrap())
                .await
                .unwrap();
        let tools = client.list_all_tools().await.unwrap();
        assert!(tools.iter().any(|t| t.name == "remote__add"), "{tools:?}");
        let result = client
            .call_tool(
                rmcp::model::CallToolRequestParams::new("remote__add")
                    .with_arguments(json!({ "a": 1, "b": 1 }).as_object().unwrap().clone()),
            )
            .await
            .unwrap();
        assert_eq!(result.content[0].as_text().unwrap().text, "2");
        client.cancel().await.unwrap();
    });
    let audit = p.ok(&["audit", "show", "--plugin", "dev.pincer.remote", "--json"]);
    assert!(
        audit.contains("\"http-request\"") && audit.contains(&format!("127.0.0.1:{port}")),
        "{audit}"
    );
    assert!(!audit.contains(TOKEN));
}

/// `files` asked to read or write a FIFO or a socket that someone made in its
/// workspace: each call is refused at once, where opening a FIFO would wait for a
/// writer that never comes and hold the thread that runs the call (mounts do their
/// file I/O on it); and the plugin serves on.
#[cfg(unix)]
#[test]
fn files_refuses_a_fifo_or_a_socket_in_its_workspace_at_once() {
    let (p, workspace) = files_plugin("read-write");
    // Named like an image, so that read_media_file gets as far as opening it.
    let fifo = std::ffi::CString::new(s(&workspace.join("pipe.png"))).unwrap();
    // SAFETY: a valid NUL-terminated path and a mode.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    let _socket = std::os::unix::net::UnixListener::bind(workspace.join("sock")).unwrap();
    for (tool, args) in [
        ("read_text_file", json!({ "path": "pipe.png" })),
        ("read_media_file", json!({ "path": "pipe.png" })),
        ("write_file", json!({ "path": "pipe.png", "content": "x" })),
        ("read_text_file", json!({ "path": "sock" })),
    ] {
        let mut child = p
            .command(&[
                "call",
                "dev.pincer.files",
                tool,
                "--args",
                &args.to_string(),
            ])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Bounded: a call held by the FIFO would never end by itself.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("{tool} {args} is still running after 60 s");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(5), "{tool} {args}: {text}");
        assert!(text.contains("pipe") || text.contains("sock"), "{text}");
        assert!(
            text.contains("not a regular file or a directory"),
            "{tool} {args}: {text}"
        );
    }
    let (is_error, text) = files(&p, "read_text_file", json!({ "path": "notes.txt" }));
    assert!(!is_error, "{text}");
    assert!(text.starts_with("one"), "{text}");
}
