//! The chunker: cuts a structurized document into exact slices of its
//! canonical text, sized in embedder tokens, that never cross a section
//! boundary.
//!
//! The section tree is walked top-down. A section whose whole subtree fits
//! the target size becomes one chunk; otherwise its own text (between its
//! children) and its children are handled in turn, and adjacent siblings
//! under `min_tokens` are merged (the chunk then belongs to their parent).
//! Text that is still too long is split at paragraph, then sentence, then
//! line, then word boundaries; tables stay whole when they fit and are
//! otherwise split by rows, each later piece carrying the header rows in
//! `context_header`.

mod split;
mod validate;

pub use validate::{validate_chunks, ChunkError};

use folio_common::model::{
    CharOffsets, ChunkDraft, PageRange, ParsedDocument, SectionTree, TableHint, TokenCounter,
};

/// Chunk sizes, in tokens of the embedder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkOptions {
    /// Size a chunk should stay at or under (long sections are split to it).
    pub target_tokens: usize,
    /// Hard cap; only a single word longer than this may exceed it. A chunk
    /// longer than the embedder's window (`ingest.embed_max_length`, 512 tokens
    /// by default) is embedded as overlapping windows whose vectors are averaged.
    pub max_tokens: usize,
    /// Adjacent sibling sections smaller than this may share a chunk.
    pub min_tokens: usize,
}

impl Default for ChunkOptions {
    fn default() -> Self {
        ChunkOptions {
            target_tokens: 300,
            max_tokens: 480,
            min_tokens: 40,
        }
    }
}

/// A chunk before it becomes a [`ChunkDraft`]: byte range, owning section,
/// repeated table header, token count.
#[derive(Debug, Clone)]
struct Span {
    start: usize,
    end: usize,
    section: Option<u32>,
    header: Option<(usize, usize)>,
    tokens: usize,
}

/// Cuts `doc` into chunks along `tree` (as [`crate::structure::structurize`]
/// returns it). Every chunk is `doc.text[start..end]` verbatim, trimmed of
/// surrounding whitespace; chunks are in order, do not overlap, and cover
/// every non-blank byte of the text.
pub fn chunk_document(
    doc: &ParsedDocument,
    tree: &SectionTree,
    counter: &dyn TokenCounter,
    options: &ChunkOptions,
) -> Vec<ChunkDraft> {
    let max = options.max_tokens.max(1);
    let target = options.target_tokens.clamp(1, max);
    let chunker = Chunker {
        text: &doc.text,
        counter,
        target,
        max,
        min: options.min_tokens.min(target),
        tables: valid_tables(&doc.text, &doc.tables),
        spans: Vec::new(),
    };
    let outline = Outline::new(&doc.text, tree);
    let spans = chunker.run(&outline);
    drafts(doc, tree, spans)
}

/// The usable part of a tree: well-formed sections (inside the text, on
/// char boundaries, nested in their parent), as child lists.
struct Outline {
    /// Children of each section, by id.
    children: Vec<Vec<u32>>,
    /// Top-level sections.
    roots: Vec<u32>,
    /// `[start, end)` of each section.
    ranges: Vec<(usize, usize)>,
}

impl Outline {
    fn new(text: &str, tree: &SectionTree) -> Self {
        let n = tree.sections.len();
        let mut valid = vec![false; n];
        let mut children = vec![Vec::new(); n];
        let mut roots = Vec::new();
        let mut ranges = vec![(0, 0); n];
        // Last valid child end per parent (None = root), to keep siblings
        // ordered and disjoint.
        let mut last_end: Vec<usize> = vec![0; n];
        let mut root_end = 0usize;
        for (i, section) in tree.sections.iter().enumerate() {
            let (start, end) = (section.start, section.end);
            let sane = section.id as usize == i
                && start < end
                && end <= text.len()
                && text.is_char_boundary(start)
                && text.is_char_boundary(end);
            if !sane {
                continue;
            }
            match section.parent {
                None => {
                    if start >= root_end {
                        valid[i] = true;
                        root_end = end;
                        roots.push(i as u32);
                    }
                }
                Some(p) => {
                    let p = p as usize;
                    if p < i && valid[p] {
                        let (ps, pe) = ranges[p];
                        if ps <= start && end <= pe && start >= last_end[p] {
                            valid[i] = true;
                            last_end[p] = end;
                            children[p].push(i as u32);
                        }
                    }
                }
            }
            if valid[i] {
                ranges[i] = (start, end);
            }
        }
        Outline {
            children,
            roots,
            ranges,
        }
    }
}

/// Every node's units with their token counts (a child's is its subtree's).
struct Units {
    units: Vec<Vec<(Unit, usize)>>,
    root: Vec<(Unit, usize)>,
}

/// A unit of a node's text: its own text between children, or a child.
#[derive(Debug, Clone, Copy)]
enum Unit {
    Own { start: usize, end: usize },
    Child(u32),
}

struct Chunker<'a> {
    text: &'a str,
    counter: &'a dyn TokenCounter,
    target: usize,
    max: usize,
    min: usize,
    tables: Vec<TableHint>,
    spans: Vec<Span>,
}

impl Chunker<'_> {
    fn run(mut self, outline: &Outline) -> Vec<Span> {
        let n = outline.ranges.len();
        let mut totals = vec![0usize; n];
        let mut units: Vec<Vec<(Unit, usize)>> = vec![Vec::new(); n];
        // Pre-order lists parents first, so the reverse visits children first.
        for id in (0..n).rev() {
            let (start, end) = outline.ranges[id];
            if start < end {
                units[id] = self.units_of(start, end, &outline.children[id], outline, &totals);
                totals[id] = units[id].iter().map(|u| u.1).sum();
            }
        }
        let root = self.units_of(0, self.text.len(), &outline.roots, outline, &totals);
        let units = Units { units, root };
        self.emit_node(outline, &units, None);
        self.spans
    }

    fn count(&self, start: usize, end: usize) -> usize {
        self.counter.count_tokens(&self.text[start..end])
    }

    /// The units of a node spanning `[start, end)` with children `kids`, with
    /// their token counts.
    fn units_of(
        &self,
        start: usize,
        end: usize,
        kids: &[u32],
        outline: &Outline,
        totals: &[usize],
    ) -> Vec<(Unit, usize)> {
        let mut units = Vec::with_capacity(kids.len() * 2 + 1);
        let mut cursor = start;
        for &kid in kids {
            let (ks, ke) = outline.ranges[kid as usize];
            if ks > cursor {
                units.push((
                    Unit::Own {
                        start: cursor,
                        end: ks,
                    },
                    self.count(cursor, ks),
                ));
            }
            units.push((Unit::Child(kid), totals[kid as usize]));
            cursor = ke;
        }
        if end > cursor {
            units.push((Unit::Own { start: cursor, end }, self.count(cursor, end)));
        }
        units
    }

    /// Emits a node's units: small adjacent units share chunks, big ones are
    /// descended into or split.
    fn emit_node(&mut self, outline: &Outline, units: &Units, node: Option<u32>) {
        let node_units = match node {
            Some(id) => &units.units[id as usize],
            None => &units.root,
        };
        let mut group: Vec<(Unit, usize)> = Vec::new();
        let mut group_tokens = 0usize;
        for &(unit, tokens) in node_units {
            if tokens > self.target {
                self.flush_group(outline, units, node, &mut group);
                group_tokens = 0;
                self.emit_unit(outline, units, node, unit, false);
                continue;
            }
            // Under a section, a small unit may join a bigger sibling (the
            // chunk then belongs to that section). At the top there is no
            // section to name such a chunk, so only small units pool there.
            let small = tokens < self.min;
            let joins = !group.is_empty()
                && group_tokens + tokens <= self.target
                && match node {
                    Some(_) => small || group_tokens < self.min,
                    None => small && group.iter().all(|(_, t)| *t < self.min),
                };
            if !joins {
                self.flush_group(outline, units, node, &mut group);
                group_tokens = 0;
            }
            group.push((unit, tokens));
            group_tokens += tokens;
        }
        self.flush_group(outline, units, node, &mut group);
    }

    fn flush_group(
        &mut self,
        outline: &Outline,
        units: &Units,
        node: Option<u32>,
        group: &mut Vec<(Unit, usize)>,
    ) {
        match group.len() {
            0 => {}
            1 => self.emit_unit(outline, units, node, group[0].0, true),
            _ => {
                let start = unit_range(outline, group[0].0).0;
                let end = unit_range(outline, group[group.len() - 1].0).1;
                if !self.try_emit_whole(start, end, node) {
                    for (unit, _) in group.iter() {
                        self.emit_unit(outline, units, node, *unit, false);
                    }
                }
            }
        }
        group.clear();
    }

    /// Emits one unit; `fits` says its estimated size is within target, so a
    /// child may become a single chunk.
    fn emit_unit(
        &mut self,
        outline: &Outline,
        units: &Units,
        node: Option<u32>,
        unit: Unit,
        fits: bool,
    ) {
        match unit {
            Unit::Own { start, end } => self.split_leaf(start, end, node),
            Unit::Child(id) => {
                let (start, end) = outline.ranges[id as usize];
                if !(fits && self.try_emit_whole(start, end, Some(id))) {
                    self.emit_node(outline, units, Some(id));
                }
            }
        }
    }

    /// Emits `[start, end)` as one chunk if its exact count is within the
    /// cap (summed estimates can be off for non-additive tokenizers).
    fn try_emit_whole(&mut self, start: usize, end: usize, section: Option<u32>) -> bool {
        let Some((s, e)) = trim(self.text, start, end) else {
            return true;
        };
        let tokens = self.count(s, e);
        if tokens > self.max {
            return false;
        }
        self.spans.push(Span {
            start: s,
            end: e,
            section,
            header: None,
            tokens,
        });
        true
    }

    /// Pushes a finished span (already trimmed and counted).
    fn push(
        &mut self,
        start: usize,
        end: usize,
        section: Option<u32>,
        header: Option<(usize, usize)>,
        tokens: usize,
    ) {
        self.spans.push(Span {
            start,
            end,
            section,
            header,
            tokens,
        });
    }
}

fn unit_range(outline: &Outline, unit: Unit) -> (usize, usize) {
    match unit {
        Unit::Own { start, end } => (start, end),
        Unit::Child(id) => outline.ranges[id as usize],
    }
}

/// `[start, end)` without surrounding whitespace, or `None` if blank.
fn trim(text: &str, start: usize, end: usize) -> Option<(usize, usize)> {
    let slice = &text[start..end];
    let trimmed = slice.trim_start();
    let s = start + (slice.len() - trimmed.len());
    let e = s + trimmed.trim_end().len();
    (e > s).then_some((s, e))
}

/// Tables that are in range, on char boundaries, ordered and disjoint.
fn valid_tables(text: &str, tables: &[TableHint]) -> Vec<TableHint> {
    let mut out: Vec<TableHint> = Vec::new();
    let mut sorted: Vec<TableHint> = tables.to_vec();
    sorted.sort_by_key(|t| t.start);
    for t in sorted {
        let sane = t.start < t.end
            && t.end <= text.len()
            && text.is_char_boundary(t.start)
            && text.is_char_boundary(t.end);
        if !sane || out.last().is_some_and(|last| last.end > t.start) {
            continue;
        }
        let header_end =
            if (t.start..=t.end).contains(&t.header_end) && text.is_char_boundary(t.header_end) {
                t.header_end
            } else {
                t.start
            };
        out.push(TableHint { header_end, ..t });
    }
    out
}

fn page_of(pages: &[PageRange], byte: usize) -> u32 {
    let idx = pages.partition_point(|p| p.start <= byte);
    idx.checked_sub(1)
        .map_or(pages.first().map_or(1, |p| p.number), |i| pages[i].number)
}

fn drafts(doc: &ParsedDocument, tree: &SectionTree, spans: Vec<Span>) -> Vec<ChunkDraft> {
    let chars = CharOffsets::new(&doc.text);
    let mut pages = doc.pages.clone();
    pages.sort_by_key(|p| p.start);
    let mut paths: Vec<Option<Vec<String>>> = vec![None; tree.sections.len()];
    spans
        .into_iter()
        .enumerate()
        .map(|(ordinal, span)| {
            let heading_path = match span.section {
                Some(id) => paths[id as usize]
                    .get_or_insert_with(|| tree.path(id))
                    .clone(),
                None => Vec::new(),
            };
            ChunkDraft {
                ordinal: ordinal as u32,
                section: span.section,
                heading_path,
                start: span.start,
                end: span.end,
                char_start: chars.char_of_byte(span.start),
                char_end: chars.char_of_byte(span.end),
                page_start: page_of(&pages, span.start),
                page_end: page_of(&pages, span.end.saturating_sub(1).max(span.start)),
                text: doc.text[span.start..span.end].to_string(),
                context_header: span.header.map(|(s, e)| doc.text[s..e].trim().to_string()),
                token_count: u32::try_from(span.tokens).unwrap_or(u32::MAX),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
