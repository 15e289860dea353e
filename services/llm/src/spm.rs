//! SentencePiece-style BPE (GGUF `tokenizer.ggml.model = "llama"`, e.g. Gemma):
//! merge the adjacent pair whose concatenation has the best vocabulary score, until
//! no pair is in the vocabulary; characters outside it fall back to byte tokens.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

/// Token types in GGUF (`tokenizer.ggml.token_type`).
const TYPE_CONTROL: u32 = 3;
const TYPE_USER_DEFINED: u32 = 4;
const TYPE_BYTE: u32 = 6;

/// A SentencePiece vocabulary with scores.
#[derive(Debug, Clone)]
pub(crate) struct SpmTokenizer {
    pieces: Vec<String>,
    types: Vec<u32>,
    index: HashMap<String, (u32, f32)>,
    byte_tokens: [Option<u32>; 256],
    /// Control and user-defined tokens matched verbatim in text, longest first.
    specials: Vec<(String, u32)>,
    unknown: Option<u32>,
    add_space_prefix: bool,
}

#[derive(Debug, PartialEq)]
struct Bigram {
    score: f32,
    left: usize,
    right: usize,
    len: usize,
}

impl Eq for Bigram {}

impl Ord for Bigram {
    fn cmp(&self, other: &Self) -> Ordering {
        // Best score first; on ties the leftmost pair, as SentencePiece does.
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.left.cmp(&self.left))
    }
}

impl PartialOrd for Bigram {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[derive(Debug, Clone, Copy)]
struct Symbol {
    start: usize,
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

impl SpmTokenizer {
    pub(crate) fn new(
        pieces: Vec<String>,
        scores: Vec<f32>,
        types: Vec<u32>,
        unknown: Option<u32>,
        add_space_prefix: bool,
    ) -> Self {
        let mut index = HashMap::with_capacity(pieces.len());
        let mut byte_tokens = [None; 256];
        let mut specials = Vec::new();
        for (id, piece) in pieces.iter().enumerate() {
            let id = id as u32;
            let kind = types.get(id as usize).copied().unwrap_or(1);
            let score = scores.get(id as usize).copied().unwrap_or(0.0);
            if kind == TYPE_BYTE {
                if let Some(hex) = piece.strip_prefix("<0x").and_then(|p| p.strip_suffix('>')) {
                    if let Ok(byte) = u8::from_str_radix(hex, 16) {
                        byte_tokens[byte as usize] = Some(id);
                    }
                }
                continue;
            }
            if (kind == TYPE_CONTROL || kind == TYPE_USER_DEFINED) && !piece.is_empty() {
                specials.push((piece.clone(), id));
            }
            index.entry(piece.clone()).or_insert((id, score));
        }
        specials.sort_by_key(|s| std::cmp::Reverse(s.0.len()));
        Self {
            pieces,
            types,
            index,
            byte_tokens,
            specials,
            unknown,
            add_space_prefix,
        }
    }

    /// Token ids of `text`; control and user-defined tokens written in the text
    /// become their single ids.
    pub(crate) fn encode(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::new();
        let mut rest = text;
        let mut first = true;
        while !rest.is_empty() {
            // The earliest special token occurrence (longest at that position).
            let found = self
                .specials
                .iter()
                .filter_map(|(piece, id)| rest.find(piece.as_str()).map(|at| (at, piece, *id)))
                .min_by(|a, b| a.0.cmp(&b.0).then(b.1.len().cmp(&a.1.len())));
            let (plain, special) = match found {
                Some((at, piece, id)) => (&rest[..at], Some((piece.len(), id))),
                None => (rest, None),
            };
            if !plain.is_empty() {
                self.encode_plain(plain, first && self.add_space_prefix, &mut out);
            }
            first = false;
            match special {
                Some((len, id)) => {
                    out.push(id);
                    rest = &rest[plain.len() + len..];
                }
                None => break,
            }
        }
        out
    }

    fn encode_plain(&self, text: &str, space_prefix: bool, out: &mut Vec<u32>) {
        let mut normalized = String::with_capacity(text.len() + 3);
        if space_prefix {
            normalized.push('▁');
        }
        normalized.push_str(&text.replace(' ', "▁"));
        let text = normalized.as_str();
        let mut symbols: Vec<Symbol> = Vec::new();
        for (i, (start, ch)) in text.char_indices().enumerate() {
            symbols.push(Symbol {
                start,
                len: ch.len_utf8(),
                prev: i.checked_sub(1),
                next: None,
            });
            if i > 0 {
                symbols[i - 1].next = Some(i);
            }
        }
        let mut queue = BinaryHeap::new();
        let try_pair = |queue: &mut BinaryHeap<Bigram>, symbols: &[Symbol], left: usize| {
            let Some(right) = symbols[left].next else {
                return;
            };
            let start = symbols[left].start;
            let len = symbols[left].len + symbols[right].len;
            if let Some(&(_, score)) = self.index.get(&text[start..start + len]) {
                queue.push(Bigram {
                    score,
                    left,
                    right,
                    len,
                });
            }
        };
        for i in 0..symbols.len() {
            try_pair(&mut queue, &symbols, i);
        }
        while let Some(bigram) = queue.pop() {
            let (left, right) = (bigram.left, bigram.right);
            // Skip pairs made stale by an earlier merge.
            if symbols[left].len == 0
                || symbols[right].len == 0
                || symbols[left].len + symbols[right].len != bigram.len
                || symbols[left].next != Some(right)
            {
                continue;
            }
            symbols[left].len += symbols[right].len;
            symbols[right].len = 0;
            symbols[left].next = symbols[right].next;
            if let Some(next) = symbols[right].next {
                symbols[next].prev = Some(left);
            }
            if let Some(prev) = symbols[left].prev {
                try_pair(&mut queue, &symbols, prev);
            }
            try_pair(&mut queue, &symbols, left);
        }
        let mut at = if symbols.is_empty() { None } else { Some(0) };
        while let Some(i) = at {
            let symbol = symbols[i];
            let piece = &text[symbol.start..symbol.start + symbol.len];
            match self.index.get(piece) {
                Some(&(id, _)) => out.push(id),
                None => {
                    for byte in piece.bytes() {
                        match (self.byte_tokens[byte as usize], self.unknown) {
                            (Some(id), _) | (None, Some(id)) => out.push(id),
                            (None, None) => {}
                        }
                    }
                }
            }
            at = symbol.next;
        }
    }

    /// Text of token ids; control tokens are dropped unless `keep_special`.
    pub(crate) fn decode(&self, ids: &[u32], keep_special: bool) -> String {
        let mut bytes: Vec<u8> = Vec::new();
        for &id in ids {
            let Some(piece) = self.pieces.get(id as usize) else {
                continue;
            };
            let kind = self.types.get(id as usize).copied().unwrap_or(1);
            if kind == TYPE_BYTE {
                if let Some(byte) = piece
                    .strip_prefix("<0x")
                    .and_then(|p| p.strip_suffix('>'))
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    bytes.push(byte);
                }
                continue;
            }
            if kind == TYPE_CONTROL && !keep_special {
                continue;
            }
            bytes.extend_from_slice(piece.replace('▁', " ").as_bytes());
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Id of a piece written exactly.
    pub(crate) fn token_id(&self, piece: &str) -> Option<u32> {
        self.index.get(piece).map(|(id, _)| *id)
    }

    /// Entries in the vocabulary.
    pub(crate) fn len(&self) -> usize {
        self.pieces.len()
    }

    /// Texts that encode to a single control or user-defined token.
    pub(crate) fn special_pieces(&self) -> impl Iterator<Item = &str> {
        self.specials.iter().map(|(piece, _)| piece.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> SpmTokenizer {
        let pieces: Vec<String> = [
            "<unk>",
            "<bos>",
            "<start_of_turn>",
            "▁",
            "a",
            "b",
            "c",
            "ab",
            "▁ab",
            "abc",
            "<0x41>",
            "<0xE2>",
            "<0x82>",
            "<0xAC>",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let scores = vec![
            0.0, 0.0, 0.0, -5.0, -3.0, -3.0, -3.0, -1.0, -0.5, -2.0, 0.0, 0.0, 0.0, 0.0,
        ];
        let types = vec![2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 6, 6, 6, 6];
        SpmTokenizer::new(pieces, scores, types, Some(0), false)
    }

    #[test]
    fn merges_by_score_and_falls_back_to_bytes() {
        let t = tiny();
        // "▁ab" beats "ab" + "c": best-scored merges first.
        assert_eq!(t.encode(" abc"), vec![8, 6]);
        assert_eq!(t.encode("abc"), vec![9]);
        // "A" and "€" are not pieces: their UTF-8 bytes are.
        assert_eq!(t.encode("A€"), vec![10, 11, 12, 13]);
        assert_eq!(t.decode(&t.encode(" abcA€"), true), " abcA€");
    }

    #[test]
    fn special_tokens_in_text_are_single_ids() {
        let t = tiny();
        assert_eq!(t.encode("<start_of_turn>ab"), vec![2, 7]);
        assert_eq!(t.decode(&[2, 7], false), "ab");
        assert_eq!(t.decode(&[2, 7], true), "<start_of_turn>ab");
    }

    /// A vocabulary with a few merges and every byte, so any text round-trips.
    fn with_all_bytes() -> SpmTokenizer {
        let mut pieces: Vec<String> = ["<unk>", "<ctl>", "▁", "▁the", "th", "he", "▁t", "e"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut scores = vec![0.0, 0.0, -4.0, -0.5, -1.0, -1.5, -2.0, -3.0];
        let mut types = vec![2, 3, 1, 1, 1, 1, 1, 1];
        for byte in 0..=255u8 {
            pieces.push(format!("<0x{byte:02X}>"));
            scores.push(0.0);
            types.push(6);
        }
        SpmTokenizer::new(pieces, scores, types, Some(0), false)
    }

    proptest::proptest! {
        #[test]
        fn any_text_round_trips(text in "\\PC{0,64}") {
            // A literal "▁" decodes as a space: SentencePiece's own ambiguity.
            proptest::prop_assume!(!text.contains('▁'));
            let t = with_all_bytes();
            proptest::prop_assert_eq!(t.decode(&t.encode(&text), true), text);
        }
    }
}
