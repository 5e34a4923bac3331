//! The plugin author tutorial cannot rot: this test follows `docs/plugin-authors.md` as
//! a reader would, block by block and in order, from an empty directory with a `pincer`
//! (this build) on `PATH` and a home of its own.
//!
//! What each fenced block is, by the words after its language (its info string):
//!
//! - `sh`: commands the reader types. They run with `bash -euo pipefail`, in the
//!   directory and with the exported variables the previous command block left, and
//!   must exit with 0, or with N for `sh exit=N`. `sh needs=TOOL` runs only where TOOL
//!   is on `PATH` (or, for componentize-py, in `target/py-venv/bin`, where
//!   `tests/all/python_plugin.rs` installs it), and is counted as skipped elsewhere.
//!   `sh repo=DIR` runs in DIR of a scratch copy of this repository's `wit/` and DIR.
//!   `sh skip-test` never runs; it is counted and printed.
//! - `text output`: what the command block before it prints (stdout and stderr, as a
//!   terminal shows them). Each line must appear in that output, in order, as part of
//!   a line; `...` within a line stands for text that varies (a key id, a digest), and
//!   a line that is only `...` for lines left out.
//! - `LANG file=PATH`: the reader writes PATH (relative to the current directory) with
//!   the block's text; `LANG file=PATH check` instead says what PATH holds by now.
//! - `diff file=PATH`: the reader changes PATH. Lines starting with a space (or empty)
//!   are kept, `-` removed, `+` added; a line starting with `@@` separates changes.
//!   Each change's kept and removed lines must occur exactly once in the file.
//!
//! Any other block (Rust or TOML without `file=`, `text` without `output`, JSON) only
//! illustrates, and is not run. A block with an attribute this test does not know
//! fails it, so that a typo cannot turn a command into an illustration.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pincer_test_support::repo_dir;

/// The document, as this test was built with it.
const DOC: &str = include_str!("../../docs/plugin-authors.md");
const DOC_PATH: &str = "docs/plugin-authors.md";

/// The longest a command block may run (the first build of a project is the longest).
const BLOCK_TIMEOUT: Duration = Duration::from_secs(20 * 60);

/// Variables of the test's environment that would make the reader's commands behave
/// unlike a reader's: build settings, cargo's own for this test, proxies (the
/// tutorial's service is on 127.0.0.1), Pincer's log filter.
const UNSET: [&str; 13] = [
    "CARGO",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "PINCER_LOG",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
];

/// One fenced block of the document.
#[derive(Debug)]
struct Block {
    /// The line of its opening fence (1-based).
    line: usize,
    /// The first word of the info string.
    lang: String,
    /// The other words: `key=value` or a bare flag.
    attrs: Vec<(String, Option<String>)>,
    text: String,
}

impl Block {
    /// The value of the attribute `key=value`.
    fn attr(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v.as_deref())
    }

    /// Whether the bare attribute `key` is there.
    fn flag(&self, key: &str) -> bool {
        self.attrs.iter().any(|(k, v)| k == key && v.is_none())
    }

    /// Fail the test unless every attribute is one of `known`.
    fn only(&self, known: &[&str]) {
        for (key, _) in &self.attrs {
            assert!(
                known.contains(&key.as_str()),
                "{DOC_PATH}:{}: `{key}` is not an attribute of a ```{} block (known: {})",
                self.line,
                self.lang,
                known.join(", ")
            );
        }
    }

    /// Where the block is, for messages: `docs/plugin-authors.md:LINE`.
    fn at(&self) -> String {
        format!("{DOC_PATH}:{}", self.line)
    }
}

/// The fenced blocks of `doc`, in order.
fn blocks(doc: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut lines = doc.lines().enumerate();
    while let Some((i, line)) = lines.next() {
        let Some(info) = line.trim_start().strip_prefix("```") else {
            continue;
        };
        let indent = line.len() - line.trim_start().len();
        let mut words = info.split_whitespace();
        let lang = words.next().unwrap_or_default().to_owned();
        let attrs = words
            .map(|w| match w.split_once('=') {
                Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
                None => (w.to_owned(), None),
            })
            .collect();
        let mut text = String::new();
        let mut closed = false;
        for (_, body) in lines.by_ref() {
            if body.trim_start().starts_with("```") {
                closed = true;
                break;
            }
            text.push_str(body.get(indent..).unwrap_or(body.trim_start()));
            text.push('\n');
        }
        assert!(closed, "{DOC_PATH}:{}: the block is never closed", i + 1);
        blocks.push(Block {
            line: i + 1,
            lang,
            attrs,
            text,
        });
    }
    blocks
}

/// `text` without terminal colour and style sequences (`ESC [ ... letter`).
fn without_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether `line` holds the parts of `expected` (split at `...`) in order.
fn line_matches(line: &str, expected: &str) -> bool {
    let mut rest = line;
    for part in expected
        .split("...")
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// Check that each line of `expected` appears in `output`, in order; the first that
/// does not, if any.
fn missing_line<'a>(output: &str, expected: &'a str) -> Option<&'a str> {
    let lines: Vec<&str> = output.lines().collect();
    let mut next = 0;
    for want in expected.lines().map(str::trim) {
        if want.is_empty() || want == "..." {
            continue;
        }
        match lines[next..].iter().position(|l| line_matches(l, want)) {
            Some(found) => next += found + 1,
            None => return Some(want),
        }
    }
    None
}

/// `text` changed as the lines of a `diff` block say, or why it cannot be.
fn changed(text: &str, change: &str) -> Result<String, String> {
    let mut text = format!("\n{text}");
    let mut hunks: Vec<(Vec<&str>, Vec<&str>)> = vec![(Vec::new(), Vec::new())];
    for line in change.lines() {
        if line.starts_with("@@") {
            hunks.push((Vec::new(), Vec::new()));
            continue;
        }
        let (old, new) = hunks.last_mut().expect("there is a hunk");
        match (line.get(..1), line.get(1..)) {
            (None, _) => {
                old.push("");
                new.push("");
            }
            (Some(" "), Some(kept)) => {
                old.push(kept);
                new.push(kept);
            }
            (Some("-"), Some(removed)) => old.push(removed),
            (Some("+"), Some(added)) => new.push(added),
            _ => {
                return Err(format!(
                    "`{line}` is not a line of a change: start it with a space, `-`, `+` or `@@`"
                ));
            }
        }
    }
    for (old, new) in hunks
        .iter()
        .filter(|(old, new)| !old.is_empty() || !new.is_empty())
    {
        if old.is_empty() {
            return Err("a change needs a kept or removed line to say where it goes".into());
        }
        // Whole lines: each starts after a newline (the text gets one in front).
        let old = format!("\n{}\n", old.join("\n"));
        let new = format!("\n{}\n", new.join("\n"));
        match text.matches(&old).count() {
            1 => text = text.replacen(&old, &new, 1),
            n => return Err(format!("these lines occur {n} times, not once:{old}")),
        }
    }
    Ok(text[1..].to_owned())
}

/// Where `tool` can be run from: `None` if on `PATH` already, `Some(dir)` to put on
/// `PATH` first; `Err` if it is nowhere.
fn find_tool(tool: &str) -> Result<Option<PathBuf>, String> {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|dir| dir.join(tool).is_file()))
        .unwrap_or(false);
    if on_path {
        return Ok(None);
    }
    let venv = repo_dir().join("target/py-venv/bin");
    if venv.join(tool).is_file() {
        return Ok(Some(venv));
    }
    Err(format!(
        "`{tool}` is not on PATH (nor in target/py-venv/bin)"
    ))
}

/// Copy `from` into `to`, without build output.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        let skip = ["target", "__pycache__"].contains(&name.to_str().unwrap_or_default())
            || name.to_string_lossy().ends_with(".wasm");
        if skip {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &to.join(&name));
        } else {
            std::fs::copy(entry.path(), to.join(&name)).unwrap();
        }
    }
}

/// The reader's shell, carried from one command block to the next: its directory and
/// its exported variables. Every block's process group is stopped when it drops, so
/// that a server the document starts never outlives the test.
struct Shell {
    scratch: PathBuf,
    cwd: PathBuf,
    groups: Vec<i32>,
}

impl Drop for Shell {
    fn drop(&mut self) {
        for group in &self.groups {
            // SAFETY: kill(2) with a negative pid signals that process group, ours.
            unsafe {
                libc::kill(-group, libc::SIGTERM);
            }
        }
    }
}

/// How a command block ended: its exit status and what it printed.
struct Ran {
    status: Option<i32>,
    output: String,
    seconds: f64,
}

impl Shell {
    /// Run `script` as a block of commands in `dir` (default: where the last block
    /// ended), with `path_first` ahead on `PATH`.
    fn run(&mut self, block: &Block, dir: Option<&Path>, path_first: Option<&Path>) -> Ran {
        let state = self.scratch.join("state");
        let env = state.join("env");
        let cwd_file = state.join("cwd");
        let script = state.join(format!("block-{}.sh", block.line));
        let path_first = path_first
            .map(|p| format!("export PATH='{}':\"$PATH\"\n", p.display()))
            .unwrap_or_default();
        std::fs::write(
            &script,
            format!(
                ". '{env}'\ncd '{cwd}'\n{path_first}{body}\n\
                 pwd > '{cwd_file}'\n\
                 for __v in $(compgen -e); do\n  \
                   case $__v in PWD|OLDPWD|SHLVL|_|BASH*|SHELLOPTS) continue;; esac\n  \
                   printf 'export %s=%q\\n' \"$__v\" \"${{!__v}}\"\n\
                 done > '{env}'\n",
                env = env.display(),
                cwd = dir.unwrap_or(&self.cwd).display(),
                cwd_file = cwd_file.display(),
                body = block.text,
            ),
        )
        .unwrap();
        let log = state.join(format!("block-{}.out", block.line));
        let out = std::fs::File::create(&log).unwrap();
        let started = Instant::now();
        // Output goes to a file, not a pipe: a server the block leaves running in the
        // background keeps its output open, and the block is over when bash is.
        let mut child = Command::new("bash")
            .args(["-euo", "pipefail"])
            .arg(&script)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .process_group(0)
            .spawn()
            .expect("running bash");
        self.groups.push(child.id() as i32);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > BLOCK_TIMEOUT {
                let _ = child.kill();
                panic!(
                    "{}: the block ran for over {} s:\n{}",
                    block.at(),
                    BLOCK_TIMEOUT.as_secs(),
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut output = String::new();
        std::fs::File::open(&log)
            .unwrap()
            .read_to_string(&mut output)
            .unwrap();
        if status.success() && dir.is_none() {
            self.cwd = std::fs::read_to_string(&cwd_file).unwrap().trim().into();
        }
        Ran {
            status: status.code(),
            output: without_ansi(&output),
            seconds: started.elapsed().as_secs_f64(),
        }
    }
}

/// The command block before a `text output` block.
enum Previous {
    /// None, or another block came after it.
    Nothing,
    /// It ran (at this line) and printed this.
    Ran(usize, Ran),
    /// It did not run here; neither does the check of its output.
    Skipped,
}

/// A reader following the document: their shell, and what they have done so far.
struct Reader {
    shell: Shell,
    previous: Previous,
    ran: usize,
    skipped: Vec<String>,
    written: usize,
    changed: usize,
    checked: usize,
}

impl Reader {
    /// Do what `block` says, failing the test with the block's line if it goes wrong.
    fn follow(&mut self, block: &Block) {
        let is_output = block.lang == "text" && block.flag("output");
        if !is_output && (!block.attrs.is_empty() || is_command(&block.lang)) {
            self.previous = Previous::Nothing;
        }
        match block.lang.as_str() {
            lang if is_command(lang) => {
                assert_eq!(lang, "sh", "{}: write commands in ```sh blocks", block.at());
                block.only(&["exit", "needs", "repo", "skip-test"]);
                self.previous = self.commands(block);
            }
            "text" if is_output => {
                block.only(&["output"]);
                self.output(block);
            }
            "diff" => {
                block.only(&["file"]);
                self.change(block);
            }
            _ if block.attr("file").is_some() => {
                block.only(&["file", "check"]);
                self.file(block);
            }
            _ => block.only(&[]),
        }
    }

    /// Run the command block `block`, or say why not.
    fn commands(&mut self, block: &Block) -> Previous {
        if block.flag("skip-test") {
            self.skipped
                .push(format!("{} (marked skip-test)", block.at()));
            return Previous::Skipped;
        }
        let mut path_first = None;
        if let Some(tool) = block.attr("needs") {
            match find_tool(tool) {
                Ok(dir) => path_first = dir,
                Err(why) => {
                    self.skipped.push(format!("{} ({why})", block.at()));
                    return Previous::Skipped;
                }
            }
        }
        // `repo=DIR`: the block works in the repository, on a copy of DIR and of
        // `wit/`, which DIR's build commands read.
        let dir = block.attr("repo").map(|rel| {
            let copy = self.shell.scratch.join("repo");
            if !copy.exists() {
                copy_tree(&repo_dir().join("wit"), &copy.join("wit"));
            }
            copy_tree(&repo_dir().join(rel), &copy.join(rel));
            copy.join(rel)
        });
        let expected: i32 = block.attr("exit").map_or(0, |n| {
            n.parse()
                .unwrap_or_else(|_| panic!("{}: exit=N takes a number", block.at()))
        });
        let ran = self.shell.run(block, dir.as_deref(), path_first.as_deref());
        eprintln!(
            "{}: exit {:?} in {:.1} s",
            block.at(),
            ran.status,
            ran.seconds
        );
        assert_eq!(
            ran.status,
            Some(expected),
            "{}: the block exited with {:?}, not {expected}:\n{}--- its output ---\n{}",
            block.at(),
            ran.status,
            block.text,
            ran.output
        );
        self.ran += 1;
        Previous::Ran(block.line, ran)
    }

    /// Check the output block `block` against what the command block before it printed.
    fn output(&mut self, block: &Block) {
        let (line, ran) = match &self.previous {
            Previous::Ran(line, ran) => (line, ran),
            Previous::Skipped => return,
            Previous::Nothing => panic!("{}: ```text output follows no command block", block.at()),
        };
        if let Some(missing) = missing_line(&ran.output, &block.text) {
            panic!(
                "{}: the output of the block at line {line} lacks, in order:\n  {missing}\n--- its output ---\n{}",
                block.at(),
                ran.output
            );
        }
        self.checked += 1;
    }

    /// Change a file as the `diff` block `block` says.
    fn change(&mut self, block: &Block) {
        let file = file_of(block);
        let path = self.shell.cwd.join(file);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: cannot read {file}: {e}", block.at()));
        match changed(&text, &block.text) {
            Ok(text) => std::fs::write(&path, text).unwrap(),
            Err(why) => panic!(
                "{}: cannot change {file}: {why}\n--- it reads ---\n{text}",
                block.at()
            ),
        }
        self.changed += 1;
    }

    /// Write the file that `block` holds, or check that it holds that (`check`).
    fn file(&mut self, block: &Block) {
        let file = file_of(block);
        let path = self.shell.cwd.join(file);
        if block.flag("check") {
            let actual = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                actual == block.text,
                "{}: {file} should read as this block does by now; it reads:\n{actual}",
                block.at()
            );
            self.checked += 1;
        } else {
            std::fs::create_dir_all(path.parent().expect("a file is in a directory")).unwrap();
            std::fs::write(&path, &block.text).unwrap();
            self.written += 1;
        }
    }
}

/// The `file=PATH` of `block`: a path inside the current directory.
fn file_of(block: &Block) -> &str {
    let file = block
        .attr("file")
        .unwrap_or_else(|| panic!("{}: the block names no file=PATH", block.at()));
    assert!(
        Path::new(file).is_relative() && !file.split('/').any(|part| part == ".."),
        "{}: file={file} must be a path inside the current directory",
        block.at()
    );
    file
}

#[test]
fn the_plugin_author_tutorial_runs_as_written() {
    let mut scratch = tempfile::tempdir().unwrap();
    // PINCER_TUTORIAL_KEEP=1 keeps the scratch directory, to read what each block
    // printed (`state/block-LINE.out`) and left behind.
    if std::env::var_os("PINCER_TUTORIAL_KEEP").is_some() {
        scratch.disable_cleanup(true);
        eprintln!("keeping {}", scratch.path().display());
    }
    let start = scratch.path().join("tutorial");
    let state = scratch.path().join("state");
    let bin = scratch.path().join("bin");
    for dir in [&start, &state, &bin] {
        std::fs::create_dir(dir).unwrap();
    }
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_pincer"), bin.join("pincer")).unwrap();
    // The reader's environment: this one, with `pincer` first on PATH, a home of its
    // own, and nothing that changes how cargo builds or where HTTP goes.
    let mut env = String::new();
    for (key, value) in std::env::vars() {
        let name_ok = key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        let shells_own = ["PWD", "OLDPWD", "SHLVL", "_"].contains(&key.as_str());
        if !name_ok || shells_own || UNSET.contains(&key.as_str()) {
            continue;
        }
        let value = match key.as_str() {
            "PATH" => format!("{}:{value}", bin.display()),
            _ => value,
        };
        env.push_str(&format!("export {key}={}\n", shell_quote(&value)));
    }
    env.push_str(&format!(
        "export PINCER_HOME={}\n",
        shell_quote(&scratch.path().join("home").display().to_string())
    ));
    for var in UNSET {
        env.push_str(&format!("unset {var}\n"));
    }
    std::fs::write(state.join("env"), env).unwrap();

    let mut reader = Reader {
        shell: Shell {
            scratch: scratch.path().to_owned(),
            cwd: start,
            groups: Vec::new(),
        },
        previous: Previous::Nothing,
        ran: 0,
        skipped: Vec::new(),
        written: 0,
        changed: 0,
        checked: 0,
    };
    let started = Instant::now();
    for block in blocks(DOC) {
        reader.follow(&block);
    }
    eprintln!(
        "{DOC_PATH}: ran {} command blocks, wrote {} files, made {} changes, checked {} \
         outputs and files, in {:.0} s",
        reader.ran,
        reader.written,
        reader.changed,
        reader.checked,
        started.elapsed().as_secs_f64()
    );
    eprintln!("skipped {} command blocks:", reader.skipped.len());
    for why in &reader.skipped {
        eprintln!("  {why}");
    }
    assert!(reader.ran > 0, "{DOC_PATH} has no commands");
}

/// Whether a block of this language holds commands.
fn is_command(lang: &str) -> bool {
    ["sh", "bash", "console", "shell"].contains(&lang)
}

/// `value` in single quotes, for bash.
fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

#[test]
fn output_lines_match_in_order_with_elisions() {
    let output = "key 1A2B\n  signature   ok: key 1A2B `Acme` (trusted)\nverdict     install\n";
    let shown = "signature   ok: key ... `Acme` (trusted)\n...\nverdict     install\n";
    assert_eq!(missing_line(output, shown), None);
    assert_eq!(
        missing_line(output, "verdict     install\nkey 1A2B\n"),
        Some("key 1A2B"),
        "out of order"
    );
    assert_eq!(
        without_ansi("\u{1b}[32m INFO\u{1b}[0m greeting"),
        " INFO greeting"
    );
}

#[test]
fn reads_blocks_with_their_attributes_and_lines() {
    let doc = "# Title\n\n```sh exit=3\npincer review b\n```\n\n```toml file=m.toml\na = 1\n```\n";
    let found = blocks(doc);
    assert_eq!(found.len(), 2);
    assert_eq!((found[0].line, found[0].lang.as_str()), (3, "sh"));
    assert_eq!(found[0].attr("exit"), Some("3"));
    assert_eq!(found[0].text, "pincer review b\n");
    assert_eq!(found[1].attr("file"), Some("m.toml"));
    assert!(!found[1].flag("check"));
}

#[test]
fn changes_a_file_where_the_lines_of_a_change_occur_once() {
    let manifest = "[a]\nx = 1\n\n[limits]\nt = 2\n";
    let change = "+[b]\n+y = 2\n+\n [limits]\n@@\n-t = 2\n+t = 3\n";
    assert_eq!(
        changed(manifest, change).unwrap(),
        "[a]\nx = 1\n\n[b]\ny = 2\n\n[limits]\nt = 3\n"
    );
    let twice = changed("a\nb\na\n", " a\n+c\n").unwrap_err();
    assert!(twice.contains("occur 2 times"), "{twice}");
    let missing = changed(manifest, "-t = 9\n+t = 3\n").unwrap_err();
    assert!(missing.contains("occur 0 times"), "{missing}");
    let inside = changed("at = 2\n", "-t = 2\n+t = 3\n").unwrap_err();
    assert!(
        inside.contains("occur 0 times"),
        "lines match whole: {inside}"
    );
    assert!(
        changed(manifest, "+z = 0\n").is_err(),
        "a change must say where"
    );
}
