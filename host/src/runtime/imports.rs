//! The import audit: before a component is instantiated, each of its imports is
//! classified as part of the base set, gated by a capability, or never grantable, and
//! compared with what the manifest grants.
//!
//! A component whose imports exceed its grants is refused, naming the import and the
//! manifest section that would grant it. Never grantable: `wasi:sockets` (raw network
//! access), `wasi:http` (outbound HTTP goes through `pincer:plugin/http`, which the host
//! checks), and any interface this host does not know.

use serde::Serialize;
use wasmtime::Engine;
use wasmtime::component::Component;
use wasmtime::component::types::ComponentItem;

use crate::caps::Capability;
use crate::caps::base::BASE_INTERFACES;
use crate::manifest::{Capabilities, PluginKind};

/// How an import is treated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "class", rename_all = "kebab-case")]
pub enum ImportClass {
    /// In the base set every plugin gets.
    Base,
    /// `pincer:plugin/log`, always granted.
    Log,
    /// Needs this capability's grant.
    Gated {
        /// The capability.
        capability: Capability,
        /// The manifest section that grants it.
        section: &'static str,
    },
    /// No grant can allow it.
    Never {
        /// Why.
        reason: String,
    },
}

/// One import and how it is treated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditedImport {
    /// The import's full name, such as `wasi:io/streams@0.2.6`.
    pub name: String,
    /// How it is treated.
    #[serde(flatten)]
    pub class: ImportClass,
}

/// Why an import keeps a component from loading.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "problem", rename_all = "kebab-case")]
pub enum ImportProblem {
    /// The import needs a grant the manifest does not have.
    #[error("imports `{import}`, which needs {section} in the manifest")]
    NotGranted {
        /// The import.
        import: String,
        /// The manifest section that would grant it.
        section: &'static str,
    },
    /// Nothing can grant the import.
    #[error("imports `{import}`, which is never granted: {reason}")]
    Never {
        /// The import.
        import: String,
        /// Why.
        reason: String,
    },
}

/// Split `pkg:name/iface@version` into (`pkg:name`, `iface`, `version`).
fn split_name(name: &str) -> Option<(&str, &str, Option<&str>)> {
    let (path, version) = match name.split_once('@') {
        Some((p, v)) => (p, Some(v)),
        None => (name, None),
    };
    let (package, interface) = path.split_once('/')?;
    package
        .contains(':')
        .then_some((package, interface, version))
}

/// Classify one import by its name.
pub fn classify(name: &str) -> ImportClass {
    let never = |reason: &str| ImportClass::Never {
        reason: reason.to_owned(),
    };
    let Some((package, interface, version)) = split_name(name) else {
        return never("it is not an interface of a known package");
    };
    let version_is = |prefix: &str| version.is_some_and(|v| v.starts_with(prefix));
    match package {
        "wasi:sockets" => never(
            "plugins get no raw network access; ask for [capabilities.http] and use pincer:plugin/http",
        ),
        "wasi:http" => never(
            "outbound HTTP goes through pincer:plugin/http, which checks the [capabilities.http] grant",
        ),
        "wasi:io" | "wasi:clocks" | "wasi:random" | "wasi:cli" | "wasi:filesystem" => {
            let base = format!("{package}/{interface}");
            if !BASE_INTERFACES.contains(&base.as_str()) {
                never("it is not part of the WASI base set that Pincer provides")
            } else if !version_is("0.2.") {
                never("only WASI 0.2.x is supported")
            } else {
                ImportClass::Base
            }
        }
        "pincer:plugin" if !version_is("0.1.") => {
            never("this host provides pincer:plugin 0.1.x; rebuild the plugin against it")
        }
        "pincer:plugin" => match interface {
            "log" => ImportClass::Log,
            other => match Capability::ALL.into_iter().find(|c| c.interface() == other) {
                Some(capability) => ImportClass::Gated {
                    capability,
                    section: capability.section(),
                },
                None => never("pincer:plugin has no such capability interface"),
            },
        },
        _ => never("the host does not know this package"),
    }
}

/// A component's imports, classified, and its exports.
#[derive(Debug, Clone, Serialize)]
pub struct ComponentReport {
    /// Each import.
    pub imports: Vec<AuditedImport>,
    /// Each export's name (interfaces with their functions, as `iface#func`).
    pub exports: Vec<String>,
    /// The plugin kind whose world the exports match, if any.
    pub world: Option<PluginKind>,
}

impl ComponentReport {
    /// Read `component`'s imports and exports.
    pub fn of(component: &Component, engine: &Engine) -> Self {
        let ty = component.component_type();
        let imports = ty
            .imports(engine)
            .map(|(name, _)| AuditedImport {
                name: name.to_owned(),
                class: classify(name),
            })
            .collect();
        let mut exports = Vec::new();
        let mut export_names = Vec::new();
        for (name, item) in ty.exports(engine) {
            export_names.push(name.to_owned());
            match item.ty {
                ComponentItem::ComponentInstance(inst) => {
                    for (f, _) in inst.exports(engine) {
                        exports.push(format!("{name}#{f}"));
                    }
                }
                _ => exports.push(name.to_owned()),
            }
        }
        let world = [
            PluginKind::McpServer,
            PluginKind::Chat,
            PluginKind::Recorder,
            PluginKind::Viewer,
        ]
        .into_iter()
        .find(|k| {
            let want = k.export_interface();
            export_names
                .iter()
                .any(|n| n.split('@').next() == Some(want) && n.contains("@0.1."))
        });
        ComponentReport {
            imports,
            exports,
            world,
        }
    }

    /// The imports that keep this component from loading with grants `caps`.
    pub fn problems(&self, caps: &Capabilities) -> Vec<ImportProblem> {
        self.imports
            .iter()
            .filter_map(|i| match &i.class {
                ImportClass::Base | ImportClass::Log => None,
                ImportClass::Gated {
                    capability,
                    section,
                } => {
                    if !capability.requested_by(caps) {
                        Some(ImportProblem::NotGranted {
                            import: i.name.clone(),
                            section,
                        })
                    } else {
                        None
                    }
                }
                ImportClass::Never { reason } => Some(ImportProblem::Never {
                    import: i.name.clone(),
                    reason: reason.clone(),
                }),
            })
            .collect()
    }

    /// The capabilities this component imports (and so needs linked).
    pub fn capabilities(&self) -> Vec<Capability> {
        let mut caps: Vec<Capability> = self
            .imports
            .iter()
            .filter_map(|i| match i.class {
                ImportClass::Gated { capability, .. } => Some(capability),
                _ => None,
            })
            .collect();
        caps.sort();
        caps.dedup();
        caps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_imports_as_base_gated_or_never() {
        assert_eq!(classify("wasi:io/streams@0.2.6"), ImportClass::Base);
        assert_eq!(
            classify("wasi:filesystem/preopens@0.2.0"),
            ImportClass::Base
        );
        assert_eq!(classify("pincer:plugin/log@0.1.0"), ImportClass::Log);
        assert!(matches!(
            classify("pincer:plugin/http@0.1.0"),
            ImportClass::Gated {
                capability: Capability::Http,
                section: "[capabilities.http]"
            }
        ));
        for never in [
            "wasi:sockets/tcp@0.2.6",
            "wasi:http/outgoing-handler@0.2.6",
            "wasi:io/streams@0.3.0",
            "wasi:cli/run@0.2.6",
            "pincer:plugin/log@0.2.0",
            "pincer:plugin/shell@0.1.0",
            "example:evil/backdoor@1.0.0",
            "bare-function",
        ] {
            assert!(
                matches!(classify(never), ImportClass::Never { .. }),
                "{never}"
            );
        }
    }

    /// Everything the linker adds without a grant is in the base set, and every
    /// capability interface needs its grant.
    #[test]
    fn links_nothing_ungated_beyond_the_base_set() {
        for iface in BASE_INTERFACES {
            assert_eq!(
                classify(&format!("{iface}@0.2.6")),
                ImportClass::Base,
                "{iface}"
            );
        }
        for cap in Capability::ALL {
            let name = format!("pincer:plugin/{}@0.1.0", cap.interface());
            assert!(
                matches!(classify(&name), ImportClass::Gated { capability, .. } if capability == cap),
                "{name}"
            );
        }
    }
}
