//! Turns recognised heading candidates into a section tree.
//!
//! Each candidate gets a rank (markup levels first, then PART > Exhibit >
//! ARTICLE > Item > Note / `1.` > `1.1` > … > clauses); a stack of open
//! sections nests it. Numbering must rise among siblings: a candidate that
//! breaks its siblings' sequence is an outlier (a cross-reference, a TOC
//! line, a page number) and is dropped rather than allowed to reshape the
//! tree.

use folio_common::model::{Section, SectionKind};

use super::numbering::{alpha_value, roman_value, Candidate, Family};

/// Largest forward jump allowed between numbered siblings (missed headings).
const MAX_GAP: u32 = 10;
/// Largest first number of a sequence (a sequence may start after a missed
/// heading, but not in the middle).
const MAX_FIRST: u32 = 5;
/// A TOC entry or heading whose body has fewer non-blank bytes than this is
/// "empty".
const EMPTY_BODY: usize = 40;

/// How a list clause is numbered, once `(i)` has been told apart from `(i)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClauseStyle {
    LowerAlpha,
    LowerRoman,
    UpperAlpha,
    UpperRoman,
    Digit,
    DottedUpper,
}

/// What siblings are compared by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StyleKey {
    Family(Family),
    Clause(ClauseStyle),
}

#[derive(Debug)]
struct Open {
    section: u32,
    rank: u16,
    family: Family,
    style: StyleKey,
    number: Vec<u32>,
    last_children: Vec<(StyleKey, Vec<u32>)>,
}

fn last_child(children: &[(StyleKey, Vec<u32>)], style: StyleKey) -> Option<&Vec<u32>> {
    children
        .iter()
        .rev()
        .find(|(s, _)| *s == style)
        .map(|(_, n)| n)
}

fn set_last_child(children: &mut Vec<(StyleKey, Vec<u32>)>, style: StyleKey, number: Vec<u32>) {
    if let Some(entry) = children.iter_mut().find(|(s, _)| *s == style) {
        entry.1 = number;
    } else {
        children.push((style, number));
    }
}

/// Builds the section list (pre-order) from candidates sorted by position.
pub(crate) fn build(text: &str, candidates: Vec<Candidate>) -> Vec<Section> {
    let candidates = filter_candidates(text, candidates);
    let mut builder = Builder {
        sections: Vec::new(),
        stack: Vec::new(),
        root_children: Vec::new(),
    };
    for cand in candidates {
        builder.add(cand);
    }
    builder.finish(text.len())
}

/// Drops TOC duplicates and outliers of the document-level numbering
/// (PART, ARTICLE, Item, Note) before the tree is built, where a single
/// early stray ("Part III: Portions of …" on a cover page) would otherwise
/// block every real heading after it.
fn filter_candidates(text: &str, candidates: Vec<Candidate>) -> Vec<Candidate> {
    let n = candidates.len();
    let mut keep = vec![true; n];
    // Non-blank bytes before each offset, so any span is counted in O(1).
    let mut prefix: Vec<u32> = Vec::with_capacity(text.len() + 1);
    let mut running = 0u32;
    prefix.push(0);
    for b in text.bytes() {
        running += u32::from(!b.is_ascii_whitespace());
        prefix.push(running);
    }
    let non_blank = |from: usize, to: usize| {
        let (from, to) = (from.min(text.len()), to.min(text.len()));
        (prefix[to.max(from)] - prefix[from]) as usize
    };
    // Text up to the next heading of any kind (TOC entries have none) ...
    let body: Vec<usize> = (0..n)
        .map(|k| {
            let to = candidates
                .get(k + 1)
                .map_or(text.len(), |c| c.heading_start);
            non_blank(candidates[k].heading_end, to)
        })
        .collect();
    // ... and up to the next heading of the same or a higher family (how
    // much a Part, Item or Note holds: a TOC entry holds next to nothing).
    let mut extent = vec![0usize; n];
    let mut next_at_order = [text.len(); 5];
    for k in (0..n).rev() {
        let Some(order) = family_order(candidates[k].family) else {
            continue;
        };
        extent[k] = non_blank(candidates[k].heading_end, next_at_order[order]);
        for slot in &mut next_at_order[order..] {
            *slot = candidates[k].heading_start;
        }
    }

    // The SEC exhibit tag on a filed contract's first line ("EXHIBIT 10.5")
    // labels the file, not a part of it.
    for (k, cand) in candidates.iter().enumerate().take(3) {
        if cand.family == Family::Exhibit && cand.number.len() >= 2 && cand.heading_start < 400 {
            keep[k] = false;
        }
    }

    // A strong heading with an empty body that reappears later is a table of
    // contents entry or a running header.
    for k in 0..n {
        let cand = &candidates[k];
        if !cand.is_strong() || body[k] >= EMPTY_BODY {
            continue;
        }
        let repeated = candidates[k + 1..]
            .iter()
            .any(|later| later.family == cand.family && later.number == cand.number);
        if repeated {
            keep[k] = false;
        }
    }

    keep_increasing(&candidates, &mut keep, &extent, Family::Part, &[]);
    keep_increasing(
        &candidates,
        &mut keep,
        &extent,
        Family::Article,
        &[Family::Part, Family::Exhibit],
    );
    keep_increasing(
        &candidates,
        &mut keep,
        &extent,
        Family::Item,
        &[Family::Part],
    );
    keep_increasing(
        &candidates,
        &mut keep,
        &extent,
        Family::Note,
        &[Family::Part, Family::Item, Family::Exhibit],
    );
    candidates
        .into_iter()
        .zip(keep)
        .filter_map(|(c, k)| k.then_some(c))
        .collect()
}

/// Rank of the document-level families, highest first.
fn family_order(family: Family) -> Option<usize> {
    match family {
        Family::Part => Some(0),
        Family::Exhibit => Some(1),
        Family::Article => Some(2),
        Family::Item => Some(3),
        Family::Note => Some(4),
        _ => None,
    }
}

/// Within each segment delimited by `segment_by` headings, keeps the
/// longest strictly rising run of `family` numbers (ties: more body text),
/// dropping the rest.
fn keep_increasing(
    candidates: &[Candidate],
    keep: &mut [bool],
    body: &[usize],
    family: Family,
    segment_by: &[Family],
) {
    let mut segment: Vec<usize> = Vec::new();
    let flush = |segment: &mut Vec<usize>, keep: &mut [bool]| {
        if segment.len() > 1 {
            for k in longest_rising(candidates, body, segment)
                .into_iter()
                .enumerate()
                .filter_map(|(i, kept)| (!kept).then_some(segment[i]))
            {
                keep[k] = false;
            }
        }
        segment.clear();
    };
    for (k, cand) in candidates.iter().enumerate() {
        if !keep[k] {
            continue;
        }
        if segment_by.contains(&cand.family) {
            flush(&mut segment, keep);
        } else if cand.family == family {
            segment.push(k);
        }
    }
    flush(&mut segment, keep);
}

/// Marks which of `members` form the best strictly rising sequence.
fn longest_rising(candidates: &[Candidate], body: &[usize], members: &[usize]) -> Vec<bool> {
    let m = members.len();
    // (count, body bytes) of the best chain ending at i, and its predecessor.
    let mut best: Vec<(usize, usize)> = Vec::with_capacity(m);
    let mut prev: Vec<Option<usize>> = vec![None; m];
    for i in 0..m {
        let ci = &candidates[members[i]];
        let mut score = (1usize, body[members[i]]);
        for j in 0..i {
            let cj = &candidates[members[j]];
            if cj.number < ci.number {
                let candidate = (best[j].0 + 1, best[j].1 + body[members[i]]);
                if candidate > score {
                    score = candidate;
                    prev[i] = Some(j);
                }
            }
        }
        best.push(score);
    }
    let mut kept = vec![false; m];
    let mut cursor = (0..m).max_by_key(|&i| best[i]);
    while let Some(i) = cursor {
        kept[i] = true;
        cursor = prev[i];
    }
    kept
}

struct Builder {
    sections: Vec<Section>,
    stack: Vec<Open>,
    root_children: Vec<(StyleKey, Vec<u32>)>,
}

impl Builder {
    fn add(&mut self, cand: Candidate) {
        let placed = match cand.family {
            Family::Markup(level) => self.place_markup(level),
            Family::Caps => Some(self.place_unnumbered(Family::Caps)),
            Family::Titled => Some(self.place_unnumbered(Family::Titled)),
            Family::Clause => self.place_clause(&cand),
            _ => self.place_numbered(&cand),
        };
        let Some(placement) = placed else {
            return;
        };
        self.commit(cand, placement);
    }

    fn place_markup(&self, level: u8) -> Option<Placement> {
        let rank = u16::from(level.clamp(1, 6));
        let keep = self.stack.iter().take_while(|o| o.rank < rank).count();
        Some(Placement {
            keep,
            rank,
            style: StyleKey::Family(Family::Markup(level)),
            number: Vec::new(),
        })
    }

    /// An unnumbered heading sits just below the numbered section it is in
    /// (a Title Case one below an open capitals one), closing earlier
    /// unnumbered headings of its kind and clauses.
    fn place_unnumbered(&self, family: Family) -> Placement {
        let keep = self
            .stack
            .iter()
            .rposition(|o| match family {
                Family::Titled => !matches!(o.family, Family::Titled | Family::Clause),
                _ => !is_unnumbered_or_clause(o.family),
            })
            .map_or(0, |p| p + 1);
        let rank = keep
            .checked_sub(1)
            .map_or(7, |p| (self.stack[p].rank + 1).max(7));
        Placement {
            keep,
            rank,
            style: StyleKey::Family(family),
            number: Vec::new(),
        }
    }

    fn place_numbered(&self, cand: &Candidate) -> Option<Placement> {
        let rank = numbered_rank(cand.family);
        // Numbered headings close unnumbered ones and clauses first.
        let mut keep = self
            .stack
            .iter()
            .rposition(|o| !is_unnumbered_or_clause(o.family))
            .map_or(0, |p| p + 1);
        while keep > 0 && self.stack[keep - 1].rank >= rank {
            keep -= 1;
        }
        // "3.1" under "2" means "3" was missed: close "2" rather than nest.
        if let Family::Decimal(components) = cand.family {
            while keep > 0 {
                let parent = &self.stack[keep - 1];
                let Family::Decimal(parent_components) = parent.family else {
                    break;
                };
                if parent_components >= components {
                    break;
                }
                let prefix = &cand.number[..usize::from(parent_components)];
                if prefix == parent.number.as_slice() {
                    break;
                }
                if prefix > parent.number.as_slice() {
                    keep -= 1;
                } else {
                    return None;
                }
            }
        }
        let style = StyleKey::Family(cand.family);
        let (siblings, parent) = match keep.checked_sub(1) {
            Some(p) => (&self.stack[p].last_children, Some(&self.stack[p])),
            None => (&self.root_children, None),
        };
        // "7. License Grants" after "6.11 …" siblings whose "6." was missed.
        let continues_deeper = match cand.family {
            Family::Decimal(c) if c < 8 => {
                last_child(siblings, StyleKey::Family(Family::Decimal(c + 1)))
                    .and_then(|deeper| deeper.first())
                    .is_some_and(|&lead| {
                        cand.number
                            .first()
                            .is_some_and(|&n| n == lead || n == lead + 1)
                    })
            }
            _ => false,
        };
        let previous = last_child(siblings, style);
        if !(fits_sequence(cand, previous, parent) || (previous.is_none() && continues_deeper)) {
            return None;
        }
        Some(Placement {
            keep,
            rank,
            style,
            number: cand.number.clone(),
        })
    }

    /// Clauses nest by style in order of first use: `(a)` then `(i)` then
    /// `(A)`; a style already open continues its own sequence.
    fn place_clause(&self, cand: &Candidate) -> Option<Placement> {
        let token = cand.clause.as_ref()?;
        let base = self
            .stack
            .iter()
            .rposition(|o| o.family != Family::Clause)
            .map_or(0, |p| p + 1);
        let levels = &self.stack[base..];
        let (style, value) = resolve_clause(&token.raw, token.dotted, levels)?;
        let key = StyleKey::Clause(style);
        if let Some(k) = levels.iter().position(|o| o.style == key) {
            let last = levels[k].number.first().copied().unwrap_or(0);
            if !(value == 1 || (value > last && value <= last + 2)) {
                return None;
            }
            return Some(Placement {
                keep: base + k,
                rank: 60 + 2 * k as u16,
                style: key,
                number: vec![value],
            });
        }
        if value != 1 {
            return None;
        }
        Some(Placement {
            keep: self.stack.len(),
            rank: 60 + 2 * levels.len() as u16,
            style: key,
            number: vec![value],
        })
    }

    fn commit(&mut self, cand: Candidate, placement: Placement) {
        let start = cand.heading_start;
        while self.stack.len() > placement.keep {
            if let Some(open) = self.stack.pop() {
                self.sections[open.section as usize].end = start;
            }
        }
        let parent = self.stack.last().map(|o| o.section);
        let mut kind = cand.kind;
        // "12. Income Taxes" inside an Item is a note to the statements.
        if cand.family == Family::Decimal(1) && self.stack.iter().any(|o| o.family == Family::Item)
        {
            kind = SectionKind::Note;
        }
        let id = self.sections.len() as u32;
        self.sections.push(Section {
            id,
            parent,
            depth: u8::try_from(self.stack.len()).unwrap_or(u8::MAX),
            kind,
            label: cand.label,
            title: cand.title,
            heading_start: cand.heading_start,
            heading_end: cand.heading_end,
            start,
            end: start,
        });
        let siblings = match self.stack.last_mut() {
            Some(open) => &mut open.last_children,
            None => &mut self.root_children,
        };
        set_last_child(siblings, placement.style, placement.number.clone());
        self.stack.push(Open {
            section: id,
            rank: placement.rank,
            family: cand.family,
            style: placement.style,
            number: placement.number,
            last_children: Vec::new(),
        });
    }

    fn finish(mut self, text_len: usize) -> Vec<Section> {
        while let Some(open) = self.stack.pop() {
            self.sections[open.section as usize].end = text_len;
        }
        self.sections
    }
}

struct Placement {
    /// How many open sections stay open (the new one nests in the last).
    keep: usize,
    rank: u16,
    style: StyleKey,
    number: Vec<u32>,
}

fn numbered_rank(family: Family) -> u16 {
    match family {
        Family::Part => 10,
        Family::Exhibit => 15,
        Family::Article => 20,
        Family::Item => 30,
        Family::Note => 40,
        Family::Decimal(c) => 40 + 2 * (u16::from(c.clamp(1, 8)) - 1),
        Family::Clause => 60,
        Family::Caps | Family::Titled => 7,
        Family::Markup(level) => u16::from(level.clamp(1, 6)),
    }
}

fn is_unnumbered_or_clause(family: Family) -> bool {
    matches!(family, Family::Caps | Family::Titled | Family::Clause)
}

/// Whether a numbered heading continues its siblings' sequence.
fn fits_sequence(cand: &Candidate, previous: Option<&Vec<u32>>, parent: Option<&Open>) -> bool {
    if cand.family == Family::Exhibit {
        return previous.is_none_or(|p| *p != cand.number);
    }
    let number = &cand.number;
    let Some(previous) = previous else {
        // Items follow the form, not a count: Part II opens at Item 5.
        if cand.family == Family::Item {
            return true;
        }
        let first = match cand.family {
            Family::Decimal(c) if c >= 2 => {
                // A first subsection is low-numbered ("2.66" under Note 2 is a
                // figure), and so is its section unless the parent says so
                // ("26.1" under Item 2 is a figure too).
                let last = number.last().copied().unwrap_or(0);
                let lead = usize::from(c) - 1;
                let matches_parent = parent.is_some_and(|parent| match parent.family {
                    Family::Decimal(pc) if usize::from(pc) == lead => {
                        parent.number[..] == number[..lead]
                    }
                    Family::Article | Family::Note => parent.number.first() == number.first(),
                    _ => false,
                });
                if matches_parent {
                    last
                } else {
                    last.max(number.first().copied().unwrap_or(0))
                }
            }
            _ => number.first().copied().unwrap_or(0),
        };
        return first <= MAX_FIRST;
    };
    if number <= previous {
        return false;
    }
    // The first component that differs must not jump too far.
    let gap = number
        .iter()
        .zip(previous.iter())
        .find(|(a, b)| a != b)
        .map_or(0, |(a, b)| a.saturating_sub(*b));
    let limit = if cand.family == Family::Part {
        2
    } else {
        MAX_GAP
    };
    gap <= limit
}

/// Tells `(i)` the letter from `(i)` the numeral by the open sequences.
fn resolve_clause(raw: &str, dotted: bool, levels: &[Open]) -> Option<(ClauseStyle, u32)> {
    if dotted {
        return Some((ClauseStyle::DottedUpper, alpha_value(raw)?));
    }
    if let Ok(n) = raw.parse::<u32>() {
        return Some((ClauseStyle::Digit, n));
    }
    let lower = raw.chars().all(|c| c.is_ascii_lowercase());
    let (alpha_style, roman_style) = if lower {
        (ClauseStyle::LowerAlpha, ClauseStyle::LowerRoman)
    } else {
        (ClauseStyle::UpperAlpha, ClauseStyle::UpperRoman)
    };
    let alpha = alpha_value(raw);
    let roman = roman_value(raw);
    let last_of = |style: ClauseStyle| {
        levels
            .iter()
            .find(|o| o.style == StyleKey::Clause(style))
            .and_then(|o| o.number.first().copied())
    };
    let continues = |last: Option<u32>, value: Option<u32>| match (last, value) {
        (Some(l), Some(v)) => v > l && v <= l + 2,
        _ => false,
    };
    match (alpha, roman) {
        (Some(a), Some(r)) => {
            if continues(last_of(alpha_style), Some(a)) {
                Some((alpha_style, a))
            } else if continues(last_of(roman_style), Some(r)) || r == 1 {
                Some((roman_style, r))
            } else {
                Some((alpha_style, a))
            }
        }
        (Some(a), None) => Some((alpha_style, a)),
        (None, Some(r)) => Some((roman_style, r)),
        (None, None) => None,
    }
}
