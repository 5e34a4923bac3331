//! Escape attempts from the attacker's side: a plugin that tries to leave its mounts,
//! write through a read-only mount, open a raw socket, or use a capability it was not
//! granted. Every attempt fails; the legitimate read inside the mount succeeds.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use pincer::caps::filesystem::MountError;
use pincer::kinds::mcp::{ContentItem, ToolOutput};
use pincer::policy::Policy;
use pincer::runtime::{ImportProblem, LoadError, Plugin, Runtime};
use pincer::store::Home;
use pincer_test_support::{ScratchPlugin, fixture};

const SECRET: &str = "TOP-SECRET-OUTSIDE-THE-MOUNT";

/// A home with `workspace` bound to a directory that holds `notes/hello.txt`, next to
/// an `outside` directory that holds a secret, and symlinks planted in the workspace
/// that point at the secret.
struct World {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    workspace: PathBuf,
    outside: PathBuf,
}

fn world() -> World {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let (home, workspace, outside) = (
        root.join("home"),
        root.join("workspace"),
        root.join("outside"),
    );
    std::fs::create_dir_all(workspace.join("notes")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(
        workspace.join("notes/hello.txt"),
        "hello from inside the mount",
    )
    .unwrap();
    std::fs::write(outside.join("secret.txt"), SECRET).unwrap();
    symlink(&outside, workspace.join("dir-link")).unwrap();
    symlink(outside.join("secret.txt"), workspace.join("file-link")).unwrap();
    symlink("../outside/secret.txt", workspace.join("relative-link")).unwrap();
    let h = Home::open_at(&home).unwrap();
    let mut policy = Policy::default();
    policy.bind_root("workspace", &workspace, &h).unwrap();
    policy.save(&h).unwrap();
    World {
        _tmp: tmp,
        home,
        workspace,
        outside,
    }
}

const MOUNTS: &str = r#"
[[capabilities.filesystem.mounts]]
guest = "/ws"
root = "workspace"
access = "read-only"

[[capabilities.filesystem.mounts]]
guest = "/data"
root = "plugin-data"
access = "read-write"
"#;

fn runtime(world: &World) -> Runtime {
    Runtime::new(Home::open_at(&world.home).unwrap()).unwrap()
}

fn text(out: &ToolOutput) -> String {
    out.content
        .iter()
        .map(|c| match c {
            ContentItem::Text { text } => text.clone(),
            ContentItem::Image { .. } => String::new(),
        })
        .collect()
}

async fn call(plugin: &Plugin, tool: &str, args: serde_json::Value) -> ToolOutput {
    plugin.call_tool(tool, &args.to_string()).await.unwrap()
}

async fn read(plugin: &Plugin, path: &str) -> ToolOutput {
    call(plugin, "read", serde_json::json!({ "path": path })).await
}

fn assert_refused(out: &ToolOutput, attempt: &str) {
    assert!(
        out.is_error,
        "{attempt}: the plugin got through: {}",
        text(out)
    );
    assert!(!text(out).contains(SECRET), "{attempt}: the secret leaked");
}

#[tokio::test]
async fn reads_inside_a_granted_mount() {
    let world = world();
    let rt = runtime(&world);
    let scratch = ScratchPlugin::new(&fixture("fs-probe"), "test.fs", MOUNTS);
    let plugin = rt.load_manifest(&scratch.manifest(), None).unwrap();
    let out = read(&plugin, "/ws/notes/hello.txt").await;
    assert!(!out.is_error, "{}", text(&out));
    assert_eq!(text(&out), "hello from inside the mount");
    let listing = call(&plugin, "list", serde_json::json!({"path": "/ws/notes"})).await;
    assert_eq!(text(&listing), "hello.txt");
}

#[tokio::test]
async fn cannot_escape_a_mount_by_any_path() {
    let world = world();
    let rt = runtime(&world);
    let scratch = ScratchPlugin::new(&fixture("fs-probe"), "test.fs", MOUNTS);
    let plugin = rt.load_manifest(&scratch.manifest(), None).unwrap();
    let host_secret = world.outside.join("secret.txt");
    for attempt in [
        "/ws/../outside/secret.txt",
        "/ws/notes/../../outside/secret.txt",
        "/data/../../../outside/secret.txt",
        "../outside/secret.txt",
        host_secret.to_str().unwrap(),
        "/etc/passwd",
        "/ws/dir-link/secret.txt",
        "/ws/file-link",
        "/ws/relative-link",
    ] {
        assert_refused(&read(&plugin, attempt).await, attempt);
    }
    let listing = call(&plugin, "list", serde_json::json!({"path": "/ws/dir-link"})).await;
    assert_refused(&listing, "listing through a symlinked directory");
    assert!(!text(&listing).contains("secret.txt"));
}

#[tokio::test]
async fn cannot_write_through_a_read_only_mount_or_outside_a_read_write_one() {
    let world = world();
    let rt = runtime(&world);
    let scratch = ScratchPlugin::new(&fixture("fs-probe"), "test.fs", MOUNTS);
    let plugin = rt.load_manifest(&scratch.manifest(), None).unwrap();
    let write = |path: &str| serde_json::json!({ "path": path, "text": "written by the plugin" });

    let out = call(&plugin, "write", write("/ws/new.txt")).await;
    assert_refused(&out, "write into a read-only mount");
    assert!(!world.workspace.join("new.txt").exists());

    let out = call(&plugin, "write", write("/ws/notes/hello.txt")).await;
    assert_refused(&out, "overwrite in a read-only mount");
    assert_eq!(
        std::fs::read_to_string(world.workspace.join("notes/hello.txt")).unwrap(),
        "hello from inside the mount"
    );

    for attempt in [
        "/data/../escape.txt",
        "/data/../../outside/escape.txt",
        "/ws/dir-link/escape.txt",
    ] {
        let out = call(&plugin, "write", write(attempt)).await;
        assert_refused(&out, attempt);
    }
    assert!(!world.outside.join("escape.txt").exists());
    assert!(!world.home.join("data/escape.txt").exists());
    assert!(!world.home.join("escape.txt").exists());

    // The read-write mount itself works, and lands in the plugin's own directory.
    let out = call(&plugin, "write", write("/data/ok.txt")).await;
    assert!(!out.is_error, "{}", text(&out));
    let landed = world.home.join("data/test.fs/ok.txt");
    assert_eq!(
        std::fs::read_to_string(landed).unwrap(),
        "written by the plugin"
    );
}

#[tokio::test]
async fn sees_no_files_at_all_without_a_mount() {
    let world = world();
    let rt = runtime(&world);
    let scratch = ScratchPlugin::new(&fixture("fs-probe"), "test.fs", "");
    let plugin = rt.load_manifest(&scratch.manifest(), None).unwrap();
    for attempt in [
        "/",
        "/ws/notes/hello.txt",
        world.workspace.join("notes/hello.txt").to_str().unwrap(),
    ] {
        let out = read(&plugin, attempt).await;
        assert!(out.is_error, "{attempt}: {}", text(&out));
    }
}

fn load_error(world: &World, component: &Path, sections: &str) -> LoadError {
    let rt = runtime(world);
    let scratch = ScratchPlugin::new(component, "test.hostile", sections);
    rt.load_manifest(&scratch.manifest(), None)
        .expect_err("the plugin should be refused")
}

#[test]
fn refuses_a_sockets_component_before_it_runs_naming_the_import() {
    let world = world();
    let err = load_error(&world, &fixture("sockets"), "");
    let LoadError::Imports { plugin, problems } = &err else {
        panic!("{err}")
    };
    assert_eq!(plugin, "test.hostile");
    assert!(
        problems.iter().any(|p| matches!(p, ImportProblem::Never { import, .. } if import.starts_with("wasi:sockets/"))),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains("wasi:sockets/") && message.contains("never granted"),
        "{message}"
    );
    // No grant changes that.
    let err = load_error(
        &world,
        &fixture("sockets"),
        "[capabilities.http]\norigins = [\"*\"]",
    );
    assert!(matches!(err, LoadError::Imports { .. }), "{err}");
}

#[test]
fn refuses_an_ungranted_capability_import_naming_the_manifest_section() {
    let world = world();
    let err = load_error(&world, &fixture("http-client"), "");
    let message = err.to_string();
    assert!(message.contains("pincer:plugin/http@0.1.0"), "{message}");
    assert!(message.contains("[capabilities.http]"), "{message}");
}

#[test]
fn refuses_an_unbound_root_with_the_command_that_binds_it() {
    let world = world();
    let mounts = "[[capabilities.filesystem.mounts]]\nguest = \"/docs\"\nroot = \"docs\"\naccess = \"read-only\"";
    let err = load_error(&world, &fixture("fs-probe"), mounts);
    assert!(
        matches!(err, LoadError::Mount(MountError::UnboundRoot { .. })),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("pincer root bind docs /path/to/dir"),
        "{err}"
    );
}

#[test]
fn refuses_a_component_of_another_kind() {
    let world = world();
    let rt = runtime(&world);
    let scratch = ScratchPlugin::new(&fixture("well-behaved"), "test.kind", "");
    let manifest = std::fs::read_to_string(scratch.manifest()).unwrap();
    std::fs::write(
        scratch.manifest(),
        manifest.replace("kind = \"mcp-server\"", "kind = \"chat\""),
    )
    .unwrap();
    let err = rt.load_manifest(&scratch.manifest(), None).unwrap_err();
    assert!(matches!(err, LoadError::WrongKind { .. }), "{err}");
    assert!(
        err.to_string().contains("pincer:plugin/completion"),
        "{err}"
    );
}

#[test]
fn refuses_a_component_whose_digest_differs_from_the_manifest() {
    let world = world();
    let component = fixture("well-behaved");
    let actual = pincer::digest::sha256_hex(&std::fs::read(&component).unwrap());
    // The text right after `file = ...` still belongs to the [component] section.
    let wrong = format!("sha256 = \"{}\"", "0".repeat(64));
    let err = load_error(&world, &component, &wrong);
    let LoadError::DigestMismatch {
        expected, found, ..
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!(
        (expected.as_str(), found.as_str()),
        ("0".repeat(64).as_str(), actual.as_str())
    );
    let rt = runtime(&world);
    let right = ScratchPlugin::new(&component, "test.digest", &format!("sha256 = \"{actual}\""));
    rt.load_manifest(&right.manifest(), None).unwrap();
}
