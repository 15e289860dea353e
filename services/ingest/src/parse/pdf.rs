//! PDF: the text layer, page by page, through `pdf-extract` (on `lopdf`).
//!
//! Glyphs come out in content-stream order; a line break is inserted where
//! the baseline moves by more than a line, a space where a glyph starts
//! clearly after the previous one ends, so table rows stay rows. Page texts
//! are joined with form feeds.
//!
//! `pdf-extract` panics on some malformed files and decompresses streams
//! without bounds, so each page runs under `catch_unwind`; the raw file is
//! scanned for zlib streams that would inflate beyond
//! [`ParseLimits::max_decoded_bytes`] before lopdf loads it, and after
//! loading every stream is decoded once within bounds (`pdf_streams`), so
//! pdf-extract never decodes anything itself. Whatever still goes wrong
//! (a decoder's stack overflow, memory) is contained by the parser process
//! (`isolate`).

use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use folio_common::model::ParsedDocument;
use pdf_extract::content::{Content, Operation};
use pdf_extract::{
    Dictionary, Document, MediaBox, Object, ObjectId, OutputDev, OutputError, Transform,
};

use super::builder::{classify, CharClass};
use super::{pages_split_at_form_feeds, pdf_streams, ParseError, ParseLimits};

/// Parses a PDF's text layer.
pub(super) fn parse_pdf(bytes: &[u8], limits: &ParseLimits) -> Result<ParsedDocument, ParseError> {
    // Readers accept the header anywhere in the first KiB.
    let head = &bytes[..bytes.len().min(1024)];
    if !head.windows(5).any(|w| w == b"%PDF-") {
        return Err(ParseError::Corrupt(
            "not a PDF file (no %PDF header)".into(),
        ));
    }
    pdf_streams::check_load_time_streams(bytes, limits)?;
    let mut doc = match catch_unwind(|| Document::load_mem(bytes)) {
        Ok(Ok(doc)) => doc,
        Ok(Err(e)) if mentions_encryption(bytes) => {
            tracing::debug!(error = %e, "unreadable PDF with an /Encrypt entry");
            return Err(ParseError::Encrypted);
        }
        Ok(Err(e)) => {
            return Err(ParseError::Corrupt(format!(
                "cannot read the PDF structure: {e}"
            )))
        }
        Err(panic) => {
            return Err(ParseError::Corrupt(format!(
                "the PDF reader failed: {}",
                panic_message(&*panic)
            )))
        }
    };
    // lopdf decrypts files that open with the empty user password (owner
    // restrictions only) and removes /Encrypt; one still carrying it needs a
    // password.
    if doc.trailer.get(b"Encrypt").is_ok() {
        return Err(ParseError::Encrypted);
    }
    pdf_streams::decode_streams(&mut doc, limits)?;
    repair_cid_widths(&mut doc);
    rebuild_page_parents(&mut doc);
    default_media_boxes(&mut doc);
    let form_calls = defuse_xobjects(&mut doc);
    let pages = match catch_unwind(AssertUnwindSafe(|| doc.get_pages())) {
        Ok(pages) => pages,
        Err(panic) => {
            return Err(ParseError::Corrupt(format!(
                "the PDF page tree is broken: {}",
                panic_message(&*panic)
            )))
        }
    };
    let page_xobjects = |page| {
        inherited_resources(&doc, page)
            .and_then(|resources| xobject_names(&doc, resources))
            .unwrap_or_default()
    };
    pdf_streams::check_page_costs(&doc, &pages, &form_calls, page_xobjects, limits)?;
    extract_pages(&doc, limits)
}

/// A page's `/Resources`, its own or the nearest ancestor's.
fn inherited_resources(doc: &Document, page: ObjectId) -> Option<&Dictionary> {
    let mut seen = HashSet::new();
    let mut current = Some(page);
    while let Some(id) = current.filter(|id| seen.insert(*id)) {
        let dict = doc.get_dictionary(id).ok()?;
        if let Ok(resources) = dict.get(b"Resources") {
            return doc.dereference(resources).ok()?.1.as_dict().ok();
        }
        current = dict.get(b"Parent").and_then(Object::as_reference).ok();
    }
    None
}

/// Rewrites every page-tree node's `/Parent` to the node whose `/Kids` lists
/// it, found by walking the tree from the catalog (iteratively, each node
/// once). pdf-extract looks up inherited page attributes (`/MediaBox`,
/// `/Resources`) by following `/Parent` with no visited set: a `/Parent`
/// cycle made it recurse until the stack overflowed (found by fuzzing: a
/// segmentation fault that no `catch_unwind` can contain) or, where the
/// recursion was optimised into a loop, never return. Parents taken from the
/// tree itself cannot form a cycle, and a page whose `/Parent` was wrong gets
/// its inherited attributes back.
fn rebuild_page_parents(doc: &mut Document) {
    let Some(root) = doc
        .catalog()
        .ok()
        .and_then(|catalog| catalog.get(b"Pages").ok())
        .and_then(|pages| pages.as_reference().ok())
    else {
        return;
    };
    let mut parent_of: Vec<(ObjectId, Option<ObjectId>)> = vec![(root, None)];
    let mut seen: HashSet<ObjectId> = HashSet::from([root]);
    let mut pending = vec![root];
    while let Some(node) = pending.pop() {
        let Ok(kids) = doc
            .get_dictionary(node)
            .and_then(|dict| dict.get(b"Kids"))
            .and_then(Object::as_array)
        else {
            continue;
        };
        for kid in kids.iter().filter_map(|k| k.as_reference().ok()) {
            if seen.insert(kid) {
                parent_of.push((kid, Some(node)));
                pending.push(kid);
            }
        }
    }
    for (node, parent) in parent_of {
        if let Ok(dict) = doc.get_dictionary_mut(node) {
            match parent {
                Some(parent) => dict.set("Parent", parent),
                None => {
                    dict.remove(b"Parent");
                }
            }
        }
    }
}

/// Gives US Letter to pages that inherit no `/MediaBox` (pdf-extract panics
/// without one; readers assume a default page size).
fn default_media_boxes(doc: &mut Document) {
    let inherits_a_box = |doc: &Document, page: ObjectId| {
        let mut seen = HashSet::new();
        let mut current = Some(page);
        while let Some(id) = current.filter(|id| seen.insert(*id)) {
            let Ok(dict) = doc.get_dictionary(id) else {
                return false;
            };
            if dict.has(b"MediaBox") {
                return true;
            }
            current = dict.get(b"Parent").and_then(Object::as_reference).ok();
        }
        false
    };
    let pages: Vec<ObjectId> = doc.get_pages().into_values().collect();
    for page in pages {
        if !inherits_a_box(doc, page) {
            if let Ok(dict) = doc.get_dictionary_mut(page) {
                dict.set("MediaBox", vec![0.into(), 0.into(), 612.into(), 792.into()]);
            }
        }
    }
}

/// Form XObjects nested deeper than this are not followed.
const MAX_FORM_DEPTH: usize = 24;

/// Defuses the XObjects pdf-extract must not run as they are. Images are
/// emptied (it would decompress them and parse the pixels as a content
/// stream: memory and time for no text). Form XObjects that close a cycle
/// of `Do` calls, or sit more than [`MAX_FORM_DEPTH`] calls above a leaf,
/// lose their calls to other forms but keep their own text: pdf-extract
/// follows `Do` recursively without a depth limit, and a cycle overflows
/// the stack, which aborts the process (no `catch_unwind` can stop that).
///
/// Returns the forms' call graph as pdf-extract will run it: each form's
/// calls to other forms, one entry per `Do`, none for a defused form.
fn defuse_xobjects(doc: &mut Document) -> HashMap<ObjectId, Vec<ObjectId>> {
    let mut images: HashSet<ObjectId> = HashSet::new();
    let mut forms: HashMap<ObjectId, Vec<ObjectId>> = HashMap::new();
    // Every name any resource dictionary gives an XObject: the fallback for
    // forms without resources of their own (they inherit their caller's).
    let mut any_xobject: HashMap<Vec<u8>, Vec<ObjectId>> = HashMap::new();
    for (&id, object) in &doc.objects {
        let dict = match object {
            Object::Stream(stream) => {
                match stream.dict.get(b"Subtype").and_then(Object::as_name) {
                    Ok(b"Image") => {
                        images.insert(id);
                    }
                    Ok(b"Form") => {
                        forms.insert(id, Vec::new());
                    }
                    _ => {}
                }
                &stream.dict
            }
            Object::Dictionary(dict) => dict,
            _ => continue,
        };
        // A resource dictionary of its own, or one inline in a page or form
        // (found by fuzzing: page resources are usually inline).
        let inline = dict
            .get(b"Resources")
            .ok()
            .and_then(|r| doc.dereference(r).ok())
            .and_then(|(_, r)| r.as_dict().ok());
        for resources in std::iter::once(dict).chain(inline) {
            for (name, target) in xobject_names(doc, resources).unwrap_or_default() {
                any_xobject.entry(name).or_default().push(target);
            }
        }
    }
    // pdf-extract runs any XObject stream that `Do` names as a form, whatever
    // its /Subtype says (found by fuzzing: a mangled /Subtype hid a cycle).
    for target in any_xobject.values().flatten() {
        if let Some(Object::Stream(_)) = doc.objects.get(target) {
            if !images.contains(target) {
                forms.entry(*target).or_default();
            }
        }
    }
    let form_ids: Vec<ObjectId> = forms.keys().copied().collect();
    let mut operations: HashMap<ObjectId, Vec<Operation>> = HashMap::new();
    let mut callees_by_name: HashMap<ObjectId, Vec<(Vec<u8>, ObjectId)>> = HashMap::new();
    for id in form_ids {
        let Ok(Object::Stream(stream)) = doc.get_object(id) else {
            continue;
        };
        // Streams were decoded (within bounds) before this runs, so the
        // content is what pdf-extract reads, parsed by the same content
        // parser. Content it cannot parse, it does not run.
        let Ok(content) = Content::decode(&stream.content) else {
            continue;
        };
        // pdf-extract dereferences /Resources once and otherwise inherits the
        // caller's resources.
        let own = stream
            .dict
            .get(b"Resources")
            .ok()
            .and_then(|r| match r {
                Object::Reference(target) => doc.get_object(*target).ok(),
                direct => Some(direct),
            })
            .and_then(|r| r.as_dict().ok())
            .map(|resources| xobject_names(doc, resources).unwrap_or_default());
        let mut calls = Vec::new();
        for operation in content.operations.iter().filter(|op| op.operator == "Do") {
            let Some(name) = operation.operands.first().and_then(|n| n.as_name().ok()) else {
                continue;
            };
            let targets: Vec<ObjectId> = match &own {
                Some(own) => own
                    .iter()
                    .filter(|(n, _)| n.as_slice() == name)
                    .map(|(_, t)| *t)
                    .collect(),
                None => any_xobject.get(name).cloned().unwrap_or_default(),
            };
            for target in targets.into_iter().filter(|t| forms.contains_key(t)) {
                calls.push((name.to_vec(), target));
            }
        }
        forms.insert(id, calls.iter().map(|(_, t)| *t).collect());
        callees_by_name.insert(id, calls);
        operations.insert(id, content.operations);
    }

    for id in images {
        replace_stream_content(doc, id, Vec::new());
    }
    let risky = risky_forms(&forms);
    for &id in &risky {
        forms.insert(id, Vec::new());
    }
    for id in risky {
        let (Some(ops), Some(calls)) = (operations.remove(&id), callees_by_name.get(&id)) else {
            continue;
        };
        let form_names: HashSet<&[u8]> = calls.iter().map(|(name, _)| name.as_slice()).collect();
        let kept: Vec<Operation> = ops
            .into_iter()
            .filter(|op| {
                op.operator != "Do"
                    || !op
                        .operands
                        .first()
                        .and_then(|n| n.as_name().ok())
                        .is_some_and(|name| form_names.contains(name))
            })
            .collect();
        let encoded = Content { operations: kept }.encode().unwrap_or_default();
        replace_stream_content(doc, id, encoded);
    }
    forms
}

/// Replaces a stream's content with unfiltered bytes.
fn replace_stream_content(doc: &mut Document, id: ObjectId, content: Vec<u8>) {
    if let Ok(Object::Stream(stream)) = doc.get_object_mut(id) {
        stream.dict.remove(b"Filter");
        stream.dict.remove(b"DecodeParms");
        stream.set_content(content);
    }
}

/// The XObject entries of a resource dictionary, by name.
fn xobject_names(doc: &Document, resources: &Dictionary) -> Option<Vec<(Vec<u8>, ObjectId)>> {
    let xobjects = resources.get(b"XObject").ok()?;
    let (_, xobjects) = doc.dereference(xobjects).ok()?;
    let entries = xobjects
        .as_dict()
        .ok()?
        .iter()
        .filter_map(|(name, target)| Some((name.clone(), target.as_reference().ok()?)))
        .collect();
    Some(entries)
}

/// Forms to empty in the call graph `calls`: one form on every cycle (the
/// one a depth-first walk reaches again) and every form whose longest call
/// chain exceeds [`MAX_FORM_DEPTH`]. Iterative: the graph comes from the
/// file.
fn risky_forms(calls: &HashMap<ObjectId, Vec<ObjectId>>) -> HashSet<ObjectId> {
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Mark {
        OnPath,
        Done,
    }
    let mut marks: HashMap<ObjectId, Mark> = HashMap::new();
    let mut height: HashMap<ObjectId, usize> = HashMap::new();
    let mut risky = HashSet::new();
    for &root in calls.keys() {
        if marks.contains_key(&root) {
            continue;
        }
        marks.insert(root, Mark::OnPath);
        let mut path: Vec<(ObjectId, usize)> = vec![(root, 0)];
        while let Some((node, next_edge)) = path.last_mut() {
            let node = *node;
            let edges = calls.get(&node).map_or(&[][..], Vec::as_slice);
            if let Some(&callee) = edges.get(*next_edge) {
                *next_edge += 1;
                match marks.get(&callee) {
                    None => {
                        marks.insert(callee, Mark::OnPath);
                        path.push((callee, 0));
                    }
                    Some(Mark::OnPath) => {
                        risky.insert(callee);
                    }
                    Some(Mark::Done) => {}
                }
                continue;
            }
            let tallest_callee = edges
                .iter()
                .filter(|e| !risky.contains(*e))
                .filter_map(|e| height.get(e))
                .max()
                .copied()
                .unwrap_or(0);
            height.insert(node, tallest_callee + 1);
            marks.insert(node, Mark::Done);
            path.pop();
        }
    }
    risky.extend(
        height
            .into_iter()
            .filter(|&(_, h)| h > MAX_FORM_DEPTH)
            .map(|(id, _)| id),
    );
    risky
}

/// Rewrites the `c_first c_last width` ranges of CID fonts' `/W` arrays as
/// explicit lists. pdf-extract 0.12 misreads the range form (it takes all
/// three values from the first element), so every glyph in a range gets the
/// default width, often 0; the glyph after such a glyph then looks far away
/// and words split (`an d`, `o f`). Measured on the dev 10-Ks, word recall
/// against PyMuPDF went from 0.46–0.60 to ≈1.0 on the affected files.
fn repair_cid_widths(doc: &mut Document) {
    let cid_fonts: Vec<ObjectId> = doc
        .objects
        .iter()
        .filter_map(|(&id, object)| {
            let subtype = object
                .as_dict()
                .ok()?
                .get(b"Subtype")
                .ok()?
                .as_name()
                .ok()?;
            matches!(subtype, b"CIDFontType0" | b"CIDFontType2").then_some(id)
        })
        .collect();
    for id in cid_fonts {
        let expanded = doc
            .get_object(id)
            .ok()
            .and_then(|font| font.as_dict().ok())
            .and_then(|font| font.get(b"W").ok())
            .and_then(|widths| doc.dereference(widths).ok())
            .and_then(|(_, widths)| widths.as_array().ok())
            .and_then(|widths| expand_width_ranges(doc, widths));
        if let (Some(widths), Ok(Object::Dictionary(font))) = (expanded, doc.get_object_mut(id)) {
            font.set("W", Object::Array(widths));
        }
    }
}

/// The `/W` array with ranges expanded and every value direct; `None` when
/// nothing needs changing or the array is malformed (left to pdf-extract).
fn expand_width_ranges(doc: &Document, widths: &[Object]) -> Option<Vec<Object>> {
    /// Wider ranges are implausible for one font and would cost memory.
    const MAX_RANGE: i64 = 65_536;
    let number = |object: &Object| -> Option<f32> {
        match doc.dereference(object).ok()?.1 {
            Object::Integer(i) => Some(*i as f32),
            Object::Real(r) => Some(*r),
            _ => None,
        }
    };
    let mut out = Vec::with_capacity(widths.len());
    let mut changed = false;
    let mut at = 0;
    while at < widths.len() {
        let first = number(&widths[at])? as i64;
        match doc.dereference(widths.get(at + 1)?).ok()?.1 {
            Object::Array(list) => {
                let list: Option<Vec<Object>> =
                    list.iter().map(|w| number(w).map(Object::Real)).collect();
                out.push(Object::Integer(first));
                out.push(Object::Array(list?));
                at += 2;
            }
            last => {
                let last = match last {
                    Object::Integer(i) => *i,
                    Object::Real(r) => *r as i64,
                    _ => return None,
                };
                let width = number(widths.get(at + 2)?)?;
                if last < first || last - first >= MAX_RANGE {
                    return None;
                }
                out.push(Object::Integer(first));
                out.push(Object::Array(vec![
                    Object::Real(width);
                    (last - first + 1) as usize
                ]));
                changed = true;
                at += 3;
            }
        }
    }
    changed.then_some(out)
}

fn extract_pages(doc: &Document, limits: &ParseLimits) -> Result<ParsedDocument, ParseError> {
    let page_numbers: Vec<u32> = match catch_unwind(AssertUnwindSafe(|| doc.get_pages())) {
        Ok(pages) => pages.into_keys().collect(),
        Err(panic) => {
            return Err(ParseError::Corrupt(format!(
                "the PDF page tree is broken: {}",
                panic_message(&*panic)
            )))
        }
    };
    if page_numbers.is_empty() {
        return Err(ParseError::Corrupt("the PDF has no pages".into()));
    }
    if page_numbers.len() as u64 > u64::from(limits.max_pages) {
        return Err(ParseError::TooLarge {
            what: "pages",
            actual: page_numbers.len() as u64,
            limit: u64::from(limits.max_pages),
        });
    }

    let started = Instant::now();
    let mut text = String::new();
    let mut chars = 0usize;
    let mut failed_pages = 0usize;
    let mut first_failure = None;
    for (index, &number) in page_numbers.iter().enumerate() {
        if started.elapsed() > limits.max_parse_time {
            return Err(ParseError::Timeout {
                limit_secs: limits.max_parse_time.as_secs(),
            });
        }
        if index > 0 {
            text.push('\u{c}');
        }
        let mut collector = PageCollector::new(
            started + limits.max_parse_time,
            limits.max_output_chars.saturating_sub(chars),
        );
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            pdf_extract::output_doc_page(doc, &mut collector, number)
        }));
        match collector.stopped {
            Some(PageStop::Deadline) => {
                return Err(ParseError::Timeout {
                    limit_secs: limits.max_parse_time.as_secs(),
                })
            }
            Some(PageStop::TooMuchText) => {
                return Err(ParseError::TooLarge {
                    what: "text characters",
                    actual: (chars + collector.chars) as u64,
                    limit: limits.max_output_chars as u64,
                })
            }
            None => {}
        }
        let failure = match outcome {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(panic) => Some(panic_message(&*panic)),
        };
        if let Some(reason) = failure {
            // One bad page should not cost the others: keep it empty.
            tracing::warn!(page = number, %reason, "PDF page could not be extracted");
            failed_pages += 1;
            first_failure.get_or_insert(reason);
        }
        let page = normalize_page(&collector.text);
        chars += page.chars().count();
        if chars > limits.max_output_chars {
            return Err(ParseError::TooLarge {
                what: "text characters",
                actual: chars as u64,
                limit: limits.max_output_chars as u64,
            });
        }
        text.push_str(&page);
    }
    if failed_pages == page_numbers.len() {
        return Err(ParseError::Corrupt(format!(
            "no page of the PDF could be read: {}",
            first_failure.unwrap_or_default()
        )));
    }
    if text.chars().all(|c| c.is_whitespace()) {
        return Err(ParseError::NoTextLayer);
    }
    Ok(ParsedDocument {
        pages: pages_split_at_form_feeds(&text),
        text,
        headings: Vec::new(),
        tables: Vec::new(),
        title: info_title(doc),
    })
}

/// Whether the raw file names an encryption dictionary (for files lopdf
/// cannot open at all).
fn mentions_encryption(bytes: &[u8]) -> bool {
    bytes.windows(8).any(|w| w == b"/Encrypt")
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    if let Some(message) = panic.downcast_ref::<&str>() {
        (*message).to_string()
    } else if let Some(message) = panic.downcast_ref::<String>() {
        message.clone()
    } else {
        "unknown decoder panic".to_string()
    }
}

/// The document information dictionary's /Title, if any.
fn info_title(doc: &Document) -> Option<String> {
    let info = doc.trailer.get(b"Info").ok()?;
    let (_, info) = doc.dereference(info).ok()?;
    let title = info.as_dict().ok()?.get(b"Title").ok()?;
    let (_, title) = doc.dereference(title).ok()?;
    let title = match title {
        Object::String(..) => pdf_extract::decode_text_string(title).ok()?,
        _ => return None,
    };
    let title = super::builder::collapse_whitespace(&title);
    (!title.is_empty()).then_some(title)
}

/// Collects one page's glyphs into lines, with the same geometry rules as
/// `pdf_extract::PlainTextOutput`, and stops the page (pdf-extract gives up
/// when its output device fails) at the parse deadline or the text limit,
/// so one page cannot run past the document's budgets.
#[derive(Debug)]
struct PageCollector {
    text: String,
    /// Characters collected so far.
    chars: usize,
    glyphs: usize,
    /// Most characters this page may still add.
    max_chars: usize,
    deadline: Instant,
    /// Why the page was stopped, if it was.
    stopped: Option<PageStop>,
    /// Horizontal end of the previous glyph.
    last_end: f64,
    /// Baseline of the previous glyph (PDF y grows upwards).
    last_y: f64,
    /// The next glyph starts a new text-showing run.
    run_start: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PageStop {
    Deadline,
    TooMuchText,
}

/// Glyphs between two looks at the clock.
const GLYPHS_PER_CLOCK_CHECK: usize = 512;

impl PageCollector {
    fn new(deadline: Instant, max_chars: usize) -> Self {
        PageCollector {
            text: String::new(),
            chars: 0,
            glyphs: 0,
            max_chars,
            deadline,
            stopped: None,
            last_end: f64::MAX,
            last_y: 0.0,
            run_start: false,
        }
    }

    fn stop(&mut self, why: PageStop) -> Result<(), OutputError> {
        self.stopped = Some(why);
        Err(OutputError::FormatError(std::fmt::Error))
    }
}

impl OutputDev for PageCollector {
    fn begin_page(
        &mut self,
        _page_num: u32,
        _media_box: &MediaBox,
        _art_box: Option<(f64, f64, f64, f64)>,
    ) -> Result<(), OutputError> {
        Ok(())
    }

    fn end_page(&mut self) -> Result<(), OutputError> {
        Ok(())
    }

    fn output_character(
        &mut self,
        trm: &Transform,
        width: f64,
        _spacing: f64,
        font_size: f64,
        glyph: &str,
    ) -> Result<(), OutputError> {
        if self.stopped.is_some() {
            return Err(OutputError::FormatError(std::fmt::Error));
        }
        self.chars += glyph.chars().count();
        if self.chars > self.max_chars {
            return self.stop(PageStop::TooMuchText);
        }
        self.glyphs += 1;
        if self.glyphs.is_multiple_of(GLYPHS_PER_CLOCK_CHECK) && Instant::now() > self.deadline {
            return self.stop(PageStop::Deadline);
        }
        let (x, y) = (trm.m31, trm.m32);
        // Font size in page space: side of the square with the area of the
        // transformed em box (robust to rotation and anisotropic scaling).
        let sx = font_size * (trm.m11 + trm.m21);
        let sy = font_size * (trm.m12 + trm.m22);
        let size = (sx * sy).abs().sqrt();
        if !self.text.is_empty() && self.run_start && size.is_finite() {
            let dy = (y - self.last_y).abs();
            if dy > size * 1.5 {
                self.text.push('\n');
            }
            if x < self.last_end && dy > size * 0.5 {
                self.text.push('\n');
            }
            if x > self.last_end + size * 0.1 {
                self.text.push(' ');
            }
        }
        self.text.push_str(glyph);
        self.run_start = false;
        self.last_y = y;
        self.last_end = x + width * size;
        Ok(())
    }

    fn begin_word(&mut self) -> Result<(), OutputError> {
        self.run_start = true;
        Ok(())
    }

    fn end_word(&mut self) -> Result<(), OutputError> {
        Ok(())
    }

    fn end_line(&mut self) -> Result<(), OutputError> {
        Ok(())
    }
}

/// Normalises one page: spaces and tabs collapse, lines are trimmed, runs
/// of blank lines shrink to one, ligatures are split, control characters
/// go. A non-empty page ends with `\n`.
fn normalize_page(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len() + 1);
    let mut blank_lines = 0usize;
    for line in raw.split(['\n', '\r', '\u{c}']) {
        let line = normalize_line(line);
        if line.is_empty() {
            blank_lines += 1;
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
            if blank_lines > 0 {
                out.push('\n');
            }
        }
        blank_lines = 0;
        out.push_str(&line);
    }
    if !out.is_empty() {
        out.push('\n');
    }
    out
}

fn normalize_line(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut space = false;
    for c in line.chars() {
        match classify(c) {
            CharClass::Space => space = !out.is_empty(),
            CharClass::Drop => {}
            CharClass::Keep => {
                if space {
                    out.push(' ');
                    space = false;
                }
                match expand_glyph(c) {
                    Some(expanded) => out.push_str(expanded),
                    None => out.push(c),
                }
            }
        }
    }
    out
}

/// Latin ligatures that fonts emit as one glyph (text search needs the
/// letters), and canonical singletons that some fonts' glyph names map to
/// (U+037E GREEK QUESTION MARK is a semicolon to every reader; measured on
/// the dev contracts, pdf-extract emitted it for most semicolons).
fn expand_glyph(c: char) -> Option<&'static str> {
    Some(match c {
        '\u{37E}' => ";",
        '\u{387}' => "\u{B7}",
        '\u{FB00}' => "ff",
        '\u{FB01}' => "fi",
        '\u{FB02}' => "fl",
        '\u{FB03}' => "ffi",
        '\u{FB04}' => "ffl",
        '\u{FB05}' | '\u{FB06}' => "st",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_normalisation() {
        assert_eq!(
            normalize_page("\n\n  Net \t revenue   86,392\n\n\n\n\u{fb01}nal\u{0}\u{37e}  \n\n"),
            "Net revenue 86,392\n\nfinal;\n"
        );
        assert_eq!(normalize_page(" \n\t"), "");
    }

    fn id(n: u32) -> ObjectId {
        (n, 0)
    }

    #[test]
    fn cycles_and_deep_chains_are_defused() {
        let mut calls: HashMap<ObjectId, Vec<ObjectId>> = HashMap::new();
        // 1 -> 2 -> 3 -> 1 (cycle), 4 -> 4 (self), 5 -> 6 (fine).
        calls.insert(id(1), vec![id(2)]);
        calls.insert(id(2), vec![id(3)]);
        calls.insert(id(3), vec![id(1)]);
        calls.insert(id(4), vec![id(4)]);
        calls.insert(id(5), vec![id(6)]);
        calls.insert(id(6), vec![]);
        let risky = risky_forms(&calls);
        assert!(risky.contains(&id(4)));
        assert_eq!(
            risky
                .iter()
                .filter(|f| [id(1), id(2), id(3)].contains(f))
                .count(),
            1
        );
        assert!(!risky.contains(&id(5)) && !risky.contains(&id(6)));

        // A chain of 100 forms: the ones with more than MAX_FORM_DEPTH below.
        let chain: HashMap<ObjectId, Vec<ObjectId>> = (1..=100)
            .map(|n| (id(n), if n < 100 { vec![id(n + 1)] } else { vec![] }))
            .collect();
        let risky = risky_forms(&chain);
        assert_eq!(risky.len(), 100 - MAX_FORM_DEPTH);
        assert!(!risky.contains(&id(100)));
    }

    #[test]
    fn not_a_pdf() {
        let err = parse_pdf(b"hello world", &ParseLimits::default()).unwrap_err();
        assert_eq!(err.code(), "corrupt");
    }
}
