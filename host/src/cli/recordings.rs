//! `pincer recordings export ID --html OUT`: a recording as one self-contained HTML
//! page (timeline beside frames) that a person opens in a browser. Everything comes
//! through the viewer plugin; the page loads nothing from anywhere (its content
//! security policy forbids it), and the plugin's text in it is escaped.

use std::fmt::Write as _;
use std::path::Path;

use base64::Engine as _;

use super::commands::Failure;
use super::commands::block_on;
use crate::exit::Exit;
use crate::kinds::recording::{Frame, FrameSelector, RecordingInfo, Step};
use crate::manifest::PluginKind;
use crate::runtime::{Plugin, Runtime};
use crate::store::plugins::PluginStore;

/// The viewer to use: the one named, or the only one installed.
fn viewer(runtime: &Runtime, named: Option<&str>) -> Result<Plugin, Failure> {
    let id = match named {
        Some(id) => id.to_owned(),
        None => {
            let viewers: Vec<String> = PluginStore::new(runtime.home())
                .list()?
                .into_iter()
                .filter(|p| p.active.grants.kind == PluginKind::Viewer.to_string())
                .map(|p| p.id)
                .collect();
            match viewers.as_slice() {
                [one] => one.clone(),
                [] => {
                    return Err(Failure::new(
                        Exit::Usage,
                        "no viewer plugin is installed: install one (the reference one is manifests/viewer.toml)",
                    ));
                }
                _ => {
                    return Err(Failure::new(
                        Exit::Usage,
                        format!(
                            "several viewers are installed ({}): name one with --viewer",
                            viewers.join(", ")
                        ),
                    ));
                }
            }
        }
    };
    Ok(runtime.load_installed(&id)?)
}

fn viewer_failed(e: crate::kinds::recording::ViewerFailure) -> Failure {
    Failure::new(Exit::Tool, e.to_string())
}

/// The most frames one export holds.
const MAX_EXPORT_FRAMES: u32 = 20_000;
/// The most JPEG bytes one export holds, all frames together.
const MAX_EXPORT_BYTES: usize = 512 << 20;

/// The `count` frames that `fetch` gives, index by index. `count` is the viewer's word,
/// so nothing is allocated from it up front, and an export over [`MAX_EXPORT_FRAMES`]
/// frames or `max_bytes` bytes ([`MAX_EXPORT_BYTES`]) is refused rather than attempted.
fn fetch_frames(
    count: u32,
    max_bytes: usize,
    mut fetch: impl FnMut(u32) -> Result<Frame, Failure>,
) -> Result<Vec<Frame>, Failure> {
    if count > MAX_EXPORT_FRAMES {
        return Err(Failure::new(
            Exit::Tool,
            format!(
                "the viewer reports {count} frames; an export holds at most {MAX_EXPORT_FRAMES}: export a shorter recording"
            ),
        ));
    }
    let mut frames = Vec::new();
    let mut bytes = 0usize;
    for index in 0..count {
        let frame = fetch(index)?;
        bytes = bytes.saturating_add(frame.jpeg.len());
        if bytes > max_bytes {
            return Err(Failure::new(
                Exit::Tool,
                format!(
                    "the recording's frames pass {} MiB at frame {index}; an export holds at most that",
                    max_bytes >> 20
                ),
            ));
        }
        frames.push(frame);
    }
    Ok(frames)
}

/// Write recording `id` as HTML to `out`.
pub(super) fn cmd_export(
    runtime: &Runtime,
    id: &str,
    out: &Path,
    viewer_id: Option<&str>,
) -> Result<(), Failure> {
    let plugin = viewer(runtime, viewer_id)?;
    let info = block_on(plugin.recording_info(id))?.map_err(viewer_failed)?;
    let steps = block_on(plugin.timeline(id))?.map_err(viewer_failed)?;
    let frames = fetch_frames(info.frames, MAX_EXPORT_BYTES, |index| {
        eprint!("\rframe {}/{}", index + 1, info.frames);
        block_on(plugin.frame(id, FrameSelector::Index(index)))?.map_err(viewer_failed)
    })?;
    if info.frames > 0 {
        eprintln!();
    }
    let html = page(&info, &steps, &frames);
    // Written beside, then renamed: a failed export never leaves half a page.
    let partial = out.with_extension("html.partial");
    std::fs::write(&partial, html.as_bytes())
        .and_then(|()| std::fs::rename(&partial, out))
        .map_err(|e| {
            let _ = std::fs::remove_file(&partial);
            Failure::new(Exit::Host, format!("cannot write {}: {e}", out.display()))
        })?;
    println!(
        "wrote {} ({} steps, {} frames, {} KiB)",
        out.display(),
        steps.len(),
        frames.len(),
        html.len() / 1024
    );
    Ok(())
}

/// `s` safe in HTML text and attribute values.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn seconds(ms: u64) -> String {
    format!("{}.{:03} s", ms / 1000, ms % 1000)
}

/// The page: a timeline on the left (each step links to the frame on screen at its
/// time), the frames on the right.
fn page(info: &RecordingInfo, steps: &[Step], frames: &[Frame]) -> String {
    let title = info.title.as_deref().unwrap_or(&info.id);
    let mut html = String::new();
    let _ = write!(
        html,
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>{title} — Pincer recording</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 0; display: grid; grid-template-columns: 22rem 1fr; height: 100vh; }}
header {{ grid-column: 1 / 3; padding: .5rem 1rem; border-bottom: 1px solid #ccc; }}
ol {{ margin: 0; padding: .5rem 1rem .5rem 2.5rem; overflow-y: auto; border-right: 1px solid #ccc; }}
li a {{ color: inherit; text-decoration: none; }}
li time {{ color: #666; font-variant-numeric: tabular-nums; margin-right: .5em; }}
main {{ overflow-y: auto; padding: 1rem; }}
figure {{ margin: 0 0 1.5rem; }}
figure img {{ max-width: 100%; border: 1px solid #ccc; }}
</style>
</head>
<body>
<header><strong>{title}</strong> · {id} · {duration} · {steps} steps · {frames} frames · {w}×{h}</header>
<ol id="timeline">
"#,
        title = escape(title),
        id = escape(&info.id),
        duration = seconds(info.duration_ms),
        steps = steps.len(),
        frames = frames.len(),
        w = info.screen_width,
        h = info.screen_height,
    );
    for step in steps {
        // The frame on screen at the step: the last one taken at or before it.
        let shown = frames
            .iter()
            .rev()
            .find(|f| f.time_ms <= step.time_ms)
            .or(frames.first());
        let target = shown.map_or(String::new(), |f| format!(" href=\"#frame-{}\"", f.index));
        let _ = writeln!(
            html,
            r#"<li class="step"><a{target}><time>{}</time>{}</a></li>"#,
            seconds(step.time_ms),
            escape(&step.description)
        );
    }
    html.push_str("</ol>\n<main id=\"frames\">\n");
    let b64 = base64::engine::general_purpose::STANDARD;
    for frame in frames {
        let _ = writeln!(
            html,
            r#"<figure id="frame-{i}"><img class="frame" alt="frame {i} at {t}" src="data:image/jpeg;base64,{data}"><figcaption>frame {i} · {t}</figcaption></figure>"#,
            i = frame.index,
            t = seconds(frame.time_ms),
            data = b64.encode(&frame.jpeg),
        );
    }
    html.push_str(
        r#"</main>
<script>
// Say how many frames the browser could decode, for anyone checking the page.
window.addEventListener("load", () => {
  const shown = [...document.querySelectorAll("img.frame")].filter(i => i.naturalWidth > 0);
  document.body.dataset.framesShown = String(shown.length);
});
</script>
</body>
</html>
"#,
    );
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_viewer_that_reports_a_huge_frame_count_is_refused_before_anything_is_fetched() {
        let mut fetched = 0;
        let err = fetch_frames(u32::MAX, MAX_EXPORT_BYTES, |_| {
            fetched += 1;
            unreachable!("nothing is fetched")
        })
        .expect_err("refused");
        assert_eq!(fetched, 0);
        assert!(err.message.contains("at most 20000"), "{}", err.message);
        // Frames too big together stop the export at the frame that passes the cap.
        let err = fetch_frames(100, 3 << 20, |index| {
            Ok(Frame {
                index,
                time_ms: 0,
                jpeg: vec![0; 1 << 20],
            })
        })
        .expect_err("refused");
        assert!(err.message.contains("at frame 3"), "{}", err.message);
        let ok = fetch_frames(3, MAX_EXPORT_BYTES, |index| {
            Ok(Frame {
                index,
                time_ms: 0,
                jpeg: vec![1],
            })
        })
        .ok()
        .expect("three small frames export");
        assert_eq!(ok.len(), 3);
    }

    #[test]
    fn escapes_the_plugins_text_and_links_steps_to_frames() {
        let info = RecordingInfo {
            id: "rec-1".into(),
            title: Some("<script>alert(1)</script>".into()),
            duration_ms: 1500,
            steps: 2,
            frames: 2,
            screen_width: 4,
            screen_height: 3,
        };
        let steps = [
            Step {
                index: 0,
                time_ms: 0,
                description: "typed \"a\" & <b>".into(),
            },
            Step {
                index: 1,
                time_ms: 1200,
                description: "click".into(),
            },
        ];
        let frames = [
            Frame {
                index: 0,
                time_ms: 0,
                jpeg: vec![1],
            },
            Frame {
                index: 1,
                time_ms: 1000,
                jpeg: vec![2],
            },
        ];
        let html = page(&info, &steps, &frames);
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("typed &quot;a&quot; &amp; &lt;b&gt;"));
        assert!(html.contains(r##"<a href="#frame-1"><time>1.200 s</time>click</a>"##));
        assert_eq!(html.matches("data:image/jpeg;base64,").count(), 2);
        assert!(!html.contains("http://") && !html.contains("https://"));
    }
}
