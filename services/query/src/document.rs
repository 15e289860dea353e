//! A document's current version as the query side reads it: canonical text,
//! structure and chunks, with character-offset slicing.

use folio_common::blob::BlobStore;
use folio_common::model::{CharOffsets, StoredStructure};
use folio_store::{ChunkRecord, DocumentRecord, MetadataStore, VersionRecord};

use crate::QueryError;

/// The current version of one document, loaded for segment building.
#[derive(Debug, Clone)]
pub struct DocumentView {
    /// Document id.
    pub document_id: String,
    /// Display name (file name).
    pub name: String,
    /// The version every offset refers to.
    pub version: i64,
    /// Canonical text.
    pub text: String,
    offsets: CharOffsets,
    /// Page map, sections, defined terms (character offsets).
    pub structure: StoredStructure,
    /// Chunks of this version, in document order.
    pub chunks: Vec<ChunkRecord>,
}

/// Where a document's current version lives: the one way Folio reads a
/// document, for answering (through [`DocumentView::load`]) and for the API's
/// text endpoint, which streams the text without loading it.
#[derive(Debug, Clone)]
pub struct DocumentSource {
    /// The document.
    pub document_id: String,
    /// Its file name.
    pub name: String,
    /// The current (last ingested) version.
    pub version: i64,
    /// Blob key of the version's original; the canonical text sits beside it.
    pub blob_key: String,
    /// Pages, sections and defined terms (empty for a version stored without one).
    pub structure: StoredStructure,
}

impl DocumentSource {
    /// The current version of a tenant's document. Not found for another
    /// tenant's document; [`QueryError::DocumentNotReady`] before its first
    /// ingestion ends; [`QueryError::CorruptStructure`] when the stored structure
    /// does not parse.
    pub async fn current(
        store: &MetadataStore,
        tenant_id: &str,
        document_id: &str,
    ) -> Result<Self, QueryError> {
        let (document, record) = current_version(store, tenant_id, document_id).await?;
        let version = record.version;
        let structure = match store.version_structure(document_id, version).await? {
            Some(json) => {
                serde_json::from_str(&json).map_err(|e| QueryError::CorruptStructure {
                    id: document_id.to_string(),
                    reason: e.to_string(),
                })?
            }
            None => StoredStructure::default(),
        };
        Ok(Self {
            document_id: document_id.to_string(),
            name: document.name,
            version,
            blob_key: record.blob_key,
            structure,
        })
    }
}

/// A tenant's document and its current version's record, without the
/// structure: what a caller needs that only checks readiness or streams the
/// original. Errors as [`DocumentSource::current`], corruption aside.
pub async fn current_version(
    store: &MetadataStore,
    tenant_id: &str,
    document_id: &str,
) -> Result<(DocumentRecord, VersionRecord), QueryError> {
    let document = store.get_document(tenant_id, document_id).await?;
    let Some(version) = document.current_version else {
        return Err(QueryError::DocumentNotReady {
            id: document_id.to_string(),
            status: document.status.as_str().to_string(),
        });
    };
    let record = store.get_version(document_id, version).await?;
    Ok((document, record))
}

impl DocumentView {
    /// Loads a tenant's document. Fails with the store's not-found error for another
    /// tenant's document, and with [`QueryError::DocumentNotReady`] while the
    /// document has no ingested version yet.
    pub async fn load(
        store: &MetadataStore,
        blobs: &BlobStore,
        tenant_id: &str,
        document_id: &str,
    ) -> Result<Self, QueryError> {
        let source = DocumentSource::current(store, tenant_id, document_id).await?;
        let text = blobs
            .read_canonical(&source.blob_key)
            .await
            .map_err(|e| QueryError::Task(format!("reading the canonical text: {e}")))?;
        let DocumentSource {
            name,
            version,
            structure,
            ..
        } = source;
        let chunks = store
            .document_chunks(tenant_id, document_id)
            .await?
            .into_iter()
            .filter(|c| c.version == version)
            .collect();
        Ok(Self::new(
            document_id.to_string(),
            name,
            version,
            text,
            structure,
            chunks,
        ))
    }

    /// A view over already loaded parts (chunks must be in document order).
    pub fn new(
        document_id: String,
        name: String,
        version: i64,
        text: String,
        structure: StoredStructure,
        chunks: Vec<ChunkRecord>,
    ) -> Self {
        let offsets = CharOffsets::new(&text);
        Self {
            document_id,
            name,
            version,
            text,
            offsets,
            structure,
            chunks,
        }
    }

    /// Length of the canonical text in characters.
    pub fn char_len(&self) -> usize {
        self.offsets.char_len()
    }

    /// The text between two character offsets (clamped to the text).
    pub fn slice(&self, start: usize, end: usize) -> &str {
        let start = self.offsets.byte_of_char(start);
        let end = self.offsets.byte_of_char(end).max(start);
        &self.text[start..end]
    }

    /// The smallest numbered clause (a leaf-most section of the structure tree) or,
    /// failing that, the paragraph that contains `start..end`, if it has at most
    /// `max_chars` characters; otherwise the span itself. Returns the widened span
    /// (trimmed of surrounding whitespace, never narrower than the input) and the
    /// section path of the clause when one was used.
    pub fn clause_around(
        &self,
        start: usize,
        end: usize,
        max_chars: usize,
    ) -> (usize, usize, Option<Vec<String>>) {
        if max_chars == 0 || end <= start {
            return (start, end, None);
        }
        let clause = self
            .structure
            .sections
            .iter()
            .filter(|s| s.start <= start && end <= s.end && s.end - s.start <= max_chars)
            .min_by_key(|s| (s.end - s.start, std::cmp::Reverse(s.depth)));
        if let Some(section) = clause {
            let (s, e) = self.trimmed(section.start, section.end, start, end);
            return (s, e, Some(self.section_path(section.id)));
        }
        let (para_start, para_end) = self.paragraph_around(start, end);
        if para_end - para_start <= max_chars {
            let (s, e) = self.trimmed(para_start, para_end, start, end);
            return (s, e, None);
        }
        (start, end, None)
    }

    /// Labels from the root down to section `id`.
    fn section_path(&self, id: u32) -> Vec<String> {
        let mut path = Vec::new();
        let mut next = Some(id);
        while let Some(index) = next {
            let Some(section) = self.structure.sections.get(index as usize) else {
                break;
            };
            path.push(section.name.clone());
            next = section.parent.filter(|p| *p < index);
        }
        path.reverse();
        path
    }

    /// The blank-line-delimited paragraph around `start..end`.
    fn paragraph_around(&self, start: usize, end: usize) -> (usize, usize) {
        let start_byte = self.offsets.byte_of_char(start);
        let end_byte = self.offsets.byte_of_char(end);
        let para_start = self.text[..start_byte].rfind("\n\n").map_or(0, |i| i + 2);
        let para_end = self.text[end_byte..]
            .find("\n\n")
            .map_or(self.text.len(), |i| end_byte + i);
        (
            self.offsets.char_of_byte(para_start),
            self.offsets.char_of_byte(para_end),
        )
    }

    /// `outer` without leading and trailing whitespace, but always covering `inner`.
    fn trimmed(
        &self,
        outer_start: usize,
        outer_end: usize,
        start: usize,
        end: usize,
    ) -> (usize, usize) {
        let text = self.slice(outer_start, outer_end);
        let leading = text.chars().take_while(|c| c.is_whitespace()).count();
        let trailing = text.chars().rev().take_while(|c| c.is_whitespace()).count();
        let s = (outer_start + leading).min(start);
        let e = outer_end.saturating_sub(trailing).max(end);
        (s, e)
    }

    /// Page (1-based) containing a character offset, if the page map covers it.
    pub fn page_of(&self, char_offset: usize) -> Option<u32> {
        self.structure
            .pages
            .iter()
            .find(|(_, start, end)| *start <= char_offset && char_offset < *end)
            .map(|(page, _, _)| *page)
    }
}

#[cfg(test)]
mod tests {
    use folio_common::model::{SectionKind, StoredSection};

    use super::*;

    fn section(id: u32, parent: Option<u32>, name: &str, text: &str, inner: &str) -> StoredSection {
        let start = text
            .find(inner)
            .expect("the section text is in the document");
        StoredSection {
            id,
            parent,
            depth: parent.map_or(0, |_| 1),
            kind: SectionKind::Section,
            name: name.into(),
            start: text[..start].chars().count(),
            end: text[..start + inner.len()].chars().count(),
        }
    }

    fn view(text: &str, sections: Vec<StoredSection>) -> DocumentView {
        let structure = StoredStructure {
            sections,
            ..StoredStructure::default()
        };
        DocumentView::new(
            "d".into(),
            "d.txt".into(),
            1,
            text.into(),
            structure,
            Vec::new(),
        )
    }

    fn char_span(text: &str, needle: &str) -> (usize, usize) {
        let byte = text.find(needle).expect("needle in text");
        let start = text[..byte].chars().count();
        (start, start + needle.chars().count())
    }

    const CONTRACT: &str = "ARTICLE 7 — TERM\n\n7.1 Term. The term is five years. It renews for one year.\n\n7.2 Termination. Either party may terminate on ninety (90) days' notice. Notice must be in writing.\n";

    #[test]
    fn a_sentence_widens_to_its_smallest_clause() {
        let article = section(0, None, "ARTICLE 7 — TERM", CONTRACT, "ARTICLE 7");
        let mut article = article;
        article.end = CONTRACT.chars().count();
        let clause = section(
            1,
            Some(0),
            "7.2 Termination",
            CONTRACT,
            "7.2 Termination. Either party may terminate on ninety (90) days' notice. Notice must be in writing.\n",
        );
        let doc = view(CONTRACT, vec![article, clause]);
        let (s, e) = char_span(CONTRACT, "Notice must be in writing.");
        let (start, end, path) = doc.clause_around(s, e, 1500);
        assert_eq!(
            doc.slice(start, end),
            "7.2 Termination. Either party may terminate on ninety (90) days' notice. Notice must be in writing."
        );
        assert_eq!(
            path,
            Some(vec![
                "ARTICLE 7 — TERM".to_string(),
                "7.2 Termination".to_string()
            ])
        );
        // Too small a cap leaves the sentence as it was.
        assert_eq!(doc.clause_around(s, e, 40), (s, e, None));
        assert_eq!(doc.clause_around(s, e, 0), (s, e, None));
    }

    #[test]
    fn without_a_clause_the_paragraph_is_cited() {
        let doc = view(CONTRACT, Vec::new());
        let (s, e) = char_span(CONTRACT, "It renews for one year.");
        let (start, end, path) = doc.clause_around(s, e, 1500);
        assert_eq!(
            doc.slice(start, end),
            "7.1 Term. The term is five years. It renews for one year."
        );
        assert_eq!(path, None);
        assert!(start <= s && e <= end);
    }
}
