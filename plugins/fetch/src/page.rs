//! What a fetched body becomes for the model: its kind (HTML, other text, binary), its
//! text in the right charset, HTML converted to Markdown, and one page of the result.
//!
//! Pure functions over bytes and strings, tested natively; this module never makes a
//! request.

use std::borrow::Cow;

use encoding_rs::{Encoding, UTF_8};

/// What a response body is, as far as the model is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An HTML document: converted to Markdown unless the caller asks for it raw.
    Html,
    /// Text of another type (plain, JSON, XML, CSS, source code): returned as it is.
    Text,
    /// Bytes that are not text (images, archives, PDFs): refused.
    Binary,
}

/// Media types outside `text/*`, `*+json` and `*+xml` whose bodies are text.
const TEXT_TYPES: &[&str] = &[
    "application/json",
    "application/xml",
    "application/javascript",
    "application/ecmascript",
    "application/x-javascript",
    "application/x-ndjson",
    "application/x-sh",
    "application/yaml",
    "application/x-yaml",
    "application/toml",
    "application/sql",
    "application/graphql",
    "application/x-www-form-urlencoded",
];

/// Media types that say nothing about the body, which is sniffed instead.
const UNTYPED: &[&str] = &["", "application/octet-stream", "binary/octet-stream"];

/// How many bytes of a body are sniffed.
const SNIFF_BYTES: usize = 1024;

/// Split a `Content-Type` value into its essence (`type/subtype`, lower case) and its
/// `charset` parameter.
pub fn media_type(content_type: &str) -> (String, Option<String>) {
    let mut parts = content_type.split(';');
    let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    let charset = parts.find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches('"').to_owned())
    });
    (essence, charset)
}

/// The kind of a body whose media type's essence is `essence`. A declared text type
/// whose body starts like an HTML document is HTML; an untyped body is sniffed.
pub fn classify(essence: &str, body: &[u8]) -> Kind {
    if essence == "text/html" || essence == "application/xhtml+xml" {
        Kind::Html
    } else if UNTYPED.contains(&essence) {
        sniff(body)
    } else if essence.starts_with("text/")
        || essence.ends_with("+json")
        || essence.ends_with("+xml")
        || TEXT_TYPES.contains(&essence)
    {
        if looks_like_html(body) {
            Kind::Html
        } else {
            Kind::Text
        }
    } else {
        Kind::Binary
    }
}

/// Sniff an untyped body: binary if its start holds a byte that no text has (the
/// WHATWG MIME Sniffing standard's "binary data bytes"), else HTML or text.
fn sniff(body: &[u8]) -> Kind {
    let head = &body[..body.len().min(SNIFF_BYTES)];
    let binary = head
        .iter()
        .any(|&b| matches!(b, 0x00..=0x08 | 0x0B | 0x0E..=0x1A | 0x1C..=0x1F));
    if binary {
        Kind::Binary
    } else if looks_like_html(head) {
        Kind::Html
    } else {
        Kind::Text
    }
}

/// Does the body open like an HTML document?
fn looks_like_html(body: &[u8]) -> bool {
    let head = String::from_utf8_lossy(&body[..body.len().min(256)]).to_ascii_lowercase();
    head.contains("<html") || head.contains("<!doctype html")
}

/// The body as text. The charset comes from a byte order mark, else the `Content-Type`
/// header, else (for HTML) a `<meta>` tag in the first 1024 bytes, else UTF-8.
/// Malformed sequences become U+FFFD.
pub fn decode<'a>(body: &'a [u8], charset: Option<&str>, kind: Kind) -> Cow<'a, str> {
    let declared = charset.and_then(|label| Encoding::for_label(label.as_bytes()));
    let encoding = declared
        .or_else(|| (kind == Kind::Html).then(|| meta_charset(body)).flatten())
        .unwrap_or(UTF_8);
    encoding.decode(body).0
}

/// The charset an HTML document declares in a `<meta>` tag near its start, as either
/// `<meta charset="...">` or `<meta http-equiv="Content-Type" content="...; charset=...">`.
fn meta_charset(body: &[u8]) -> Option<&'static Encoding> {
    let head = String::from_utf8_lossy(&body[..body.len().min(SNIFF_BYTES)]).to_ascii_lowercase();
    head.split("<meta").skip(1).find_map(|tag| {
        let tag = tag.split('>').next().unwrap_or_default();
        let (_, value) = tag.split_once("charset=")?;
        let label = value
            .trim_start_matches(['"', '\'', ' '])
            .split(['"', '\'', ';', ' ', '/'])
            .next()
            .unwrap_or_default();
        // A document cannot declare UTF-16 from inside itself; such a label means UTF-8.
        Encoding::for_label(label.as_bytes()).map(Encoding::output_encoding)
    })
}

/// Elements whose content is never part of the page's text.
const SKIPPED_ELEMENTS: &[&str] = &[
    "head", "script", "style", "noscript", "template", "iframe", "object", "embed", "svg", "canvas",
];

/// Convert an HTML document to Markdown, without scripts, styles and other content that
/// is not text. None when nothing readable is left.
pub fn html_to_markdown(html: &str) -> Option<String> {
    let converter = htmd::HtmlToMarkdown::builder()
        .options(htmd::options::Options {
            bullet_list_marker: htmd::options::BulletListMarker::Dash,
            ul_bullet_spacing: 1,
            ol_number_spacing: 1,
            ..Default::default()
        })
        .skip_tags(SKIPPED_ELEMENTS.to_vec())
        .build();
    // Parsing a string in memory cannot fail: html5ever recovers from any markup.
    let markdown = converter.convert(html).ok()?;
    (!markdown.trim().is_empty()).then_some(markdown)
}

/// One page of `content`: at most `max_length` characters from the character
/// `start_index`, headed by `heading`, and followed, when more is left, by the
/// `start_index` that reads on.
pub fn paginate(heading: &str, content: &str, start_index: usize, max_length: usize) -> String {
    let total = content.chars().count();
    if total == 0 {
        return format!("{heading}\n<error>The page has no content.</error>");
    }
    if start_index >= total {
        return format!(
            "{heading}\n<error>No more content available: the content is {total} characters long.</error>"
        );
    }
    let start = byte_offset(content, start_index);
    let end = start + byte_offset(&content[start..], max_length);
    let mut page = format!("{heading}\n{}", &content[start..end]);
    let next = start_index + content[start..end].chars().count();
    if next < total {
        page.push_str(&format!(
            "\n\n<error>Content truncated: {} of {total} characters remain. Call the fetch tool with start_index={next} to get more content.</error>",
            total - next
        ));
    }
    page
}

/// The byte offset of the character `chars` in `text`, or its length.
fn byte_offset(text: &str, chars: usize) -> usize {
    text.char_indices()
        .nth(chars)
        .map_or(text.len(), |(at, _)| at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_media_type_and_charset() {
        assert_eq!(
            media_type("Text/HTML; Charset=\"ISO-8859-1\""),
            ("text/html".to_owned(), Some("ISO-8859-1".to_owned()))
        );
        assert_eq!(
            media_type("application/json"),
            ("application/json".to_owned(), None)
        );
        assert_eq!(media_type(""), (String::new(), None));
    }

    #[test]
    fn classifies_declared_types() {
        let cases = [
            ("text/html", &b"<p>hi</p>"[..], Kind::Html),
            ("application/xhtml+xml", b"<html/>", Kind::Html),
            ("text/plain", b"hello", Kind::Text),
            (
                "text/plain",
                b"<!DOCTYPE html><html><body>x</body></html>",
                Kind::Html,
            ),
            ("application/json", b"{\"a\":1}", Kind::Text),
            ("application/ld+json", b"{}", Kind::Text),
            ("image/svg+xml", b"<svg/>", Kind::Text),
            ("image/png", b"\x89PNG\r\n\x1a\n", Kind::Binary),
            ("application/pdf", b"%PDF-1.7", Kind::Binary),
            ("application/zip", b"PK\x03\x04", Kind::Binary),
        ];
        for (essence, body, kind) in cases {
            assert_eq!(classify(essence, body), kind, "{essence}");
        }
    }

    #[test]
    fn sniffs_untyped_bodies() {
        assert_eq!(classify("", b"  <html><body>hi</body></html>"), Kind::Html);
        assert_eq!(classify("", b"just some words\n"), Kind::Text);
        assert_eq!(
            classify("application/octet-stream", b"\x00\x01\x02"),
            Kind::Binary
        );
        assert_eq!(classify("", b"\x89PNG\r\n\x1a\n\x00\x00"), Kind::Binary);
    }

    #[test]
    fn decodes_the_declared_charset() {
        assert_eq!(decode(b"caf\xe9", Some("iso-8859-1"), Kind::Text), "café");
        assert_eq!(decode("café".as_bytes(), None, Kind::Text), "café");
        assert_eq!(decode(b"caf\xe9", None, Kind::Text), "caf\u{fffd}");
    }

    #[test]
    fn decodes_the_charset_of_a_meta_tag() {
        let html =
            b"<html><head><meta charset=\"windows-1252\"></head><body>\x93quoted\x94</body></html>";
        assert!(decode(html, None, Kind::Html).contains("\u{201c}quoted\u{201d}"));
        let old_style = b"<meta http-equiv=\"Content-Type\" content=\"text/html; charset=iso-8859-1\"><p>caf\xe9</p>";
        assert!(decode(old_style, None, Kind::Html).contains("café"));
        let header_wins = b"<meta charset=\"iso-8859-1\"><p>caf\xc3\xa9</p>";
        assert!(decode(header_wins, Some("utf-8"), Kind::Html).contains("café"));
    }

    #[test]
    fn converts_html_to_markdown_without_scripts_and_styles() {
        let html = r#"<!doctype html><html><head><title>T</title><style>p{color:red}</style></head>
            <body><h1>Title</h1><script>alert(1)</script><p>Some <b>bold</b> and a <a href="https://example.com/">link</a>.</p>
            <ul><li>one</li><li>two</li></ul></body></html>"#;
        let markdown = html_to_markdown(html).expect("some text");
        assert!(markdown.starts_with("# Title"), "{markdown}");
        assert!(markdown.contains("Some **bold** and a [link](https://example.com/)."));
        assert!(markdown.contains("- one\n- two"), "{markdown}");
        assert!(!markdown.contains("alert") && !markdown.contains("color"));
    }

    #[test]
    fn finds_nothing_readable_in_an_empty_page() {
        assert_eq!(
            html_to_markdown("<html><body><script>x()</script></body></html>"),
            None
        );
    }

    #[test]
    fn returns_a_short_content_whole() {
        assert_eq!(
            paginate("Contents of u:", "hello", 0, 10),
            "Contents of u:\nhello"
        );
    }

    #[test]
    fn truncates_and_says_where_to_read_on() {
        let page = paginate("Contents of u:", "0123456789", 2, 5);
        assert_eq!(
            page,
            "Contents of u:\n23456\n\n<error>Content truncated: 3 of 10 characters remain. Call the fetch tool with start_index=7 to get more content.</error>"
        );
    }

    #[test]
    fn reads_the_last_page_without_a_note() {
        assert_eq!(paginate("h", "0123456789", 7, 5), "h\n789");
        assert_eq!(paginate("h", "0123456789", 5, 5), "h\n56789");
    }

    #[test]
    fn counts_characters_not_bytes() {
        let page = paginate("h", "ééééé", 1, 2);
        assert!(page.starts_with("h\néé\n\n"), "{page}");
        assert!(page.contains("start_index=3"));
    }

    #[test]
    fn says_there_is_no_more_content_past_the_end() {
        assert_eq!(
            paginate("h", "abc", 3, 5),
            "h\n<error>No more content available: the content is 3 characters long.</error>"
        );
        assert!(paginate("h", "", 0, 5).contains("no content"));
    }
}
