//! Plugin manifests (`manifest.toml`, version 1): what a plugin is, which component
//! file holds it, which capabilities it asks for, and its limits.
//!
//! Parsing is strict. An unknown field, a malformed id or version, a host path where a
//! root name belongs, `..` in a mount path, or a guest path mounted twice is an error
//! that points at the line and column. This module only reads and checks the text;
//! resolving roots, checking grants against the admin's policy and the component's
//! imports happen in [`crate::policy`] and [`crate::runtime`].

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::caps::{
    approval::ApprovalGrant, config::ConfigGrant, filesystem::FilesystemGrant, http::HttpGrant,
    kv::KvGrant, secrets::SecretsGrant,
};

/// The manifest format version this host reads.
pub const MANIFEST_VERSION: u32 = 1;

/// A problem found in one part of a manifest (or policy) file, before it is placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// Where, as a byte range of the file; `None` means the enclosing section.
    pub span: Option<Range<usize>>,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl Invalid {
    /// A problem at `span`.
    pub fn at(span: Range<usize>, message: impl Into<String>) -> Self {
        Invalid {
            span: Some(span),
            message: message.into(),
        }
    }

    /// A problem with a whole section.
    pub fn section(message: impl Into<String>) -> Self {
        Invalid {
            span: None,
            message: message.into(),
        }
    }
}

/// A manifest that cannot be used, with the place and the fix.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{}{}: {message}", path.display(), if *line == 0 { String::new() } else { format!(":{line}:{column}") })]
pub struct ManifestError {
    /// The manifest file.
    pub path: PathBuf,
    /// 1-based line; 0 when the file could not be read at all.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl ManifestError {
    /// Place `invalid` in `text` (the file at `path`); a sectionless problem points
    /// at `fallback`.
    pub fn place(path: &Path, text: &str, invalid: Invalid, fallback: Range<usize>) -> Self {
        let offset = invalid.span.unwrap_or(fallback).start.min(text.len());
        let (line, column) = line_column(text, offset);
        ManifestError {
            path: path.to_path_buf(),
            line,
            column,
            message: invalid.message,
        }
    }

    /// Wrap a TOML parse or type error (which carries its own span).
    pub fn from_toml(path: &Path, text: &str, err: toml::de::Error) -> Self {
        let invalid = Invalid {
            span: err.span(),
            message: err.message().trim_end().to_owned(),
        };
        Self::place(path, text, invalid, 0..0)
    }
}

/// The 1-based line and column (in characters) of byte `offset` in `text`.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = text[line_start..offset].chars().count() + 1;
    (line, column)
}

/// A plugin id: reverse-DNS style, such as `com.example.weather`. Two to eight
/// dot-separated segments of `a-z`, `0-9` and `-`, each starting with a letter or
/// digit; at most 128 characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct PluginId(String);

impl PluginId {
    /// Check and wrap an id.
    pub fn parse(id: &str) -> Result<Self, String> {
        let segments: Vec<&str> = id.split('.').collect();
        let segment_ok = |s: &&str| {
            !s.is_empty()
                && s.len() <= 63
                && s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                && !s.ends_with('-')
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        };
        if id.len() > 128 || !(2..=8).contains(&segments.len()) || !segments.iter().all(segment_ok)
        {
            return Err(format!(
                "invalid plugin id `{id}`: use reverse-DNS style, such as `com.example.weather` (2 to 8 dot-separated parts of a-z, 0-9 and `-`)"
            ));
        }
        Ok(PluginId(id.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The last segment, the default short name (`weather` for `com.example.weather`).
    pub fn last_segment(&self) -> &str {
        self.0.rsplit('.').next().unwrap_or(&self.0)
    }
}

impl fmt::Display for PluginId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a plugin does, which decides the world its component must export.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum PluginKind {
    /// Exports `pincer:plugin/tools` (and resources, prompts): an MCP server.
    McpServer,
    /// Exports `pincer:plugin/completion`: a chat plugin.
    Chat,
    /// Exports `pincer:plugin/recording`: records workflows.
    Recorder,
    /// Exports `pincer:plugin/playback`: shows recordings.
    Viewer,
}

impl PluginKind {
    /// The manifest spelling, which is also the world's name.
    pub fn as_str(self) -> &'static str {
        match self {
            PluginKind::McpServer => "mcp-server",
            PluginKind::Chat => "chat",
            PluginKind::Recorder => "recorder",
            PluginKind::Viewer => "viewer",
        }
    }

    /// The interface (without version) that a component of this kind must export.
    pub fn export_interface(self) -> &'static str {
        match self {
            PluginKind::McpServer => "pincer:plugin/tools",
            PluginKind::Chat => "pincer:plugin/completion",
            PluginKind::Recorder => "pincer:plugin/recording",
            PluginKind::Viewer => "pincer:plugin/playback",
        }
    }
}

impl fmt::Display for PluginKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A checked manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// Always [`MANIFEST_VERSION`].
    pub manifest_version: u32,
    /// Who the plugin is.
    pub plugin: PluginInfo,
    /// Where its component is.
    pub component: ComponentRef,
    /// What it asks for.
    pub capabilities: Capabilities,
    /// Its resource limits, before the host's caps.
    pub limits: LimitsRequest,
}

/// The `[plugin]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    /// Unique id, reverse-DNS style.
    pub id: PluginId,
    /// Display name.
    pub name: String,
    /// Semantic version.
    pub version: semver::Version,
    /// The kind, and so the world the component exports.
    pub kind: PluginKind,
    /// One or two sentences for the admin.
    pub description: String,
    /// Who publishes it.
    pub publisher: String,
}

/// The `[component]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentRef {
    /// The component file, relative to the manifest's directory.
    pub file: PathBuf,
    /// Its SHA-256, lower-case hex. Required once the manifest is signed; optional in
    /// development.
    pub sha256: Option<String>,
}

/// The `[capabilities.*]` sections. A missing section grants nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// Directories mounted into the plugin.
    pub filesystem: Option<FilesystemGrant>,
    /// Outbound HTTP.
    pub http: Option<HttpGrant>,
    /// Secret names.
    pub secrets: Option<SecretsGrant>,
    /// A key-value store.
    pub kv: Option<KvGrant>,
    /// Human approvals.
    pub approval: Option<ApprovalGrant>,
    /// Admin-set settings.
    pub config: Option<ConfigGrant>,
}

/// The `[limits]` section: what the plugin asks for; the host caps each value.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LimitsRequest {
    /// Linear memory, in MiB.
    pub memory_mib: Option<u32>,
    /// Wall time per call, in milliseconds.
    pub timeout_ms: Option<u64>,
    /// Instances running at once.
    pub concurrency: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    manifest_version: Spanned<u32>,
    plugin: Spanned<RawPlugin>,
    component: Spanned<RawComponent>,
    #[serde(default)]
    capabilities: RawCapabilities,
    #[serde(default)]
    limits: Option<Spanned<LimitsRequest>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlugin {
    id: Spanned<String>,
    name: Spanned<String>,
    version: Spanned<String>,
    kind: PluginKind,
    description: Spanned<String>,
    publisher: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawComponent {
    file: Spanned<String>,
    #[serde(default)]
    sha256: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCapabilities {
    filesystem: Option<Spanned<FilesystemGrant>>,
    http: Option<Spanned<HttpGrant>>,
    secrets: Option<Spanned<SecretsGrant>>,
    kv: Option<Spanned<KvGrant>>,
    approval: Option<Spanned<ApprovalGrant>>,
    config: Option<Spanned<ConfigGrant>>,
}

/// Check a section and unwrap it, placing a sectionless problem at the section.
fn section<T>(
    s: Option<Spanned<T>>,
    validate: impl Fn(&T) -> Result<(), Invalid>,
) -> Result<Option<T>, Invalid> {
    match s {
        None => Ok(None),
        Some(s) => {
            let span = s.span();
            validate(s.get_ref()).map_err(|mut e| {
                e.span.get_or_insert(span);
                e
            })?;
            Ok(Some(s.into_inner()))
        }
    }
}

fn non_empty(s: &Spanned<String>, field: &str, max: usize) -> Result<String, Invalid> {
    let v = s.get_ref().trim();
    if v.is_empty() {
        return Err(Invalid::at(
            s.span(),
            format!("`{field}` must not be empty"),
        ));
    }
    if v.chars().count() > max {
        return Err(Invalid::at(
            s.span(),
            format!("`{field}` is longer than {max} characters"),
        ));
    }
    // A description may run over lines; nothing else may hold even a newline.
    let keep_newlines = field == "description";
    if let Some(c) = v
        .chars()
        .find(|&c| crate::text::is_deceptive(c) && !(keep_newlines && c == '\n'))
    {
        return Err(deceptive(s.span(), field, c));
    }
    Ok(v.to_owned())
}

/// Refuse `s` if it holds a control or invisible character ([`crate::text::is_deceptive`]):
/// for identifiers and paths, which are shown to the admin who reviews them.
pub(crate) fn plain(s: &Spanned<String>, field: &str) -> Result<(), Invalid> {
    match s.get_ref().chars().find(|&c| crate::text::is_deceptive(c)) {
        Some(c) => Err(deceptive(s.span(), field, c)),
        None => Ok(()),
    }
}

fn deceptive(span: Range<usize>, field: &str, c: char) -> Invalid {
    Invalid::at(
        span,
        format!(
            "`{field}` contains the control or invisible character U+{:04X}; remove it (such characters can rewrite or disguise what the admin's terminal shows)",
            c as u32
        ),
    )
}

impl Manifest {
    /// Read and check the manifest at `path`.
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|e| ManifestError {
            path: path.to_path_buf(),
            line: 0,
            column: 0,
            message: format!("cannot read the manifest: {e}"),
        })?;
        Self::parse(&text, path)
    }

    /// Check the manifest `text`; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ManifestError> {
        let raw: RawManifest =
            toml::from_str(text).map_err(|e| ManifestError::from_toml(path, text, e))?;
        Self::check(raw).map_err(|e| ManifestError::place(path, text, e, 0..0))
    }

    fn check(raw: RawManifest) -> Result<Self, Invalid> {
        if *raw.manifest_version.get_ref() != MANIFEST_VERSION {
            return Err(Invalid::at(
                raw.manifest_version.span(),
                format!(
                    "manifest_version {} is not supported: this Pincer reads version {MANIFEST_VERSION}",
                    raw.manifest_version.get_ref()
                ),
            ));
        }
        let p = raw.plugin.into_inner();
        let id = PluginId::parse(p.id.get_ref()).map_err(|m| Invalid::at(p.id.span(), m))?;
        let version = semver::Version::parse(p.version.get_ref()).map_err(|e| {
            Invalid::at(
                p.version.span(),
                format!(
                    "version `{}` is not a semantic version such as 1.2.3: {e}",
                    p.version.get_ref()
                ),
            )
        })?;
        let plugin = PluginInfo {
            id,
            name: non_empty(&p.name, "name", 80)?,
            version,
            kind: p.kind,
            description: non_empty(&p.description, "description", 2000)?,
            publisher: non_empty(&p.publisher, "publisher", 200)?,
        };

        let c = raw.component.into_inner();
        plain(&c.file, "component file")?;
        let file = c.file.get_ref();
        let file_ok = !file.is_empty()
            && !file.starts_with('/')
            && !file.contains('\\')
            && !file
                .split('/')
                .any(|s| s == ".." || s == "." || s.is_empty());
        if !file_ok {
            return Err(Invalid::at(
                c.file.span(),
                format!(
                    "component file `{file}` must be a relative path inside the plugin's directory, without `..`"
                ),
            ));
        }
        let sha256 = match c.sha256 {
            Some(s) => {
                let v = s.get_ref();
                if v.len() != 64 || !v.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')) {
                    return Err(Invalid::at(
                        s.span(),
                        "sha256 must be 64 lower-case hex digits (`pincer pack` writes it)",
                    ));
                }
                Some(v.clone())
            }
            None => None,
        };

        let caps = raw.capabilities;
        let capabilities = Capabilities {
            filesystem: section(caps.filesystem, FilesystemGrant::validate)?,
            http: section(caps.http, HttpGrant::validate)?,
            secrets: section(caps.secrets, SecretsGrant::validate)?,
            kv: section(caps.kv, KvGrant::validate)?,
            approval: section(caps.approval, ApprovalGrant::validate)?,
            config: section(caps.config, ConfigGrant::validate)?,
        };
        let limits = section(raw.limits, |l: &LimitsRequest| {
            if l.memory_mib == Some(0) || l.timeout_ms == Some(0) || l.concurrency == Some(0) {
                return Err(Invalid::section("limits must be at least 1"));
            }
            Ok(())
        })?
        .unwrap_or_default();

        Ok(Manifest {
            manifest_version: MANIFEST_VERSION,
            plugin,
            component: ComponentRef {
                file: PathBuf::from(file),
                sha256,
            },
            capabilities,
            limits,
        })
    }
}

#[cfg(test)]
mod tests;
