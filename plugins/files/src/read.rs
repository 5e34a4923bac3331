//! `read_text_file`, `read_media_file` and `read_multiple_files`, and the size limits
//! that keep what they return within what a model can take.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};

use pincer_sdk::{CallResult, Content, Image, ToolError};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::Outcome;
use crate::list::format_size;
use crate::mount::io_failure;
use crate::paths::resolve;

/// The most bytes of text one call returns.
pub const MAX_TEXT_BYTES: usize = 4 * 1024 * 1024;

/// The largest image `read_media_file` returns.
const MAX_MEDIA_BYTES: u64 = 8 * 1024 * 1024;

/// How far into a file to look for a NUL byte, the sign of a binary file.
const BINARY_SNIFF_BYTES: usize = 8000;

/// Arguments of `read_text_file`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadTextFile {
    #[schemars(description = path_description!("The file to read."))]
    path: String,
    /// Return only the first N lines.
    head: Option<usize>,
    /// Return only the last N lines.
    tail: Option<usize>,
}

/// Arguments of `read_media_file`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadMediaFile {
    #[schemars(description = path_description!("The image file to read."))]
    path: String,
}

/// Arguments of `read_multiple_files`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadMultipleFiles {
    /// The files to read, each relative to /workspace or under /workspace/.
    #[schemars(length(min = 1))]
    paths: Vec<String>,
}

pub fn read_text_file(args: ReadTextFile) -> Outcome {
    let part = match (args.head, args.tail) {
        (Some(_), Some(_)) => {
            return Err(ToolError::InvalidArguments(
                "give `head` or `tail`, not both".to_owned(),
            ));
        }
        (Some(n), None) => Part::Head(n),
        (None, Some(n)) => Part::Tail(n),
        (None, None) => Part::Whole,
    };
    let path = resolve(&args.path)?;
    Ok(CallResult::text(read_text(&path, part)?))
}

pub fn read_media_file(args: ReadMediaFile) -> Outcome {
    let path = resolve(&args.path)?;
    let mime_type = match media_type(&path) {
        Media::Image(mime_type) => mime_type,
        Media::Audio(mime_type) => {
            return Err(ToolError::Failed(format!(
                "{path} is audio ({mime_type}), which this host cannot return: tool results here hold text and images only."
            )));
        }
        Media::Unknown => {
            return Err(ToolError::Failed(format!(
                "{path} is not a known image type. read_media_file returns PNG, JPEG, GIF, WebP, BMP and SVG images, by file extension; use read_text_file for text."
            )));
        }
    };
    let mut file = open_file(&path)?;
    let size = file
        .metadata()
        .map_err(|e| io_failure("read", &path, &e))?
        .len();
    if size > MAX_MEDIA_BYTES {
        return Err(ToolError::Failed(format!(
            "{path} is {}, over the {} limit for images.",
            format_size(size),
            format_size(MAX_MEDIA_BYTES)
        )));
    }
    let mut data = Vec::new();
    file.read_to_end(&mut data)
        .map_err(|e| io_failure("read", &path, &e))?;
    Ok(CallResult {
        content: vec![Content::Image(Image {
            data,
            mime_type: mime_type.to_owned(),
        })],
        structured_content: None,
        is_error: false,
    })
}

pub fn read_multiple_files(args: ReadMultipleFiles) -> Outcome {
    if args.paths.is_empty() {
        return Err(ToolError::InvalidArguments(
            "`paths` must hold at least one path".to_owned(),
        ));
    }
    let mut budget = MAX_TEXT_BYTES;
    let mut sections = Vec::with_capacity(args.paths.len());
    for requested in &args.paths {
        let (shown, read) = match resolve(requested) {
            Ok(path) => {
                let read = read_text(&path, Part::Whole);
                (path, read)
            }
            Err(failure) => (requested.clone(), Err(failure)),
        };
        let section = match read {
            Ok(text) if text.len() > budget => format!(
                "{shown}: Skipped - together with the files before it, the output would pass {}; read it on its own",
                format_size(MAX_TEXT_BYTES as u64)
            ),
            Ok(text) => {
                budget -= text.len();
                format!("{shown}:\n{text}\n")
            }
            Err(failure) => format!("{shown}: Error - {failure}"),
        };
        sections.push(section);
    }
    Ok(CallResult::text(sections.join("\n---\n")))
}

/// Which part of a text file to read.
#[derive(Debug, Clone, Copy)]
pub enum Part {
    /// All of it, up to [`MAX_TEXT_BYTES`].
    Whole,
    /// The first `n` lines.
    Head(usize),
    /// The last `n` lines.
    Tail(usize),
}

/// Read `part` of the text file at the resolved `path`.
pub fn read_text(path: &str, part: Part) -> Result<String, ToolError> {
    let bytes = match part {
        Part::Whole => read_bytes(path)?,
        Part::Head(n) => head(BufReader::new(open_file(path)?), n, MAX_TEXT_BYTES)
            .map_err(|e| io_failure("read", path, &e))?
            .ok_or_else(|| too_large(path))?,
        Part::Tail(n) => tail(open_file(path)?, n, MAX_TEXT_BYTES)
            .map_err(|e| io_failure("read", path, &e))?
            .ok_or_else(|| too_large(path))?,
    };
    decode_text(bytes).ok_or_else(|| {
        ToolError::Failed(format!(
            "{path} looks like a binary file, not text. read_media_file returns images."
        ))
    })
}

/// The whole file at the resolved `path`, if it is at most [`MAX_TEXT_BYTES`].
pub fn read_bytes(path: &str) -> Result<Vec<u8>, ToolError> {
    let mut bytes = Vec::new();
    open_file(path)?
        .take(MAX_TEXT_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_failure("read", path, &e))?;
    if bytes.len() > MAX_TEXT_BYTES {
        return Err(too_large(path));
    }
    Ok(bytes)
}

fn too_large(path: &str) -> ToolError {
    ToolError::Failed(format!(
        "{path}: the text asked for is over the {} limit. Read part of it with `head` or `tail`.",
        format_size(MAX_TEXT_BYTES as u64)
    ))
}

/// Open the regular file at `path`, or say why not.
fn open_file(path: &str) -> Result<File, ToolError> {
    let file = File::open(path).map_err(|e| io_failure("read", path, &e))?;
    let metadata = file.metadata().map_err(|e| io_failure("read", path, &e))?;
    if metadata.is_dir() {
        return Err(ToolError::Failed(format!(
            "Cannot read {path}: it is a directory. list_directory lists it."
        )));
    }
    Ok(file)
}

/// The file's text: UTF-8 as it is, other text with U+FFFD for what is not UTF-8.
/// `None` when a NUL byte near the start says the file is binary.
fn decode_text(bytes: Vec<u8>) -> Option<String> {
    if bytes[..bytes.len().min(BINARY_SNIFF_BYTES)].contains(&0) {
        return None;
    }
    Some(match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

/// The first `n` lines of `reader`, with their line endings; `None` when they are more
/// than `max` bytes.
fn head(mut reader: impl BufRead, n: usize, max: usize) -> io::Result<Option<Vec<u8>>> {
    let mut out = Vec::new();
    for _ in 0..n {
        let read = (&mut reader)
            .take((max + 1 - out.len()) as u64)
            .read_until(b'\n', &mut out)?;
        if out.len() > max {
            return Ok(None);
        }
        if read == 0 {
            break;
        }
    }
    Ok(Some(out))
}

/// The last `n` lines of `file`, with their line endings; `None` when they are more
/// than `max` bytes. Reads a growing window from the end, never the whole file.
fn tail<R: Read + Seek>(mut file: R, n: usize, max: usize) -> io::Result<Option<Vec<u8>>> {
    if n == 0 {
        return Ok(Some(Vec::new()));
    }
    let len = file.seek(SeekFrom::End(0))?;
    let mut window: u64 = 8 * 1024;
    loop {
        let take = window.min(len).min(max as u64 + 1);
        file.seek(SeekFrom::Start(len - take))?;
        let mut buf = vec![0; take as usize];
        file.read_exact(&mut buf)?;
        let start = match start_of_last_lines(&buf, n) {
            Some(start) => start,
            None if take == len => 0,
            None if take as usize > max => return Ok(None),
            None => {
                window = window.saturating_mul(4);
                continue;
            }
        };
        let lines = buf.split_off(start);
        return Ok((lines.len() <= max).then_some(lines));
    }
}

/// Where the last `n` lines of `buf` start, if `buf` holds a line break before them. A
/// line break at the very end ends the last line; it does not start another.
fn start_of_last_lines(buf: &[u8], n: usize) -> Option<usize> {
    let body = buf.strip_suffix(b"\n").unwrap_or(buf);
    body.iter()
        .enumerate()
        .rev()
        .filter(|(_, b)| **b == b'\n')
        .nth(n - 1)
        .map(|(i, _)| i + 1)
}

/// What `read_media_file` makes of a file, by its extension.
#[derive(Debug, PartialEq, Eq)]
enum Media {
    Image(&'static str),
    Audio(&'static str),
    Unknown,
}

fn media_type(path: &str) -> Media {
    let name = path.rsplit('/').next().unwrap_or(path);
    let extension = match name.rsplit_once('.') {
        Some((stem, extension)) if !stem.is_empty() => extension.to_ascii_lowercase(),
        _ => return Media::Unknown,
    };
    match extension.as_str() {
        "png" => Media::Image("image/png"),
        "jpg" | "jpeg" => Media::Image("image/jpeg"),
        "gif" => Media::Image("image/gif"),
        "webp" => Media::Image("image/webp"),
        "bmp" => Media::Image("image/bmp"),
        "svg" => Media::Image("image/svg+xml"),
        "mp3" => Media::Audio("audio/mpeg"),
        "wav" => Media::Audio("audio/wav"),
        "ogg" => Media::Audio("audio/ogg"),
        "flac" => Media::Audio("audio/flac"),
        _ => Media::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn head_of(text: &str, n: usize) -> Option<String> {
        head(Cursor::new(text), n, 64)
            .unwrap()
            .map(|b| String::from_utf8(b).unwrap())
    }

    fn tail_of(text: &str, n: usize) -> Option<String> {
        tail(Cursor::new(text), n, 64)
            .unwrap()
            .map(|b| String::from_utf8(b).unwrap())
    }

    #[test]
    fn reads_the_first_lines() {
        assert_eq!(head_of("a\nb\nc\n", 2).unwrap(), "a\nb\n");
        assert_eq!(head_of("a\nb\nc", 5).unwrap(), "a\nb\nc");
        assert_eq!(head_of("a\nb\n", 0).unwrap(), "");
        assert_eq!(head_of("", 3).unwrap(), "");
    }

    #[test]
    fn reads_the_last_lines() {
        assert_eq!(tail_of("a\nb\nc\n", 2).unwrap(), "b\nc\n");
        assert_eq!(tail_of("a\nb\nc", 2).unwrap(), "b\nc");
        assert_eq!(tail_of("a\nb\nc\n", 9).unwrap(), "a\nb\nc\n");
        assert_eq!(tail_of("a\n\n", 1).unwrap(), "\n");
        assert_eq!(tail_of("a\nb", 0).unwrap(), "");
        assert_eq!(tail_of("", 3).unwrap(), "");
    }

    #[test]
    fn reads_the_last_lines_across_windows() {
        let text: String = (0..5000).map(|i| format!("line {i}\n")).collect();
        let last = tail(Cursor::new(&text), 3, MAX_TEXT_BYTES)
            .unwrap()
            .unwrap();
        assert_eq!(last, b"line 4997\nline 4998\nline 4999\n");
        let all = tail(Cursor::new(&text), 6000, MAX_TEXT_BYTES)
            .unwrap()
            .unwrap();
        assert_eq!(all, text.as_bytes());
    }

    #[test]
    fn refuses_lines_over_the_limit() {
        let long = "x".repeat(100);
        assert_eq!(head_of(&long, 1), None);
        assert_eq!(tail_of(&long, 1), None);
        assert_eq!(head_of(&format!("{long}\n"), 1), None);
    }

    #[test]
    fn decodes_text_and_refuses_binary() {
        assert_eq!(decode_text(b"caf\xc3\xa9".to_vec()).unwrap(), "café");
        assert_eq!(decode_text(b"caf\xe9".to_vec()).unwrap(), "caf\u{fffd}");
        assert_eq!(decode_text(b"\x89PNG\r\n\x1a\n\0\0".to_vec()), None);
        assert_eq!(decode_text(Vec::new()).unwrap(), "");
    }

    #[test]
    fn knows_media_types_by_extension() {
        assert_eq!(media_type("/workspace/a.PNG"), Media::Image("image/png"));
        assert_eq!(media_type("/workspace/b.jpeg"), Media::Image("image/jpeg"));
        assert_eq!(
            media_type("/workspace/c.svg"),
            Media::Image("image/svg+xml")
        );
        assert_eq!(media_type("/workspace/d.mp3"), Media::Audio("audio/mpeg"));
        assert_eq!(media_type("/workspace/e.txt"), Media::Unknown);
        assert_eq!(media_type("/workspace/.png"), Media::Unknown);
        assert_eq!(media_type("/workspace/png"), Media::Unknown);
        assert_eq!(media_type("/workspace/dir.png/file"), Media::Unknown);
    }
}
