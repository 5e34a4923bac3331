//! `search_files`, and the glob patterns it and `directory_tree` take.
//!
//! Patterns are matched against paths relative to the directory searched, with `/` as
//! the separator: `*` stays within one directory, `**` crosses any number of them, and
//! names that start with a dot are matched like any other.

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use pincer_sdk::{CallResult, ToolError};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::Outcome;
use crate::list::entries;
use crate::paths::{join, resolve};

/// The most paths one search returns.
const MAX_RESULTS: usize = 1_000;

/// The most entries one search looks at, so that a huge tree ends within the time
/// limit.
const MAX_VISITED: usize = 200_000;

/// The description of `excludePatterns`, which `search_files` and `directory_tree`
/// take.
pub const EXCLUDE_PATTERNS: &str = "Glob patterns to leave out. A pattern without `/` matches names at any depth (`node_modules`, `*.log`); one with `/`, or starting with `./`, matches paths relative to `path` (`docs/*.md`, `./build`). Excluded directories are not entered.";

/// Arguments of `search_files`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SearchFiles {
    #[schemars(description = path_description!("The directory to search; `.` for the whole workspace."))]
    path: String,
    /// A glob pattern: `*` and `?` within one directory, `**` across directories,
    /// `[abc]` and `{a,b}` alternatives.
    pattern: String,
    #[serde(default)]
    #[schemars(description = EXCLUDE_PATTERNS)]
    exclude_patterns: Vec<String>,
}

pub fn search_files(args: SearchFiles) -> Outcome {
    let root = resolve(&args.path)?;
    let pattern = glob(&args.pattern)?.compile_matcher();
    let excludes = Excludes::new(&args.exclude_patterns)?;
    let mut found = Vec::new();
    let mut visited = 0;
    let mut unreadable = 0;
    let mut cut = None;
    let mut pending = vec![String::new()];
    'walk: while let Some(relative_dir) = pending.pop() {
        let listing = match entries(&join(&root, &relative_dir)) {
            Ok(listing) => listing,
            Err(failure) if relative_dir.is_empty() => return Err(failure),
            Err(_) => {
                unreadable += 1;
                continue;
            }
        };
        let mut subdirs = Vec::new();
        for entry in listing {
            visited += 1;
            if visited > MAX_VISITED {
                cut = Some(format!("it looked at {MAX_VISITED} entries"));
                break 'walk;
            }
            let relative = join(&relative_dir, &entry.name);
            if excludes.matches(&relative, &entry.name) {
                continue;
            }
            if pattern.is_match(&relative) {
                if found.len() == MAX_RESULTS {
                    cut = Some(format!("it found {MAX_RESULTS} matches"));
                    break 'walk;
                }
                found.push(join(&root, &relative));
            }
            if entry.is_dir {
                subdirs.push(relative);
            }
        }
        pending.extend(subdirs.into_iter().rev());
    }
    let mut text = if found.is_empty() {
        "No matches found".to_owned()
    } else {
        found.join("\n")
    };
    if let Some(why) = cut {
        text.push_str(&format!(
            "\n\nThe search stopped early because {why}. Narrow `path` or `pattern`, or add `excludePatterns`."
        ));
    }
    if unreadable > 0 {
        text.push_str(&format!(
            "\n\n{unreadable} directories could not be read and were skipped."
        ));
    }
    Ok(CallResult::text(text))
}

/// What `excludePatterns` leave out. A pattern with a `/` inside, or starting with `/`
/// or `./`, matches an entry's path relative to the directory walked; any other
/// matches its name at any depth, so `node_modules` or `*.log` leave those out
/// everywhere. A trailing `/` is ignored. An excluded directory is not entered.
pub struct Excludes {
    by_path: GlobSet,
    by_name: GlobSet,
}

impl Excludes {
    /// Compile `patterns`, or say which one is not a valid glob.
    pub fn new(patterns: &[String]) -> Result<Self, ToolError> {
        let mut by_path = GlobSetBuilder::new();
        let mut by_name = GlobSetBuilder::new();
        for pattern in patterns {
            let unanchored = pattern.trim_start_matches("./").trim_start_matches('/');
            let anchored = unanchored.len() < pattern.len();
            let trimmed = unanchored.trim_end_matches('/');
            if trimmed.is_empty() {
                continue;
            }
            let set = if anchored || trimmed.contains('/') {
                &mut by_path
            } else {
                &mut by_name
            };
            set.add(glob(trimmed)?);
        }
        let build = |set: GlobSetBuilder| {
            set.build()
                .map_err(|e| ToolError::InvalidArguments(format!("`excludePatterns`: {e}")))
        };
        Ok(Excludes {
            by_path: build(by_path)?,
            by_name: build(by_name)?,
        })
    }

    /// Whether the entry `name`, at `relative` below the directory walked, is left out.
    pub fn matches(&self, relative: &str, name: &str) -> bool {
        self.by_name.is_match(name) || self.by_path.is_match(relative)
    }
}

/// Compile one glob pattern, or say why it is not one.
fn glob(pattern: &str) -> Result<Glob, ToolError> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map_err(|e| {
            ToolError::InvalidArguments(format!("`{pattern}` is not a valid glob pattern: {e}"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn excludes(patterns: &[&str]) -> Excludes {
        let patterns: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
        Excludes::new(&patterns).unwrap()
    }

    fn matches(pattern: &str, path: &str) -> bool {
        glob(pattern).unwrap().compile_matcher().is_match(path)
    }

    #[test]
    fn a_star_stays_within_one_directory() {
        assert!(matches("*.rs", "lib.rs"));
        assert!(!matches("*.rs", "src/lib.rs"));
        assert!(matches("src/*.rs", "src/lib.rs"));
    }

    #[test]
    fn a_double_star_crosses_directories() {
        assert!(matches("**/*.rs", "lib.rs"));
        assert!(matches("**/*.rs", "src/a/b/lib.rs"));
        assert!(matches("src/**", "src/a/b"));
        assert!(!matches("**/*.rs", "src/lib.rsx"));
    }

    #[test]
    fn dot_files_match_like_any_other() {
        assert!(matches("*", ".env"));
        assert!(matches("**/*.yml", ".github/workflows/ci.yml"));
    }

    #[test]
    fn excludes_a_bare_name_at_any_depth() {
        let ex = excludes(&["node_modules", "*.log"]);
        assert!(ex.matches("node_modules", "node_modules"));
        assert!(ex.matches("web/node_modules", "node_modules"));
        assert!(ex.matches("logs/today.log", "today.log"));
        assert!(!ex.matches("src/main.rs", "main.rs"));
    }

    #[test]
    fn excludes_a_path_pattern_from_the_walked_directory() {
        let ex = excludes(&["./target/", "/build", "docs/*.md"]);
        assert!(ex.matches("target", "target"));
        assert!(!ex.matches("sub/target", "target"));
        assert!(ex.matches("build", "build"));
        assert!(!ex.matches("sub/build", "build"));
        assert!(ex.matches("docs/a.md", "a.md"));
        assert!(!ex.matches("docs/x/a.md", "a.md"));
    }

    #[test]
    fn excludes_nothing_without_patterns() {
        assert!(!excludes(&[]).matches("a", "a"));
        assert!(!excludes(&["", "/"]).matches("a", "a"));
    }

    #[test]
    fn refuses_an_invalid_pattern_as_bad_arguments() {
        match glob("src/[a") {
            Err(ToolError::InvalidArguments(message)) => {
                assert!(message.contains("not a valid glob"), "{message}")
            }
            other => panic!("expected an arguments error, got {other:?}"),
        }
    }
}
