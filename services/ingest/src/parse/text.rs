//! Plain text: decoding and line-end normalisation, nothing else.
//!
//! The canonical text of a UTF-8 file with `\n` line ends is the file itself,
//! byte for byte, so offsets computed on the original file (the evaluation
//! set's gold spans, a user's own tooling) stay valid.

use std::borrow::Cow;

use encoding_rs::{Encoding, UTF_16BE, UTF_16LE, WINDOWS_1252};
use folio_common::model::ParsedDocument;

use super::{pages_split_at_form_feeds, ParseError, ParseLimits};

/// Parses a plain-text file; pages split at form feeds.
pub(super) fn parse_text(
    bytes: &[u8],
    _limits: &ParseLimits,
) -> Result<ParsedDocument, ParseError> {
    let text = decode_text(bytes)?;
    Ok(ParsedDocument {
        pages: pages_split_at_form_feeds(&text),
        text,
        headings: Vec::new(),
        tables: Vec::new(),
        title: None,
    })
}

/// Decodes text bytes: a BOM decides (UTF-8, UTF-16 LE/BE); otherwise valid
/// UTF-8 is taken as is, BOM-less UTF-16 is recognised by its NUL pattern,
/// binary data is refused, and anything else is read as Windows-1252 (the
/// de-facto encoding of legacy "ANSI" files; it maps every byte). Line ends
/// become `\n`.
pub(super) fn decode_text(bytes: &[u8]) -> Result<String, ParseError> {
    if bytes.starts_with(&[0xFF, 0xFE, 0, 0]) || bytes.starts_with(&[0, 0, 0xFE, 0xFF]) {
        return Err(ParseError::UnsupportedEncoding("UTF-32".into()));
    }
    let decoded: Cow<'_, str> = if let Some((encoding, bom_len)) = Encoding::for_bom(bytes) {
        decode_with(encoding, &bytes[bom_len..])
    } else if let Some(encoding) = bomless_utf16(bytes) {
        decode_with(encoding, bytes)
    } else {
        match std::str::from_utf8(bytes) {
            Ok(text) => Cow::Borrowed(text),
            Err(_) => {
                if looks_binary(bytes) {
                    return Err(ParseError::Binary);
                }
                decode_with(WINDOWS_1252, bytes)
            }
        }
    };
    if looks_binary_text(&decoded) {
        return Err(ParseError::Binary);
    }
    Ok(normalize_line_ends(decoded))
}

fn decode_with<'a>(encoding: &'static Encoding, bytes: &'a [u8]) -> Cow<'a, str> {
    encoding.decode_without_bom_handling(bytes).0
}

/// UTF-16 without a BOM: NUL bytes on one parity only, as ASCII-range text
/// produces.
fn bomless_utf16(bytes: &[u8]) -> Option<&'static Encoding> {
    let sample = &bytes[..bytes.len().min(4096) & !1];
    if sample.len() < 8 {
        return None;
    }
    let pairs = sample.len() / 2;
    let even_nuls = sample.iter().step_by(2).filter(|&&b| b == 0).count();
    let odd_nuls = sample
        .iter()
        .skip(1)
        .step_by(2)
        .filter(|&&b| b == 0)
        .count();
    if odd_nuls * 10 >= pairs * 7 && even_nuls * 50 <= pairs {
        Some(UTF_16LE)
    } else if even_nuls * 10 >= pairs * 7 && odd_nuls * 50 <= pairs {
        Some(UTF_16BE)
    } else {
        None
    }
}

/// Raw bytes that are no text in any 8-bit encoding: NULs or many C0
/// controls other than tab, line ends, form feed and escape.
fn looks_binary(bytes: &[u8]) -> bool {
    let sample = &bytes[..bytes.len().min(64 * 1024)];
    let controls = sample
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0C | 0x1B))
        .count();
    sample.contains(&0) || controls * 100 > sample.len()
}

/// Decoded text that is still mostly control characters (binary data that
/// happened to decode).
fn looks_binary_text(text: &str) -> bool {
    let mut total = 0usize;
    let mut controls = 0usize;
    for c in text.chars().take(64 * 1024) {
        total += 1;
        if c == '\0' || (c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\u{c}' | '\u{1b}')) {
            controls += 1;
        }
    }
    controls * 100 > total
}

/// `\r\n` and lone `\r` become `\n`; borrowed text without `\r` is copied once.
pub(super) fn normalize_line_ends(text: Cow<'_, str>) -> String {
    if !text.contains('\r') {
        return text.into_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' {
            if chars.peek() == Some(&'\n') {
                chars.next();
            }
            out.push('\n');
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_is_kept_verbatim_without_bom() {
        assert_eq!(
            decode_text("\u{feff}é\r\nb\rc".as_bytes()).unwrap(),
            "é\nb\nc"
        );
        assert_eq!(
            decode_text("§ 1.\n\u{c}x".as_bytes()).unwrap(),
            "§ 1.\n\u{c}x"
        );
    }

    #[test]
    fn utf16_with_and_without_bom() {
        let units: Vec<u16> = "Über § 2".encode_utf16().collect();
        let mut le = vec![0xFF, 0xFE];
        let mut be = vec![0xFE, 0xFF];
        let mut bare = Vec::new();
        for u in &units {
            le.extend_from_slice(&u.to_le_bytes());
            be.extend_from_slice(&u.to_be_bytes());
            bare.extend_from_slice(&u.to_le_bytes());
        }
        assert_eq!(decode_text(&le).unwrap(), "Über § 2");
        assert_eq!(decode_text(&be).unwrap(), "Über § 2");
        assert_eq!(decode_text(&bare).unwrap(), "Über § 2");
    }

    #[test]
    fn cp1252_and_binary() {
        assert_eq!(
            decode_text(b"caf\xe9 \x93q\x94 \x80").unwrap(),
            "café “q” €"
        );
        assert_eq!(
            decode_text(b"\x00\x01\x02\xff\xfe\x03").unwrap_err(),
            ParseError::Binary
        );
        assert!(matches!(
            decode_text(&[0xFF, 0xFE, 0, 0, b'a', 0, 0, 0]),
            Err(ParseError::UnsupportedEncoding(_))
        ));
    }
}
