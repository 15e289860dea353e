//! Sentence and paragraph boundaries in legal and financial prose, where
//! periods also end abbreviations ("Inc.", "U.S.", "No.") and numbering
//! labels ("4.", "1.2.").

/// Abbreviations that end in a period without ending a sentence (lower
/// case, without the period).
const ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "dr", "st", "no", "nos", "inc", "corp", "co", "ltd", "jr", "sr", "vs", "v",
    "sec", "secs", "art", "fig", "approx", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep",
    "sept", "oct", "nov", "dec", "para", "par", "cf", "et", "al", "viz", "ref", "dept", "est",
    "govt", "ave", "blvd", "p", "pp", "vol", "ch", "cl", "sch", "exh", "incl",
];

/// Byte offsets (into `text`) where a new sentence starts: the first
/// non-blank byte after a sentence end or a paragraph break. Offset 0 is
/// not included.
pub(crate) fn sentence_starts(text: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut starts = Vec::new();
    let mut i = 0usize;
    while i < bytes.len() {
        let b = bytes[i];
        let is_end = matches!(b, b'.' | b'!' | b'?');
        let is_break = b == b'\x0c' || (b == b'\n' && blank_line_follows(bytes, i + 1));
        if !(is_end || is_break) {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        if is_end {
            // Closing quotes and brackets stay with the sentence.
            while j < bytes.len() {
                let rest = &text[j..];
                if let Some(c) = rest.chars().next().filter(|c| "\"'”’)]".contains(*c)) {
                    j += c.len_utf8();
                } else {
                    break;
                }
            }
            if j >= bytes.len() || !(bytes[j] as char).is_ascii_whitespace() {
                i = j.max(i + 1);
                continue;
            }
        }
        let mut k = j;
        while k < bytes.len() && bytes[k].is_ascii_whitespace() {
            k += 1;
        }
        if k >= bytes.len() {
            break;
        }
        if (is_break || (opens_sentence(&text[k..]) && !(b == b'.' && is_abbreviation(text, i))))
            && starts.last() != Some(&k)
        {
            starts.push(k);
        }
        i = k;
    }
    starts
}

/// Byte offsets where a new paragraph starts: the first non-blank byte
/// after a blank line or a form feed.
pub(crate) fn paragraph_starts(text: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut starts = Vec::new();
    let mut i = 0usize;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\x0c' || (b == b'\n' && blank_line_follows(bytes, i + 1)) {
            let mut k = i + 1;
            while k < bytes.len() && bytes[k].is_ascii_whitespace() {
                k += 1;
            }
            if k < bytes.len() && k > 0 && starts.last() != Some(&k) {
                starts.push(k);
            }
            i = k.max(i + 1);
        } else {
            i += 1;
        }
    }
    starts
}

/// Whether the line starting at `from` is blank (only spaces/tabs, then a
/// newline or form feed).
fn blank_line_follows(bytes: &[u8], from: usize) -> bool {
    let mut k = from;
    while k < bytes.len() && matches!(bytes[k], b' ' | b'\t' | b'\r') {
        k += 1;
    }
    k < bytes.len() && matches!(bytes[k], b'\n' | b'\x0c')
}

fn opens_sentence(rest: &str) -> bool {
    rest.chars()
        .next()
        .is_some_and(|c| c.is_uppercase() || c.is_ascii_digit() || "\"“‘'([•§*".contains(c))
}

/// Whether the period at `dot` ends an abbreviation, an initial or a
/// numbering label rather than a sentence.
fn is_abbreviation(text: &str, dot: usize) -> bool {
    let before = &text[..dot];
    let word_start = before
        .rfind(|c: char| c.is_whitespace() || c == '(' || c == '"' || c == '“')
        .map_or(0, |p| {
            p + before[p..].chars().next().map_or(1, char::len_utf8)
        });
    let word = &before[word_start..];
    if word.is_empty() {
        return false;
    }
    // "U.S.", "e.g.", "L.L.C." and initials ("J.").
    if word.contains('.') && word.chars().filter(|c| c.is_alphabetic()).count() <= 4 {
        return true;
    }
    if word.chars().count() == 1 && word.chars().all(char::is_alphabetic) {
        return true;
    }
    let lower = word.to_lowercase();
    if ABBREVIATIONS.contains(&lower.as_str()) {
        return true;
    }
    // A numbering label at a line start ("4." / "1.2.") opens a heading.
    if word.chars().all(|c| c.is_ascii_digit() || c == '.') {
        let line_start = before[..word_start].rfind('\n').map_or(0, |p| p + 1);
        return before[line_start..word_start].trim().is_empty();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        let mut prev = 0;
        for s in sentence_starts(text) {
            out.push(text[prev..s].trim());
            prev = s;
        }
        out.push(text[prev..].trim());
        out
    }

    #[test]
    fn splits_sentences_but_not_abbreviations() {
        let text = "Corio Inc. shall pay the U.S. fees. Each Party agrees. Revenue grew in 2022. Net income fell.";
        assert_eq!(
            split(text),
            vec![
                "Corio Inc. shall pay the U.S. fees.",
                "Each Party agrees.",
                "Revenue grew in 2022.",
                "Net income fell."
            ]
        );
    }

    #[test]
    fn labels_and_decimals_do_not_split() {
        let text = "1. DEFINITIONS apply here. See Section 4.2 for more.\n4. Next";
        assert_eq!(
            split(text),
            vec![
                "1. DEFINITIONS apply here.",
                "See Section 4.2 for more.",
                "4. Next"
            ]
        );
    }

    #[test]
    fn paragraphs_break() {
        let text = "first para\nstill first\n\n  second para\x0cthird";
        assert_eq!(paragraph_starts(text), vec![26, 38]);
        assert_eq!(
            split(text),
            vec!["first para\nstill first", "second para", "third"]
        );
    }

    #[test]
    fn quotes_stay_with_sentence() {
        let text = "the \"Agreement.\" The Parties agree.";
        assert_eq!(
            split(text),
            vec!["the \"Agreement.\"", "The Parties agree."]
        );
    }
}
