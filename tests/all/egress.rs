//! `pincer egress` and `pincer review --all`: every installed plugin's reach, from the
//! install records and the admin's policy.
//!
//! The home holds the reference plugins from their real manifests, an update of
//! `remote` that asks for a wildcard origin (pending), a plugin that asks for private
//! networks and that the policy allows, and one that asks and that the policy refuses.
//! `egress --json` is a snapshot (insta). Another home checks, from the plugin's side,
//! that what `egress` says is what the host enforces: a plugin reaches the origins it
//! lists and nothing else, private addresses only where it says `yes`, and a pending
//! origin only after approval.

use std::collections::BTreeMap;
use std::path::Path;

use pincer_test_support::http::TestServer;
use pincer_test_support::{Pincer, fixture};
use serde_json::{Value, json};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

const REFERENCE: [&str; 8] = [
    "chat",
    "conformance",
    "fetch",
    "files",
    "hello",
    "recorder",
    "remote",
    "viewer",
];

/// Append `text` to the home's `policy.toml`.
fn add_policy(p: &Pincer, text: &str) {
    let path = p.home.path().join("policy.toml");
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    std::fs::write(&path, format!("{old}\n{text}")).unwrap();
}

/// The reference plugins, `remote` 0.2.0 pending, and two plugins on the local network:
/// `homelab` (asks, allowed) and `lanprobe` (asks, refused). The policy also allows
/// private networks to `chat`, which does not ask: that allows nothing.
fn inventory_home() -> Pincer {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    let key = p.trusted_key("Pincer developers");
    let workspace = p.path("workspace");
    std::fs::create_dir_all(&workspace).unwrap();
    p.ok(&["root", "bind", "workspace", s(&workspace)]);
    for name in REFERENCE {
        let bundle = p.reference_bundle(name, &key, str::to_owned);
        p.ok(&["install", s(&bundle), "--yes"]);
    }
    let wider = p.reference_bundle("remote", &key, |t| {
        t.replace("version = \"0.1.0\"", "version = \"0.2.0\"")
            .replace(
                "origins = [\"https://mcp.example.com\"]",
                "origins = [\"https://mcp.example.com\", \"https://*.example.com:8443\"]",
            )
    });
    let out = p.ok(&["install", s(&wider), "--yes"]);
    assert!(out.contains("pending"), "{out}");

    let lan = |id: &str, origin: &str, methods: &str| {
        let sections = format!(
            "[capabilities.http]\norigins = [\"{origin}\"]\nmethods = {methods}\nprivate_networks = true\n"
        );
        let bundle = p.bundle(&fixture("http-client"), id, "1.0.0", &sections, &key);
        p.ok(&["install", s(&bundle), "--yes"]);
    };
    lan(
        "com.example.homelab",
        "http://192.168.1.20:8123",
        "[\"GET\", \"POST\"]",
    );
    lan("com.example.lanprobe", "http://10.0.0.5", "[\"GET\"]");
    add_policy(
        &p,
        "[http.\"com.example.homelab\"]\nallow_private_networks = true\n\n[http.\"dev.pincer.chat\"]\nallow_private_networks = true\n",
    );
    p
}

/// The text of `pincer egress` as (group heading, rows of words under it).
fn egress_groups(text: &str) -> BTreeMap<String, Vec<Vec<String>>> {
    let mut groups: BTreeMap<String, Vec<Vec<String>>> = BTreeMap::new();
    let mut current = None;
    for line in text.lines().skip(1) {
        if line.is_empty() {
            break;
        }
        if let Some(row) = line.strip_prefix("  ") {
            let key: &String = current.as_ref().expect("a row under a plugin");
            groups
                .get_mut(key)
                .unwrap()
                .push(row.split_whitespace().map(str::to_owned).collect());
        } else {
            current = Some(line.to_owned());
            groups.insert(line.to_owned(), Vec::new());
        }
    }
    groups
}

fn words(row: &[&str]) -> Vec<String> {
    row.iter().map(|w| w.to_string()).collect()
}

#[test]
fn egress_and_review_all_cover_every_installed_plugin() {
    let p = inventory_home();

    // JSON: the snapshot, and the same rows whatever the run.
    let json: Value = serde_json::from_str(&p.ok(&["egress", "--json"])).unwrap();
    insta::assert_json_snapshot!("reference_plugins", json);

    // Text: one group per plugin version that may reach the network, one row per
    // origin; plugins with no http grant are absent.
    let text = p.ok(&["egress"]);
    for line in text.lines() {
        assert!(line.chars().count() <= 80, "too wide: {line}");
    }
    assert_eq!(
        text.lines()
            .next()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["ORIGIN", "METHODS", "PRIVATE"]
    );
    let groups = egress_groups(&text);
    let expected: BTreeMap<String, Vec<Vec<String>>> = [
        (
            "com.example.homelab 1.0.0",
            vec![words(&["http://192.168.1.20:8123", "GET,POST", "yes"])],
        ),
        (
            "com.example.lanprobe 1.0.0",
            vec![words(&["http://10.0.0.5", "GET", "asked"])],
        ),
        (
            "dev.pincer.chat 0.1.0",
            vec![words(&["https://api.openai.com", "POST", "no"])],
        ),
        ("dev.pincer.fetch 0.1.0", vec![words(&["*", "GET", "no"])]),
        (
            "dev.pincer.remote 0.1.0",
            vec![words(&["https://mcp.example.com", "DELETE,POST", "no"])],
        ),
        (
            "dev.pincer.remote 0.2.0, pending approval",
            vec![
                words(&["https://*.example.com:8443", "DELETE,POST", "no"]),
                words(&["https://mcp.example.com", "DELETE,POST", "no"]),
            ],
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(groups, expected, "{text}");
    assert!(
        text.contains("5 of 10 installed plugins may reach the network"),
        "{text}"
    );
    assert!(
        text.contains("`*` is any host (dev.pincer.fetch)"),
        "{text}"
    );

    review_all_text(&p);
    review_all_json(&p);
}

/// `pincer review --all`: every plugin with its risk, in 80 columns.
fn review_all_text(p: &Pincer) {
    let text = p.ok(&["review", "--all"]);
    for line in text.lines() {
        assert!(line.chars().count() <= 80, "too wide: {line}");
    }
    for heading in [
        "com.example.homelab 1.0.0 (mcp-server), risk high",
        "com.example.lanprobe 1.0.0 (mcp-server), risk high",
        "dev.pincer.chat 0.1.0 (chat), risk medium",
        "dev.pincer.conformance 0.1.0 (mcp-server), risk low",
        "dev.pincer.fetch 0.1.0 (mcp-server), risk high",
        "dev.pincer.files 0.1.0 (mcp-server), risk high",
        "dev.pincer.hello 0.1.0 (mcp-server), risk low",
        "dev.pincer.recorder 0.1.0 (recorder), risk medium",
        "dev.pincer.remote 0.1.0 (mcp-server), risk medium",
        "dev.pincer.viewer 0.1.0 (viewer), risk medium",
    ] {
        assert!(
            text.lines().any(|l| l == heading),
            "no line `{heading}`:\n{text}"
        );
    }
    // Each plugin's block, by its heading.
    let block = |id: &str| -> String {
        let start = text.find(&format!("\n{id} ")).map_or(0, |i| i + 1);
        assert!(text[start..].starts_with(id), "no block for {id}:\n{text}");
        let end = text[start..].find("\n\n").unwrap() + start;
        text[start..end]
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let files = block("dev.pincer.files");
    assert!(
        files.contains("high filesystem workspace at /workspace (read-write, workspace is"),
        "{files}"
    );
    assert!(
        block("dev.pincer.fetch").contains("high http * (GET)"),
        "{text}"
    );
    let homelab = block("com.example.homelab");
    assert!(homelab.contains("private networks allowed"), "{homelab}");
    let lanprobe = block("com.example.lanprobe");
    assert!(
        lanprobe.contains("private networks asked, refused by policy"),
        "{lanprobe}"
    );
    let chat = block("dev.pincer.chat");
    for part in [
        "medium secrets api_key",
        "low config base_url, model",
        "medium limits 64 MiB, 120000 ms, 4 at once",
    ] {
        assert!(chat.contains(part), "{part}: {chat}");
    }
    assert!(!chat.contains("tools"), "{chat}");
    assert!(
        !chat.contains("private"),
        "the policy alone allows nothing: {chat}"
    );
    let remote = block("dev.pincer.remote");
    assert!(
        remote.contains(
            "high pending 0.2.0 waits for `pincer approve dev.pincer.remote`; wider: new wildcard origin https://*.example.com:8443"
        ),
        "{remote}"
    );
    assert!(remote.contains("approved "), "{remote}");
    assert!(remote.contains(" tools "), "{remote}");
    assert!(
        block("dev.pincer.hello").contains("low grants none"),
        "{text}"
    );
    let summary = text.rsplit("\n\n").next().unwrap();
    let summary = summary.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(
        summary,
        "10 plugins installed, 1 with an update pending, 0 poisoning findings in pinned \
         tools. highest risk: high (com.example.homelab, com.example.lanprobe, \
         dev.pincer.fetch, dev.pincer.files)",
        "the reference plugins are clean"
    );
}

/// `pincer review --all --json`: the same, for machines.
fn review_all_json(p: &Pincer) {
    let v: Value = serde_json::from_str(&p.ok(&["review", "--all", "--json"])).unwrap();
    let risks: BTreeMap<&str, &str> = v["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["risk"].as_str().unwrap()))
        .collect();
    assert_eq!(
        risks,
        BTreeMap::from([
            ("com.example.homelab", "high"),
            ("com.example.lanprobe", "high"),
            ("dev.pincer.chat", "medium"),
            ("dev.pincer.conformance", "low"),
            ("dev.pincer.fetch", "high"),
            ("dev.pincer.files", "high"),
            ("dev.pincer.hello", "low"),
            ("dev.pincer.recorder", "medium"),
            ("dev.pincer.remote", "medium"),
            ("dev.pincer.viewer", "medium"),
        ])
    );
    assert_eq!(v["highest_risk"], "high");
    assert_eq!(
        v["highest_risk_plugins"],
        json!([
            "com.example.homelab",
            "com.example.lanprobe",
            "dev.pincer.fetch",
            "dev.pincer.files"
        ])
    );
    let plugin = |id: &str| -> &Value {
        v["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == id)
            .unwrap()
    };
    let remote = plugin("dev.pincer.remote");
    assert_eq!(remote["pending"]["version"], "0.2.0");
    assert_eq!(remote["pending"]["wider"], true);
    assert_eq!(remote["pending"]["risk"], "high");
    assert_eq!(remote["grants"]["secrets"], json!(["token"]));
    assert!(remote["approved"]["at"].is_string(), "{remote}");
    assert!(remote["approved"]["by"].is_string(), "{remote}");
    assert!(remote["tools"].is_object(), "{remote}");
    assert_eq!(remote["tools"]["poisoning"], json!([]));
    for kind_without_tools in [
        "dev.pincer.chat",
        "dev.pincer.recorder",
        "dev.pincer.viewer",
    ] {
        assert!(plugin(kind_without_tools)["tools"].is_null());
    }
    assert_eq!(
        plugin("com.example.homelab")["private_networks"],
        json!({ "manifest_asks": true, "policy_allows": true, "allowed": true })
    );
    assert_eq!(
        plugin("dev.pincer.chat")["private_networks"],
        json!({ "manifest_asks": false, "policy_allows": true, "allowed": false })
    );
    let workspace = p.path("workspace").canonicalize().unwrap();
    assert_eq!(
        plugin("dev.pincer.files")["roots"],
        json!({ "workspace": workspace })
    );
    assert_eq!(plugin("dev.pincer.viewer")["roots"], json!({}));
    assert!(plugin("dev.pincer.hello")["pending"].is_null());
}

#[test]
fn an_empty_home_says_so() {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    let nothing = "no plugins installed; install one with `pincer install BUNDLE`\n";
    assert_eq!(p.ok(&["egress"]), nothing);
    assert_eq!(p.ok(&["review", "--all"]), nothing);
    let egress: Value = serde_json::from_str(&p.ok(&["egress", "--json"])).unwrap();
    assert_eq!(egress, json!([]));
    let review: Value = serde_json::from_str(&p.ok(&["review", "--all", "--json"])).unwrap();
    assert_eq!(
        review,
        json!({ "plugins": [], "highest_risk": null, "highest_risk_plugins": [] })
    );

    // Installed, but with no http grant: no origin at all, and it says so.
    let key = p.trusted_key("Pincer developers");
    let hello = p.reference_bundle("hello", &key, str::to_owned);
    p.ok(&["install", s(&hello), "--yes"]);
    assert_eq!(
        p.ok(&["egress"]),
        "no installed plugin may reach the network: none of the 1 has an http grant\n"
    );
    let egress: Value = serde_json::from_str(&p.ok(&["egress", "--json"])).unwrap();
    assert_eq!(egress, json!([]));
}

/// What `egress` lists is what the host enforces, seen from a plugin that tries: it
/// reaches its listed origin, not an unlisted one; private addresses only where the
/// row says `yes`; a pending origin only after `pincer approve`.
#[test]
fn a_plugin_reaches_only_what_egress_lists() {
    let server = TestServer::start();
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    let key = p.trusted_key("Example");
    let listed = server.url("");
    // The same server under another name: an origin nobody listed.
    let unlisted = format!("http://localhost:{}", server.port);
    let install = |id: &str, version: &str, origins: &str| {
        let sections =
            format!("[capabilities.http]\norigins = [{origins}]\nprivate_networks = true\n");
        let bundle = p.bundle(&fixture("http-client"), id, version, &sections, &key);
        p.ok(&["install", s(&bundle), "--yes"])
    };
    install("com.example.allowed", "1.0.0", &format!("\"{listed}\""));
    install("com.example.refused", "1.0.0", &format!("\"{listed}\""));
    add_policy(
        &p,
        "[http.\"com.example.allowed\"]\nallow_private_networks = true\n",
    );
    let out = install(
        "com.example.allowed",
        "1.1.0",
        &format!("\"{listed}\", \"{unlisted}\""),
    );
    assert!(out.contains("pending"), "{out}");

    let rows: Value = serde_json::from_str(&p.ok(&["egress", "--json"])).unwrap();
    let summary: Vec<(String, String, String, bool)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["plugin"].as_str().unwrap().to_owned(),
                r["status"].as_str().unwrap().to_owned(),
                r["origin"].as_str().unwrap().to_owned(),
                r["private_networks"]["allowed"].as_bool().unwrap(),
            )
        })
        .collect();
    let row = |plugin: &str, status: &str, origin: &str, allowed: bool| {
        (plugin.into(), status.into(), origin.into(), allowed)
    };
    assert_eq!(
        summary,
        [
            row("com.example.allowed", "active", &listed, true),
            row("com.example.allowed", "pending", &listed, true),
            row("com.example.allowed", "pending", &unlisted, true),
            row("com.example.refused", "active", &listed, false),
        ]
    );

    let get = |id: &str, url: &str| {
        p.call(
            id,
            "get",
            &json!({ "url": format!("{url}/bytes/3") }).to_string(),
        )
    };
    // Listed, private allowed: reached.
    let (is_error, text) = get("com.example.allowed", &listed);
    assert!(!is_error && text.starts_with("status 200"), "{text}");
    // Listed, but private networks refused by the policy: not reached.
    let before = server.requests();
    let (is_error, text) = get("com.example.refused", &listed);
    assert!(
        is_error && text.contains("allow_private_networks"),
        "{text}"
    );
    // Listed only as pending: not reached until approved.
    let (is_error, text) = get("com.example.allowed", &unlisted);
    assert!(is_error, "a pending origin was reached: {text}");
    assert_eq!(
        server.requests(),
        before,
        "a refused request reached the server"
    );

    p.ok(&["approve", "com.example.allowed", "--yes"]);
    let rows: Value = serde_json::from_str(&p.ok(&["egress", "--json"])).unwrap();
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "active"),
        "{rows}"
    );
    let (is_error, text) = get("com.example.allowed", &unlisted);
    assert!(!is_error && text.starts_with("status 200"), "{text}");
}

/// The poisoning review of `review --all` reads the pinned definitions: a plugin whose
/// approved tools carry hidden instructions is flagged there, with the risk of the
/// worst finding, and counts towards the highest risk although its grants are low.
#[test]
fn review_all_flags_poisoned_pinned_tools() {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    let key = p.trusted_key("Example");
    let id = "com.example.poisoned";
    let bundle = p.bundle(&fixture("poisoned"), id, "1.0.0", "", &key);
    let review: Value = serde_json::from_str(&p.ok(&["review", s(&bundle), "--json"])).unwrap();
    let at_review = review["tools"]["findings"].as_array().unwrap().len();
    assert!(at_review > 0, "{review:#}");
    p.ok(&["install", s(&bundle), "--yes"]);

    let v: Value = serde_json::from_str(&p.ok(&["review", "--all", "--json"])).unwrap();
    let tools = &v["plugins"][0]["tools"];
    assert_eq!(v["plugins"][0]["risk"], "low", "its grants are none");
    assert_eq!(tools["pinned"].as_array().unwrap().len(), 9, "{tools:#}");
    let findings = tools["poisoning"].as_array().unwrap();
    assert_eq!(findings.len(), at_review, "{tools:#}");
    let worst = findings
        .iter()
        .map(|f| f["risk"].as_str().unwrap())
        .max_by_key(|r| ["low", "medium", "high"].iter().position(|x| x == r));
    assert_eq!(tools["risk"].as_str(), worst);
    assert_eq!(v["highest_risk"].as_str(), worst);
    assert_eq!(v["highest_risk_plugins"], json!([id]));

    assert_eq!(v["plugins"][0]["highest_risk"].as_str(), worst);

    let text = p.ok(&["review", "--all"]);
    assert_eq!(
        text.lines().next().unwrap(),
        format!("{id} 1.0.0 (mcp-server), risk {}", worst.unwrap()),
        "the heading shows the highest risk in effect"
    );
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let row = format!(
        "{} tools 9 pinned, {at_review} poisoning findings in ",
        worst.unwrap()
    );
    assert!(flat.contains(&row), "{text}");
    assert!(
        flat.contains(&format!("see `pincer review {id} --tools`")),
        "{text}"
    );
    for line in text.lines() {
        assert!(line.chars().count() <= 80, "too wide: {line}");
    }
}
