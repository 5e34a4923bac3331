//! Text that a plugin or a manifest controls, made safe to show a person.
//!
//! This module owns the one rule for every string that reaches a terminal (or a
//! person through the gateway or an MCP client's prompt) from a plugin or a manifest:
//! names, descriptions, paths, tool output, chat replies, log lines, errors and panic
//! messages, audit details. Control characters are shown escaped (`\u{1b}`, `\r`), and
//! so are invisible, direction-changing and line-separator characters (zero-width,
//! bidi overrides, U+2028, tag characters), so that such text cannot move the cursor,
//! erase lines, recolour the screen, or disguise and reorder what it is part of. It
//! must never drop a character silently: what was escaped stays visible.

use std::borrow::Cow;

/// Whether `c` could change how the text around it looks rather than show itself:
/// a control character, or an invisible or direction-changing one.
pub fn is_deceptive(c: char) -> bool {
    c.is_control() || is_invisible(c)
}

fn is_invisible(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x061C | 0x180E | 0x200B..=0x200F | 0x2028..=0x202E
        | 0x2060..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB | 0xE0000..=0xE007F)
}

/// `s` on one line as a person should see it: every [`is_deceptive`] character
/// escaped, newlines and tabs included.
pub fn printable(s: &str) -> String {
    escape(s, false).into_owned()
}

/// `s` as a person should see it, keeping its lines: like [`printable`], but a newline
/// or a tab stays one (a carriage return does not: it would overwrite the line).
pub fn printable_lines(s: &str) -> Cow<'_, str> {
    escape(s, true)
}

fn escape(s: &str, keep_lines: bool) -> Cow<'_, str> {
    let kept = |c: char| keep_lines && matches!(c, '\n' | '\t');
    if !s.chars().any(|c| is_deceptive(c) && !kept(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if kept(c) || !is_deceptive(c) {
            out.push(c);
        } else if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.extend(c.escape_unicode());
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_from_a_plugin_are_shown_escaped() {
        assert_eq!(printable("ok\rDELETE"), "ok\\rDELETE");
        assert_eq!(printable("\u{1b}[2Jclear"), "\\u{1b}[2Jclear");
        assert_eq!(printable("Grüße"), "Grüße");
        assert_eq!(printable("a\nb"), "a\\nb");
    }

    #[test]
    fn lines_are_kept_but_nothing_else_that_moves_the_cursor() {
        assert_eq!(printable_lines("a\n\tb"), "a\n\tb");
        assert_eq!(
            printable_lines("/cache\u{1b}[1A\u{1b}[2K"),
            "/cache\\u{1b}[1A\\u{1b}[2K"
        );
        assert_eq!(printable_lines("ok\rfake"), "ok\\rfake");
        assert_eq!(printable_lines("\u{202e}evil"), "\\u{202e}evil");
        assert!(matches!(printable_lines("plain text"), Cow::Borrowed(_)));
    }
}
