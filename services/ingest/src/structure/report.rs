//! A structure report over a document set: how much structure the
//! structurizer recovered and how the chunker used it (for `folio bench`
//! and the dev-set test).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Instant;

use folio_common::model::{ParsedDocument, TokenCounter};
use serde::Serialize;

use super::structurize;
use crate::chunk::{chunk_document, ChunkOptions};

/// Figures for one document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DocumentStructureReport {
    /// The name the document was given.
    pub name: String,
    /// Canonical text size in bytes.
    pub bytes: usize,
    /// Pages in the page map.
    pub pages: usize,
    /// Sections recovered.
    pub sections: usize,
    /// Sections by kind (`article`, `item`, `clause`, …).
    pub sections_by_kind: BTreeMap<String, usize>,
    /// Deepest section depth (0 = top), 0 when there are no sections.
    pub max_depth: u8,
    /// Defined terms found.
    pub defined_terms: usize,
    /// Chunks cut.
    pub chunks: usize,
    /// Chunks whose heading path is not empty.
    pub chunks_with_heading_path: usize,
    /// `chunks_with_heading_path / chunks` (0 when there are no chunks).
    pub heading_path_share: f64,
    /// Mean tokens per chunk.
    pub mean_chunk_tokens: f64,
    /// Largest chunk, in tokens.
    pub max_chunk_tokens: u32,
    /// Time spent structurizing, in milliseconds.
    pub structure_ms: f64,
    /// Time spent chunking, in milliseconds.
    pub chunk_ms: f64,
}

/// Figures for a document set, per document and overall.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StructureReport {
    /// One entry per document, in input order.
    pub documents: Vec<DocumentStructureReport>,
    /// Sections over all documents.
    pub sections: usize,
    /// Defined terms over all documents.
    pub defined_terms: usize,
    /// Chunks over all documents.
    pub chunks: usize,
    /// Chunks with a non-empty heading path over all documents.
    pub chunks_with_heading_path: usize,
    /// Overall share of chunks with a heading path.
    pub heading_path_share: f64,
    /// Total structurizing time, in milliseconds.
    pub structure_ms: f64,
    /// Total chunking time, in milliseconds.
    pub chunk_ms: f64,
    /// Canonical text processed, in bytes.
    pub bytes: usize,
}

/// Structurizes and chunks every document and reports what came out.
pub fn structure_report(
    docs: &[(String, ParsedDocument)],
    counter: &dyn TokenCounter,
    options: &ChunkOptions,
) -> StructureReport {
    let mut documents = Vec::with_capacity(docs.len());
    for (name, doc) in docs {
        let started = Instant::now();
        let tree = structurize(doc);
        let structure_ms = started.elapsed().as_secs_f64() * 1e3;
        let started = Instant::now();
        let chunks = chunk_document(doc, &tree, counter, options);
        let chunk_ms = started.elapsed().as_secs_f64() * 1e3;
        let with_path = chunks.iter().filter(|c| !c.heading_path.is_empty()).count();
        let mut sections_by_kind = BTreeMap::new();
        for section in &tree.sections {
            let kind = serde_json::to_value(section.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            *sections_by_kind.entry(kind).or_insert(0) += 1;
        }
        let tokens: u64 = chunks.iter().map(|c| u64::from(c.token_count)).sum();
        documents.push(DocumentStructureReport {
            name: name.clone(),
            bytes: doc.text.len(),
            pages: doc.pages.len(),
            sections: tree.sections.len(),
            sections_by_kind,
            max_depth: tree.sections.iter().map(|s| s.depth).max().unwrap_or(0),
            defined_terms: tree.terms.len(),
            chunks: chunks.len(),
            chunks_with_heading_path: with_path,
            heading_path_share: share(with_path, chunks.len()),
            mean_chunk_tokens: if chunks.is_empty() {
                0.0
            } else {
                tokens as f64 / chunks.len() as f64
            },
            max_chunk_tokens: chunks.iter().map(|c| c.token_count).max().unwrap_or(0),
            structure_ms,
            chunk_ms,
        });
    }
    let chunks = documents.iter().map(|d| d.chunks).sum();
    let chunks_with_heading_path = documents.iter().map(|d| d.chunks_with_heading_path).sum();
    StructureReport {
        sections: documents.iter().map(|d| d.sections).sum(),
        defined_terms: documents.iter().map(|d| d.defined_terms).sum(),
        chunks,
        chunks_with_heading_path,
        heading_path_share: share(chunks_with_heading_path, chunks),
        structure_ms: documents.iter().map(|d| d.structure_ms).sum(),
        chunk_ms: documents.iter().map(|d| d.chunk_ms).sum(),
        bytes: documents.iter().map(|d| d.bytes).sum(),
        documents,
    }
}

fn share(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

impl fmt::Display for StructureReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .documents
            .iter()
            .map(|d| d.name.chars().count().min(60))
            .max()
            .unwrap_or(8)
            .max(8);
        writeln!(
            f,
            "{:<width$} {:>9} {:>8} {:>6} {:>7} {:>7} {:>10} {:>8} {:>8}",
            "document",
            "bytes",
            "sections",
            "depth",
            "terms",
            "chunks",
            "with path",
            "struct",
            "chunk"
        )?;
        for d in &self.documents {
            let name: String = d.name.chars().take(60).collect();
            writeln!(
                f,
                "{:<width$} {:>9} {:>8} {:>6} {:>7} {:>7} {:>9.1}% {:>6.1}ms {:>6.1}ms",
                name,
                d.bytes,
                d.sections,
                d.max_depth,
                d.defined_terms,
                d.chunks,
                d.heading_path_share * 100.0,
                d.structure_ms,
                d.chunk_ms
            )?;
        }
        let seconds = (self.structure_ms + self.chunk_ms) / 1e3;
        let mb_per_s = if seconds > 0.0 {
            self.bytes as f64 / 1e6 / seconds
        } else {
            0.0
        };
        writeln!(
            f,
            "total: {} documents, {} bytes, {} sections, {} defined terms, {} chunks, {:.1}% with a heading path; \
             structurize {:.0} ms, chunk {:.0} ms ({:.1} MB/s)",
            self.documents.len(),
            self.bytes,
            self.sections,
            self.defined_terms,
            self.chunks,
            self.heading_path_share * 100.0,
            self.structure_ms,
            self.chunk_ms,
            mb_per_s
        )
    }
}
