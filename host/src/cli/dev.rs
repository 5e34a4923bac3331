//! `pincer dev`: build a plugin project and call one of its tools in development mode,
//! once, or again on every change and on demand.
//!
//! The build is cargo's, in the project; the component is the `.wasm` that cargo
//! reports building (its `compiler-artifact` message), not a path guessed from the
//! manifest, so a `CARGO_TARGET_DIR`, an enclosing workspace's target directory or a
//! crate named unlike its component all work. The call is `pincer call --dev`'s, with
//! its warning and its denial report. This module never signs, installs or approves.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, SystemTime};

use super::DevSource;
use super::commands::{Failure, check_tool_args, cmd_call};
use crate::caps::approval::{Approver, NoApprover, TerminalApprover};
use crate::exit::Exit;
use crate::runtime::Runtime;

/// How often `--watch` looks at the files' modification times.
const POLL: Duration = Duration::from_millis(300);

/// A burst of writes (an editor saving, a `git checkout`) is over once the files stay
/// the same for one poll; a tree that never settles is rebuilt after this many polls.
const MAX_SETTLE_POLLS: u32 = 10;

/// What one run builds and calls.
struct Project<'a> {
    dir: PathBuf,
    manifest: PathBuf,
    tool: &'a str,
    args: &'a str,
    json: bool,
}

/// `pincer dev [DIR] TOOL [ARGS_JSON]`, once or with `--watch`.
pub(super) fn cmd_dev(
    runtime: Runtime,
    target: &[String],
    manifest: Option<&Path>,
    watch: bool,
    json: bool,
    max_runs: Option<u32>,
) -> Result<(), Failure> {
    let (dir, tool, args) = split_target(target)?;
    check_tool_args("ARGS_JSON", args)?;
    if !dir.join("Cargo.toml").is_file() {
        return Err(Failure::new(
            Exit::Usage,
            format!(
                "{} has no Cargo.toml: run `pincer dev` in a plugin project, or name one (`pincer new --kind mcp-server NAME` makes one)",
                dir.display()
            ),
        ));
    }
    let project = Project {
        manifest: manifest.map_or_else(|| dir.join("manifest.toml"), Path::to_path_buf),
        dir,
        tool,
        args,
        json,
    };
    // With --watch, standard input is for Enter; nobody can answer an approval there.
    let approver: Arc<dyn Approver> = if watch {
        Arc::new(NoApprover)
    } else {
        Arc::new(TerminalApprover)
    };
    let runtime = runtime.with_approver(approver);
    let run = || {
        let component = build(&project.dir)?;
        let dev = DevSource {
            dev: true,
            manifest: Some(project.manifest.clone()),
            component: Some(component),
        };
        cmd_call(
            &runtime,
            None,
            &dev,
            project.tool,
            project.args,
            project.json,
        )
    };
    if watch {
        watch_and_run(&project, max_runs.unwrap_or(u32::MAX), run)
    } else {
        run()
    }
}

/// `[DIR] TOOL [ARGS_JSON]`: with two words, the second is ARGS_JSON if it is an
/// object (`{...}`, which no directory or tool name starts with), else TOOL.
fn split_target(target: &[String]) -> Result<(PathBuf, &str, &str), Failure> {
    let is_args = |s: &str| s.trim_start().starts_with('{');
    match target {
        [tool] => Ok((".".into(), tool, "{}")),
        [tool, args] if is_args(args) => Ok((".".into(), tool, args)),
        [dir, tool] => Ok((dir.into(), tool, "{}")),
        [dir, tool, args] => Ok((dir.into(), tool, args)),
        _ => Err(Failure::new(
            Exit::Usage,
            "give the tool to call: `pincer dev [DIR] TOOL [ARGS_JSON]`",
        )),
    }
}

/// Build the project in `dir` ([`pincer_guest_build::build_project`]); the component
/// it built.
fn build(dir: &Path) -> Result<PathBuf, Failure> {
    use pincer_guest_build::ProjectError;
    let built = pincer_guest_build::build_project(dir).map_err(|e| {
        let exit = match e {
            ProjectError::Failed(_) => Exit::Usage,
            ProjectError::Target(_) | ProjectError::Spawn { .. } | ProjectError::Io(_) => {
                Exit::Host
            }
        };
        Failure::new(exit, e.to_string())
    })?;
    pick_component(
        dir,
        built.into_iter().map(|b| (b.package, b.wasm)).collect(),
    )
}

/// The component of `dir`'s own package among those built, or the only one built.
fn pick_component(dir: &Path, built: Vec<(PathBuf, PathBuf)>) -> Result<PathBuf, Failure> {
    let own = dir.join("Cargo.toml").canonicalize().ok();
    let (own, others): (Vec<_>, Vec<_>) = built
        .into_iter()
        .partition(|(package, _)| package.canonicalize().ok() == own);
    match (own.as_slice(), others.as_slice()) {
        ([(_, wasm)], _) | ([], [(_, wasm)]) => Ok(wasm.clone()),
        ([], []) => Err(Failure::new(
            Exit::Usage,
            format!(
                "cargo built no WebAssembly component in {}: its Cargo.toml needs [lib] crate-type = [\"cdylib\"]",
                dir.display()
            ),
        )),
        (_, _) => Err(Failure::new(
            Exit::Usage,
            format!(
                "cargo built several components ({}): run `pincer dev` in the directory of the plugin's own crate",
                own.iter()
                    .chain(&others)
                    .map(|(_, wasm)| wasm.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// Run `run` now, then again after every change to the project's sources and on every
/// line on stdin, until stdin ends or `max_runs` runs have been made. Each run's
/// error is printed and waited out. The outcome is the last run's.
fn watch_and_run(
    project: &Project,
    max_runs: u32,
    mut run: impl FnMut() -> Result<(), Failure>,
) -> Result<(), Failure> {
    let watched = Watched::of(project);
    let enter = stdin_lines();
    let mut seen = watched.snapshot();
    let mut outcome = shown(run());
    let mut runs = 1;
    eprintln!(
        "watching {} (src/, wit/, Cargo.toml and {}): a change rebuilds and runs again, so does Enter; Ctrl-C stops",
        project.dir.display(),
        project.manifest.display()
    );
    while runs < max_runs {
        let Some(why) = wait_for_change(&watched, &enter, &mut seen) else {
            break;
        };
        eprintln!(
            "──── {} · {why} ────",
            humantime::format_rfc3339_seconds(SystemTime::now())
        );
        outcome = shown(run());
        runs += 1;
    }
    outcome.map_err(|exit| Failure::new(exit, "the last run failed (its error is above)"))
}

/// Print a run's error as `pincer` prints any; keep its exit code.
fn shown(outcome: Result<(), Failure>) -> Result<(), Exit> {
    outcome.map_err(|f| {
        eprintln!("error: {}", crate::text::printable_lines(&f.message));
        eprintln!("waiting for a change (or Enter) to run again");
        f.exit
    })
}

/// A unit on the returned channel for every line read from stdin; the channel closes
/// when stdin ends.
fn stdin_lines() -> Receiver<()> {
    let (tx, rx) = std::sync::mpsc::channel();
    // The thread ends with the process if stdin never does.
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            if line.is_err() || tx.send(()).is_err() {
                break;
            }
        }
    });
    rx
}

/// Wait until a watched file changes (and the changes settle) or a line comes on
/// stdin; say which. `None` when stdin ended. `seen` becomes the files as they are
/// before the run, so that a change made during it is seen afterwards.
fn wait_for_change(watched: &Watched, enter: &Receiver<()>, seen: &mut Snapshot) -> Option<String> {
    // Enter pressed during the run asked for the run that just happened.
    while enter.try_recv().is_ok() {}
    loop {
        match enter.recv_timeout(POLL) {
            Ok(()) => {
                *seen = watched.snapshot();
                return Some("run again (Enter)".into());
            }
            Err(RecvTimeoutError::Disconnected) => return None,
            Err(RecvTimeoutError::Timeout) => {}
        }
        let mut now = watched.snapshot();
        if now == *seen {
            continue;
        }
        for _ in 0..MAX_SETTLE_POLLS {
            std::thread::sleep(POLL);
            let later = watched.snapshot();
            if later == now {
                break;
            }
            now = later;
        }
        let changed = changed_files(seen, &now);
        let Some(first) = changed.first() else {
            continue;
        };
        let first = first.strip_prefix(&watched.dir).unwrap_or(first);
        let why = match changed.len() {
            1 => format!("{} changed", first.display()),
            n => format!("{} and {} more changed", first.display(), n - 1),
        };
        *seen = now;
        return Some(why);
    }
}

/// Each watched file's modification time and size.
type Snapshot = BTreeMap<PathBuf, (Option<SystemTime>, u64)>;

/// The files a plugin's build depends on: its sources, its WIT, its Cargo.toml and
/// its manifest. Not `target/`, not `Cargo.lock` (the build writes both).
struct Watched {
    dir: PathBuf,
    trees: [PathBuf; 2],
    files: [PathBuf; 2],
}

impl Watched {
    fn of(project: &Project) -> Self {
        let dir = project.dir.clone();
        Watched {
            trees: [dir.join("src"), dir.join("wit")],
            files: [dir.join("Cargo.toml"), project.manifest.clone()],
            dir,
        }
    }

    fn snapshot(&self) -> Snapshot {
        let mut snapshot = Snapshot::new();
        for file in &self.files {
            add_file(&mut snapshot, file);
        }
        for tree in &self.trees {
            add_tree(&mut snapshot, tree);
        }
        snapshot
    }
}

fn add_file(snapshot: &mut Snapshot, path: &Path) {
    if let Ok(meta) = std::fs::metadata(path) {
        snapshot.insert(path.to_path_buf(), (meta.modified().ok(), meta.len()));
    }
}

/// Every file under `dir`, but editors' hidden and backup files (`.x.swp`, `x~`).
fn add_tree(snapshot: &mut Snapshot, dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name.ends_with('~') {
            continue;
        }
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => add_tree(snapshot, &path),
            Ok(_) => add_file(snapshot, &path),
            Err(_) => {}
        }
    }
}

/// The files added, removed or changed from `before` to `after`.
fn changed_files<'a>(before: &'a Snapshot, after: &'a Snapshot) -> Vec<&'a Path> {
    let changed = after
        .iter()
        .filter(|(path, stamp)| before.get(*path) != Some(stamp))
        .map(|(path, _)| path.as_path());
    let removed = before
        .keys()
        .filter(|path| !after.contains_key(*path))
        .map(PathBuf::as_path);
    changed.chain(removed).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `split_target` of `words`, owned.
    fn split(words: &[&str]) -> Option<(PathBuf, String, String)> {
        let words: Vec<String> = words.iter().map(|s| (*s).to_owned()).collect();
        split_target(&words)
            .ok()
            .map(|(dir, tool, args)| (dir, tool.to_owned(), args.to_owned()))
    }

    #[test]
    fn reads_dir_tool_and_arguments_in_every_form() {
        let parsed =
            |dir: &str, tool: &str, args: &str| Some((dir.into(), tool.into(), args.into()));
        assert_eq!(split(&["greet"]), parsed(".", "greet", "{}"));
        assert_eq!(
            split(&["greet", r#"{"a":1}"#]),
            parsed(".", "greet", r#"{"a":1}"#)
        );
        assert_eq!(split(&["proj", "greet"]), parsed("proj", "greet", "{}"));
        assert_eq!(
            split(&["proj", "greet", "{}"]),
            parsed("proj", "greet", "{}")
        );
        assert_eq!(split(&[]), None);
    }

    #[test]
    fn picks_the_projects_own_component_or_the_only_one() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Cargo.toml"), "").unwrap();
        let own = (dir.path().join("Cargo.toml"), PathBuf::from("own.wasm"));
        let other = (PathBuf::from("/elsewhere/Cargo.toml"), "other.wasm".into());
        let pick = |built| pick_component(dir.path(), built).ok();
        assert_eq!(
            pick(vec![other.clone(), own.clone()]),
            Some("own.wasm".into())
        );
        assert_eq!(pick(vec![other.clone()]), Some("other.wasm".into()));
        assert_eq!(pick(vec![]), None);
        assert_eq!(
            pick(vec![other.clone(), (other.0.clone(), "b.wasm".into())]),
            None
        );
    }

    #[test]
    fn sees_files_changed_added_and_removed_but_not_editor_files() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("nested")).unwrap();
        std::fs::write(src.join("lib.rs"), "a").unwrap();
        std::fs::write(dir.path().join("Cargo.toml"), "").unwrap();
        let watched = Watched {
            dir: dir.path().into(),
            trees: [src.clone(), dir.path().join("wit")],
            files: [
                dir.path().join("Cargo.toml"),
                dir.path().join("manifest.toml"),
            ],
        };
        let before = watched.snapshot();
        assert_eq!(before.len(), 2, "{before:?}");
        std::fs::write(src.join(".lib.rs.swp"), "x").unwrap();
        std::fs::write(src.join("lib.rs~"), "x").unwrap();
        assert_eq!(watched.snapshot(), before);
        std::fs::write(src.join("lib.rs"), "ab").unwrap();
        std::fs::write(src.join("nested/mod.rs"), "").unwrap();
        std::fs::remove_file(dir.path().join("Cargo.toml")).unwrap();
        let after = watched.snapshot();
        let mut changed = changed_files(&before, &after);
        changed.sort();
        assert_eq!(
            changed,
            vec![
                dir.path().join("Cargo.toml").as_path(),
                src.join("lib.rs").as_path(),
                src.join("nested/mod.rs").as_path(),
            ]
        );
    }
}
