//! DOCX (Office Open XML word processing): the main document part's
//! paragraphs, headings, list numbers, tables and page breaks.
//!
//! The archive is untrusted: the entry count and declared sizes are checked
//! before anything is inflated, and every entry is read through a bounded
//! reader (total budget and compression ratio), so a zip bomb stops at the
//! limit instead of filling memory. XML with a DOCTYPE is refused outright
//! and entity references other than XML's five predefined ones are errors:
//! nothing is ever expanded (no billion laughs, no external entities).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::io::{Cursor, Read};

use folio_common::model::ParsedDocument;
use quick_xml::events::{BytesRef, BytesStart, BytesText, Event};
use quick_xml::name::{Namespace, ResolveResult};
use quick_xml::NsReader;
use zip::result::ZipError;
use zip::ZipArchive;

use super::builder::{TableRow, TextBuilder};
use super::{ParseError, ParseLimits};

/// Entries smaller than this are never judged by their compression ratio
/// (tiny XML parts legitimately compress very well).
const RATIO_FLOOR_BYTES: u64 = 1024 * 1024;

const OLE_MAGIC: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
const WORD_NS: &[u8] = b"http://schemas.openxmlformats.org/wordprocessingml/2006/main";
const WORD_STRICT_NS: &[u8] = b"http://purl.oclc.org/ooxml/wordprocessingml/main";
const COMPAT_NS: &[u8] = b"http://schemas.openxmlformats.org/markup-compatibility/2006";

/// Parses a DOCX file.
pub(super) fn parse_docx(bytes: &[u8], limits: &ParseLimits) -> Result<ParsedDocument, ParseError> {
    if bytes.starts_with(OLE_MAGIC) {
        // Password-protected OOXML is stored inside an OLE container.
        let marker: Vec<u8> = "EncryptedPackage"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        return Err(if bytes.windows(marker.len()).any(|w| w == marker) {
            ParseError::Encrypted
        } else {
            ParseError::Unsupported(
                "legacy Word 97-2003 (.doc) files are not supported; save the file as .docx".into(),
            )
        });
    }
    if !bytes.starts_with(b"PK") {
        return Err(ParseError::Corrupt(
            "not a DOCX file (no ZIP signature)".into(),
        ));
    }
    let mut archive = Archive::open(bytes, limits)?;
    let main_part = archive
        .read("_rels/.rels")?
        .and_then(|rels| main_document_target(&rels).ok().flatten())
        .unwrap_or_else(|| "word/document.xml".to_string());
    let Some(document) = archive.read(&main_part)? else {
        return Err(ParseError::Corrupt(format!(
            "the DOCX has no main document part ({main_part})"
        )));
    };
    let folder = main_part.rsplit_once('/').map_or("", |(folder, _)| folder);
    let sibling = |name: &str| {
        if folder.is_empty() {
            name.to_string()
        } else {
            format!("{folder}/{name}")
        }
    };
    let styles = match archive.read(&sibling("styles.xml"))? {
        Some(xml) => parse_styles(&xml)?,
        None => Styles::default(),
    };
    let numbering = match archive.read(&sibling("numbering.xml"))? {
        Some(xml) => parse_numbering(&xml)?,
        None => Numbering::default(),
    };
    let title = match archive.read("docProps/core.xml")? {
        Some(xml) => core_title(&xml)?,
        None => None,
    };
    let mut walker = DocumentWalker::new(limits, &styles, numbering);
    walker.walk(&document)?;
    walker.out.finish(title)
}

/// A ZIP archive read under a decompression budget.
struct Archive<'a> {
    zip: ZipArchive<Cursor<&'a [u8]>>,
    remaining: u64,
    max_ratio: u64,
}

impl<'a> Archive<'a> {
    fn open(bytes: &'a [u8], limits: &ParseLimits) -> Result<Self, ParseError> {
        // Check the entry count in the end record before the ZIP reader
        // builds its index of every entry.
        if let Some(declared) = declared_entry_count(bytes) {
            if declared > limits.max_zip_entries {
                return Err(too_many_entries(declared, limits.max_zip_entries));
            }
        }
        let mut zip = ZipArchive::new(Cursor::new(bytes)).map_err(|e| zip_error("", e))?;
        if zip.len() > limits.max_zip_entries {
            return Err(too_many_entries(zip.len(), limits.max_zip_entries));
        }
        let mut declared_total: u64 = 0;
        for index in 0..zip.len() {
            let entry = zip.by_index_raw(index).map_err(|e| zip_error("", e))?;
            declared_total = declared_total.saturating_add(entry.size());
        }
        if declared_total > limits.max_unzipped_bytes {
            return Err(ParseError::ZipBomb(format!(
                "the entries declare {declared_total} bytes uncompressed, the limit is {}",
                limits.max_unzipped_bytes
            )));
        }
        Ok(Archive {
            zip,
            remaining: limits.max_unzipped_bytes,
            max_ratio: limits.max_zip_ratio.max(1),
        })
    }

    /// Reads one entry, `None` when absent. Declared sizes are checked
    /// first, then inflation stops one byte past what the budget and the
    /// ratio allow (declared sizes can lie).
    fn read(&mut self, name: &str) -> Result<Option<Vec<u8>>, ParseError> {
        let mut entry = match self.zip.by_name(name) {
            Ok(entry) => entry,
            Err(ZipError::FileNotFound) => return Ok(None),
            Err(e) => return Err(zip_error(name, e)),
        };
        if entry.encrypted() {
            return Err(ParseError::Encrypted);
        }
        let ratio_cap = entry
            .compressed_size()
            .max(1)
            .saturating_mul(self.max_ratio)
            .max(RATIO_FLOOR_BYTES);
        let cap = self.remaining.min(ratio_cap);
        if entry.size() > cap {
            return Err(ParseError::ZipBomb(format!(
                "{name} declares {} bytes from {} compressed",
                entry.size(),
                entry.compressed_size()
            )));
        }
        let mut data = Vec::with_capacity(entry.size() as usize);
        (&mut entry)
            .take(cap + 1)
            .read_to_end(&mut data)
            .map_err(|e| {
                // The zip crate stops an entry at its declared size; an entry
                // that inflates past it lied about its size, the bomb's trick.
                if e.to_string().contains("larger than its declared") {
                    ParseError::ZipBomb(format!("{name} inflates beyond its declared size"))
                } else {
                    ParseError::Corrupt(format!("cannot decompress {name}: {e}"))
                }
            })?;
        if data.len() as u64 > cap {
            return Err(ParseError::ZipBomb(format!(
                "{name} inflates beyond {cap} bytes from {} compressed",
                entry.compressed_size()
            )));
        }
        self.remaining -= data.len() as u64;
        Ok(Some(data))
    }
}

fn too_many_entries(count: usize, limit: usize) -> ParseError {
    ParseError::ZipBomb(format!("{count} entries, the limit is {limit}"))
}

fn zip_error(name: &str, error: ZipError) -> ParseError {
    let message = error.to_string();
    if matches!(error, ZipError::InvalidPassword) || message.to_lowercase().contains("password") {
        return ParseError::Encrypted;
    }
    if name.is_empty() {
        ParseError::Corrupt(format!("not a valid DOCX (ZIP) archive: {message}"))
    } else {
        ParseError::Corrupt(format!("cannot read {name}: {message}"))
    }
}

/// The entry count of the ZIP end-of-central-directory record, if found
/// (`None` for ZIP64 archives, whose count lives elsewhere).
fn declared_entry_count(bytes: &[u8]) -> Option<usize> {
    const EOCD: &[u8] = b"PK\x05\x06";
    let search_from = bytes.len().saturating_sub(22 + 65_535);
    let tail = &bytes[search_from..];
    let at = tail.windows(4).rposition(|w| w == EOCD)?;
    let record = tail.get(at..at + 22)?;
    let count = u16::from_le_bytes([record[10], record[11]]);
    (count != u16::MAX).then_some(usize::from(count))
}

/// Which namespace an element belongs to, as far as the walker cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ns {
    Word,
    Compat,
    Other,
}

/// Reads the next XML event, refusing DOCTYPEs.
fn next_event<'i>(
    reader: &mut NsReader<&'i [u8]>,
    part: &str,
) -> Result<(Ns, Event<'i>), ParseError> {
    let (resolved, event) = reader
        .read_resolved_event()
        .map_err(|e| ParseError::Corrupt(format!("{part} is not well-formed XML: {e}")))?;
    let ns = match resolved {
        ResolveResult::Bound(Namespace(ns)) if ns == WORD_NS || ns == WORD_STRICT_NS => Ns::Word,
        ResolveResult::Bound(Namespace(ns)) if ns == COMPAT_NS => Ns::Compat,
        _ => Ns::Other,
    };
    match &event {
        Event::DocType(_) => Err(ParseError::ForbiddenXml(format!(
            "{part} contains a DOCTYPE declaration; Folio never processes DTDs or entities"
        ))),
        // Checked wherever it occurs: an undeclared entity invalidates the part.
        Event::GeneralRef(reference) => reference_text(reference, part).map(|_| (ns, event)),
        _ => Ok((ns, event)),
    }
}

fn xml_reader(xml: &[u8]) -> NsReader<&[u8]> {
    let mut reader = NsReader::from_reader(xml);
    let config = reader.config_mut();
    config.trim_text(false);
    config.expand_empty_elements = false;
    reader
}

fn text_content<'a>(text: &BytesText<'a>, part: &str) -> Result<Cow<'a, str>, ParseError> {
    text.xml10_content()
        .map_err(|e| ParseError::Corrupt(format!("{part} has undecodable text: {e}")))
}

/// Resolves a reference: character references and the five predefined
/// entities; anything else would need a DTD, which is refused.
fn reference_text(reference: &BytesRef<'_>, part: &str) -> Result<String, ParseError> {
    if reference.is_char_ref() {
        return match reference.resolve_char_ref() {
            Ok(Some(c)) => Ok(c.to_string()),
            _ => Err(ParseError::Corrupt(format!(
                "{part} has an invalid character reference"
            ))),
        };
    }
    let name = reference
        .decode()
        .map_err(|e| ParseError::Corrupt(format!("{part} has an undecodable reference: {e}")))?;
    match quick_xml::escape::resolve_predefined_entity(&name) {
        Some(text) => Ok(text.to_string()),
        None => Err(ParseError::ForbiddenXml(format!(
            "{part} references the undeclared entity &{name};"
        ))),
    }
}

/// The unescaped value of the attribute with local name `local`.
fn attribute(element: &BytesStart<'_>, local: &[u8]) -> Option<String> {
    element
        .attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == local)
        .and_then(|a| a.unescape_value().ok().map(Cow::into_owned))
}

/// An on/off property (`<w:b/>`, `<w:b w:val="false"/>`).
fn is_on(element: &BytesStart<'_>) -> bool {
    !matches!(
        attribute(element, b"val").as_deref(),
        Some("0" | "false" | "off")
    )
}

/// The target of the package's officeDocument relationship.
fn main_document_target(rels: &[u8]) -> Result<Option<String>, ParseError> {
    let part = "_rels/.rels";
    let mut reader = xml_reader(rels);
    loop {
        match next_event(&mut reader, part)?.1 {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == b"Relationship" => {
                let is_main =
                    attribute(&e, b"Type").is_some_and(|t| t.ends_with("/officeDocument"));
                if let (true, Some(target)) = (is_main, attribute(&e, b"Target")) {
                    let target = target.trim_start_matches('/').to_string();
                    return Ok((!target.is_empty() && !target.contains("..")).then_some(target));
                }
            }
            Event::Eof => return Ok(None),
            _ => {}
        }
    }
}

/// `dc:title` of the core properties.
fn core_title(xml: &[u8]) -> Result<Option<String>, ParseError> {
    let part = "docProps/core.xml";
    let mut reader = xml_reader(xml);
    let mut in_title = false;
    let mut title = String::new();
    loop {
        match next_event(&mut reader, part)?.1 {
            Event::Start(e) if e.local_name().as_ref() == b"title" => in_title = true,
            Event::End(e) if e.local_name().as_ref() == b"title" => break,
            Event::Text(t) if in_title => title.push_str(&text_content(&t, part)?),
            Event::GeneralRef(r) if in_title => title.push_str(&reference_text(&r, part)?),
            Event::Eof => break,
            _ => {}
        }
    }
    let title = title.trim().to_string();
    Ok((!title.is_empty()).then_some(title))
}

/// A numbering reference: list instance and level.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct NumRef {
    num_id: Option<String>,
    level: Option<u8>,
}

#[derive(Debug, Clone, Default)]
struct StyleDef {
    name: Option<String>,
    based_on: Option<String>,
    outline_level: Option<u8>,
    numbering: NumRef,
}

/// Paragraph styles of `styles.xml`, by style id.
#[derive(Debug, Default)]
struct Styles {
    by_id: HashMap<String, StyleDef>,
}

impl Styles {
    /// Heading level of a paragraph style: its name (`heading 2`, `Title`)
    /// or outline level, inherited through `basedOn`; built-in ids
    /// (`Heading2`) when `styles.xml` does not know the style.
    fn heading_level(&self, style_id: &str) -> Option<u8> {
        let mut id = style_id;
        for _ in 0..16 {
            let Some(style) = self.by_id.get(id) else {
                break;
            };
            if let Some(level) = style.name.as_deref().and_then(heading_level_of_name) {
                return Some(level);
            }
            if let Some(level) = style.outline_level {
                return (level < 9).then_some(level + 1);
            }
            match style.based_on.as_deref() {
                Some(parent) => id = parent,
                None => return None,
            }
        }
        if self.by_id.contains_key(style_id) {
            return None;
        }
        heading_level_of_name(style_id)
    }

    /// The list numbering a paragraph style carries, inherited.
    fn numbering(&self, style_id: &str) -> NumRef {
        let mut id = style_id;
        for _ in 0..16 {
            let Some(style) = self.by_id.get(id) else {
                break;
            };
            if style.numbering.num_id.is_some() {
                return style.numbering.clone();
            }
            match style.based_on.as_deref() {
                Some(parent) => id = parent,
                None => break,
            }
        }
        NumRef::default()
    }
}

/// `heading 3` / `Heading3` → 3, `Title` → 1.
fn heading_level_of_name(name: &str) -> Option<u8> {
    let lower = name.to_ascii_lowercase();
    if lower == "title" {
        return Some(1);
    }
    let digits = lower.strip_prefix("heading")?.trim();
    let level: u8 = digits.parse().ok()?;
    (1..=9).contains(&level).then_some(level)
}

fn parse_styles(xml: &[u8]) -> Result<Styles, ParseError> {
    let part = "word/styles.xml";
    let mut reader = xml_reader(xml);
    let mut styles = Styles::default();
    let mut current: Option<(String, StyleDef)> = None;
    loop {
        let (ns, event) = next_event(&mut reader, part)?;
        match event {
            Event::Start(e) | Event::Empty(e) if ns == Ns::Word => {
                let local = e.local_name();
                match local.as_ref() {
                    b"style" => {
                        let id = attribute(&e, b"styleId").unwrap_or_default();
                        current = Some((id, StyleDef::default()));
                    }
                    name => {
                        if let Some((_, style)) = current.as_mut() {
                            let value = attribute(&e, b"val");
                            match name {
                                b"name" => style.name = value,
                                b"basedOn" => style.based_on = value,
                                b"outlineLvl" => {
                                    style.outline_level = value.and_then(|v| v.parse().ok())
                                }
                                b"numId" => style.numbering.num_id = value,
                                b"ilvl" => {
                                    style.numbering.level = value.and_then(|v| v.parse().ok())
                                }
                                _ => {}
                            }
                        }
                    }
                }
            }
            Event::End(e) if ns == Ns::Word && e.local_name().as_ref() == b"style" => {
                if let Some((id, style)) = current.take() {
                    styles.by_id.insert(id, style);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(styles)
}

/// How a list level renders its counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NumFormat {
    Decimal,
    DecimalZero,
    LowerLetter,
    UpperLetter,
    LowerRoman,
    UpperRoman,
    Bullet,
    None,
}

impl NumFormat {
    fn from_name(name: &str) -> Self {
        match name {
            "decimalZero" => NumFormat::DecimalZero,
            "lowerLetter" => NumFormat::LowerLetter,
            "upperLetter" => NumFormat::UpperLetter,
            "lowerRoman" => NumFormat::LowerRoman,
            "upperRoman" => NumFormat::UpperRoman,
            "bullet" => NumFormat::Bullet,
            "none" => NumFormat::None,
            _ => NumFormat::Decimal,
        }
    }

    fn render(self, value: u32) -> String {
        match self {
            NumFormat::Decimal => value.to_string(),
            NumFormat::DecimalZero => format!("{value:02}"),
            NumFormat::LowerLetter => letters(value),
            NumFormat::UpperLetter => letters(value).to_uppercase(),
            NumFormat::LowerRoman => roman(value),
            NumFormat::UpperRoman => roman(value).to_uppercase(),
            NumFormat::Bullet => "•".to_string(),
            NumFormat::None => String::new(),
        }
    }
}

/// Word's letter numbering: a … z, aa … zz, aaa …
fn letters(value: u32) -> String {
    if value == 0 {
        return "0".to_string();
    }
    let index = (value - 1) % 26;
    let repeat = ((value - 1) / 26 + 1).min(8) as usize;
    let letter = char::from(b'a' + index as u8);
    std::iter::repeat_n(letter, repeat).collect()
}

fn roman(mut value: u32) -> String {
    if value == 0 || value >= 4000 {
        return value.to_string();
    }
    const DIGITS: &[(u32, &str)] = &[
        (1000, "m"),
        (900, "cm"),
        (500, "d"),
        (400, "cd"),
        (100, "c"),
        (90, "xc"),
        (50, "l"),
        (40, "xl"),
        (10, "x"),
        (9, "ix"),
        (5, "v"),
        (4, "iv"),
        (1, "i"),
    ];
    let mut out = String::new();
    for &(amount, digits) in DIGITS {
        while value >= amount {
            out.push_str(digits);
            value -= amount;
        }
    }
    out
}

#[derive(Debug, Clone)]
struct Level {
    start: u32,
    format: NumFormat,
    text: String,
    legal: bool,
}

impl Default for Level {
    fn default() -> Self {
        Level {
            start: 1,
            format: NumFormat::Decimal,
            text: String::new(),
            legal: false,
        }
    }
}

#[derive(Debug, Clone, Default)]
struct NumInstance {
    abstract_id: String,
    start_overrides: HashMap<u8, u32>,
}

/// `numbering.xml` plus the running counters of each list.
#[derive(Debug, Default)]
struct Numbering {
    abstracts: HashMap<String, HashMap<u8, Level>>,
    instances: HashMap<String, NumInstance>,
    counters: HashMap<String, [Option<u32>; 9]>,
    overrides_applied: HashSet<(String, u8)>,
}

impl Numbering {
    /// Advances the list counter of `num_id` at `level` and renders the
    /// label Word would show (`"4.2"`, `"(a)"`, `"•"`), if any.
    fn next_label(&mut self, num_id: &str, level: u8) -> Option<String> {
        let level = level.min(8);
        let instance = self.instances.get(num_id)?;
        let levels = self.abstracts.get(&instance.abstract_id)?;
        let definition = levels.get(&level)?;
        let counters = self
            .counters
            .entry(instance.abstract_id.clone())
            .or_insert([None; 9]);
        let slot = usize::from(level);
        // A list instance with a start override restarts at its first use.
        let restart = instance
            .start_overrides
            .get(&level)
            .copied()
            .filter(|_| self.overrides_applied.insert((num_id.to_string(), level)));
        counters[slot] = Some(match (restart, counters[slot]) {
            (Some(start), _) => start,
            (None, Some(value)) => value.saturating_add(1),
            (None, None) => definition.start,
        });
        for deeper in counters.iter_mut().skip(slot + 1) {
            *deeper = None;
        }
        if definition.format == NumFormat::Bullet {
            return Some("•".to_string());
        }
        let mut label = String::new();
        let mut chars = definition.text.chars().peekable();
        while let Some(c) = chars.next() {
            let referenced = chars.peek().and_then(|d| d.to_digit(10));
            match (c, referenced) {
                ('%', Some(digit @ 1..=9)) => {
                    chars.next();
                    let index = digit as usize - 1;
                    let shown = levels.get(&(index as u8)).cloned().unwrap_or_default();
                    let value = counters[index].unwrap_or(shown.start);
                    let format = if definition.legal {
                        NumFormat::Decimal
                    } else {
                        shown.format
                    };
                    label.push_str(&format.render(value));
                }
                _ => label.push(c),
            }
        }
        let label = label.trim().to_string();
        (!label.is_empty()).then_some(label)
    }
}

fn parse_numbering(xml: &[u8]) -> Result<Numbering, ParseError> {
    let part = "word/numbering.xml";
    let mut reader = xml_reader(xml);
    let mut numbering = Numbering::default();
    let mut abstract_levels: Option<(String, HashMap<u8, Level>)> = None;
    let mut level: Option<(u8, Level)> = None;
    let mut instance: Option<(String, NumInstance)> = None;
    let mut override_level: Option<u8> = None;
    loop {
        let (ns, event) = next_event(&mut reader, part)?;
        match event {
            Event::Start(e) | Event::Empty(e) if ns == Ns::Word => {
                let value = attribute(&e, b"val");
                match e.local_name().as_ref() {
                    b"abstractNum" => {
                        let id = attribute(&e, b"abstractNumId").unwrap_or_default();
                        abstract_levels = Some((id, HashMap::new()));
                    }
                    b"lvl" if instance.is_none() => {
                        let index = attribute(&e, b"ilvl")
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(0);
                        level = Some((index, Level::default()));
                    }
                    b"start" => {
                        if let (Some((_, l)), Some(v)) = (level.as_mut(), value) {
                            l.start = v.parse().unwrap_or(1);
                        }
                    }
                    b"numFmt" => {
                        if let (Some((_, l)), Some(v)) = (level.as_mut(), value) {
                            l.format = NumFormat::from_name(&v);
                        }
                    }
                    b"lvlText" => {
                        if let (Some((_, l)), Some(v)) = (level.as_mut(), value) {
                            l.text = v;
                        }
                    }
                    b"isLgl" => {
                        if let Some((_, l)) = level.as_mut() {
                            l.legal = is_on(&e);
                        }
                    }
                    b"num" => {
                        let id = attribute(&e, b"numId").unwrap_or_default();
                        instance = Some((id, NumInstance::default()));
                    }
                    b"abstractNumId" => {
                        if let (Some((_, n)), Some(v)) = (instance.as_mut(), value) {
                            n.abstract_id = v;
                        }
                    }
                    b"lvlOverride" => {
                        override_level = attribute(&e, b"ilvl").and_then(|v| v.parse().ok());
                    }
                    b"startOverride" => {
                        if let (Some((_, n)), Some(l), Some(v)) =
                            (instance.as_mut(), override_level, value)
                        {
                            n.start_overrides.insert(l, v.parse().unwrap_or(1));
                        }
                    }
                    _ => {}
                }
            }
            Event::End(e) if ns == Ns::Word => match e.local_name().as_ref() {
                b"lvl" => {
                    if let (Some((index, l)), Some((_, levels))) =
                        (level.take(), abstract_levels.as_mut())
                    {
                        levels.insert(index, l);
                    }
                }
                b"abstractNum" => {
                    if let Some((id, levels)) = abstract_levels.take() {
                        numbering.abstracts.insert(id, levels);
                    }
                }
                b"num" => {
                    if let Some((id, n)) = instance.take() {
                        numbering.instances.insert(id, n);
                    }
                }
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(numbering)
}

/// A paragraph being read: its properties arrive before its runs.
#[derive(Debug, Default)]
struct Paragraph {
    style: Option<String>,
    numbering: NumRef,
    outline_level: Option<u8>,
    page_break_before: bool,
    section_break: bool,
    /// Opened in the output (label written, heading begun).
    opened: bool,
    has_text: bool,
    heading: bool,
}

#[derive(Debug, Default)]
struct DocxTable {
    rows: Vec<TableRow>,
    row: Option<TableRow>,
    cell: Option<String>,
}

struct DocumentWalker<'s> {
    out: TextBuilder,
    styles: &'s Styles,
    numbering: Numbering,
    paragraphs: Vec<Paragraph>,
    tables: Vec<DocxTable>,
    /// Depth inside content that is not shown: deletions, moved-away text,
    /// markup-compatibility fallbacks (duplicates of the chosen content).
    hidden_depth: usize,
    in_text: bool,
    in_paragraph_props: bool,
    in_section_props: bool,
    section_type: Option<String>,
}

impl<'s> DocumentWalker<'s> {
    fn new(limits: &ParseLimits, styles: &'s Styles, numbering: Numbering) -> Self {
        DocumentWalker {
            out: TextBuilder::new(limits.max_output_chars),
            styles,
            numbering,
            paragraphs: Vec::new(),
            tables: Vec::new(),
            hidden_depth: 0,
            in_text: false,
            in_paragraph_props: false,
            in_section_props: false,
            section_type: None,
        }
    }

    fn walk(&mut self, xml: &[u8]) -> Result<(), ParseError> {
        let part = "word/document.xml";
        let mut reader = xml_reader(xml);
        loop {
            let (ns, event) = next_event(&mut reader, part)?;
            match event {
                Event::Start(e) => {
                    if self.hidden_depth > 0 {
                        self.hidden_depth += 1;
                    } else {
                        self.open(ns, &e, false);
                    }
                }
                Event::Empty(e) if self.hidden_depth == 0 => self.open(ns, &e, true),
                Event::End(e) => {
                    if self.hidden_depth > 0 {
                        self.hidden_depth -= 1;
                    } else if ns == Ns::Word {
                        self.close(e.local_name().as_ref());
                    }
                }
                Event::Text(t) if self.in_text && self.hidden_depth == 0 => {
                    self.write(&text_content(&t, part)?);
                }
                Event::CData(t) if self.in_text && self.hidden_depth == 0 => {
                    self.write(&String::from_utf8_lossy(&t));
                }
                Event::GeneralRef(r) if self.in_text && self.hidden_depth == 0 => {
                    self.write(&reference_text(&r, part)?);
                }
                Event::Eof => break,
                _ => {}
            }
        }
        while !self.paragraphs.is_empty() {
            self.end_paragraph();
        }
        while !self.tables.is_empty() {
            self.end_table();
        }
        Ok(())
    }

    fn open(&mut self, ns: Ns, element: &BytesStart<'_>, empty: bool) {
        let local = element.local_name();
        let name = local.as_ref();
        if ns == Ns::Compat && name == b"Fallback" {
            if !empty {
                self.hidden_depth = 1;
            }
            return;
        }
        if ns != Ns::Word {
            return;
        }
        if matches!(
            name,
            b"del"
                | b"moveFrom"
                | b"pPrChange"
                | b"rPrChange"
                | b"sectPrChange"
                | b"tblPrChange"
                | b"trPrChange"
                | b"tcPrChange"
        ) {
            if !empty {
                self.hidden_depth = 1;
            }
            return;
        }
        if self.in_paragraph_props {
            self.paragraph_property(name, element, empty);
            return;
        }
        match name {
            b"p" => {
                self.paragraphs.push(Paragraph::default());
                if empty {
                    self.end_paragraph();
                }
            }
            b"pPr" if !empty => self.in_paragraph_props = true,
            b"t" if !empty => self.in_text = true,
            b"tab" | b"ptab" => self.space(),
            b"br" => match attribute(element, b"type").as_deref() {
                Some("page") => self.page_break(),
                _ => self.line_break(),
            },
            b"cr" => self.line_break(),
            b"noBreakHyphen" => self.write("-"),
            b"lastRenderedPageBreak" => self.page_break(),
            b"tbl" => {
                if let Some(cell) = self.tables.first_mut().and_then(|t| t.cell.as_mut()) {
                    cell.push(' ');
                }
                self.tables.push(DocxTable::default());
                if empty {
                    self.end_table();
                }
            }
            b"tr" if self.tables.len() == 1 => {
                if let Some(table) = self.tables.first_mut() {
                    finish_row(table);
                    table.row = Some(TableRow::default());
                }
            }
            b"tblHeader" if self.tables.len() == 1 && is_on(element) => {
                if let Some(row) = self.tables.first_mut().and_then(|t| t.row.as_mut()) {
                    row.header = true;
                }
            }
            b"tc" if self.tables.len() == 1 => {
                if let Some(table) = self.tables.first_mut() {
                    finish_cell(table);
                    table.cell = Some(String::new());
                }
            }
            b"tr" | b"tc" => self.space(),
            _ => {}
        }
    }

    fn paragraph_property(&mut self, name: &[u8], element: &BytesStart<'_>, empty: bool) {
        if self.in_section_props {
            if name == b"type" {
                self.section_type = attribute(element, b"val");
            }
            return;
        }
        let value = attribute(element, b"val");
        let Some(paragraph) = self.paragraphs.last_mut() else {
            return;
        };
        match name {
            b"pStyle" => paragraph.style = value,
            b"numId" => paragraph.numbering.num_id = value,
            b"ilvl" => paragraph.numbering.level = value.and_then(|v| v.parse().ok()),
            b"outlineLvl" => paragraph.outline_level = value.and_then(|v| v.parse().ok()),
            b"pageBreakBefore" => paragraph.page_break_before = is_on(element),
            b"sectPr" => {
                if empty {
                    paragraph.section_break = true;
                } else {
                    self.in_section_props = true;
                    self.section_type = None;
                }
            }
            _ => {}
        }
    }

    fn close(&mut self, name: &[u8]) {
        if self.in_section_props {
            if name == b"sectPr" {
                self.in_section_props = false;
                // A section starts on a new page unless it is continuous.
                let breaks = !matches!(self.section_type.as_deref(), Some("continuous"));
                if let Some(paragraph) = self.paragraphs.last_mut() {
                    paragraph.section_break = breaks;
                }
            }
            return;
        }
        match name {
            b"pPr" => self.in_paragraph_props = false,
            b"t" => self.in_text = false,
            b"p" => self.end_paragraph(),
            b"tbl" => self.end_table(),
            b"tr" if self.tables.len() == 1 => {
                if let Some(table) = self.tables.first_mut() {
                    finish_row(table);
                }
            }
            b"tc" if self.tables.len() == 1 => {
                if let Some(table) = self.tables.first_mut() {
                    finish_cell(table);
                }
            }
            _ => {}
        }
    }

    /// The open cell of the outermost table, which takes all table text.
    fn cell(&mut self) -> Option<&mut String> {
        self.tables.first_mut().and_then(|t| t.cell.as_mut())
    }

    /// Writes the paragraph's page break, heading start and list label once,
    /// before its first content.
    fn open_paragraph(&mut self) {
        let Some(paragraph) = self.paragraphs.last_mut() else {
            return;
        };
        if paragraph.opened {
            return;
        }
        paragraph.opened = true;
        let style = paragraph.style.clone();
        let numbering = if paragraph.numbering.num_id.is_some() {
            paragraph.numbering.clone()
        } else {
            style
                .as_deref()
                .map(|s| self.styles.numbering(s))
                .unwrap_or_default()
        };
        let heading = paragraph.outline_level.map_or_else(
            || style.as_deref().and_then(|s| self.styles.heading_level(s)),
            |level| (level < 9).then_some(level + 1),
        );
        let page_break_before = paragraph.page_break_before;
        let label = numbering
            .num_id
            .as_deref()
            .filter(|id| *id != "0")
            .and_then(|id| self.numbering.next_label(id, numbering.level.unwrap_or(0)));
        let in_table = !self.tables.is_empty();
        if in_table {
            if let Some(cell) = self.cell() {
                cell.push(' ');
                if let Some(label) = &label {
                    cell.push_str(label);
                    cell.push(' ');
                }
            }
            return;
        }
        if page_break_before {
            self.out.page_break();
        }
        if let Some(level) = heading {
            self.out.begin_heading(level);
            if let Some(paragraph) = self.paragraphs.last_mut() {
                paragraph.heading = true;
            }
        } else {
            self.out.line_break();
        }
        if let Some(label) = label {
            self.out.push_text(&label);
            self.out.space();
        }
    }

    fn end_paragraph(&mut self) {
        self.open_paragraph();
        let Some(paragraph) = self.paragraphs.pop() else {
            return;
        };
        if !self.tables.is_empty() {
            if let Some(cell) = self.cell() {
                cell.push(' ');
            }
            return;
        }
        if paragraph.heading {
            self.out.end_heading();
        } else if paragraph.has_text {
            self.out.line_break();
        } else {
            // Empty paragraphs are how Word users make blank lines.
            self.out.paragraph_break();
        }
        if paragraph.section_break {
            self.out.page_break();
        }
    }

    fn end_table(&mut self) {
        let Some(mut table) = self.tables.pop() else {
            return;
        };
        if !self.tables.is_empty() {
            if let Some(cell) = self.cell() {
                cell.push(' ');
            }
            return;
        }
        finish_row(&mut table);
        // Repeated header rows are marked; otherwise the first row heads.
        if table.rows.len() >= 2 && !table.rows.iter().any(|r| r.header) {
            table.rows[0].header = true;
        }
        self.out.push_table(table.rows, false);
    }

    fn write(&mut self, text: &str) {
        self.open_paragraph();
        if let Some(paragraph) = self.paragraphs.last_mut() {
            paragraph.has_text |= !text.trim().is_empty();
        }
        if self.tables.is_empty() {
            self.out.push_text(text);
        } else if let Some(cell) = self.cell() {
            cell.push_str(text);
        }
    }

    fn space(&mut self) {
        if self.tables.is_empty() {
            self.out.space();
        } else if let Some(cell) = self.cell() {
            cell.push(' ');
        }
    }

    fn line_break(&mut self) {
        if self.tables.is_empty() {
            self.open_paragraph();
            self.out.line_break();
        } else if let Some(cell) = self.cell() {
            cell.push(' ');
        }
    }

    fn page_break(&mut self) {
        if self.tables.is_empty() {
            self.out.page_break();
        }
    }
}

fn finish_cell(table: &mut DocxTable) {
    if let Some(cell) = table.cell.take() {
        table
            .row
            .get_or_insert_with(TableRow::default)
            .cells
            .push(cell);
    }
}

fn finish_row(table: &mut DocxTable) {
    finish_cell(table);
    if let Some(row) = table.row.take() {
        table.rows.push(row);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_labels_follow_word_rules() {
        let numbering = br#"<w:numbering xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">
            <w:abstractNum w:abstractNumId="7">
              <w:lvl w:ilvl="0"><w:start w:val="1"/><w:numFmt w:val="decimal"/><w:lvlText w:val="Article %1."/></w:lvl>
              <w:lvl w:ilvl="1"><w:start w:val="1"/><w:numFmt w:val="lowerLetter"/><w:lvlText w:val="(%2)"/></w:lvl>
              <w:lvl w:ilvl="2"><w:numFmt w:val="lowerRoman"/><w:lvlText w:val="%1.%3"/></w:lvl>
            </w:abstractNum>
            <w:num w:numId="3"><w:abstractNumId w:val="7"/></w:num>
          </w:numbering>"#;
        let mut n = parse_numbering(numbering).unwrap();
        let labels: Vec<_> = [(0, "3"), (1, "3"), (1, "3"), (2, "3"), (0, "3"), (1, "3")]
            .iter()
            .map(|&(level, id)| n.next_label(id, level).unwrap())
            .collect();
        assert_eq!(
            labels,
            ["Article 1.", "(a)", "(b)", "1.i", "Article 2.", "(a)"]
        );
        assert_eq!(letters(28), "bb");
        assert_eq!(roman(1994), "mcmxciv");
    }

    #[test]
    fn heading_styles_by_name_outline_and_inheritance() {
        let styles = br#"<w:styles xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">
            <w:style w:type="paragraph" w:styleId="berschrift2"><w:name w:val="heading 2"/></w:style>
            <w:style w:type="paragraph" w:styleId="Clause"><w:basedOn w:val="berschrift2"/></w:style>
            <w:style w:type="paragraph" w:styleId="Outline"><w:pPr><w:outlineLvl w:val="2"/></w:pPr></w:style>
            <w:style w:type="paragraph" w:styleId="Normal"><w:name w:val="Normal"/></w:style>
          </w:styles>"#;
        let styles = parse_styles(styles).unwrap();
        assert_eq!(styles.heading_level("Clause"), Some(2));
        assert_eq!(styles.heading_level("Outline"), Some(3));
        assert_eq!(styles.heading_level("Normal"), None);
        assert_eq!(styles.heading_level("Heading4"), Some(4));
    }

    #[test]
    fn doctype_and_unknown_entities_are_forbidden() {
        let doctype = br#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>"#;
        assert_eq!(parse_styles(doctype).unwrap_err().code(), "forbidden_xml");
        let undeclared = br#"<x>&a;</x>"#;
        assert_eq!(core_title(undeclared).unwrap_err().code(), "forbidden_xml");
        let predefined = br#"<cp:coreProperties xmlns:dc="d"><dc:title>A &amp; B &#169;</dc:title></cp:coreProperties>"#;
        assert_eq!(core_title(predefined).unwrap().as_deref(), Some("A & B ©"));
    }
}
