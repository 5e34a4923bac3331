//! Redaction of sensitive input, applied to every event before it is written.
//!
//! Three rules, each counted once per value it changes:
//!
//! - an event that the source marks `sensitive` keeps no value: it becomes
//!   [`REDACTED`];
//! - an event whose target looks like a password field (see [`is_secret_field`]) keeps
//!   no value either;
//! - a payment card number (13 to 19 digits, grouped by single spaces or dashes or not,
//!   that pass the Luhn check) inside a value or a target becomes [`REDACTED_CARD`].
//!
//! This module must never let an original value through when a rule matches: when in
//! doubt it redacts.

use pincer_sdk::recording::Event;

/// What a redacted value is written as.
pub const REDACTED: &str = "[redacted]";

/// What a card number is written as, inside the text that held it.
pub const REDACTED_CARD: &str = "[redacted:card]";

/// Words that mark a password field anywhere in a target, whatever surrounds them.
const SECRET_SUBSTRINGS: [&str; 4] = ["password", "passwd", "pwd", "secret"];

/// Words that mark a password field only as a whole word of the target, since they
/// are common inside other words (`spinner`, `footprint`).
const SECRET_WORDS: [&str; 2] = ["otp", "pin"];

/// The most spaces and dashes between two digit groups of one card number
/// (`4111 - 1111 - 1111 - 1111` has three).
const MAX_GAP: usize = 3;

/// `event` as it may be written, and how many values were redacted in it.
pub fn redact(mut event: Event) -> (Event, u32) {
    let mut count = 0;
    let secret_field = event.target.as_deref().is_some_and(is_secret_field);
    if let Some(value) = &mut event.value {
        if event.sensitive || secret_field {
            *value = REDACTED.to_owned();
            count += 1;
        } else {
            count += redact_cards(value);
        }
    }
    if let Some(target) = &mut event.target {
        count += redact_cards(target);
    }
    (event, count)
}

/// Whether `target` (a selector, a field's name or label) looks like a field for a
/// password, a PIN or a one-time code: it contains `password`, `passwd`, `pwd` or
/// `secret` (which covers `type=password`), or has `otp` or `pin` as a word, in any
/// case. Words are split at anything that is not a letter or digit, at camelCase
/// humps and between letters and digits, so `enterPin`, `OTPCode` and `pin2` match and
/// `spinner` does not.
pub fn is_secret_field(target: &str) -> bool {
    let lower = target.to_lowercase();
    SECRET_SUBSTRINGS.iter().any(|s| lower.contains(s))
        || words(target).any(|w| SECRET_WORDS.iter().any(|s| w.eq_ignore_ascii_case(s)))
}

/// The words of `s`: runs of letters or digits, split at camelCase humps
/// (`userPin` → `user`, `Pin`; `OTPCode` → `OTP`, `Code`) and between letters and
/// digits.
fn words(s: &str) -> impl Iterator<Item = &str> {
    let chars: Vec<(usize, char)> = s.char_indices().collect();
    let mut bounds = Vec::new();
    let mut start = None;
    for (i, &(at, c)) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if let Some(from) = start.take() {
                bounds.push((from, at));
            }
            continue;
        }
        let Some(from) = start else {
            start = Some(at);
            continue;
        };
        let prev = chars[i - 1].1;
        let next = chars.get(i + 1).map(|&(_, c)| c);
        let hump = (prev.is_lowercase() && c.is_uppercase())
            || (prev.is_uppercase() && c.is_uppercase() && next.is_some_and(char::is_lowercase));
        let kind_changes = prev.is_numeric() != c.is_numeric();
        if hump || kind_changes {
            bounds.push((from, at));
            start = Some(at);
        }
    }
    if let Some(from) = start {
        bounds.push((from, s.len()));
    }
    bounds.into_iter().map(move |(from, to)| &s[from..to])
}

/// Replace each card number in `text` with [`REDACTED_CARD`]; return how many.
///
/// A candidate is a run of ASCII digit groups joined by one to three spaces or dashes. Within
/// a run, the longest span of whole groups, from the leftmost group on, that holds 13 to
/// 19 digits and passes the Luhn check is a card number; the search goes on after it.
/// So two card numbers separated by a space are both found, and a long reference
/// number that happens to contain a card's digits in the middle of a group is not
/// split.
pub fn redact_cards(text: &mut String) -> u32 {
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let mut groups = Vec::new();
        loop {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            groups.push((start, i));
            let gap = bytes[i..]
                .iter()
                .take(MAX_GAP + 1)
                .take_while(|&&b| matches!(b, b' ' | b'-'))
                .count();
            let joined =
                (1..=MAX_GAP).contains(&gap) && bytes.get(i + gap).is_some_and(u8::is_ascii_digit);
            if !joined {
                break;
            }
            i += gap;
        }
        spans.extend(card_spans(bytes, &groups));
    }
    if spans.is_empty() {
        return 0;
    }
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for &(from, to) in &spans {
        out.push_str(&text[copied..from]);
        out.push_str(REDACTED_CARD);
        copied = to;
    }
    out.push_str(&text[copied..]);
    *text = out;
    spans.len() as u32
}

/// The byte spans of the card numbers among `groups`, the digit groups of one run.
fn card_spans(bytes: &[u8], groups: &[(usize, usize)]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut first = 0;
    while first < groups.len() {
        let mut digits = Vec::new();
        let mut found = None;
        for (last, &(from, to)) in groups.iter().enumerate().skip(first) {
            digits.extend_from_slice(&bytes[from..to]);
            if digits.len() > 19 {
                break;
            }
            if digits.len() >= 13 && luhn(&digits) {
                found = Some(last);
            }
        }
        match found {
            Some(last) => {
                spans.push((groups[first].0, groups[last].1));
                first = last + 1;
            }
            None => first += 1,
        }
    }
    spans
}

/// Whether the ASCII digits `digits` pass the Luhn check.
fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(d - b'0');
            match i % 2 {
                0 => d,
                _ if d * 2 > 9 => d * 2 - 9,
                _ => d * 2,
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(target: Option<&str>, value: Option<&str>, sensitive: bool) -> Event {
        Event {
            kind: "input".to_owned(),
            time_ms: 10,
            target: target.map(str::to_owned),
            value: value.map(str::to_owned),
            sensitive,
            x: None,
            y: None,
        }
    }

    fn cards(text: &str) -> (String, u32) {
        let mut text = text.to_owned();
        let n = redact_cards(&mut text);
        (text, n)
    }

    #[test]
    fn redacts_the_value_of_a_sensitive_event() {
        let (out, n) = redact(event(Some("#name"), Some("hunter2"), true));
        assert_eq!(out.value.as_deref(), Some(REDACTED));
        assert_eq!(out.target.as_deref(), Some("#name"));
        assert_eq!(n, 1);
    }

    #[test]
    fn redacts_the_value_typed_into_a_password_field() {
        for target in [
            "#password",
            "input[type=password]",
            "input[type=\"password\"]",
            "#newPassword",
            "#user-passwd",
            "#pwd",
            "#client_secret",
            "#otp",
            "input[name=otp-code]",
            "#OTPCode",
            "#pin",
            "#enterPin",
            "#pin2",
            "PIN",
        ] {
            let (out, n) = redact(event(Some(target), Some("1234"), false));
            assert_eq!(out.value.as_deref(), Some(REDACTED), "{target}");
            assert_eq!(n, 1, "{target}");
        }
    }

    #[test]
    fn keeps_the_value_of_an_ordinary_field() {
        for target in [
            "#name",
            "#spinner",
            "#shipping",
            "#footprint",
            "#pinterest",
            "#option",
        ] {
            let (out, n) = redact(event(Some(target), Some("hello"), false));
            assert_eq!(out.value.as_deref(), Some("hello"), "{target}");
            assert_eq!(n, 0, "{target}");
        }
    }

    #[test]
    fn an_event_without_a_value_has_nothing_to_redact() {
        let (out, n) = redact(event(Some("#password"), None, true));
        assert_eq!(out.value, None);
        assert_eq!(n, 0);
    }

    #[test]
    fn redacts_card_numbers_written_in_the_usual_ways() {
        for card in [
            "4111111111111111",
            "4111 1111 1111 1111",
            "4111-1111-1111-1111",
            "4111 - 1111 - 1111 - 1111",
            "4111  1111  1111  1111",
            "378282246310005",
            "3782 822463 10005",
            "6011111111111117",
            "4222222222222",
            "6304000000000000018",
        ] {
            assert_eq!(
                cards(&format!("paid with {card}.")),
                ("paid with [redacted:card].".to_owned(), 1),
                "{card}"
            );
        }
    }

    #[test]
    fn keeps_digit_runs_that_are_not_card_numbers() {
        for text in [
            "4111111111111112",       // fails the Luhn check
            "411111111111",           // 12 digits
            "41111111111111111111",   // 20 digits in one group
            "4111    1111 1111 1111", // four spaces end the run: no part has 13 digits
            "call 555-0100 now",
            "",
        ] {
            assert_eq!(cards(text), (text.to_owned(), 0), "{text}");
        }
    }

    #[test]
    fn finds_each_of_two_card_numbers_separated_by_one_space() {
        assert_eq!(
            cards("4111111111111111 5500000000000004"),
            ("[redacted:card] [redacted:card]".to_owned(), 2)
        );
    }

    #[test]
    fn finds_a_card_number_after_a_reference_number_in_the_same_run() {
        assert_eq!(
            cards("order 12345 4111111111111111"),
            ("order 12345 [redacted:card]".to_owned(), 1)
        );
    }

    #[test]
    fn redacts_card_numbers_in_targets_and_counts_each() {
        let (out, n) = redact(event(
            Some("https://shop.example/pay?card=4111111111111111"),
            Some("4111 1111 1111 1111 and 5500-0000-0000-0004"),
            false,
        ));
        assert_eq!(
            out.target.as_deref(),
            Some("https://shop.example/pay?card=[redacted:card]")
        );
        assert_eq!(
            out.value.as_deref(),
            Some("[redacted:card] and [redacted:card]")
        );
        assert_eq!(n, 3);
    }

    #[test]
    fn a_value_redacted_whole_is_counted_once() {
        let (out, n) = redact(event(Some("#password"), Some("4111111111111111"), false));
        assert_eq!(out.value.as_deref(), Some(REDACTED));
        assert_eq!(n, 1);
    }

    #[test]
    fn keeps_text_around_a_card_number_intact_whatever_its_script() {
        assert_eq!(
            cards("карта 4111111111111111 ✓"),
            ("карта [redacted:card] ✓".to_owned(), 1)
        );
    }

    #[test]
    fn checks_luhn() {
        assert!(luhn(b"79927398713"));
        assert!(!luhn(b"79927398710"));
    }
}
