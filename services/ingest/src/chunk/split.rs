//! Splitting one leaf range (text that belongs to a single section) into
//! chunks: paragraphs, then sentences, then lines, then words, packed back
//! together up to the target size; tables kept whole or split by rows.

use super::{trim, Chunker};
use folio_common::text::sentences::{paragraph_starts, sentence_starts};

/// Boundaries tried in order, coarsest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Paragraph,
    Sentence,
    Line,
    Word,
}

impl Level {
    fn finer(self) -> Option<Level> {
        match self {
            Level::Paragraph => Some(Level::Sentence),
            Level::Sentence => Some(Level::Line),
            Level::Line => Some(Level::Word),
            Level::Word => None,
        }
    }
}

/// A piece of a leaf: text, or a table (clipped to the leaf).
#[derive(Debug, Clone, Copy)]
enum Piece {
    Text {
        start: usize,
        end: usize,
    },
    Table {
        start: usize,
        end: usize,
        header_end: usize,
    },
}

impl Piece {
    fn range(self) -> (usize, usize) {
        match self {
            Piece::Text { start, end } | Piece::Table { start, end, .. } => (start, end),
        }
    }
}

/// A byte range and its token count, when known.
type Slice = (usize, usize, Option<usize>);

/// Where packed pieces go: the section and the table header to repeat.
#[derive(Debug, Clone, Copy)]
struct Target {
    section: Option<u32>,
    header: Option<(usize, usize)>,
    budget: usize,
}

impl Chunker<'_> {
    /// Chunks `[start, end)`, all of which belongs to `section`.
    pub(super) fn split_leaf(&mut self, start: usize, end: usize, section: Option<u32>) {
        let mut pieces = Vec::new();
        let mut cursor = start;
        let first = self.tables.partition_point(|t| t.end <= start);
        let overlapping: Vec<_> = self.tables[first..]
            .iter()
            .take_while(|t| t.start < end)
            .copied()
            .collect();
        for table in overlapping {
            let (ts, te) = (table.start.max(start), table.end.min(end));
            if ts > cursor {
                self.paragraphs(cursor, ts, &mut pieces);
            }
            // The header repeats only when the table starts in this leaf.
            let header_end = if table.start >= start {
                table.header_end.min(te)
            } else {
                ts
            };
            pieces.push(Piece::Table {
                start: ts,
                end: te,
                header_end,
            });
            cursor = te;
        }
        if end > cursor {
            self.paragraphs(cursor, end, &mut pieces);
        }
        let target = Target {
            section,
            header: None,
            budget: self.target,
        };
        self.pack(&pieces, Level::Paragraph, target);
    }

    fn paragraphs(&self, start: usize, end: usize, out: &mut Vec<Piece>) {
        for (s, e) in self.pieces_at(start, end, Level::Paragraph) {
            out.push(Piece::Text { start: s, end: e });
        }
    }

    /// Cuts `[start, end)` at every boundary of `level`.
    fn pieces_at(&self, start: usize, end: usize, level: Level) -> Vec<(usize, usize)> {
        let slice = &self.text[start..end];
        let breaks: Vec<usize> = match level {
            Level::Paragraph => paragraph_starts(slice),
            Level::Sentence => sentence_starts(slice),
            Level::Line => slice
                .match_indices('\n')
                .map(|(i, _)| i + 1)
                .filter(|&i| i < slice.len())
                .collect(),
            Level::Word => {
                let mut starts = Vec::new();
                let mut prev_space = false;
                for (i, c) in slice.char_indices() {
                    if prev_space && !c.is_whitespace() {
                        starts.push(i);
                    }
                    prev_space = c.is_whitespace();
                }
                starts
            }
        };
        let mut pieces = Vec::with_capacity(breaks.len() + 1);
        let mut cursor = start;
        for b in breaks {
            let at = start + b;
            if at > cursor && at < end {
                pieces.push((cursor, at));
                cursor = at;
            }
        }
        pieces.push((cursor, end));
        pieces
    }

    /// Splits text that is too long at the next finer boundary.
    fn split_text(&mut self, start: usize, end: usize, level: Level, target: Target) {
        let mut level = level;
        loop {
            let pieces = self.pieces_at(start, end, level);
            if pieces.len() > 1 {
                let pieces: Vec<Piece> = pieces
                    .into_iter()
                    .map(|(s, e)| Piece::Text { start: s, end: e })
                    .collect();
                self.pack(&pieces, level, target);
                return;
            }
            match level.finer() {
                Some(finer) => level = finer,
                None => {
                    // One word longer than the cap: keep it whole.
                    self.emit_group(&[(start, end, None)], level, target);
                    return;
                }
            }
        }
    }

    /// Greedily packs consecutive pieces up to the budget; pieces over it
    /// are split further.
    fn pack(&mut self, pieces: &[Piece], level: Level, target: Target) {
        let mut group: Vec<Slice> = Vec::new();
        let mut group_tokens = 0usize;
        for &piece in pieces {
            let (ps, pe) = piece.range();
            let tokens = self.count(ps, pe);
            if tokens > target.budget {
                self.emit_group(&group, level, target);
                group.clear();
                group_tokens = 0;
                match piece {
                    Piece::Table {
                        start,
                        end,
                        header_end,
                    } => {
                        if tokens <= self.max {
                            self.emit_group(&[(start, end, Some(tokens))], level, target);
                        } else {
                            self.split_table(start, end, header_end, target.section);
                        }
                    }
                    Piece::Text { start, end } => match level.finer() {
                        Some(finer) => self.split_text(start, end, finer, target),
                        None => self.emit_group(&[(start, end, Some(tokens))], level, target),
                    },
                }
                continue;
            }
            if !group.is_empty() && group_tokens + tokens > target.budget {
                self.emit_group(&group, level, target);
                group.clear();
                group_tokens = 0;
            }
            group.push((ps, pe, Some(tokens)));
            group_tokens += tokens;
        }
        self.emit_group(&group, level, target);
    }

    /// Emits consecutive pieces as one chunk, checking the exact count; a
    /// group over the cap is halved (estimates are sums of piece counts).
    fn emit_group(&mut self, group: &[Slice], level: Level, target: Target) {
        let (Some(&first), Some(&last)) = (group.first(), group.last()) else {
            return;
        };
        let Some((s, e)) = trim(self.text, first.0, last.1) else {
            return;
        };
        // A lone piece was counted already (blanks trimmed off add no token).
        let tokens = match group {
            [(_, _, Some(known))] => *known,
            _ => self.count(s, e),
        };
        if tokens <= self.max {
            self.push(s, e, target.section, target.header, tokens);
        } else if group.len() > 1 {
            let (left, right) = group.split_at(group.len() / 2);
            self.emit_group(left, level, target);
            self.emit_group(right, level, target);
        } else if let Some(finer) = level.finer() {
            self.split_text(first.0, first.1, finer, target);
        } else {
            self.push(s, e, target.section, target.header, tokens);
        }
    }

    /// Splits a table over the cap by rows; pieces after the first repeat
    /// the header rows as context (the chunk text stays the exact slice).
    fn split_table(&mut self, start: usize, end: usize, header_end: usize, section: Option<u32>) {
        let header = (header_end > start).then_some((start, header_end));
        let header_tokens = header.map_or(0, |(s, e)| self.count(s, e));
        // A header too large to repeat is just the first rows.
        let (header, header_tokens, body_start) = if header_tokens * 2 > self.target {
            (None, 0, start)
        } else {
            (header, header_tokens, header_end)
        };
        let later = Target {
            section,
            header,
            budget: self.target - header_tokens,
        };
        let first = Target {
            section,
            header: None,
            budget: self.target,
        };
        let mut group: Vec<Slice> = header
            .map(|(s, e)| vec![(s, e, Some(header_tokens))])
            .unwrap_or_default();
        let mut group_tokens = header_tokens;
        let mut in_first = true;
        for (rs, re) in self.pieces_at(body_start, end, Level::Line) {
            let target = if in_first { first } else { later };
            let tokens = self.count(rs, re);
            if tokens > target.budget {
                self.emit_group(&group, Level::Line, target);
                group.clear();
                group_tokens = 0;
                in_first = false;
                self.split_text(rs, re, Level::Word, later);
                continue;
            }
            if !group.is_empty() && group_tokens + tokens > target.budget {
                self.emit_group(&group, Level::Line, target);
                group.clear();
                group_tokens = 0;
                in_first = false;
            }
            group.push((rs, re, Some(tokens)));
            group_tokens += tokens;
        }
        let target = if in_first { first } else { later };
        self.emit_group(&group, Level::Line, target);
    }
}
