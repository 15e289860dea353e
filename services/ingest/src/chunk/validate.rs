//! Checks the chunker's contract on a finished chunk list, so tests (and a
//! cautious caller) can verify that citations into chunks will resolve.

use folio_common::model::{CharOffsets, ChunkDraft, ParsedDocument, SectionTree};

use super::{page_of, ChunkOptions};

/// A broken chunk invariant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// The chunk's text is not the canonical slice it claims.
    #[error("chunk {ordinal}: text is not the canonical slice {start}..{end}")]
    TextMismatch {
        /// Chunk position.
        ordinal: u32,
        /// Claimed byte start.
        start: usize,
        /// Claimed byte end.
        end: usize,
    },
    /// Character offsets disagree with the byte offsets.
    #[error("chunk {ordinal}: char offsets {char_start}..{char_end} do not match its bytes")]
    CharOffsets {
        /// Chunk position.
        ordinal: u32,
        /// Claimed char start.
        char_start: usize,
        /// Claimed char end.
        char_end: usize,
    },
    /// Chunks are out of order, overlap, or are numbered wrongly.
    #[error("chunk {ordinal} is out of order or overlaps the previous one")]
    Order {
        /// Chunk position.
        ordinal: u32,
    },
    /// The chunk is blank or starts/ends with whitespace.
    #[error("chunk {ordinal} is blank or not trimmed")]
    Untrimmed {
        /// Chunk position.
        ordinal: u32,
    },
    /// The chunk straddles a section boundary.
    #[error("chunk {ordinal} crosses the boundary of section {section}")]
    CrossesSection {
        /// Chunk position.
        ordinal: u32,
        /// The section whose boundary is crossed.
        section: u32,
    },
    /// The chunk is over the token cap (and not one unbreakable word).
    #[error("chunk {ordinal} has {tokens} tokens, over the cap of {max}")]
    TooLong {
        /// Chunk position.
        ordinal: u32,
        /// Its token count.
        tokens: u32,
        /// The cap.
        max: usize,
    },
    /// Non-blank text lies in no chunk.
    #[error("bytes {start}..{end} hold text that is in no chunk")]
    Uncovered {
        /// First byte of the gap.
        start: usize,
        /// One past its last byte.
        end: usize,
    },
    /// Page numbers disagree with the page map.
    #[error("chunk {ordinal}: pages {page_start}..{page_end} disagree with the page map")]
    Pages {
        /// Chunk position.
        ordinal: u32,
        /// Claimed first page.
        page_start: u32,
        /// Claimed last page.
        page_end: u32,
    },
}

/// Verifies that `chunks` (from [`super::chunk_document`]) are exact,
/// ordered, trimmed, within the cap, inside section boundaries, on the right
/// pages, and together cover every non-blank byte of the text.
///
/// A chunk may hold whole sections (a small subtree, merged small siblings)
/// but never part of one: compared on each section's trimmed range, since
/// chunks do not carry the blank lines a section ends with.
pub fn validate_chunks(
    doc: &ParsedDocument,
    tree: &SectionTree,
    chunks: &[ChunkDraft],
    options: &ChunkOptions,
) -> Result<(), ChunkError> {
    let text = doc.text.as_str();
    let chars = CharOffsets::new(text);
    let mut pages = doc.pages.clone();
    pages.sort_by_key(|p| p.start);
    let trimmed: Vec<Option<(usize, usize)>> = tree
        .sections
        .iter()
        .map(|s| {
            text.get(s.start..s.end)
                .and_then(|_| super::trim(text, s.start, s.end))
        })
        .collect();
    let mut covered = 0usize;
    for (i, chunk) in chunks.iter().enumerate() {
        let ordinal = chunk.ordinal;
        if text.get(chunk.start..chunk.end) != Some(chunk.text.as_str()) {
            return Err(ChunkError::TextMismatch {
                ordinal,
                start: chunk.start,
                end: chunk.end,
            });
        }
        if chars.char_of_byte(chunk.start) != chunk.char_start
            || chars.char_of_byte(chunk.end) != chunk.char_end
        {
            return Err(ChunkError::CharOffsets {
                ordinal,
                char_start: chunk.char_start,
                char_end: chunk.char_end,
            });
        }
        if ordinal as usize != i || chunk.start < covered {
            return Err(ChunkError::Order { ordinal });
        }
        if chunk.text.is_empty() || chunk.text.trim().len() != chunk.text.len() {
            return Err(ChunkError::Untrimmed { ordinal });
        }
        if let Some((start, end)) = super::trim(text, covered, chunk.start) {
            return Err(ChunkError::Uncovered { start, end });
        }
        covered = chunk.end;
        let single_word = !chunk.text.contains(char::is_whitespace);
        if chunk.token_count as usize > options.max_tokens && !single_word {
            return Err(ChunkError::TooLong {
                ordinal,
                tokens: chunk.token_count,
                max: options.max_tokens,
            });
        }
        if !pages.is_empty()
            && (chunk.page_start != page_of(&pages, chunk.start)
                || chunk.page_end != page_of(&pages, chunk.end - 1))
        {
            return Err(ChunkError::Pages {
                ordinal,
                page_start: chunk.page_start,
                page_end: chunk.page_end,
            });
        }
        check_sections(tree, &trimmed, chunk)?;
    }
    if let Some((start, end)) = super::trim(text, covered, text.len()) {
        return Err(ChunkError::Uncovered { start, end });
    }
    Ok(())
}

/// A chunk lies inside its section and, for every other section, is inside
/// it, disjoint from it, or holds all of it (then it must be a descendant).
fn check_sections(
    tree: &SectionTree,
    trimmed: &[Option<(usize, usize)>],
    chunk: &ChunkDraft,
) -> Result<(), ChunkError> {
    let ordinal = chunk.ordinal;
    if let Some(id) = chunk.section {
        let inside = tree
            .sections
            .get(id as usize)
            .is_some_and(|s| s.start <= chunk.start && chunk.end <= s.end);
        if !inside {
            return Err(ChunkError::CrossesSection {
                ordinal,
                section: id,
            });
        }
    }
    let is_descendant = |mut id: u32| -> bool {
        let Some(owner) = chunk.section else {
            return true;
        };
        while let Some(parent) = tree.sections.get(id as usize).and_then(|s| s.parent) {
            if parent == owner {
                return true;
            }
            id = parent;
        }
        false
    };
    let upto = tree.sections.partition_point(|s| s.start < chunk.end);
    for section in &tree.sections[..upto] {
        let Some((ts, te)) = trimmed[section.id as usize] else {
            continue;
        };
        if te <= chunk.start || ts >= chunk.end {
            continue;
        }
        let chunk_inside = section.start <= chunk.start && chunk.end <= section.end;
        let section_inside = chunk.start <= ts && te <= chunk.end;
        if chunk_inside {
            continue;
        }
        if !(section_inside && Some(section.id) != chunk.section && is_descendant(section.id)) {
            return Err(ChunkError::CrossesSection {
                ordinal,
                section: section.id,
            });
        }
    }
    Ok(())
}
