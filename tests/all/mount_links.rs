//! Attacks on the filesystem sandbox with symbolic links planted where a mount is
//! opened, from the attacker's side, through the real binary: by the plugin itself
//! through another of its mounts, by another plugin in a shared root, and by a bound
//! directory that already holds one (a cloned repository). Each tries to read and to
//! write a canary outside the mount, which must stay unread and unchanged; the host's
//! own work (emptying `temp`, removing a plugin's data) must not follow a planted link
//! either.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use pincer_test_support::{McpStdio, Pincer, fixture};
use serde_json::{Value, json};

const PROBE: &str = "com.example.probe";
const CANARY: &str = "canary: nobody may read or change this";

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A home with the fs-probe fixture installed as `id` with `mounts`.
fn install(p: &Pincer, id: &str, mounts: &str) {
    let key = if p.path("admin.key").exists() {
        p.path("admin.key")
    } else {
        p.trusted_key("admin")
    };
    let bundle = p.bundle(&fixture("fs-probe"), id, "1.0.0", mounts, &key);
    p.ok(&["install", s(&bundle), "--yes"]);
}

/// Put the canary at `path`; returns it.
fn canary(path: PathBuf) -> PathBuf {
    std::fs::write(&path, CANARY).unwrap();
    path
}

fn assert_canary_intact(path: &Path) {
    assert_eq!(
        std::fs::read_to_string(path).unwrap(),
        CANARY,
        "{}",
        path.display()
    );
}

fn plant(p: &Pincer, id: &str, mount: &str, path: &str, target: &str) {
    let args = json!({ "mount": mount, "path": path, "target": target }).to_string();
    assert_eq!(p.call(id, "plant", &args), (false, "planted".into()));
}

/// `pincer call` of `tool` with `args`: (exit code, stdout, stderr).
fn attempt(p: &Pincer, id: &str, tool: &str, args: Value) -> (Option<i32>, String, String) {
    let out = p.run(&["call", id, tool, "--args", &args.to_string()]);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Reading and writing the canary through `guest` (a path that the planted link would
/// make the canary) are both refused at load (exit 3) with a message that names the
/// link; the refusal is audited.
fn assert_refused_naming(p: &Pincer, id: &str, guest: &str, link: &Path) {
    for (tool, args) in [
        ("read", json!({ "path": guest })),
        ("write", json!({ "path": guest, "text": "overwritten" })),
    ] {
        let (code, out, err) = attempt(p, id, tool, args);
        assert_eq!(code, Some(3), "{tool}: {out}{err}");
        assert!(!out.contains("canary"), "{tool} read the canary: {out}");
        assert!(
            err.contains("symbolic link") && err.contains(s(link)),
            "{tool}: the refusal names the link {}: {err}",
            link.display()
        );
    }
    let audit = p.ok(&["audit", "show", "--json", "--plugin", id]);
    assert!(
        audit.contains("load-refused") && audit.contains("symbolic link"),
        "{audit}"
    );
}

const DATA_AND_CACHE: &str = r#"
[[capabilities.filesystem.mounts]]
guest = "/data"
root = "plugin-data"
access = "read-write"

[[capabilities.filesystem.mounts]]
guest = "/cache"
root = "plugin-data"
subdir = "cache"
access = "read-write"
"#;

#[test]
fn a_plugin_cannot_turn_its_own_subdir_mount_into_the_home_directory() {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    install(&p, PROBE, DATA_AND_CACHE);
    let canary = canary(p.home.path().join("canary.txt"));
    // The review rates these two mounts low; through /data the plugin swaps the cache
    // directory for a link that climbs to $PINCER_HOME.
    plant(&p, PROBE, "/data", "cache", "../..");
    let link = p
        .home
        .path()
        .canonicalize()
        .unwrap()
        .join("data")
        .join(PROBE)
        .join("cache");
    assert_refused_naming(&p, PROBE, "/cache/canary.txt", &link);
    assert_refused_naming(&p, PROBE, "/cache/keys/vault.key", &link);
    assert_canary_intact(&canary);
}

#[test]
fn a_running_server_keeps_the_mount_it_opened_when_the_link_is_planted() {
    // Through /data the plugin swaps its /cache for ../.. (to $PINCER_HOME).
    served_instances_keep_their_mount(DATA_AND_CACHE, "/data", "cache", "/cache", "../..");
}

#[test]
fn a_running_server_keeps_a_temp_subdir_mount_it_opened_when_the_link_is_planted() {
    // temp is emptied when the plugin loads, not for every instance a server makes.
    let mounts = "[[capabilities.filesystem.mounts]]\nguest = \"/tmp\"\nroot = \"temp\"\naccess = \"read-write\"\n\n\
                  [[capabilities.filesystem.mounts]]\nguest = \"/scratch\"\nroot = \"temp\"\nsubdir = \"scratch\"\naccess = \"read-write\"\n";
    served_instances_keep_their_mount(mounts, "/tmp", "scratch", "/scratch", "../..");
}

/// In one `pincer mcp`, the plugin installed with `mounts` replaces `path` in the mount
/// `through` with a link to `target`; the mount at `guest` of every later instance is
/// still the directory opened at load, so the canary in the home stays out of reach.
fn served_instances_keep_their_mount(
    mounts: &str,
    through: &str,
    path: &str,
    guest: &str,
    target: &str,
) {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    install(&p, PROBE, mounts);
    let canary = canary(p.home.path().join("canary.txt"));
    let mut server = McpStdio::start(&p);
    let planted = server.call(
        "probe__plant",
        json!({ "mount": through, "path": path, "target": target }),
    );
    assert_eq!(planted["content"][0]["text"], "planted", "{planted}");
    // Every later instance of this server gets the directory opened at load, which
    // the link did not replace: the canary is not there.
    for _ in 0..3 {
        let read = server.call(
            "probe__read",
            json!({ "path": format!("{guest}/canary.txt") }),
        );
        assert_eq!(read["isError"], true, "{read}");
        assert!(!read.to_string().contains("canary: nobody"), "{read}");
        let write = server.call(
            "probe__write",
            json!({ "path": format!("{guest}/canary.txt"), "text": "overwritten" }),
        );
        assert!(!write.to_string().contains("canary: nobody"), "{write}");
    }
    drop(server);
    assert_canary_intact(&canary);
}

#[test]
fn a_plugin_cannot_plant_a_link_in_a_shared_root_that_another_plugin_mounts() {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    install(
        &p,
        "com.example.planter",
        "[[capabilities.filesystem.mounts]]\nguest = \"/recordings\"\nroot = \"recordings\"\naccess = \"read-write\"\n",
    );
    install(
        &p,
        "com.example.victim",
        "[[capabilities.filesystem.mounts]]\nguest = \"/shared\"\nroot = \"recordings\"\nsubdir = \"shared\"\naccess = \"read-write\"\n",
    );
    let canary = canary(p.home.path().join("canary.txt"));
    plant(&p, "com.example.planter", "/recordings", "shared", "..");
    let link = p
        .home
        .path()
        .canonicalize()
        .unwrap()
        .join("recordings/shared");
    assert_refused_naming(&p, "com.example.victim", "/shared/canary.txt", &link);
    assert_canary_intact(&canary);
}

/// A workspace bound by the admin beside a directory with a canary in it.
fn workspace(p: &Pincer) -> (PathBuf, PathBuf) {
    let workspace = p.work.path().join("workspace");
    let outside = p.work.path().join("outside");
    std::fs::create_dir_all(workspace.join("sub")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    let canary = canary(outside.join("canary.txt"));
    p.ok(&["root", "bind", "workspace", s(&workspace)]);
    (workspace.canonicalize().unwrap(), canary)
}

#[test]
fn a_bound_directory_that_holds_a_link_at_a_subdir_is_refused() {
    // A cloned repository whose `docs` is a link out of it: no plugin needed.
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    let (workspace, canary) = workspace(&p);
    symlink("../outside", workspace.join("docs")).unwrap();
    install(
        &p,
        PROBE,
        "[[capabilities.filesystem.mounts]]\nguest = \"/docs\"\nroot = \"workspace\"\nsubdir = \"docs\"\naccess = \"read-write\"\n",
    );
    assert_refused_naming(&p, PROBE, "/docs/canary.txt", &workspace.join("docs"));
    assert_canary_intact(&canary);
}

#[test]
fn a_plugin_cannot_redirect_a_subdir_mount_of_a_bound_root() {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    let (workspace, canary) = workspace(&p);
    install(
        &p,
        PROBE,
        "[[capabilities.filesystem.mounts]]\nguest = \"/ws\"\nroot = \"workspace\"\naccess = \"read-write\"\n\n\
         [[capabilities.filesystem.mounts]]\nguest = \"/sub\"\nroot = \"workspace\"\nsubdir = \"sub\"\naccess = \"read-write\"\n",
    );
    plant(&p, PROBE, "/ws", "sub", "../outside");
    assert_refused_naming(&p, PROBE, "/sub/canary.txt", &workspace.join("sub"));
    assert_canary_intact(&canary);
}

#[test]
fn a_bound_root_that_became_a_link_since_it_was_bound_is_refused() {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    let (workspace, canary) = workspace(&p);
    install(
        &p,
        PROBE,
        "[[capabilities.filesystem.mounts]]\nguest = \"/ws\"\nroot = \"workspace\"\naccess = \"read-write\"\n",
    );
    std::fs::remove_dir_all(&workspace).unwrap();
    symlink(p.work.path().join("outside"), &workspace).unwrap();
    let err = p.fails(
        3,
        &[
            "call",
            PROBE,
            "read",
            "--args",
            r#"{"path":"/ws/canary.txt"}"#,
        ],
    );
    assert!(
        err.contains("symbolic link") && err.contains("pincer root bind workspace"),
        "{err}"
    );
    assert_canary_intact(&canary);
}

#[test]
fn a_link_planted_in_temp_is_removed_when_temp_is_emptied_not_followed() {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    install(
        &p,
        PROBE,
        "[[capabilities.filesystem.mounts]]\nguest = \"/tmp\"\nroot = \"temp\"\naccess = \"read-write\"\n\n\
         [[capabilities.filesystem.mounts]]\nguest = \"/scratch\"\nroot = \"temp\"\nsubdir = \"scratch\"\naccess = \"read-write\"\n",
    );
    let canary = canary(p.home.path().join("canary.txt"));
    let keys = p.home.path().join("keys");
    let keys_before = std::fs::read_dir(&keys).unwrap().count();
    // A link at the subdir the next load opens, and one to the host's keys inside temp.
    plant(&p, PROBE, "/tmp", "scratch", "../..");
    plant(&p, PROBE, "/tmp", "keys", "../../keys");
    // The next load empties temp first (removing both links, following neither), so
    // /scratch is a new, empty directory.
    let (is_error, text) = p.call(PROBE, "read", r#"{"path":"/scratch/canary.txt"}"#);
    assert!(is_error && !text.contains("canary: nobody"), "{text}");
    assert_eq!(
        p.call(PROBE, "list", r#"{"path":"/tmp"}"#),
        (false, "scratch".into())
    );
    assert_eq!(
        std::fs::read_dir(&keys).unwrap().count(),
        keys_before,
        "keys were removed"
    );
    assert_canary_intact(&canary);
}

#[test]
fn removing_a_plugin_removes_its_links_not_what_they_point_to() {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    let (_, canary) = workspace(&p);
    install(
        &p,
        PROBE,
        "[[capabilities.filesystem.mounts]]\nguest = \"/data\"\nroot = \"plugin-data\"\naccess = \"read-write\"\n",
    );
    // data/<id>/out -> the workspace's neighbour with the canary, and -> the keys.
    let home = p.home.path().canonicalize().unwrap();
    let outside = p.work.path().join("outside").canonicalize().unwrap();
    let up = "../".repeat(home.join("data").join(PROBE).components().count() - 1);
    plant(
        &p,
        PROBE,
        "/data",
        "out",
        &format!("{up}{}", s(&outside).trim_start_matches('/')),
    );
    plant(&p, PROBE, "/data", "keys", "../../keys");
    p.ok(&["remove", PROBE]);
    assert!(!home.join("data").join(PROBE).exists(), "its data stayed");
    assert_canary_intact(&canary);
    assert!(home.join("keys").read_dir().unwrap().count() > 0);
}
