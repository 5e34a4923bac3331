//! `edit_file`: replace text in a file and show the change as a unified diff.
//!
//! Each edit's `oldText` is looked for exactly first. When that fails it is looked for
//! line by line, comparing lines with their whitespace collapsed, so an edit whose
//! indentation or spacing differs from the file's still lands, and the new lines take
//! the file's indentation. An edit must match exactly one place: a text that matches
//! several is refused rather than guessed at. Edits apply in order, each to the
//! result of the one before, and either all apply or nothing is written.

use std::time::Duration;

use pincer_sdk::{CallResult, ToolError};
use schemars::JsonSchema;
use serde::Deserialize;
use similar::TextDiff;

use crate::Outcome;
use crate::mount::{io_failure, require_writable};
use crate::paths::resolve;
use crate::read::read_bytes;

/// How long the diff may search for the smallest change before it settles for a
/// larger one.
const DIFF_TIMEOUT: Duration = Duration::from_secs(2);

/// How much of an edit's `oldText` a failure message quotes.
const QUOTE_CHARS: usize = 400;

/// Arguments of `edit_file`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EditFile {
    #[schemars(description = path_description!("The file to edit."))]
    path: String,
    /// The replacements, applied in order.
    #[schemars(length(min = 1))]
    edits: Vec<Edit>,
    /// Show the diff without writing the file.
    #[serde(default)]
    dry_run: bool,
}

/// One replacement.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Edit {
    /// The text to replace; include enough surrounding lines that it matches only one
    /// place.
    old_text: String,
    /// The text to put in its place.
    new_text: String,
}

pub fn edit_file(args: EditFile) -> Outcome {
    if args.edits.is_empty() {
        return Err(ToolError::InvalidArguments(
            "`edits` must hold at least one edit".to_owned(),
        ));
    }
    let path = resolve(&args.path)?;
    if !args.dry_run {
        require_writable()?;
    }
    let raw = String::from_utf8(read_bytes(&path)?).map_err(|_| {
        ToolError::Failed(format!(
            "{path} is not UTF-8 text; edit_file changes UTF-8 text files only."
        ))
    })?;
    let crlf = raw.contains("\r\n");
    let before = raw.replace("\r\n", "\n");
    let after = apply_edits(&before, &args.edits).map_err(ToolError::Failed)?;
    if after == before {
        return Ok(CallResult::text(format!(
            "The edits leave {path} unchanged; nothing was written."
        )));
    }
    let diff = fenced(&unified_diff(&path, &before, &after));
    if args.dry_run {
        return Ok(CallResult::text(format!(
            "Dry run: nothing was written. The edits would change {path} so:\n\n{diff}"
        )));
    }
    let written = if crlf {
        after.replace('\n', "\r\n")
    } else {
        after
    };
    std::fs::write(&path, written).map_err(|e| io_failure("write", &path, &e))?;
    Ok(CallResult::text(format!("Edited {path}:\n\n{diff}")))
}

/// Apply `edits` to `content` in order; the text of the first edit that does not
/// match exactly one place says which and why.
fn apply_edits(content: &str, edits: &[Edit]) -> Result<String, String> {
    let mut content = content.to_owned();
    for (i, edit) in edits.iter().enumerate() {
        let old = edit.old_text.replace("\r\n", "\n");
        let new = edit.new_text.replace("\r\n", "\n");
        content = apply_edit(&content, &old, &new).map_err(|miss| {
            let which = if edits.len() == 1 {
                "The edit".to_owned()
            } else {
                format!("Edit {} of {}", i + 1, edits.len())
            };
            let why = match miss {
                Miss::EmptyOldText => "has an empty `oldText`".to_owned(),
                Miss::NotFound => {
                    "does not match the file, exactly or ignoring whitespace".to_owned()
                }
                Miss::Ambiguous(n) => format!(
                    "matches {n} places; add surrounding lines to `oldText` so it matches one"
                ),
            };
            format!(
                "{which} {why}. Nothing was written.\n\noldText:\n{}",
                quote(&edit.old_text)
            )
        })?;
    }
    Ok(content)
}

/// Why an edit did not apply.
#[derive(Debug, PartialEq, Eq)]
enum Miss {
    EmptyOldText,
    NotFound,
    /// It matches this many places.
    Ambiguous(usize),
}

fn apply_edit(content: &str, old: &str, new: &str) -> Result<String, Miss> {
    if old.is_empty() {
        return Err(Miss::EmptyOldText);
    }
    match content.match_indices(old).count() {
        1 => return Ok(content.replacen(old, new, 1)),
        0 => {}
        n => return Err(Miss::Ambiguous(n)),
    }
    let old_lines = lines_of(old);
    if old_lines.iter().all(|l| l.trim().is_empty()) {
        return Err(Miss::NotFound);
    }
    let file_lines: Vec<&str> = content.split('\n').collect();
    let found: Vec<usize> = (0..=file_lines.len().saturating_sub(old_lines.len()))
        .filter(|&start| {
            let window = file_lines.get(start..start + old_lines.len());
            window.is_some_and(|window| {
                window
                    .iter()
                    .zip(&old_lines)
                    .all(|(a, b)| a.split_whitespace().eq(b.split_whitespace()))
            })
        })
        .collect();
    let start = match found[..] {
        [start] => start,
        [] => return Err(Miss::NotFound),
        _ => return Err(Miss::Ambiguous(found.len())),
    };
    let matched = &file_lines[start..start + old_lines.len()];
    let replacement = reindent(&old_lines, matched, &lines_of(new));
    let mut out: Vec<&str> = Vec::with_capacity(file_lines.len() + replacement.len());
    out.extend_from_slice(&file_lines[..start]);
    out.extend(replacement.iter().map(String::as_str));
    out.extend_from_slice(&file_lines[start + old_lines.len()..]);
    Ok(out.join("\n"))
}

/// The lines of an edit's text. A final line break ends the last line rather than
/// starting an empty one, and an empty text has no lines.
fn lines_of(text: &str) -> Vec<&str> {
    if text.is_empty() {
        return Vec::new();
    }
    text.strip_suffix('\n')
        .unwrap_or(text)
        .split('\n')
        .collect()
}

/// Give `new` the indentation the file has where `old` matched it. Each pair of a
/// non-blank `old` line and the file line it matched says which file indentation an
/// `oldText` indentation stands for. A new line takes the file indentation of the pair
/// with its own indentation; failing that, of the pair with the longest indentation
/// its own starts with, keeping the rest; failing that, it stays as it is. The first
/// line looks at the first pair first, the others at the later pairs first. That
/// covers an `oldText` indented differently as a whole, one whose first line only lost
/// its indentation, and one indented by two spaces where the file uses four or a tab.
fn reindent(old: &[&str], matched: &[&str], new: &[&str]) -> Vec<String> {
    let pairs_from = |from: usize| {
        (from..old.len())
            .filter(|&k| !old[k].trim().is_empty())
            .map(|k| (indent(old[k]), indent(matched[k])))
            .collect::<Vec<_>>()
    };
    let body = pairs_from(1);
    let head: Vec<_> = pairs_from(0).into_iter().take(1).collect();
    let first_line_pairs: Vec<_> = head.iter().chain(&body).copied().collect();
    let other_line_pairs: Vec<_> = body.iter().chain(&head).copied().collect();
    new.iter()
        .enumerate()
        .map(|(j, line)| {
            let pairs = if j == 0 {
                &first_line_pairs
            } else {
                &other_line_pairs
            };
            reindent_line(line, pairs)
        })
        .collect()
}

/// `line` with its indentation taken from `pairs` of (`oldText` indentation, file
/// indentation), as [`reindent`] says.
fn reindent_line(line: &str, pairs: &[(&str, &str)]) -> String {
    let own = indent(line);
    if own.len() == line.len() {
        return line.to_owned();
    }
    let text = &line[own.len()..];
    if let Some((_, file)) = pairs.iter().find(|(old, _)| *old == own) {
        return format!("{file}{text}");
    }
    match pairs
        .iter()
        .filter(|(old, _)| own.starts_with(old))
        .max_by_key(|(old, _)| old.len())
    {
        Some((old, file)) => format!("{file}{}{text}", &own[old.len()..]),
        None => line.to_owned(),
    }
}

fn indent(line: &str) -> &str {
    &line[..line.len() - line.trim_start().len()]
}

/// A unified diff from `before` to `after`, with `path` in its header.
fn unified_diff(path: &str, before: &str, after: &str) -> String {
    TextDiff::configure()
        .timeout(DIFF_TIMEOUT)
        .diff_lines(before, after)
        .unified_diff()
        .context_radius(3)
        .header(&format!("{path}\toriginal"), &format!("{path}\tmodified"))
        .to_string()
}

/// `diff` in a Markdown `diff` block, fenced with more backticks than it holds in a
/// row.
fn fenced(diff: &str) -> String {
    let longest_run = diff.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest_run.max(2) + 1);
    format!("{fence}diff\n{diff}{fence}\n")
}

/// At most [`QUOTE_CHARS`] characters of `text`.
fn quote(text: &str) -> String {
    match text.char_indices().nth(QUOTE_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(old: &str, new: &str) -> Edit {
        Edit {
            old_text: old.to_owned(),
            new_text: new.to_owned(),
        }
    }

    #[test]
    fn replaces_an_exact_match() {
        let file = "fn main() {\n    println!(\"hi\");\n}\n";
        let out = apply_edit(file, "\"hi\"", "\"hello\"").unwrap();
        assert_eq!(out, "fn main() {\n    println!(\"hello\");\n}\n");
    }

    #[test]
    fn matches_lines_whose_indentation_differs_and_keeps_the_files() {
        let file = "mod a {\n    fn f() {\n        one();\n    }\n}\n";
        let old = "fn f() {\n    one();\n}";
        let new = "fn f() {\n    one();\n    two();\n}";
        let out = apply_edit(file, old, new).unwrap();
        assert_eq!(
            out,
            "mod a {\n    fn f() {\n        one();\n        two();\n    }\n}\n"
        );
    }

    #[test]
    fn matches_an_old_text_whose_first_line_lost_its_indentation() {
        let file = "mod a {\n    fn f() {\n        one();  \n    }\n}\n";
        let old = "fn f() {\n        one();\n    }";
        let new = "fn g() {\n        one();\n    }";
        let out = apply_edit(file, old, new).unwrap();
        assert_eq!(out, "mod a {\n    fn g() {\n        one();\n    }\n}\n");
    }

    #[test]
    fn maps_two_space_indentation_to_the_files_four() {
        let file = "fn main() {\n    println!(\"hi\");\n}\n";
        let old = "fn main() {\n  println!(\"hi\");\n}";
        let new = "fn main() {\n  let x = 1;\n  if x > 0 {\n    go();\n  }\n}";
        let out = apply_edit(file, old, new).unwrap();
        assert_eq!(
            out,
            "fn main() {\n    let x = 1;\n    if x > 0 {\n      go();\n    }\n}\n"
        );
    }

    #[test]
    fn keeps_blank_and_unknown_indentation_as_given() {
        assert_eq!(reindent_line("   ", &[("", "\t")]), "   ");
        assert_eq!(reindent_line("  x", &[("    ", "\t")]), "  x");
        assert_eq!(reindent_line("      x", &[("    ", "\t")]), "\t  x");
    }

    #[test]
    fn matches_lines_whose_inner_and_trailing_spaces_differ() {
        let file = "let  x =  1;   \nlet y = 2;\n";
        let out = apply_edit(file, "let x = 1;\nlet y = 2;", "let x = 3;").unwrap();
        assert_eq!(out, "let x = 3;\n");
    }

    #[test]
    fn replaces_a_tab_indentation_with_the_files() {
        let file = "\tif x {\n\t\ty();\n\t}\n";
        let old = "    if x {\n        y();";
        let new = "    if x {\n        z();\n    }\n    done();";
        let out = apply_edit(file, old, new).unwrap();
        assert_eq!(out, "\tif x {\n\t\tz();\n\t}\n\tdone();\n\t}\n");
    }

    #[test]
    fn deletes_lines_when_the_new_text_is_empty() {
        let file = "a\n  b\nc\n";
        assert_eq!(apply_edit(file, "  b\n", "").unwrap(), "a\nc\n");
        assert_eq!(apply_edit(file, "a\n    b", "").unwrap(), "c\n");
    }

    #[test]
    fn refuses_an_old_text_that_matches_nothing() {
        assert_eq!(apply_edit("a\nb\n", "c", "d"), Err(Miss::NotFound));
        assert_eq!(apply_edit("a\n\nb\n", "  \n", "x"), Err(Miss::NotFound));
    }

    #[test]
    fn refuses_an_old_text_that_matches_several_places() {
        assert_eq!(apply_edit("x\nx\n", "x", "y"), Err(Miss::Ambiguous(2)));
        assert_eq!(
            apply_edit("  x\n    x\n", "x \n", "y"),
            Err(Miss::Ambiguous(2))
        );
    }

    #[test]
    fn refuses_an_empty_old_text() {
        assert_eq!(apply_edit("a", "", "b"), Err(Miss::EmptyOldText));
    }

    #[test]
    fn applies_edits_in_order_and_names_the_one_that_failed() {
        let out = apply_edits("a\nb\n", &[edit("a", "c"), edit("c\nb", "d")]).unwrap();
        assert_eq!(out, "d\n");
        let message = apply_edits("a\n", &[edit("a", "b"), edit("a", "c")]).unwrap_err();
        assert!(
            message.starts_with("Edit 2 of 2 does not match"),
            "{message}"
        );
        assert!(message.contains("Nothing was written"), "{message}");
    }

    #[test]
    fn matches_crlf_edits_against_normalised_text() {
        let out = apply_edits("a\nb\n", &[edit("a\r\nb", "c\r\nd")]).unwrap();
        assert_eq!(out, "c\nd\n");
    }

    #[test]
    fn shows_a_unified_diff_with_the_path() {
        let diff = unified_diff("/workspace/a.txt", "one\ntwo\nthree\n", "one\n2\nthree\n");
        assert_eq!(
            diff,
            "--- /workspace/a.txt\toriginal\n+++ /workspace/a.txt\tmodified\n@@ -1,3 +1,3 @@\n one\n-two\n+2\n three\n"
        );
    }

    #[test]
    fn fences_a_diff_with_more_backticks_than_it_holds() {
        assert_eq!(fenced("+x\n"), "```diff\n+x\n```\n");
        assert_eq!(fenced("+```\n"), "````diff\n+```\n````\n");
    }

    #[test]
    fn quotes_at_most_a_few_hundred_characters() {
        assert_eq!(quote("é"), "é");
        let long = "é".repeat(QUOTE_CHARS + 5);
        assert_eq!(quote(&long).chars().count(), QUOTE_CHARS + 1);
    }
}
