//! BM25 full-text index on tantivy.

use std::path::Path;
use std::sync::{Mutex, PoisonError};

use tantivy::collector::{Count, TopDocs};
use tantivy::directory::MmapDirectory;
use tantivy::query::{
    BooleanQuery, BoostQuery, ConstScoreQuery, EnableScoring, Occur, Query, QueryParser, TermQuery,
};
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions, Value,
    STORED, STRING,
};
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
};
use tantivy::{
    doc, DocAddress, Index, IndexReader, IndexWriter, ReloadPolicy, Score, Searcher,
    TantivyDocument, Term,
};
use uuid::Uuid;

use crate::accumulate::{top_by_accumulation, WeightedTerm};
use crate::tenant_stats::{TenantStatistics, TenantStatisticsCache};
use crate::types::require_tenant;
use crate::{Hit, IndexError, IndexedChunk, SearchFilter};

/// Heading matches weigh a bit more than body matches: a heading such as
/// "Termination for Convenience" is a strong signal of what the section is about.
const HEADING_BOOST: f32 = 1.5;
/// How a search collects its top hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Collect {
    /// Term at a time (`accumulate.rs`), unless intersecting a selective filter
    /// costs less.
    Accumulated,
    /// Block-max WAND per segment (tantivy's `TopDocs`).
    BlockMaxWand,
    /// Every document within the filter scored: a required filter clause stops
    /// the disjunction from pruning.
    Exhaustive,
}

/// Most distinct terms a question is scored with unless configured
/// ([`Bm25Index::with_max_query_terms`]).
const DEFAULT_MAX_QUERY_TERMS: usize = 16;
/// Words removed from questions before scoring: Lucene's English stop words plus
/// question and auxiliary words. Modal verbs that carry meaning in contracts
/// ("shall", "may", "must") stay.
const QUESTION_STOP_WORDS: [&str; 52] = [
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "will", "with", "what", "which", "who", "whom", "whose", "when",
    "where", "why", "how", "do", "does", "did", "has", "have", "had", "were", "been", "its",
    "from",
];
/// How much dearer a (filter document × clause) step of an intersection is than
/// adding one posting term at a time. Measured on the 1 M-chunk bench index with
/// the dev questions, filtered to 1–400 of its documents (BENCHMARKS.md).
const INTERSECTION_COST: f64 = 1.0;
/// Indexing memory shared by the writer's threads (tantivy needs at least 15 MB per thread).
const WRITER_MEMORY_BYTES: usize = 64 * 1024 * 1024;

#[derive(Debug, Clone, Copy)]
struct Fields {
    chunk_id: Field,
    tenant: Field,
    collection: Field,
    document: Field,
    version: Field,
    heading: Field,
    body: Field,
}

impl Fields {
    fn schema() -> Schema {
        let stemmed = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer("en_stem")
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        );
        let mut builder = Schema::builder();
        builder.add_text_field("chunk_id", STRING | STORED);
        builder.add_text_field("tenant", STRING);
        builder.add_text_field("collection", STRING);
        builder.add_text_field("document", STRING);
        builder.add_u64_field(
            "version",
            NumericOptions::default().set_indexed().set_fast(),
        );
        builder.add_text_field("heading", stemmed.clone());
        builder.add_text_field("body", stemmed);
        builder.build()
    }

    fn resolve(schema: &Schema) -> Result<Self, IndexError> {
        let field = |name: &str| {
            schema
                .get_field(name)
                .map_err(|_| IndexError::Corrupt(format!("full-text schema has no field `{name}`")))
        };
        Ok(Self {
            chunk_id: field("chunk_id")?,
            tenant: field("tenant")?,
            collection: field("collection")?,
            document: field("document")?,
            version: field("version")?,
            heading: field("heading")?,
            body: field("body")?,
        })
    }
}

/// A BM25 index of chunk headings and bodies, filtered by tenant, collection and document.
///
/// Writes are buffered until [`Bm25Index::commit`]; searches see committed data only.
/// The struct is `Send + Sync`: share it behind an `Arc`. Writes are serialised by an
/// internal lock; searches run concurrently. One process may write a directory
/// (tantivy holds a lock file); any number may follow it read-only
/// ([`Bm25Index::open_follower`]), as the query replicas of a split deployment do.
pub struct Bm25Index {
    fields: Fields,
    /// `None` in a read-only follower.
    writer: Option<Mutex<IndexWriter>>,
    reader: IndexReader,
    query_parser: QueryParser,
    /// The body and heading fields' analyzer (`en_stem`).
    analyzer: TextAnalyzer,
    /// `en_stem` with English function words removed, for questions.
    question_analyzer: TextAnalyzer,
    /// Most distinct terms a question is scored with; 0 for all.
    max_query_terms: usize,
    /// A follower's last reload (`None` for the writer, which reloads on commit).
    followed: Option<Mutex<std::time::Instant>>,
    /// See [`Bm25Index::with_intersection_cost`].
    intersection_cost: f64,
    /// Scores use the searching tenant's statistics only (`tenant_stats.rs`).
    tenant_statistics: TenantStatisticsCache,
}

/// A follower reloads before a search at most this often, so another process's
/// commit is visible to searches within this long (tantivy's own watcher is slower).
const FOLLOWER_RELOAD_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

impl std::fmt::Debug for Bm25Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bm25Index").finish_non_exhaustive()
    }
}

impl Bm25Index {
    /// Opens the index in `dir`, creating the directory and an empty index if needed.
    ///
    /// Fails if `dir` holds an index with another schema, or if another writer has it open.
    pub fn open_or_create(dir: &Path) -> Result<Self, IndexError> {
        std::fs::create_dir_all(dir)?;
        let directory = MmapDirectory::open(dir)?;
        let index = Index::open_or_create(directory, Fields::schema())?;
        let fields = Fields::resolve(&index.schema())?;
        let writer = index.writer(WRITER_MEMORY_BYTES)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Self::assemble(&index, fields, Some(writer), reader)
    }

    /// Opens the index in `dir` read-only, following another process's commits:
    /// tantivy watches the index's `meta.json` and reloads shortly after each commit.
    /// Creates an empty index when there is none yet (the writer adopts it).
    pub fn open_follower(dir: &Path) -> Result<Self, IndexError> {
        std::fs::create_dir_all(dir)?;
        let directory = MmapDirectory::open(dir)?;
        let index = Index::open_or_create(directory, Fields::schema())?;
        let fields = Fields::resolve(&index.schema())?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::OnCommitWithDelay)
            .try_into()?;
        Self::assemble(&index, fields, None, reader)
    }

    fn assemble(
        index: &Index,
        fields: Fields,
        writer: Option<IndexWriter>,
        reader: IndexReader,
    ) -> Result<Self, IndexError> {
        let mut query_parser = QueryParser::for_index(index, vec![fields.heading, fields.body]);
        query_parser.set_field_boost(fields.heading, HEADING_BOOST);
        let analyzer = index.tokenizer_for_field(fields.body)?;
        let question_analyzer = TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(RemoveLongFilter::limit(40))
            .filter(LowerCaser)
            .filter(StopWordFilter::remove(
                QUESTION_STOP_WORDS.iter().map(|w| w.to_string()),
            ))
            .filter(Stemmer::new(Language::English))
            .build();
        Ok(Self {
            analyzer,
            question_analyzer,
            max_query_terms: DEFAULT_MAX_QUERY_TERMS,
            intersection_cost: INTERSECTION_COST,
            followed: writer
                .is_none()
                .then(|| Mutex::new(std::time::Instant::now())),
            tenant_statistics: TenantStatisticsCache::new(
                fields.tenant,
                vec![fields.heading, fields.body],
            ),
            fields,
            writer: writer.map(Mutex::new),
            reader,
            query_parser,
        })
    }

    /// Scores questions with at most `terms` distinct words, their rarest (0: all).
    /// Verbose questions' common words move BM25 scores least and cost the most to
    /// score on a large index.
    pub fn with_max_query_terms(mut self, terms: usize) -> Self {
        self.max_query_terms = terms;
        self
    }

    /// How much dearer one step of intersecting the words with a filter (one
    /// filter document against one clause) is taken to be than adding one posting
    /// term at a time; a filtered search takes the cheaper way by this estimate.
    /// Both ways are exact, so this moves only speed: 0 always intersects,
    /// `f64::INFINITY` always accumulates (the tests force each way so).
    pub fn with_intersection_cost(mut self, cost: f64) -> Self {
        self.intersection_cost = if cost.is_nan() {
            INTERSECTION_COST
        } else {
            cost.max(0.0)
        };
        self
    }

    /// A follower's reload when the last one is older than [`FOLLOWER_RELOAD_EVERY`].
    fn catch_up(&self) -> Result<(), IndexError> {
        let Some(followed) = &self.followed else {
            return Ok(());
        };
        let mut last = followed
            .lock()
            .map_err(|_: PoisonError<_>| IndexError::Poisoned("full-text follower"))?;
        if last.elapsed() >= FOLLOWER_RELOAD_EVERY {
            self.reader.reload()?;
            *last = std::time::Instant::now();
        }
        Ok(())
    }

    /// Reloads the searcher now (a follower otherwise catches up within a second).
    pub fn refresh(&self) -> Result<(), IndexError> {
        Ok(self.reader.reload()?)
    }

    /// Adds chunks (visible after [`Bm25Index::commit`]). A chunk whose id is already in the
    /// index replaces the old one, so re-indexing a document is idempotent.
    pub fn add(&self, chunks: &[IndexedChunk]) -> Result<(), IndexError> {
        for chunk in chunks {
            require_tenant(&chunk.tenant)?;
        }
        let writer = self.writer()?;
        for chunk in chunks {
            let id = chunk.chunk_id.to_string();
            writer.delete_term(Term::from_field_text(self.fields.chunk_id, &id));
            writer.add_document(doc!(
                self.fields.chunk_id => id,
                self.fields.tenant => chunk.tenant.as_str(),
                self.fields.collection => chunk.collection.as_str(),
                self.fields.document => chunk.document.as_str(),
                self.fields.version => chunk.version,
                self.fields.heading => chunk.heading.as_str(),
                self.fields.body => chunk.body.as_str(),
            ))?;
        }
        Ok(())
    }

    /// Deletes every chunk of a document, all versions (visible after commit).
    pub fn delete_document(&self, document_id: &str) -> Result<(), IndexError> {
        self.writer()?
            .delete_term(Term::from_field_text(self.fields.document, document_id));
        Ok(())
    }

    /// Deletes the chunks of one version of a document (visible after commit).
    pub fn delete_document_version(
        &self,
        document_id: &str,
        version: u64,
    ) -> Result<(), IndexError> {
        let query = BooleanQuery::new(vec![
            (
                Occur::Must,
                self.term_query(self.fields.document, document_id),
            ),
            (
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_u64(self.fields.version, version),
                    IndexRecordOption::Basic,
                )),
            ),
        ]);
        self.writer()?.delete_query(Box::new(query))?;
        Ok(())
    }

    /// Deletes chunks by id (visible after commit).
    pub fn delete_chunks(&self, chunk_ids: &[Uuid]) -> Result<(), IndexError> {
        let writer = self.writer()?;
        for id in chunk_ids {
            writer.delete_term(Term::from_field_text(self.fields.chunk_id, &id.to_string()));
        }
        Ok(())
    }

    /// Makes all buffered adds and deletes durable and visible to searches.
    ///
    /// Commits are expensive (a new segment and an fsync): batch writes per document or job.
    pub fn commit(&self) -> Result<(), IndexError> {
        self.writer()?.commit()?;
        self.reader.reload()?;
        Ok(())
    }

    /// Best-first BM25 hits for free user text within `filter`.
    ///
    /// Words (a question, quotes included) are scored as a bag of terms: over most
    /// of the index term at a time, within a selective filter by intersecting with
    /// it. Text with search operators goes through tantivy's lenient
    /// query parser: there quotes make phrases and `+`/`-` require or exclude terms,
    /// and malformed syntax (unbalanced quotes or parentheses, stray colons) is read
    /// as plain words and never fails.
    pub fn search(
        &self,
        query_text: &str,
        filter: &SearchFilter,
        limit: usize,
    ) -> Result<Vec<Hit>, IndexError> {
        self.run_search(query_text, filter, limit, Collect::Accumulated)
    }

    /// The same hits as [`Bm25Index::search`], collected by tantivy's stock
    /// `TopDocs`, which prunes a bag of words document at a time with block-max
    /// WAND, each segment on its own. Kept as `folio bench retrieve`'s in-run
    /// reference for the term-at-a-time search.
    pub fn search_block_max_wand(
        &self,
        query_text: &str,
        filter: &SearchFilter,
        limit: usize,
    ) -> Result<Vec<Hit>, IndexError> {
        self.run_search(query_text, filter, limit, Collect::BlockMaxWand)
    }

    /// The same hits as [`Bm25Index::search`], computed without pruning: every
    /// document within `filter` that matches a term is scored through the
    /// intersection with the filter. The reference the default search is tested
    /// against; slow on large indexes.
    pub fn search_exhaustive(
        &self,
        query_text: &str,
        filter: &SearchFilter,
        limit: usize,
    ) -> Result<Vec<Hit>, IndexError> {
        self.run_search(query_text, filter, limit, Collect::Exhaustive)
    }

    fn run_search(
        &self,
        query_text: &str,
        filter: &SearchFilter,
        limit: usize,
        collect: Collect,
    ) -> Result<Vec<Hit>, IndexError> {
        filter.validate()?;
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.catch_up()?;
        let searcher = self.reader.searcher();
        let terms = self.plain_terms(query_text);
        if terms.as_ref().is_some_and(Vec::is_empty) {
            return Ok(Vec::new());
        }
        let statistics = self
            .tenant_statistics
            .statistics(&searcher, &filter.tenant)?;
        let top = match terms {
            Some(terms) => {
                self.search_terms(&searcher, &statistics, &terms, filter, limit, collect)?
            }
            None => self.search_parsed(&searcher, &statistics, query_text, filter, limit)?,
        };
        self.hits(&searcher, top)
    }

    /// Number of segments a search walks through (each commit adds one; merges
    /// remove them).
    pub fn segment_count(&self) -> Result<usize, IndexError> {
        self.catch_up()?;
        Ok(self.reader.searcher().segment_readers().len())
    }

    /// Merges every committed segment into one, waits for the merge, and makes
    /// the result visible; `false` when there was at most one segment.
    ///
    /// Searches keep running on the old segments meanwhile, and writes are not
    /// held up: the writer lock is released once the merge is scheduled. It
    /// rewrites the whole index, so nothing calls it on its own:
    /// `folio bench retrieve --merge-segments` uses it to measure what one
    /// segment buys (on the generated 1 M-chunk index, 3 segments → 1 did not
    /// speed BM25 up).
    pub fn merge_segments(&self) -> Result<bool, IndexError> {
        let merge = {
            let mut writer = self.writer()?;
            let segments = writer.index().searchable_segment_ids()?;
            if segments.len() < 2 {
                return Ok(false);
            }
            writer.merge(&segments)
        };
        merge.wait()?;
        self.reader.reload()?;
        // The merged-away files go now rather than at the next commit.
        self.writer()?.garbage_collect_files().wait()?;
        Ok(true)
    }

    /// Number of committed chunks within `filter`.
    pub fn count(&self, filter: &SearchFilter) -> Result<u64, IndexError> {
        filter.validate()?;
        self.catch_up()?;
        let count = self
            .reader
            .searcher()
            .search(&self.filter_query(filter), &Count)?;
        Ok(count as u64)
    }

    fn writer(&self) -> Result<std::sync::MutexGuard<'_, IndexWriter>, IndexError> {
        self.writer
            .as_ref()
            .ok_or(IndexError::ReadOnly("the full-text index"))?
            .lock()
            .map_err(|_: PoisonError<_>| IndexError::Poisoned("full-text writer"))
    }

    fn term_query(&self, field: Field, value: &str) -> Box<dyn Query> {
        Box::new(TermQuery::new(
            Term::from_field_text(field, value),
            IndexRecordOption::Basic,
        ))
    }

    /// Chunk ids and scores of tantivy hits.
    fn hits(
        &self,
        searcher: &Searcher,
        top: Vec<(Score, DocAddress)>,
    ) -> Result<Vec<Hit>, IndexError> {
        let mut hits = Vec::with_capacity(top.len());
        for (score, address) in top {
            let stored: TantivyDocument = searcher.doc(address)?;
            let id = stored
                .get_first(self.fields.chunk_id)
                .and_then(|value| value.as_str())
                .ok_or_else(|| IndexError::Corrupt("full-text document without chunk_id".into()))?;
            let chunk_id = Uuid::parse_str(id).map_err(|error| {
                IndexError::Corrupt(format!("full-text chunk_id {id:?}: {error}"))
            })?;
            hits.push(Hit { chunk_id, score });
        }
        Ok(hits)
    }

    /// The analysed terms of a query written as words: questions, with their
    /// punctuation (quoted terms, "(if any)", "Details:") read as punctuation.
    /// `None` when the text uses search operators, which go through tantivy's
    /// query parser (phrases included).
    fn plain_terms(&self, text: &str) -> Option<Vec<String>> {
        if uses_search_operators(text) {
            return None;
        }
        let analyse = |analyzer: &TextAnalyzer| {
            let mut analyzer = analyzer.clone();
            let mut stream = analyzer.token_stream(text);
            let mut terms = Vec::new();
            while stream.advance() {
                terms.push(stream.token().text.clone());
            }
            terms
        };
        // Function words add little to BM25 (they are in most chunks) but cost the
        // most to score; a query made only of them keeps them.
        let content = analyse(&self.question_analyzer);
        Some(if content.is_empty() {
            analyse(&self.analyzer)
        } else {
            content
        })
    }

    /// Keeps the `max_query_terms` distinct terms that are rarest in the tenant's
    /// documents (highest IDF) with every occurrence: a verbose question's common
    /// words move scores least and cost most to score. Rarity is the tenant's own,
    /// so which words count never depends on another tenant's documents.
    fn most_selective(
        &self,
        statistics: &TenantStatistics<'_>,
        terms: &[String],
    ) -> Result<Vec<String>, IndexError> {
        let mut distinct: Vec<&String> = Vec::new();
        for term in terms {
            if !distinct.contains(&term) {
                distinct.push(term);
            }
        }
        if self.max_query_terms == 0 || distinct.len() <= self.max_query_terms {
            return Ok(terms.to_vec());
        }
        let mut by_frequency = Vec::with_capacity(distinct.len());
        for term in distinct {
            let frequency =
                statistics.term_documents(&Term::from_field_text(self.fields.body, term))?;
            by_frequency.push((frequency, term));
        }
        by_frequency.sort();
        let kept: Vec<&String> = by_frequency
            .into_iter()
            .take(self.max_query_terms)
            .map(|(_, term)| term)
            .collect();
        Ok(terms.iter().filter(|t| kept.contains(t)).cloned().collect())
    }

    /// `terms` as one flat disjunction of term queries, which tantivy can prune
    /// with block-max WAND and intersect with a filter.
    fn disjunction(terms: &[WeightedTerm]) -> BooleanQuery {
        let clauses = terms
            .iter()
            .map(|weighted| {
                let term = TermQuery::new(weighted.term.clone(), IndexRecordOption::WithFreqs);
                let clause: Box<dyn Query> =
                    Box::new(BoostQuery::new(Box::new(term), weighted.boost));
                (Occur::Should, clause)
            })
            .collect();
        BooleanQuery::new(clauses)
    }

    /// The terms a bag of words is scored with: each distinct word in the body
    /// and (boosted) in the heading. A word repeated in the query counts as often
    /// as it appears (its boost is the count), as in the parser's one clause per
    /// occurrence.
    fn weighted_terms(&self, words: &[String]) -> Vec<WeightedTerm> {
        let mut counts: Vec<(&String, f32)> = Vec::new();
        for word in words {
            match counts.iter_mut().find(|(seen, _)| *seen == word) {
                Some((_, count)) => *count += 1.0,
                None => counts.push((word, 1.0)),
            }
        }
        let mut terms = Vec::with_capacity(counts.len() * 2);
        for (text, count) in counts {
            for (field, boost) in [
                (self.fields.body, count),
                (self.fields.heading, count * HEADING_BOOST),
            ] {
                terms.push(WeightedTerm {
                    term: Term::from_field_text(field, text),
                    boost,
                });
            }
        }
        terms
    }

    /// Top hits of a plain-word query within `filter`.
    ///
    /// A filter that keeps every document (one tenant's whole corpus, the common
    /// case) is left out, and the words are scored over the whole index term at a
    /// time. Otherwise the search takes the cheaper of two exact ways, estimated
    /// from document frequencies: scoring term at a time and keeping the
    /// filter's documents (cost: the terms' postings in the whole index), or
    /// intersecting the words with the filter, led by the filter (cost: the
    /// filter's documents times the words' clauses). A filter to a few documents
    /// intersects; one to a large collection accumulates.
    fn search_terms(
        &self,
        searcher: &Searcher,
        statistics: &TenantStatistics<'_>,
        terms: &[String],
        filter: &SearchFilter,
        limit: usize,
        collect: Collect,
    ) -> Result<Vec<(Score, DocAddress)>, IndexError> {
        let weighted = self.weighted_terms(&self.most_selective(statistics, terms)?);
        let top_docs = |query: &dyn Query| {
            Ok::<_, IndexError>(searcher.search_with_statistics_provider(
                query,
                &TopDocs::with_limit(limit).order_by_score(),
                statistics,
            )?)
        };
        let intersect = || {
            top_docs(&BooleanQuery::new(vec![
                (Occur::Must, Box::new(Self::disjunction(&weighted))),
                (
                    Occur::Must,
                    Box::new(ConstScoreQuery::new(self.filter_query(filter), 0.0)),
                ),
            ]))
        };
        if collect == Collect::Exhaustive {
            return intersect();
        }
        let (filter_documents, total) = self.filter_documents(searcher, filter)?;
        if filter_documents >= total {
            return match collect {
                Collect::Accumulated => {
                    top_by_accumulation(searcher, statistics, &weighted, None, limit)
                }
                Collect::BlockMaxWand | Collect::Exhaustive => {
                    top_docs(&Self::disjunction(&weighted))
                }
            };
        }
        if collect == Collect::Accumulated {
            let mut postings = 0u64;
            for weighted in &weighted {
                postings += searcher.doc_freq(&weighted.term)?;
            }
            let intersection = filter_documents as f64 * weighted.len() as f64;
            if intersection * self.intersection_cost > postings as f64 {
                let members = self
                    .filter_query(filter)
                    .weight(EnableScoring::disabled_from_searcher(searcher))?;
                return top_by_accumulation(
                    searcher,
                    statistics,
                    &weighted,
                    Some(members.as_ref()),
                    limit,
                );
            }
        }
        intersect()
    }

    /// Top hits of a query with syntax, through tantivy's lenient parser.
    fn search_parsed(
        &self,
        searcher: &Searcher,
        statistics: &TenantStatistics<'_>,
        query_text: &str,
        filter: &SearchFilter,
        limit: usize,
    ) -> Result<Vec<(Score, DocAddress)>, IndexError> {
        let run = |text: &str| {
            let (text_query, _ignored_syntax_errors) = self.query_parser.parse_query_lenient(text);
            let query = BooleanQuery::new(vec![
                (Occur::Must, text_query),
                (
                    Occur::Must,
                    Box::new(ConstScoreQuery::new(self.filter_query(filter), 0.0)),
                ),
            ]);
            searcher.search_with_statistics_provider(
                &query,
                &TopDocs::with_limit(limit).order_by_score(),
                statistics,
            )
        };
        // Some syntax the lenient parser accepts still fails at search time (e.g.
        // `\}:*`, a wildcard on a field that does not exist): user text must never
        // fail a search, so retry with its words alone.
        match run(query_text) {
            Ok(top) => Ok(top),
            Err(_) => {
                let words: Vec<&str> = query_text
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| !w.is_empty())
                    .collect();
                if words.is_empty() {
                    return Ok(Vec::new());
                }
                Ok(run(&words.join(" "))?)
            }
        }
    }

    /// An upper bound of the number of documents `filter` keeps, from term
    /// frequencies (no search), and the number of documents in the index. Both
    /// count deleted documents (document frequencies include them), so equal
    /// numbers mean that every document passes the filter.
    fn filter_documents(
        &self,
        searcher: &Searcher,
        filter: &SearchFilter,
    ) -> Result<(u64, u64), IndexError> {
        let total: u64 = searcher
            .segment_readers()
            .iter()
            .map(|reader| u64::from(reader.max_doc()))
            .sum();
        let frequency = |field: Field, values: &[String]| -> Result<u64, IndexError> {
            let distinct: std::collections::BTreeSet<&String> = values.iter().collect();
            let mut sum = 0u64;
            for value in distinct {
                sum += searcher.doc_freq(&Term::from_field_text(field, value))?;
            }
            Ok(sum)
        };
        let mut documents = frequency(self.fields.tenant, std::slice::from_ref(&filter.tenant))?;
        if !filter.collections.is_empty() {
            documents = documents.min(frequency(self.fields.collection, &filter.collections)?);
        }
        if !filter.documents.is_empty() {
            documents = documents.min(frequency(self.fields.document, &filter.documents)?);
        }
        Ok((documents.min(total), total))
    }

    /// tenant AND (any collection) AND (any document); empty lists do not restrict.
    fn filter_query(&self, filter: &SearchFilter) -> Box<dyn Query> {
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(
            Occur::Must,
            self.term_query(self.fields.tenant, &filter.tenant),
        )];
        for (field, values) in [
            (self.fields.collection, &filter.collections),
            (self.fields.document, &filter.documents),
        ] {
            if values.is_empty() {
                continue;
            }
            let any: Vec<(Occur, Box<dyn Query>)> = values
                .iter()
                .map(|value| (Occur::Should, self.term_query(field, value)))
                .collect();
            clauses.push((Occur::Must, Box::new(BooleanQuery::new(any))));
        }
        Box::new(BooleanQuery::new(clauses))
    }
}

/// Whether `text` is written in search syntax rather than as words: a `+`/`-`
/// prefix, `field:` on one of the index's fields, a wildcard, fuzzy or boost
/// suffix, or an upper-case boolean operator. Punctuation of ordinary sentences
/// (quotes, parentheses, a colon after a word) is not syntax.
fn uses_search_operators(text: &str) -> bool {
    const FIELDS: [&str; 7] = [
        "heading",
        "body",
        "tenant",
        "collection",
        "document",
        "chunk_id",
        "version",
    ];
    text.split_whitespace().any(|word| {
        let bare = word.trim_start_matches(['(', '"']);
        bare.starts_with(['+', '-']) && bare.len() > 1
            || FIELDS.iter().any(|field| {
                bare.strip_prefix(field)
                    .is_some_and(|rest| rest.starts_with(':'))
            })
            || word
                .trim_end_matches([')', '"', '?', '.', ','])
                .ends_with('*')
            || word.contains(['~', '^'])
            || matches!(word, "AND" | "OR" | "NOT")
    })
}

#[cfg(test)]
mod tests {
    use super::uses_search_operators;

    #[test]
    fn questions_are_words_and_operators_are_syntax() {
        for question in [
            "Highlight the parts (if any) of this contract related to \"Notice Period\" that should be reviewed by a lawyer. Details: What is the notice period?",
            "What does \"Affiliate\" mean?",
            "Which year-over-year change in revenue - if any - was largest?",
            "Is there a non-compete clause?",
        ] {
            assert!(!uses_search_operators(question), "{question}");
        }
        for query in [
            "+termination notice",
            "termination -convenience",
            "heading:termination",
            "(\"force majeure\" OR hardship)",
            "indemnif*",
            "licence~1",
            "termination^2 notice",
        ] {
            assert!(uses_search_operators(query), "{query}");
        }
    }
}
