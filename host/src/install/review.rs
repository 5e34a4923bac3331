//! `pincer review`: everything an admin should see before approving a bundle, and the
//! verdict that `pincer install` acts on.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::caps::Capability;
use crate::digest::sha256_hex;
use crate::manifest::PluginKind;
use crate::policy::grants::{Change, GrantSet};
use crate::policy::risk::{self, Finding, Risk};
use crate::runtime::{LoadError, Runtime, block_on};
use crate::store::plugins::{Installed, PluginStore};
use crate::tools::poison::{self, Rule};
use crate::trust::{Bundle, KeyId, KeyStatus, TrustError, TrustStore};

/// The review of one bundle. Its JSON form is documented in `docs/admin-guide.md`.
#[derive(Debug, Clone, Serialize)]
pub struct Review {
    /// The bundle directory.
    pub bundle: PathBuf,
    /// Who and what the plugin says it is.
    pub plugin: PluginSummary,
    /// The signature check.
    pub signature: SignatureCheck,
    /// The digest check.
    pub digest: DigestCheck,
    /// Each requested grant, explained, with its risk.
    pub capabilities: Vec<Finding>,
    /// The highest risk among them.
    pub risk: Risk,
    /// SHA-256 of the canonical grant set (what an approval records).
    pub grants_digest: String,
    /// The component's imports against its grants.
    pub imports: ImportsCheck,
    /// The installed version, and what changes.
    pub installed: Option<InstalledDiff>,
    /// The key the id belongs to (the approved version's, or kept data's), when this
    /// bundle is signed by another: refused unless the admin accepts the new signer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer_change: Option<SignerChange>,
    /// What `pincer install` would do.
    pub verdict: Verdict,
    /// For an `mcp-server` plugin whose digest and import checks passed: its tools as
    /// it lists them with every capability denied, and the poisoning review of them.
    pub tools: Option<ToolsReview>,
    #[serde(skip)]
    pub(crate) grants: GrantSet,
    #[serde(skip)]
    pub(crate) state: Option<Installed>,
    #[serde(skip)]
    pub(crate) bundle_data: Bundle,
}

/// The plugin's own description of itself.
#[derive(Debug, Clone, Serialize)]
pub struct PluginSummary {
    /// Its id.
    pub id: String,
    /// Its display name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Its kind.
    pub kind: String,
    /// Its publisher, as the manifest says (the key below is what proves it).
    pub publisher: String,
    /// Its description.
    pub description: String,
}

/// The signature check.
#[derive(Debug, Clone, Serialize)]
pub struct SignatureCheck {
    /// Whether it passed.
    pub ok: bool,
    /// `trusted`, `unknown`, `revoked`, or `unsigned`.
    pub key_status: String,
    /// The signing key, if the bundle is signed.
    pub key_id: Option<KeyId>,
    /// The name the admin gave that key.
    pub signer: Option<String>,
    /// Why it failed.
    pub problem: Option<String>,
}

/// The digest check.
#[derive(Debug, Clone, Serialize)]
pub struct DigestCheck {
    /// Whether the component matches the manifest.
    pub ok: bool,
    /// The manifest's digest.
    pub expected: Option<String>,
    /// The component's digest.
    pub found: String,
}

/// The component's actual imports against its grants.
#[derive(Debug, Clone, Serialize)]
pub struct ImportsCheck {
    /// Whether the component may load with these grants.
    pub ok: bool,
    /// The gated capabilities the component imports.
    pub uses: Vec<Capability>,
    /// Imports that keep it from loading.
    pub problems: Vec<String>,
    /// Capabilities the manifest asks for but the component never imports.
    pub unused_grants: Vec<Capability>,
}

/// The installed version, and how this bundle differs.
#[derive(Debug, Clone, Serialize)]
pub struct InstalledDiff {
    /// The installed (active) version.
    pub version: String,
    /// A version waiting for approval, if any.
    pub pending: Option<String>,
    /// `upgrade`, `downgrade`, `same`, or `same-version-different-content`.
    pub relation: &'static str,
    /// What changes in the grants, wider items first.
    pub changes: Vec<Change>,
    /// Whether any change is wider (the update would wait for an admin).
    pub wider: bool,
}

/// An update, or data kept from a removed plugin, signed by a key other than the one
/// the id belongs to.
#[derive(Debug, Clone, Serialize)]
pub struct SignerChange {
    /// The key the id belongs to (`None` for data kept from before keys were recorded).
    pub from_key: Option<KeyId>,
    /// The name the admin gave it.
    pub from_signer: String,
    /// The key that signed this bundle.
    pub to_key: KeyId,
    /// Whether the admin accepted it (`--accept-signer`).
    pub accepted: bool,
}

/// What `pincer install` would do.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// `install`, `update`, `pending-approval`, `unchanged`, `repair` (the installed
    /// copy was damaged; the same bundle replaces it) or `refused`.
    pub outcome: &'static str,
    /// Why it is refused, or would wait; and warnings that do not refuse it (lines
    /// that start with `warning:`, from the tools review).
    pub reasons: Vec<String>,
}

/// An `mcp-server` plugin's tools, as a review lists them.
#[derive(Debug, Clone, Serialize)]
pub struct ToolsReview {
    /// The tools, as the component lists them in a sandbox with every capability
    /// denied. Installing pins these.
    pub listed: Vec<crate::tools::ToolInfo>,
    /// What the poisoning review found in them.
    pub findings: Vec<crate::tools::poison::Finding>,
    /// Why the tools could not be listed, if they could not.
    pub error: Option<String>,
}

impl Review {
    /// The pins an approval of this review records: the tools it listed, as the
    /// admin saw them, over the installed version's pins (kept for the tools the
    /// review could not list, as `pincer approve` keeps them: a `remote` adapter lists
    /// nothing at review). `None` when there is nothing to pin.
    pub fn pins(&self) -> Option<crate::tools::pins::Pins> {
        let installed = self
            .state
            .as_ref()
            .and_then(|s| s.active.approval.as_ref())
            .and_then(|a| a.tools.clone());
        let listed = self
            .tools
            .as_ref()
            .filter(|t| t.error.is_none())
            .map(|t| crate::tools::pins::pin_all(&t.listed));
        match (installed, listed) {
            (Some(mut pins), Some(listed)) => {
                pins.extend(listed);
                Some(pins)
            }
            (pins, None) | (None, pins) => pins,
        }
    }

    /// Whether install would refuse the bundle.
    pub fn refused(&self) -> bool {
        self.verdict.outcome == "refused"
    }
}

/// Review the bundle in `dir` against this runtime's trust store and installed
/// plugins. Compiling the component for the import check fills the cache.
///
/// A plugin id belongs to the key that signed its approved version (and data kept from
/// a removed plugin to the key that signed it): a bundle signed by another key is
/// refused, rated high, unless `accept_signer` names that key.
pub fn review(
    runtime: &Runtime,
    dir: &Path,
    allow_downgrade: bool,
    accept_signer: Option<KeyId>,
) -> Result<Review, TrustError> {
    let bundle = Bundle::read(dir)?;
    let home = runtime.home();
    let trust = TrustStore::load(home)?;
    let manifest = &bundle.manifest;
    let mut reasons = Vec::new();

    let signer = bundle.signer().ok();
    let signature = match bundle.verify(&trust) {
        Ok(v) => SignatureCheck {
            ok: true,
            key_status: "trusted".into(),
            key_id: Some(v.key_id),
            signer: Some(v.signer),
            problem: None,
        },
        Err(e) => {
            let status = match signer.map(|id| trust.status(id)) {
                None => "unsigned",
                Some(KeyStatus::Trusted) => "trusted",
                Some(KeyStatus::Revoked) => "revoked",
                Some(KeyStatus::Unknown) => "unknown",
            };
            // A digest mismatch is reported by the digest check.
            let digest_only = matches!(e, TrustError::DigestMismatch { .. });
            if !digest_only {
                reasons.push(e.to_string());
            }
            SignatureCheck {
                ok: digest_only,
                key_status: status.into(),
                key_id: signer,
                signer: signer.and_then(|id| trust.get(id)).map(|k| k.name.clone()),
                problem: (!digest_only).then(|| e.to_string()),
            }
        }
    };

    let found = sha256_hex(&bundle.component);
    let expected = manifest.component.sha256.clone();
    let digest_ok = expected.as_deref() == Some(found.as_str());
    if !digest_ok && let Err(e) = bundle.check_digest() {
        reasons.push(e.to_string());
    }

    let grants = GrantSet::of(manifest);
    let capabilities = risk::assess(&grants);
    let imports = match runtime.check(manifest, &bundle.component, &bundle.component_path()) {
        Ok(checked) => {
            let uses = checked.report.capabilities();
            ImportsCheck {
                ok: true,
                unused_grants: Capability::ALL
                    .into_iter()
                    .filter(|c| c.requested_by(&manifest.capabilities) && !uses.contains(c))
                    .collect(),
                uses,
                problems: Vec::new(),
            }
        }
        // Reported by the digest check already.
        Err(LoadError::DigestMismatch { .. }) => ImportsCheck {
            ok: false,
            uses: Vec::new(),
            problems: vec!["not checked: the component is not the one the manifest pins".into()],
            unused_grants: Vec::new(),
        },
        Err(e) => {
            reasons.push(e.to_string());
            let problems = match &e {
                LoadError::Imports { problems, .. } => {
                    problems.iter().map(|p| p.to_string()).collect()
                }
                other => vec![other.to_string()],
            };
            ImportsCheck {
                ok: false,
                uses: Vec::new(),
                problems,
                unused_grants: Vec::new(),
            }
        }
    };

    let state = PluginStore::new(home)
        .get(manifest.plugin.id.as_str())
        .map_err(|e| TrustError::Refused(e.to_string()))?;
    let manifest_sha256 = sha256_hex(&bundle.manifest_bytes);
    let installed = state.as_ref().map(|s| {
        let old = semver::Version::parse(&s.active.version).ok();
        let new = &manifest.plugin.version;
        let relation = match old.as_ref().map(|o| new.cmp(o)) {
            Some(std::cmp::Ordering::Less) => "downgrade",
            Some(std::cmp::Ordering::Equal)
                if s.active.sha256 == found && s.active.manifest_sha256 == manifest_sha256 =>
            {
                "same"
            }
            Some(std::cmp::Ordering::Equal) => "same-version-different-content",
            _ => "upgrade",
        };
        let changes = grants.changes_from(&s.active.grants);
        InstalledDiff {
            version: s.active.version.clone(),
            pending: s.pending.as_ref().map(|p| p.version.clone()),
            relation,
            wider: changes.iter().any(|c| c.wider),
            changes,
        }
    });
    // Whose the id is: the approved version's key, or the key of a removed plugin
    // whose data was kept.
    let owner = match &state {
        Some(s) => Some((Some(s.active.key_id), s.active.signer.clone())),
        None => crate::install::kept(home, manifest.plugin.id.as_str())
            .map_err(|e| TrustError::Refused(e.to_string()))?
            .map(|k| (k.key_id, k.signer)),
    };
    let signer_change = match (owner, signature.key_id) {
        (Some((from_key, from_signer)), Some(to_key)) if from_key != Some(to_key) => {
            let accepted = accept_signer == Some(to_key);
            let owned = match from_key {
                Some(k) => format!("key {k} ({from_signer})"),
                None => "a key nobody recorded".to_owned(),
            };
            let what = if state.is_some() {
                "its installed version was signed by"
            } else {
                "the data kept from its removed version belongs to"
            };
            let line = format!(
                "it is signed by key {to_key}, but {what} {owned}: a plugin id belongs to the key that signed its approved version"
            );
            if accepted {
                reasons.push(format!(
                    "warning: {line}; the new signer is accepted (--accept-signer {to_key})"
                ));
            } else {
                reasons.push(format!(
                    "{line}. If the publisher moved to a new key, accept it with `pincer install {} --accept-signer {to_key}`",
                    dir.display()
                ));
            }
            Some(SignerChange {
                from_key,
                from_signer,
                to_key,
                accepted,
            })
        }
        _ => None,
    };

    if let Some(d) = &installed {
        match d.relation {
            "downgrade" if !allow_downgrade => reasons.push(format!(
                "version {} is lower than the installed {}; a downgrade needs --allow-downgrade",
                manifest.plugin.version, d.version
            )),
            "same-version-different-content" => reasons.push(format!(
                "version {} is already installed with a different component; the publisher must bump the version",
                d.version
            )),
            _ => {}
        }
    }
    // The same bundle again: nothing to do, unless the stored copy no longer verifies.
    let damaged = match (&installed, &state) {
        (Some(d), Some(s)) if d.relation == "same" => {
            let store = PluginStore::new(home);
            store
                .read_slot(&s.id, &s.active)
                .and_then(|b| b.verify(&trust))
                .err()
        }
        _ => None,
    };
    // Only code from a publisher the admin trusts runs, even with nothing granted.
    let tools = (manifest.plugin.kind == PluginKind::McpServer
        && signature.ok
        && signature.key_status == "trusted"
        && digest_ok
        && imports.ok)
        .then(|| review_tools(runtime, &bundle));
    let refusing = reasons.iter().any(|r| !r.starts_with("warning:"));
    let outcome = match &installed {
        _ if refusing => "refused",
        None => "install",
        Some(d) if d.relation == "same" => match damaged {
            Some(e) => {
                reasons.push(format!(
                    "the installed copy no longer verifies ({e}); installing replaces it"
                ));
                "repair"
            }
            None => "unchanged",
        },
        Some(d) if d.wider => {
            reasons.push(
                "it asks for more than the installed version was approved for; it will wait for `pincer approve`".into(),
            );
            "pending-approval"
        }
        Some(_) => "update",
    };
    // Poisoning findings warn and raise the risk; they never refuse (see `tools_warning`).
    let mut overall = risk::overall(&capabilities);
    // Another publisher's code taking over an id, its secrets and its data.
    if signer_change.is_some() {
        overall = overall.max(Risk::High);
    }
    if let Some(t) = &tools {
        overall = t.findings.iter().map(|f| f.risk).fold(overall, Risk::max);
        reasons.extend(tools_warning(t));
    }
    Ok(Review {
        bundle: dir.to_path_buf(),
        plugin: PluginSummary {
            id: manifest.plugin.id.to_string(),
            name: manifest.plugin.name.clone(),
            version: manifest.plugin.version.to_string(),
            kind: manifest.plugin.kind.to_string(),
            publisher: manifest.plugin.publisher.clone(),
            description: manifest.plugin.description.clone(),
        },
        signature,
        digest: DigestCheck {
            ok: digest_ok,
            expected,
            found,
        },
        risk: overall,
        capabilities,
        grants_digest: grants.digest(),
        imports,
        installed,
        signer_change,
        verdict: Verdict { outcome, reasons },
        tools,
        grants,
        state,
        bundle_data: bundle,
    })
}

/// List the tools of the `mcp-server` in `bundle`, whose digest and imports passed, in
/// a sandbox where every capability is denied ([`Runtime::load_for_review`]), and
/// review them for poisoning. A plugin that cannot be loaded or faults while listing
/// gets `error` and no tools.
fn review_tools(runtime: &Runtime, bundle: &Bundle) -> ToolsReview {
    let listed = runtime
        .load_for_review(
            bundle.manifest.clone(),
            &bundle.component,
            &bundle.component_path(),
        )
        .map_err(|e| e.to_string())
        .and_then(|plugin| block_on(plugin.list_tools()).map_err(|e| e.to_string()));
    match listed {
        Ok(listed) => ToolsReview {
            findings: poison::scan(&listed),
            listed,
            error: None,
        },
        Err(error) => ToolsReview {
            listed: Vec::new(),
            findings: Vec::new(),
            // A fault's message holds the plugin's own text: no control characters
            // reach the admin's terminal.
            error: Some(poison::escape_hidden(&error)),
        },
    }
}

/// The verdict's warning lines for a tools review: one naming the tools with high-risk
/// poisoning findings, one if the tools could not be listed. They are warnings, not
/// reasons to refuse: every poisoning rule has false positives (a hashing tool quotes
/// a hex digest, a tool that reads `.env` files says so), and an admin who has read the
/// findings may approve. The review's `risk` rises to the highest finding's, so that a
/// plugin with a high finding never reads as low risk.
fn tools_warning(tools: &ToolsReview) -> Vec<String> {
    let mut lines = Vec::new();
    let high: Vec<&poison::Finding> = tools
        .findings
        .iter()
        .filter(|f| f.risk == Risk::High)
        .collect();
    if !high.is_empty() {
        let mut names: Vec<&str> = high.iter().map(|f| f.tool.as_str()).collect();
        names.dedup();
        let mut rules: Vec<Rule> = high.iter().map(|f| f.rule).collect();
        rules.sort();
        rules.dedup();
        lines.push(format!(
            "warning: {} high-risk poisoning finding{} ({}) in tool{} {}: read them under Tools before approving; they do not refuse the install",
            high.len(),
            if high.len() == 1 { "" } else { "s" },
            rules.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", "),
            if names.len() == 1 { "" } else { "s" },
            names
                .iter()
                .map(|n| format!("`{}`", poison::escape_hidden(n)))
                .collect::<Vec<_>>()
                .join(", "),
        ));
    }
    if let Some(error) = &tools.error {
        lines.push(format!(
            "warning: its tools could not be listed for review ({error}); nothing about them was checked"
        ));
    }
    lines
}
