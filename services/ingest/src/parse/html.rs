//! HTML, including SEC EDGAR filings (inline XBRL and the SGML submission
//! wrapper).
//!
//! The page is parsed by html5ever (through `scraper`) into a tree that is
//! walked once, iteratively (hostile nesting depth cannot overflow the
//! stack). Nothing is executed or fetched: scripts, styles, templates,
//! embedded objects and hidden content are dropped; text nodes are data.
//! Block elements end lines, inline elements do not (filings split words
//! across spans), `h1`–`h6` become heading hints, the outermost tables become
//! `| a | b |` rows, and CSS page breaks become page boundaries.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;

use encoding_rs::{Encoding, UTF_8, WINDOWS_1252};
use folio_common::model::ParsedDocument;
use regex::Regex;
use scraper::{Html, Node, Selector};

use super::builder::{collapse_whitespace, TableRow, TextBuilder};
use super::text::normalize_line_ends;
use super::{ParseError, ParseLimits};

/// Parses an HTML page or an EDGAR submission.
pub(super) fn parse_html(bytes: &[u8], limits: &ParseLimits) -> Result<ParsedDocument, ParseError> {
    let source = decode_html(bytes)?;
    let mut out = TextBuilder::new(limits.max_output_chars);
    let mut title = None;
    match edgar_parts(&source) {
        Some(parts) => {
            for part in parts {
                out.page_break();
                if part.is_html {
                    render_html(part.body, &mut out, &mut title);
                } else {
                    render_sgml_text(part.body, &mut out);
                }
            }
        }
        None => render_html(&source, &mut out, &mut title),
    }
    out.finish(title)
}

/// Decodes the bytes: a BOM decides, then valid UTF-8, then a `charset`
/// declared in the first bytes, then Windows-1252 (which browsers use for
/// undeclared legacy pages).
fn decode_html(bytes: &[u8]) -> Result<String, ParseError> {
    if let Some((encoding, bom_len)) = Encoding::for_bom(bytes) {
        let text = encoding.decode_without_bom_handling(&bytes[bom_len..]).0;
        return Ok(normalize_line_ends(text));
    }
    let head = &bytes[..bytes.len().min(8 * 1024)];
    if head.iter().filter(|&&b| b == 0).count() * 100 > head.len() {
        return Err(ParseError::Binary);
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Ok(normalize_line_ends(Cow::Borrowed(text)));
    }
    let encoding = declared_charset(head)
        // A page that claims UTF-8/16 but is not valid UTF-8 is best read
        // as what such pages usually are.
        .filter(|e| e.output_encoding() != UTF_8)
        .unwrap_or(WINDOWS_1252);
    Ok(normalize_line_ends(
        encoding.decode_without_bom_handling(bytes).0,
    ))
}

/// The encoding named by a `charset=` in the head of the page, if known.
fn declared_charset(head: &[u8]) -> Option<&'static Encoding> {
    let lower = head.to_ascii_lowercase();
    let at = lower.windows(8).position(|w| w == b"charset=")? + 8;
    let label: Vec<u8> = lower[at..]
        .iter()
        .skip_while(|&&b| b == b'"' || b == b'\'' || b == b' ')
        .take_while(|&&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':' | b'.'))
        .copied()
        .collect();
    Encoding::for_label(&label)
}

/// One `<DOCUMENT>` of an EDGAR submission worth reading.
struct EdgarPart<'a> {
    body: &'a str,
    is_html: bool,
}

/// Splits an EDGAR submission (`<SEC-DOCUMENT>`/`<DOCUMENT>` with `<TYPE>`
/// and `<TEXT>`) into its readable documents; `None` for ordinary HTML.
/// Graphics, archives, PDFs, XBRL and other machine-readable attachments
/// are skipped.
fn edgar_parts(source: &str) -> Option<Vec<EdgarPart<'_>>> {
    // ASCII lower-casing keeps every byte offset (and char boundary).
    let head_end = floor_char_boundary(source, 8 * 1024);
    let head = source[..head_end].to_ascii_lowercase();
    let start = head.trim_start();
    let wrapped = [
        "<sec-document>",
        "<ims-document>",
        "<sec-header>",
        "<document>",
    ]
    .iter()
    .any(|tag| start.starts_with(tag))
        || (!start.starts_with("<!doctype")
            && !start.starts_with("<html")
            && head.contains("<document>")
            && head.contains("<type>"));
    if !wrapped {
        return None;
    }
    let lower = source.to_ascii_lowercase();
    let mut parts = Vec::new();
    let mut cursor = 0;
    while let Some(found) = lower[cursor..].find("<document>") {
        let doc_start = cursor + found;
        let doc_end = lower[doc_start..]
            .find("</document>")
            .map_or(lower.len(), |end| doc_start + end);
        cursor = (doc_end + "</document>".len()).min(lower.len());
        let block = &lower[doc_start..doc_end];
        let Some(text_at) = block.find("<text>") else {
            continue;
        };
        let body_start = doc_start + text_at + "<text>".len();
        let body_end = block
            .rfind("</text>")
            .map_or(doc_end, |end| doc_start + end)
            .max(body_start);
        let doc_type = sgml_field(block, "<type>");
        let file_name = sgml_field(block, "<filename>");
        let body_lower = &lower[body_start..body_end];
        if !is_readable_attachment(doc_type, file_name, body_lower) {
            continue;
        }
        let is_html = [
            "<html", "<body", "<div", "<p>", "<p ", "<table", "<font", "<br",
        ]
        .iter()
        .any(|tag| body_lower.contains(tag));
        parts.push(EdgarPart {
            body: &source[body_start..body_end],
            is_html,
        });
        if doc_end == lower.len() {
            break;
        }
    }
    Some(parts)
}

fn floor_char_boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// The value after an SGML header tag, up to the end of its line.
fn sgml_field<'a>(block: &'a str, tag: &str) -> &'a str {
    block
        .find(tag)
        .map(|at| {
            let rest = &block[at + tag.len()..];
            rest[..rest.find(['\n', '<']).unwrap_or(rest.len())].trim()
        })
        .unwrap_or("")
}

fn is_readable_attachment(doc_type: &str, file_name: &str, body: &str) -> bool {
    const SKIPPED_TYPES: &[&str] = &["graphic", "zip", "excel", "pdf", "xml", "json", "ex-101"];
    const SKIPPED_EXTENSIONS: &[&str] = &[
        ".jpg", ".jpeg", ".gif", ".png", ".pdf", ".xml", ".xsd", ".zip", ".xls", ".xlsx", ".json",
        ".js", ".css",
    ];
    let body = body.trim_start();
    !SKIPPED_TYPES.iter().any(|t| doc_type.starts_with(t))
        && !SKIPPED_EXTENSIONS.iter().any(|e| file_name.ends_with(e))
        && !body.starts_with("begin ")
        && !body.starts_with("<pdf>")
}

/// Renders a plain-text EDGAR document: lines kept (columns matter in the
/// old fixed-width filings), `<PAGE>` markers become page breaks, the
/// pseudo-tags of their tables are removed.
fn render_sgml_text(body: &str, out: &mut TextBuilder) {
    for line in body.split('\n') {
        let trimmed = line.trim();
        let lower = trimmed.to_ascii_lowercase();
        if lower == "<page>" {
            out.page_break();
            continue;
        }
        if matches!(
            lower.as_str(),
            "<table>" | "</table>" | "<caption>" | "</caption>" | "<s>" | "<c>" | "<fn>" | "</fn>"
        ) {
            continue;
        }
        out.push_preformatted(line);
        out.push_preformatted("\n");
    }
}

/// Renders one HTML document into `out`; the first `<title>` found becomes
/// `title` when none is set yet.
fn render_html(source: &str, out: &mut TextBuilder, title: &mut Option<String>) {
    let source = cap_nesting(source);
    let document = Html::parse_document(&source);
    if title.is_none() {
        *title = find_title(&document);
    }
    let mut walker = Walker::new(out, class_rules(&document));
    let root = document.tree.root();
    let mut next = root.first_child();
    while let Some(node) = next {
        let descend = walker.enter(node.value());
        if descend {
            if let Some(child) = node.first_child() {
                next = Some(child);
                continue;
            }
        }
        walker.leave(node.value());
        let mut cursor = node;
        next = loop {
            if let Some(sibling) = cursor.next_sibling() {
                break Some(sibling);
            }
            match cursor.parent() {
                Some(parent) if parent.id() != root.id() => {
                    walker.leave(parent.value());
                    cursor = parent;
                }
                _ => break None,
            }
        };
    }
    walker.finish();
}

/// What a style sheet says about elements of one class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct ClassRule {
    hidden: bool,
    break_before: bool,
    break_after: bool,
}

impl ClassRule {
    /// Reads the declarations Folio cares about from a `style` attribute or
    /// a rule body.
    fn from_declarations(declarations: &str) -> Self {
        let compact: String = declarations
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase();
        ClassRule {
            hidden: compact.contains("display:none"),
            break_before: compact.contains("page-break-before:always")
                || compact.contains("break-before:page"),
            break_after: compact.contains("page-break-after:always")
                || compact.contains("break-after:page"),
        }
    }

    fn merge(&mut self, other: ClassRule) {
        self.hidden |= other.hidden;
        self.break_before |= other.break_before;
        self.break_after |= other.break_after;
    }
}

/// Class selectors (`.x`, `p.x`) of the page's `<style>` sheets that hide
/// elements or break pages; other selectors are not evaluated.
fn class_rules(document: &Html) -> HashMap<String, ClassRule> {
    static RULE: OnceLock<Option<Regex>> = OnceLock::new();
    static CLASS_SELECTOR: OnceLock<Option<Regex>> = OnceLock::new();
    let mut rules: HashMap<String, ClassRule> = HashMap::new();
    let (Some(rule), Some(class_selector), Ok(styles)) = (
        RULE.get_or_init(|| Regex::new(r"([^{}]+)\{([^{}]*)\}").ok())
            .as_ref(),
        CLASS_SELECTOR
            .get_or_init(|| Regex::new(r"^[A-Za-z0-9]*\.([A-Za-z0-9_-]+)$").ok())
            .as_ref(),
        Selector::parse("style"),
    ) else {
        return rules;
    };
    for style in document.select(&styles) {
        let sheet: String = style.text().collect();
        for found in rule.captures_iter(&sheet) {
            let effect = ClassRule::from_declarations(&found[2]);
            if effect == ClassRule::default() {
                continue;
            }
            for selector in found[1].split(',') {
                if let Some(class) = class_selector.captures(selector.trim()) {
                    rules.entry(class[1].to_string()).or_default().merge(effect);
                }
            }
        }
    }
    rules
}

/// Deepest element nesting handed to html5ever.
const MAX_NESTING: usize = 256;

/// Elements without content.
const VOID_ELEMENTS: &[&str] = &[
    "area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr", "image", "img",
    "input", "keygen", "link", "meta", "param", "source", "track", "wbr",
];

/// Elements that a sibling or parent closes implicitly, so that unclosed
/// ones never pile up.
const IMPLIED_END_ELEMENTS: &[&str] = &[
    "p", "li", "dt", "dd", "tr", "td", "th", "option", "optgroup", "thead", "tbody", "tfoot",
    "colgroup", "caption", "rb", "rt", "rp", "rtc", "html", "head", "body",
];

/// Elements whose content is raw text up to their end tag.
const RAW_TEXT_ELEMENTS: &[&str] = &[
    "script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes", "noscript",
];

/// Replaces the tags nested deeper than [`MAX_NESTING`] by spaces (their
/// text stays).
/// html5ever checks element scope by walking its stack of open elements,
/// so its time grows with the square of the nesting depth: 200,000 nested
/// `<div><span>` took 66 s on the dev machine. Real documents nest a few
/// dozen levels; the depth here is estimated from the tags alone (elements
/// that close implicitly are not counted), which errs towards deeper.
fn cap_nesting(source: &str) -> Cow<'_, str> {
    let bytes = source.as_bytes();
    let mut depth = 0usize;
    let mut removed: Vec<(usize, usize)> = Vec::new();
    let mut at = 0;
    while let Some(found) = source[at..].find('<') {
        let start = at + found;
        let rest = &source[start + 1..];
        if let Some(comment) = rest.strip_prefix("!--") {
            at = comment
                .find("-->")
                .map_or(source.len(), |end| start + "<!--".len() + end + "-->".len());
            continue;
        }
        let closing = rest.starts_with('/');
        let name_start = start + 1 + usize::from(closing);
        let name_len = bytes[name_start..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b':' | b'_'))
            .count();
        if name_len == 0 {
            // `<!doctype>`, `<?xml?>`, or a stray `<` in text.
            at = start + 1;
            continue;
        }
        let name = source[name_start..name_start + name_len].to_ascii_lowercase();
        let tag_end = source[name_start..]
            .find('>')
            .map_or(source.len(), |end| name_start + end + 1);
        at = tag_end;
        if !closing && RAW_TEXT_ELEMENTS.contains(&name.as_str()) {
            at = find_end_tag(source, tag_end, &name).unwrap_or(source.len());
            continue;
        }
        if name == "plaintext" {
            break;
        }
        if VOID_ELEMENTS.contains(&name.as_str()) || IMPLIED_END_ELEMENTS.contains(&name.as_str()) {
            continue;
        }
        if closing {
            if depth > MAX_NESTING {
                removed.push((start, tag_end));
            }
            depth = depth.saturating_sub(1);
        } else if !source[..tag_end].ends_with("/>") {
            depth += 1;
            if depth > MAX_NESTING {
                removed.push((start, tag_end));
            }
        }
    }
    if removed.is_empty() {
        return Cow::Borrowed(source);
    }
    let mut kept = String::with_capacity(source.len());
    let mut from = 0;
    for (start, end) in removed {
        kept.push_str(&source[from..start]);
        // Keep the words on either side of a removed block apart.
        kept.push(' ');
        from = end;
    }
    kept.push_str(&source[from..]);
    Cow::Owned(kept)
}

/// Start of the end tag `</name` at or after `from`, ignoring case.
fn find_end_tag(source: &str, from: usize, name: &str) -> Option<usize> {
    let mut at = from;
    while let Some(found) = source[at..].find("</") {
        let start = at + found;
        let candidate = source.as_bytes().get(start + 2..start + 2 + name.len())?;
        if candidate.eq_ignore_ascii_case(name.as_bytes()) {
            return Some(start);
        }
        at = start + 2;
    }
    None
}

fn find_title(document: &Html) -> Option<String> {
    let selector = Selector::parse("title").ok()?;
    let element = document.select(&selector).next()?;
    let title = collapse_whitespace(&element.text().collect::<String>());
    (!title.is_empty()).then_some(title)
}

/// Elements whose content is never document text.
const SKIPPED_ELEMENTS: &[&str] = &[
    "script",
    "style",
    "noscript",
    "template",
    "head",
    "title",
    "svg",
    "iframe",
    "object",
    "embed",
    "canvas",
    "audio",
    "video",
    "select",
    "datalist",
    "xml",
    "ix:header",
];

/// Elements that end a paragraph (blank line after).
const PARAGRAPH_ELEMENTS: &[&str] = &[
    "p",
    "ul",
    "ol",
    "dl",
    "blockquote",
    "section",
    "article",
    "aside",
    "main",
    "details",
    "figure",
    "address",
    "fieldset",
    "form",
    "header",
    "footer",
    "nav",
];

/// Elements that end a line.
const LINE_ELEMENTS: &[&str] = &[
    "div",
    "li",
    "dt",
    "dd",
    "br",
    "hr",
    "center",
    "figcaption",
    "legend",
    "summary",
    "caption",
    "option",
    "tr",
    "td",
    "th",
    "table",
    "thead",
    "tbody",
    "tfoot",
    "dialog",
    "menu",
    "dir",
    "hgroup",
];

/// What to undo when an element closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Skipped,
    Inline,
    Line,
    Paragraph,
    Heading,
    Preformatted,
    Table,
    Row,
    Cell,
    TableHead,
    Caption,
}

#[derive(Debug)]
struct Frame {
    role: Role,
    page_break_after: bool,
}

#[derive(Debug, Default)]
struct TableState {
    rows: Vec<TableRow>,
    row: Option<TableRow>,
    cell: Option<String>,
    in_head: bool,
    caption: Option<String>,
    in_caption: bool,
}

struct Walker<'a> {
    out: &'a mut TextBuilder,
    class_rules: HashMap<String, ClassRule>,
    frames: Vec<Frame>,
    /// Open tables, outermost first; only the outermost one renders rows,
    /// nested ones flow into its current cell.
    tables: Vec<TableState>,
    preformatted: usize,
}

impl<'a> Walker<'a> {
    fn new(out: &'a mut TextBuilder, class_rules: HashMap<String, ClassRule>) -> Self {
        Walker {
            out,
            class_rules,
            frames: Vec::new(),
            tables: Vec::new(),
            preformatted: 0,
        }
    }

    /// The open cell of the outermost table, where all text inside a table
    /// goes.
    fn cell(&mut self) -> Option<&mut String> {
        self.tables.first_mut().and_then(|t| t.cell.as_mut())
    }

    fn in_table(&self) -> bool {
        !self.tables.is_empty()
    }

    /// Handles a node opening; returns whether to walk into its children.
    fn enter(&mut self, node: &Node) -> bool {
        match node {
            Node::Text(text) => {
                self.text(text);
                false
            }
            Node::Element(element) => {
                let name = element.name();
                let mut rule = element
                    .attr("style")
                    .map(ClassRule::from_declarations)
                    .unwrap_or_default();
                if !self.class_rules.is_empty() {
                    for class in element.classes() {
                        if let Some(&from_sheet) = self.class_rules.get(class) {
                            rule.merge(from_sheet);
                        }
                    }
                }
                if rule.hidden
                    || element.attr("hidden").is_some()
                    || SKIPPED_ELEMENTS.contains(&name)
                {
                    self.frames.push(Frame {
                        role: Role::Skipped,
                        page_break_after: false,
                    });
                    return false;
                }
                // `<PAGE>` is the page marker of older EDGAR HTML filings.
                let break_before = rule.break_before || name == "page";
                let page_break_after = rule.break_after;
                if break_before && !self.in_table() {
                    self.out.page_break();
                }
                let role = self.open_element(name);
                self.frames.push(Frame {
                    role,
                    page_break_after,
                });
                true
            }
            _ => false,
        }
    }

    fn open_element(&mut self, name: &str) -> Role {
        if let Some(level) = heading_level(name) {
            if !self.in_table() {
                self.out.begin_heading(level);
                return Role::Heading;
            }
            self.block_break(true);
            return Role::Paragraph;
        }
        match name {
            "table" => {
                if let Some(cell) = self.cell() {
                    cell.push(' ');
                }
                self.tables.push(TableState::default());
                Role::Table
            }
            "thead" if self.tables.len() == 1 => {
                if let Some(table) = self.tables.first_mut() {
                    table.in_head = true;
                }
                Role::TableHead
            }
            "caption" if self.tables.len() == 1 => {
                if let Some(table) = self.tables.first_mut() {
                    table.caption.get_or_insert_with(String::new).push(' ');
                    table.in_caption = true;
                }
                Role::Caption
            }
            "tr" if self.tables.len() == 1 => {
                if let Some(table) = self.tables.first_mut() {
                    finish_row(table);
                    table.row = Some(TableRow {
                        cells: Vec::new(),
                        header: table.in_head,
                    });
                }
                Role::Row
            }
            "td" | "th" if self.tables.len() == 1 => {
                if let Some(table) = self.tables.first_mut() {
                    finish_cell(table);
                    let row = table.row.get_or_insert_with(TableRow::default);
                    if name == "td" && !table.in_head {
                        row.header = false;
                    } else if row.cells.is_empty() && name == "th" {
                        row.header = true;
                    }
                    table.cell = Some(String::new());
                }
                Role::Cell
            }
            "pre" | "listing" | "plaintext" | "xmp" => {
                if !self.in_table() {
                    self.out.paragraph_break();
                }
                self.preformatted += 1;
                Role::Preformatted
            }
            "br" => {
                match self.cell() {
                    Some(cell) => cell.push(' '),
                    None => self.out.line_break(),
                }
                Role::Inline
            }
            _ if PARAGRAPH_ELEMENTS.contains(&name) => {
                self.block_break(true);
                Role::Paragraph
            }
            _ if LINE_ELEMENTS.contains(&name) => {
                self.block_break(false);
                Role::Line
            }
            _ => Role::Inline,
        }
    }

    fn block_break(&mut self, paragraph: bool) {
        if let Some(cell) = self.cell() {
            cell.push(' ');
        } else if self.in_table() {
            // Between rows of a table: nothing to separate.
        } else if paragraph {
            self.out.paragraph_break();
        } else {
            self.out.line_break();
        }
    }

    /// Handles an element closing (text nodes have nothing to close).
    fn leave(&mut self, node: &Node) {
        if !node.is_element() {
            return;
        }
        let Some(frame) = self.frames.pop() else {
            return;
        };
        match frame.role {
            Role::Skipped | Role::Inline => {}
            Role::Heading => self.out.end_heading(),
            Role::Paragraph => self.block_break(true),
            Role::Line => self.block_break(false),
            Role::Caption => {
                if let Some(table) = self.tables.first_mut() {
                    table.in_caption = false;
                }
            }
            Role::TableHead => {
                if let Some(table) = self.tables.first_mut() {
                    finish_row(table);
                    table.in_head = false;
                }
            }
            Role::Preformatted => {
                self.preformatted = self.preformatted.saturating_sub(1);
                self.block_break(true);
            }
            Role::Row => {
                if let Some(table) = self.tables.first_mut() {
                    finish_row(table);
                }
            }
            Role::Cell => {
                if let Some(table) = self.tables.first_mut() {
                    finish_cell(table);
                }
            }
            Role::Table => {
                if let Some(table) = self.tables.pop() {
                    if self.tables.is_empty() {
                        self.render_table(table);
                    } else if let Some(cell) = self.cell() {
                        cell.push(' ');
                    }
                }
            }
        }
        if frame.page_break_after && !self.in_table() {
            self.out.page_break();
        }
    }

    fn render_table(&mut self, mut table: TableState) {
        finish_row(&mut table);
        if let Some(caption) = &table.caption {
            self.out.paragraph_break();
            self.out.push_text(caption);
        }
        self.out.push_table(table.rows, true);
    }

    fn text(&mut self, text: &str) {
        if let Some(table) = self.tables.first_mut() {
            // Text between rows (whitespace, stray characters) has no cell.
            if let Some(cell) = table.cell.as_mut() {
                cell.push_str(text);
            } else if table.in_caption {
                table.caption.get_or_insert_with(String::new).push_str(text);
            }
        } else if self.preformatted > 0 {
            self.out.push_preformatted(text);
        } else {
            self.out.push_text(text);
        }
    }

    /// Closes what malformed markup left open (the tree is well formed, so
    /// only tables can be pending here).
    fn finish(&mut self) {
        while let Some(table) = self.tables.pop() {
            if self.tables.is_empty() {
                self.render_table(table);
            }
        }
        if self.out.in_heading() {
            self.out.end_heading();
        }
    }
}

fn finish_cell(table: &mut TableState) {
    if let Some(cell) = table.cell.take() {
        table
            .row
            .get_or_insert_with(TableRow::default)
            .cells
            .push(cell);
    }
}

fn finish_row(table: &mut TableState) {
    finish_cell(table);
    if let Some(row) = table.row.take() {
        table.rows.push(row);
    }
}

fn heading_level(name: &str) -> Option<u8> {
    match name {
        "h1" => Some(1),
        "h2" => Some(2),
        "h3" => Some(3),
        "h4" => Some(4),
        "h5" => Some(5),
        "h6" => Some(6),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(html: &str) -> ParsedDocument {
        parse_html(html.as_bytes(), &ParseLimits::default()).unwrap()
    }

    #[test]
    fn inline_runs_join_and_blocks_break() {
        let doc =
            parse("<div><span>Revenue</span><span>s rose</span></div><div>by&nbsp;5&#37;</div>");
        assert_eq!(doc.text, "Revenues rose\nby 5%\n");
    }

    #[test]
    fn th_row_is_header_and_nested_tables_flatten() {
        let doc = parse(
            "<table><tr><th>Item</th><th>Amount</th></tr>\
             <tr><td>A<table><tr><td>x</td><td>y</td></tr></table></td><td>1</td></tr></table>",
        );
        let t = doc.tables[0];
        assert_eq!(&doc.text[t.start..t.header_end], "| Item | Amount |");
        assert_eq!(&doc.text[t.header_end..t.end], "\n| A x y | 1 |");
    }

    #[test]
    fn edgar_plain_text_pages() {
        let doc = parse(
            "<SEC-DOCUMENT>\n<DOCUMENT>\n<TYPE>10-K\n<TEXT>\nPART I\n<PAGE>\n  Item 1.   Business\n</TEXT>\n</DOCUMENT>\n\
             <DOCUMENT>\n<TYPE>GRAPHIC\n<TEXT>\nbegin 644 logo.jpg\nM9\n</TEXT>\n</DOCUMENT>",
        );
        assert_eq!(doc.text, "PART I\n\u{c}Item 1.   Business\n");
        assert_eq!(doc.pages.len(), 2);
    }

    #[test]
    fn style_sheet_classes_hide_and_break_pages() {
        let doc = parse(
            "<html><head><style>\n.x { DISPLAY: none } p.pb, .other { page-break-after: always }\n\
             @media print { .brk { break-before: page } } div .deep { display:none }</style></head>\
             <body><p>one</p><p class='pb'>two</p><div class='x'>gone</div>\
             <div class='brk'>three</div><p class='deep'>kept</p><PAGE>four</body></html>",
        );
        assert_eq!(doc.text, "one\n\ntwo\n\u{c}three\n\nkept\n\u{c}four\n");
    }

    #[test]
    fn deep_nesting_is_capped_but_text_survives() {
        let depth = MAX_NESTING + 50;
        let html = format!(
            "<script>if (a<b) {{ x = '</div>'; }}</script>{}deep<p>para{}after",
            "<div><span>".repeat(depth),
            "</span></div>".repeat(depth)
        );
        let capped = cap_nesting(&html);
        assert_eq!(
            capped.matches("<div>").count() + capped.matches("<span>").count(),
            MAX_NESTING
        );
        assert_eq!(
            capped.matches("</div>").count() + capped.matches("</span>").count(),
            MAX_NESTING + 1
        );
        assert!(matches!(cap_nesting("<div><p>x</div>"), Cow::Borrowed(_)));
        let doc = parse(&html);
        assert_eq!(doc.text, "deep\n\npara\n\nafter\n");
    }

    #[test]
    fn declared_charset_is_used_for_non_utf8() {
        let doc = parse_html(
            b"<html><head><meta charset=\"iso-8859-1\"><title>Caf\xe9</title></head><body>na\xefve</body></html>",
            &ParseLimits::default(),
        )
        .unwrap();
        assert_eq!(doc.text, "na\u{ef}ve\n");
        assert_eq!(doc.title.as_deref(), Some("Caf\u{e9}"));
    }
}
