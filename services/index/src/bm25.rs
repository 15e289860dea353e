//! BM25 full-text index on tantivy.

use std::path::Path;
use std::sync::{Mutex, PoisonError};

use tantivy::collector::{Count, TopDocs};
use tantivy::directory::MmapDirectory;
use tantivy::query::{BooleanQuery, ConstScoreQuery, Occur, Query, QueryParser, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions, Value,
    STORED, STRING,
};
use tantivy::{doc, Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};
use uuid::Uuid;

use crate::types::require_tenant;
use crate::{Hit, IndexError, IndexedChunk, SearchFilter};

/// Heading matches weigh a bit more than body matches: a heading such as
/// "Termination for Convenience" is a strong signal of what the section is about.
const HEADING_BOOST: f32 = 1.5;
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
    /// A follower's last reload (`None` for the writer, which reloads on commit).
    followed: Option<Mutex<std::time::Instant>>,
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
        Ok(Self {
            followed: writer
                .is_none()
                .then(|| Mutex::new(std::time::Instant::now())),
            fields,
            writer: writer.map(Mutex::new),
            reader,
            query_parser,
        })
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
    /// The text goes through tantivy's lenient query parser: quotes make phrases and
    /// `+`/`-` require or exclude terms, but malformed syntax (unbalanced quotes or
    /// parentheses, stray colons) is read as plain words and never fails.
    pub fn search(
        &self,
        query_text: &str,
        filter: &SearchFilter,
        limit: usize,
    ) -> Result<Vec<Hit>, IndexError> {
        filter.validate()?;
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.catch_up()?;
        let searcher = self.reader.searcher();
        let run = |text: &str| {
            let (text_query, _ignored_syntax_errors) = self.query_parser.parse_query_lenient(text);
            let query = BooleanQuery::new(vec![
                (Occur::Must, text_query),
                (
                    Occur::Must,
                    Box::new(ConstScoreQuery::new(self.filter_query(filter), 0.0)),
                ),
            ]);
            searcher.search(&query, &TopDocs::with_limit(limit).order_by_score())
        };
        // Some syntax the lenient parser accepts still fails at search time (e.g.
        // `\}:*`, a wildcard on a field that does not exist): user text must never
        // fail a search, so retry with its words alone.
        let top = match run(query_text) {
            Ok(top) => top,
            Err(_) => {
                let words: Vec<&str> = query_text
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| !w.is_empty())
                    .collect();
                if words.is_empty() {
                    return Ok(Vec::new());
                }
                run(&words.join(" "))?
            }
        };
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
