//! BM25 statistics of one tenant's live documents.
//!
//! Every tenant's chunks live in one tantivy index, and tantivy's own
//! statistics (the number of documents, the average field length, a term's
//! document frequency) are the whole index's: tenant B's uploads and deletions
//! would move tenant A's scores, and even A's ranking, telling A how common a
//! word is in B's documents. Every BM25 weight is therefore built from the
//! searching tenant's live documents alone. Deleted documents are left out too
//! (tantivy counts them until a merge drops them), so a score does not depend
//! on when segments happen to merge.
//!
//! A tenant's document count and summed field lengths cost a walk over its
//! share of each segment, so they are cached per segment: a segment never
//! changes except for its deletions, which the cache key includes. A term's
//! document frequency is free where a segment holds only the tenant's live
//! documents; elsewhere it is counted from its postings once and remembered
//! with the segment.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tantivy::index::SegmentId;
use tantivy::query::Bm25StatisticsProvider;
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DocId, DocSet, Opstamp, Searcher, SegmentReader, Term};

use crate::IndexError;

/// Tenants whose segment statistics are kept; past this many the one that
/// searched least recently is dropped, bounding the memory (one bit per
/// document of a shared segment, per tenant).
const MAX_CACHED_TENANTS: usize = 256;

/// Terms whose counts one tenant's segment remembers: counting a common
/// word walks its postings, and the same words come back search after search.
const MAX_CACHED_TERMS: usize = 512;

/// How much dearer looking one member up in a term's postings (a skip-list
/// seek) is taken to be than checking one posting against the members.
const SEEK_COST: u64 = 8;

/// A segment as it is at one point of its life: new deletions make a new key.
type SegmentKey = (SegmentId, Option<Opstamp>, u32);

fn segment_key(reader: &SegmentReader) -> SegmentKey {
    (
        reader.segment_id(),
        reader.delete_opstamp(),
        reader.num_deleted_docs(),
    )
}

/// One tenant's live documents in one segment.
#[derive(Debug)]
struct TenantSegment {
    /// One bit per document of the segment; `None` when every document of the
    /// segment is a live document of the tenant.
    members: Option<Vec<u64>>,
    /// How many documents are members.
    documents: u64,
    /// The members' summed lengths (decoded field norms) of each cached field.
    tokens: Vec<(Field, u64)>,
    /// Terms counted before (the segment never changes under its key).
    doc_freqs: Mutex<HashMap<Term, u64>>,
}

impl TenantSegment {
    fn of_tenant(
        reader: &SegmentReader,
        tenant: &Term,
        cached_fields: &[Field],
    ) -> tantivy::Result<Self> {
        let inverted = reader.inverted_index(tenant.field())?;
        let max_doc = reader.max_doc();
        let alive = reader.alive_bitset();
        let whole = alive.is_none() && inverted.doc_freq(tenant)? == max_doc;
        let members = if whole {
            None
        } else {
            let mut bits = vec![0u64; (max_doc as usize).div_ceil(64)];
            if let Some(mut postings) =
                inverted.read_block_postings(tenant, IndexRecordOption::Basic)?
            {
                loop {
                    let docs = postings.docs();
                    if docs.is_empty() {
                        break;
                    }
                    for &doc in docs {
                        if alive.is_none_or(|alive| alive.is_alive(doc)) {
                            if let Some(word) = bits.get_mut(doc as usize / 64) {
                                *word |= 1 << (doc % 64);
                            }
                        }
                    }
                    postings.advance();
                }
            }
            Some(bits)
        };
        let documents = match &members {
            None => u64::from(max_doc),
            Some(bits) => bits.iter().map(|word| u64::from(word.count_ones())).sum(),
        };
        let mut segment = TenantSegment {
            members,
            documents,
            tokens: Vec::with_capacity(cached_fields.len()),
            doc_freqs: Mutex::default(),
        };
        for &field in cached_fields {
            let tokens = segment.field_tokens(reader, field)?;
            segment.tokens.push((field, tokens));
        }
        Ok(segment)
    }

    /// Calls `visit` with each member, in document order.
    fn for_each_member(&self, max_doc: DocId, mut visit: impl FnMut(DocId)) {
        match &self.members {
            None => (0..max_doc).for_each(visit),
            Some(bits) => {
                for (index, &word) in bits.iter().enumerate() {
                    let mut word = word;
                    while word != 0 {
                        visit((index * 64) as DocId + word.trailing_zeros());
                        word &= word - 1;
                    }
                }
            }
        }
    }

    fn is_member(bits: &[u64], doc: DocId) -> bool {
        bits.get(doc as usize / 64)
            .is_some_and(|word| word & (1 << (doc % 64)) != 0)
    }

    /// The members' summed lengths in `field`. A field without norms is scored
    /// as one token per document (as tantivy's `TermQuery` does), so it counts so.
    fn field_tokens(&self, reader: &SegmentReader, field: Field) -> tantivy::Result<u64> {
        if let Some((_, tokens)) = self.tokens.iter().find(|(cached, _)| *cached == field) {
            return Ok(*tokens);
        }
        let Some(norms) = reader.fieldnorms_readers().get_field(field)? else {
            return Ok(self.documents);
        };
        let mut tokens = 0u64;
        self.for_each_member(reader.max_doc(), |doc| {
            tokens += u64::from(norms.fieldnorm(doc));
        });
        Ok(tokens)
    }

    /// How many members contain `term`: the term's postings checked against
    /// the members, or, where the tenant has far fewer documents in the segment
    /// than the term has postings (a small tenant beside a large one), each
    /// member looked up in the postings.
    fn doc_freq(&self, reader: &SegmentReader, term: &Term) -> tantivy::Result<u64> {
        if self.documents == 0 {
            return Ok(0);
        }
        let inverted = reader.inverted_index(term.field())?;
        let Some(info) = inverted.get_term_info(term)? else {
            return Ok(0);
        };
        let Some(bits) = &self.members else {
            return Ok(u64::from(info.doc_freq));
        };
        let known = |freqs: &HashMap<Term, u64>| freqs.get(term).copied();
        if let Some(count) = self.doc_freqs.lock().ok().as_deref().and_then(known) {
            return Ok(count);
        }
        let count = self.count_members_in(reader, &inverted, &info, bits)?;
        if let Ok(mut freqs) = self.doc_freqs.lock() {
            if freqs.len() >= MAX_CACHED_TERMS {
                freqs.clear();
            }
            freqs.insert(term.clone(), count);
        }
        Ok(count)
    }

    /// How many members the postings of `info` hold (see [`Self::doc_freq`]).
    fn count_members_in(
        &self,
        reader: &SegmentReader,
        inverted: &tantivy::InvertedIndexReader,
        info: &tantivy::postings::TermInfo,
        bits: &[u64],
    ) -> tantivy::Result<u64> {
        if self.documents.saturating_mul(SEEK_COST) < u64::from(info.doc_freq) {
            let mut postings =
                inverted.read_postings_from_terminfo(info, IndexRecordOption::Basic)?;
            let mut count = 0u64;
            self.for_each_member(reader.max_doc(), |doc| {
                if postings.doc() <= doc && postings.seek(doc) == doc {
                    count += 1;
                }
            });
            return Ok(count);
        }
        let mut postings =
            inverted.read_block_postings_from_terminfo(info, IndexRecordOption::Basic)?;
        let mut count = 0u64;
        loop {
            let docs = postings.docs();
            if docs.is_empty() {
                return Ok(count);
            }
            count += docs
                .iter()
                .filter(|&&doc| Self::is_member(bits, doc))
                .count() as u64;
            postings.advance();
        }
    }
}

/// Per-segment statistics of the tenants searched lately.
#[derive(Debug)]
pub(crate) struct TenantStatisticsCache {
    tenant_field: Field,
    /// Fields whose lengths are summed once per segment rather than per search.
    cached_fields: Vec<Field>,
    tenants: Mutex<HashMap<String, CachedTenant>>,
}

/// One tenant's cached segments, and when it last searched.
#[derive(Debug)]
struct CachedTenant {
    used: std::time::Instant,
    segments: HashMap<SegmentKey, Arc<TenantSegment>>,
}

impl TenantStatisticsCache {
    pub(crate) fn new(tenant_field: Field, cached_fields: Vec<Field>) -> Self {
        Self {
            tenant_field,
            cached_fields,
            tenants: Mutex::default(),
        }
    }

    /// The statistics of `tenant`'s live documents in `searcher`'s segments.
    pub(crate) fn statistics<'s>(
        &self,
        searcher: &'s Searcher,
        tenant: &str,
    ) -> Result<TenantStatistics<'s>, IndexError> {
        let readers = searcher.segment_readers();
        let keys: Vec<SegmentKey> = readers.iter().map(segment_key).collect();
        let mut segments: Vec<Option<Arc<TenantSegment>>> = {
            let mut cache = self.lock()?;
            let known = cache.get_mut(tenant).map(|known| {
                known.used = std::time::Instant::now();
                &known.segments
            });
            keys.iter()
                .map(|key| known.and_then(|known| known.get(key)).cloned())
                .collect()
        };
        // New segments are walked outside the lock, so other searches go on.
        let tenant_term = Term::from_field_text(self.tenant_field, tenant);
        let mut computed = Vec::new();
        for (slot, reader) in segments.iter_mut().zip(readers) {
            if slot.is_none() {
                let segment = Arc::new(TenantSegment::of_tenant(
                    reader,
                    &tenant_term,
                    &self.cached_fields,
                )?);
                computed.push((segment_key(reader), segment.clone()));
                *slot = Some(segment);
            }
        }
        if !computed.is_empty() {
            let mut cache = self.lock()?;
            if cache.len() >= MAX_CACHED_TENANTS && !cache.contains_key(tenant) {
                let least_recent = cache
                    .iter()
                    .min_by_key(|(_, known)| known.used)
                    .map(|(name, _)| name.clone());
                if let Some(name) = least_recent {
                    cache.remove(&name);
                }
            }
            // A new segment means merges or deletions: segments merged away or
            // with newer deletions are not searched again, by any tenant.
            for known in cache.values_mut() {
                known.segments.retain(|key, _| keys.contains(key));
            }
            let known = cache
                .entry(tenant.to_string())
                .or_insert_with(|| CachedTenant {
                    used: std::time::Instant::now(),
                    segments: HashMap::new(),
                });
            known.segments.extend(computed);
        }
        let segments: Vec<Arc<TenantSegment>> = segments.into_iter().flatten().collect();
        let documents = segments.iter().map(|segment| segment.documents).sum();
        Ok(TenantStatistics {
            searcher,
            segments,
            documents,
            tokens: RefCell::default(),
            doc_freqs: RefCell::default(),
        })
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, HashMap<String, CachedTenant>>, IndexError> {
        self.tenants
            .lock()
            .map_err(|_: PoisonError<_>| IndexError::Poisoned("tenant statistics"))
    }
}

/// BM25 statistics of one tenant's live documents, for one search.
pub(crate) struct TenantStatistics<'s> {
    searcher: &'s Searcher,
    /// In the order of `searcher.segment_readers()`.
    segments: Vec<Arc<TenantSegment>>,
    documents: u64,
    tokens: RefCell<HashMap<Field, u64>>,
    doc_freqs: RefCell<HashMap<Term, u64>>,
}

impl TenantStatistics<'_> {
    /// The number of the tenant's live documents that contain `term`.
    pub(crate) fn term_documents(&self, term: &Term) -> tantivy::Result<u64> {
        if let Some(&known) = self.doc_freqs.borrow().get(term) {
            return Ok(known);
        }
        let mut count = 0u64;
        for (segment, reader) in self.segments.iter().zip(self.searcher.segment_readers()) {
            count += segment.doc_freq(reader, term)?;
        }
        self.doc_freqs.borrow_mut().insert(term.clone(), count);
        Ok(count)
    }
}

impl Bm25StatisticsProvider for TenantStatistics<'_> {
    fn total_num_tokens(&self, field: Field) -> tantivy::Result<u64> {
        if let Some(&known) = self.tokens.borrow().get(&field) {
            return Ok(known);
        }
        let mut tokens = 0u64;
        for (segment, reader) in self.segments.iter().zip(self.searcher.segment_readers()) {
            tokens += segment.field_tokens(reader, field)?;
        }
        self.tokens.borrow_mut().insert(field, tokens);
        Ok(tokens)
    }

    fn total_num_docs(&self) -> tantivy::Result<u64> {
        Ok(self.documents)
    }

    fn doc_freq(&self, term: &Term) -> tantivy::Result<u64> {
        self.term_documents(term)
    }
}
