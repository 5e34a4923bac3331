//! `pincer new --kind KIND NAME`: a plugin project outside Pincer's repository that
//! builds as generated with `cargo build --release --target wasm32-wasip2`, needing
//! nothing but crates.io. It carries the WIT it builds against (`wit/0.1.0/`) and a copy of
//! the guest SDK (`vendor/pincer-sdk/`), one working example of its kind, a manifest
//! that grants exactly what the example uses, and a README with the next commands.

use std::path::{Path, PathBuf};

use super::commands::Failure;

use crate::exit::Exit;

/// The WIT package, as this `pincer` speaks it.
const WIT: [(&str, &str); 4] = [
    (
        "capabilities.wit",
        include_str!("../../../wit/0.1.0/capabilities.wit"),
    ),
    ("chat.wit", include_str!("../../../wit/0.1.0/chat.wit")),
    ("mcp.wit", include_str!("../../../wit/0.1.0/mcp.wit")),
    (
        "recording.wit",
        include_str!("../../../wit/0.1.0/recording.wit"),
    ),
];

/// The guest SDK's sources: every file of `plugins/sdk/src/` (a test checks that none
/// is missing).
const SDK: [(&str, &str); 6] = [
    ("lib.rs", include_str!("../../../plugins/sdk/src/lib.rs")),
    ("caps.rs", include_str!("../../../plugins/sdk/src/caps.rs")),
    ("chat.rs", include_str!("../../../plugins/sdk/src/chat.rs")),
    (
        "recording.rs",
        include_str!("../../../plugins/sdk/src/recording.rs"),
    ),
    ("time.rs", include_str!("../../../plugins/sdk/src/time.rs")),
    (
        "tools.rs",
        include_str!("../../../plugins/sdk/src/tools.rs"),
    ),
];

const SDK_MANIFEST: &str = r#"[package]
name = "pincer-sdk"
description = "Write Pincer plugins in Rust (a copy made by `pincer new`; it builds against ../../wit/0.1.0)"
edition = "2024"
version = "0.1.0"
publish = false

[dependencies]
wit-bindgen = { version = "0.61", default-features = false, features = ["macros", "realloc", "std"] }
serde = { version = "1", features = ["derive"] }
serde_json = "1"
schemars = "1"
serde_path_to_error = "0.1"
"#;

/// One kind's example: its source, the manifest lines it needs, and the README's
/// commands to try it: unsigned while developing (`dev`, if the kind has one) and
/// installed (`next`).
struct Example {
    source: &'static str,
    grants: &'static str,
    limits: &'static str,
    dev: &'static str,
    next: &'static str,
}

fn example(kind: &str) -> Option<Example> {
    Some(match kind {
        "mcp-server" => Example {
            source: include_str!("scaffold/mcp_server.rs.txt"),
            grants: "",
            limits: "memory_mib = 32\ntimeout_ms = 10000\nconcurrency = 4\n",
            dev: "pincer dev greet '{\"name\":\"Ada\"}'           # build, then call it unsigned (development mode)\n\
                  pincer dev --watch greet '{\"name\":\"Ada\"}'   # again on every change, and on Enter\n",
            next: "pincer call ID greet --args '{\"name\":\"Ada\"}'",
        },
        "chat" => Example {
            source: include_str!("scaffold/chat.rs.txt"),
            grants: "",
            limits: "memory_mib = 32\ntimeout_ms = 30000\n",
            dev: "",
            next: "pincer chat ID \"hello\"",
        },
        "recorder" => Example {
            source: include_str!("scaffold/recorder.rs.txt"),
            grants: "# It writes its recordings under Pincer's `recordings` root.\n[[capabilities.filesystem.mounts]]\nguest = \"/recordings\"\nroot = \"recordings\"\naccess = \"read-write\"\n\n",
            limits: "memory_mib = 64\ntimeout_ms = 5000\nconcurrency = 1\n",
            dev: "",
            next: "pincer serve, then POST /v1/recordings/start, /events, /stop (docs/gateway.md)",
        },
        "viewer" => Example {
            source: include_str!("scaffold/viewer.rs.txt"),
            grants: "# It reads the recordings, and cannot change them.\n[[capabilities.filesystem.mounts]]\nguest = \"/recordings\"\nroot = \"recordings\"\naccess = \"read-only\"\n\n",
            limits: "memory_mib = 64\ntimeout_ms = 5000\nconcurrency = 4\n",
            dev: "",
            next: "pincer serve, then GET /v1/recordings/ID/timeline?viewer=ID (docs/gateway.md)",
        },
        _ => return None,
    })
}

/// Whether `name` can name the project, its crate and the end of its id.
fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    (1..=40).contains(&name.len())
        && bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.ends_with('-')
}

/// Make the project `dir/NAME` (or `out`), refusing to touch an existing path.
pub(super) fn cmd_new(
    kind: &str,
    name: &str,
    out: Option<&Path>,
    id: Option<&str>,
) -> Result<(), Failure> {
    let example = example(kind).ok_or_else(|| {
        Failure::new(
            Exit::Usage,
            format!("--kind {kind}: the kinds are mcp-server, chat, recorder and viewer"),
        )
    })?;
    if !valid_name(name) {
        return Err(Failure::new(
            Exit::Usage,
            format!(
                "`{name}` cannot name a plugin: use 1 to 40 of a-z, 0-9 and `-`, starting with a letter (such as `weather`)"
            ),
        ));
    }
    let id = id.map_or_else(|| format!("com.example.{name}"), str::to_owned);
    let root: PathBuf = out.map_or_else(|| PathBuf::from(name), Path::to_path_buf);
    if root.exists() {
        return Err(Failure::new(
            Exit::Usage,
            format!(
                "{} already exists: pincer new never writes over files; choose another name or --dir",
                root.display()
            ),
        ));
    }
    let wasm = format!("{}.wasm", name.replace('-', "_"));
    let manifest = format!(
        "# What this plugin is and may do. An admin reviews exactly this before installing it.\n\
         # Reference: docs/manifest.md in Pincer's repository.\n\
         manifest_version = 1\n\n\
         [plugin]\n\
         id = \"{id}\"\n\
         name = \"{name}\"\n\
         version = \"0.1.0\"\n\
         kind = \"{kind}\"\n\
         description = \"Describe what {name} does, for the admin who reviews it.\"\n\
         publisher = \"You\"\n\n\
         [component]\n\
         file = \"{wasm}\"\n\n\
         {grants}\
         [limits]\n\
         {limits}",
        grants = example.grants,
        limits = example.limits,
    );
    let cargo = format!(
        "[package]\nname = \"{name}\"\nedition = \"2024\"\nversion = \"0.1.0\"\npublish = false\n\n\
         [lib]\ncrate-type = [\"cdylib\"]\n\n\
         [dependencies]\npincer-sdk = {{ path = \"vendor/pincer-sdk\" }}\n\
         serde = {{ version = \"1\", features = [\"derive\"] }}\nserde_json = \"1\"\nschemars = \"1\"\n\n\
         [profile.release]\nopt-level = \"s\"\nstrip = true\n\n\
         # Its own workspace, wherever it is created.\n[workspace]\n"
    );
    let readme = format!(
        "# {name}\n\n\
         A Pincer `{kind}` plugin, made by `pincer new`.\n\n\
         - `src/lib.rs`: the plugin, one working example to start from.\n\
         - `manifest.toml`: what it is and may do (its grants); add a grant when the plugin needs one,\n  \
           and Pincer's denial will tell you which line.\n\
         - `wit/0.1.0/`: the contract with the host, `pincer:plugin@0.1.0`.\n\
         - `vendor/pincer-sdk/`: the Rust guest SDK over that contract.\n\n\
         ## Next commands\n\n\
         ```sh\n\
         rustup target add wasm32-wasip2\n\
         {dev}\
         cargo build --release --target wasm32-wasip2\n\
         pincer keygen --out mykey          # once: mykey.key (secret) and mykey.pub\n\
         pincer pack manifest.toml --component target/wasm32-wasip2/release/{wasm} --key mykey.key --out {name}-bundle\n\
         # As the admin (or yourself, to try it):\n\
         pincer trust add mykey.pub --name you\n\
         pincer install {name}-bundle\n\
         {next}\n\
         ```\n\n\
         Replace ID with `{id}`.\n",
        dev = example.dev,
        next = example.next.replace("ID", &id),
    );
    let mut files: Vec<(PathBuf, String)> = vec![
        ("Cargo.toml".into(), cargo),
        ("manifest.toml".into(), manifest),
        ("README.md".into(), readme),
        (".gitignore".into(), "/target\n*.key\n".into()),
        ("src/lib.rs".into(), example.source.to_owned()),
        (
            "vendor/pincer-sdk/Cargo.toml".into(),
            SDK_MANIFEST.to_owned(),
        ),
    ];
    files.extend(
        WIT.iter()
            .map(|(f, text)| (Path::new("wit/0.1.0").join(f), (*text).to_owned())),
    );
    files.extend(SDK.iter().map(|(f, text)| {
        (
            Path::new("vendor/pincer-sdk/src").join(f),
            (*text).to_owned(),
        )
    }));
    // Everything is written under a temporary name and renamed at the end: an error
    // leaves no half-made project behind.
    let parent = root
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let staging = tempfile::Builder::new()
        .prefix(".pincer-new-")
        .tempdir_in(parent)
        .map_err(|e| {
            Failure::new(
                Exit::Host,
                format!("cannot write in {}: {e}", parent.display()),
            )
        })?;
    for (rel, text) in &files {
        let path = staging.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("files are in a directory"))
            .and_then(|()| std::fs::write(&path, text))
            .map_err(|e| {
                Failure::new(Exit::Host, format!("cannot write {}: {e}", path.display()))
            })?;
    }
    std::fs::rename(staging.keep(), &root)
        .map_err(|e| Failure::new(Exit::Host, format!("cannot create {}: {e}", root.display())))?;
    println!("created {} ({kind} plugin {id})", root.display());
    println!(
        "next: cd {} && cargo build --release --target wasm32-wasip2 (see its README.md)",
        root.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_every_kind_has_an_example() {
        assert!(valid_name("weather"));
        assert!(valid_name("my-tool2"));
        for bad in ["", "Weather", "2fast", "a_b", "../x", "x-"] {
            assert!(!valid_name(bad), "{bad}");
        }
        for kind in ["mcp-server", "chat", "recorder", "viewer"] {
            assert!(example(kind).is_some(), "{kind}");
        }
        assert!(example("native").is_none());
    }

    #[test]
    fn vendors_every_file_of_the_sdk() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/sdk/src");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        let mut vendored: Vec<&str> = SDK.iter().map(|(name, _)| *name).collect();
        vendored.sort();
        assert_eq!(on_disk, vendored);
    }
}
