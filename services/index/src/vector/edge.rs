//! In-process vector store on a qdrant-edge shard directory.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use qdrant_edge::{
    Condition, CountRequest, CreateIndex, Distance, EdgeConfig, EdgeOptimizersConfig, EdgeShard,
    EdgeVectorParams, FieldCondition, FieldIndexOperations, Filter, HasIdCondition, JsonPath,
    KeywordIndexParams, Match, MultiVectorComparator, MultiVectorConfig, NamedQuery, Payload,
    PayloadFieldSchema, PayloadSchemaParams, PayloadSchemaType, PointId, PointInsertOperations,
    PointOperations, PointStructPersisted, QueryEnum, QueryRequest, ScoringQuery, ScrollRequest,
    UpdateOperation, VectorStructPersisted, WithPayloadInterface, WithVector, DEFAULT_VECTOR_NAME,
};
use tokio::sync::RwLock;

use super::{
    check_dimension, payload_key, validate_points, StoreFuture, VectorStore, VectorStoreStats,
};
use crate::{Hit, IndexError, SearchFilter, VectorPoint};

const NAME: &str = "qdrant-edge";
/// Written by `EdgeShard::new`; its presence means the directory holds a shard.
const EDGE_CONFIG_FILE: &str = "edge_config.json";
/// Present while the optimizers run. qdrant-edge writes an optimised segment into the
/// segments directory before it deletes the segments it replaces, and unlike the Qdrant
/// server it does not deduplicate points when it loads a shard; a crash in between leaves
/// every moved point twice. Finding this marker at open means that may have happened.
const OPTIMIZING_MARKER: &str = "folio-optimizing";
/// Where qdrant-edge builds segments before moving them in; what a crash leaves there is
/// never loaded, only taking space.
const TEMP_SEGMENTS_DIR: &str = "temp_segments";
/// Holds the id of the embedder whose vectors the shard stores.
const EMBEDDER_ID_FILE: &str = "folio-embedder-id";
/// Points checked per step of the duplicate repair.
const REPAIR_PAGE: usize = 1000;

/// Vectors in an on-disk qdrant-edge shard inside this process (the embedded default).
///
/// Engine calls block, so they run on tokio's blocking pool: use the store from within a
/// tokio runtime. Writes are serialised and flushed to disk before they return; searches
/// run concurrently with each other.
pub struct EdgeVectorStore {
    dir: PathBuf,
    shard: RwLock<Option<OpenShard>>,
    keys: PayloadKeys,
    options: EdgeStoreOptions,
}

/// Settings of an [`EdgeVectorStore`] that may change between runs: they are applied to
/// the shard each time it is opened or created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EdgeStoreOptions {
    /// Size in KB of vectors a segment must exceed before the optimiser builds its HNSW
    /// index; below it, searches scan the segment. `None` keeps qdrant-edge's default
    /// (10,000 KB, about 6,500 384-dimension vectors).
    pub indexing_threshold_kb: Option<usize>,
}

/// Payload keys parsed once into qdrant's path type.
struct PayloadKeys {
    tenant: JsonPath,
    collection: JsonPath,
    document: JsonPath,
    version: JsonPath,
}

impl PayloadKeys {
    fn parse() -> Result<Self, IndexError> {
        let parse = |key: &str| {
            key.parse::<JsonPath>()
                .map_err(|_| IndexError::InvalidInput(format!("invalid payload key {key:?}")))
        };
        Ok(Self {
            tenant: parse(payload_key::TENANT)?,
            collection: parse(payload_key::COLLECTION)?,
            document: parse(payload_key::DOCUMENT)?,
            version: parse(payload_key::VERSION)?,
        })
    }

    fn indexes(&self) -> Vec<(JsonPath, PayloadFieldSchema)> {
        let keyword = || PayloadFieldSchema::FieldType(PayloadSchemaType::Keyword);
        vec![
            (
                self.tenant.clone(),
                // Tenant-aware storage layout: every query filters on the tenant.
                PayloadFieldSchema::FieldParams(PayloadSchemaParams::Keyword(KeywordIndexParams {
                    is_tenant: Some(true),
                    ..KeywordIndexParams::default()
                })),
            ),
            (self.collection.clone(), keyword()),
            (self.document.clone(), keyword()),
            (
                self.version.clone(),
                PayloadFieldSchema::FieldType(PayloadSchemaType::Integer),
            ),
        ]
    }

    /// tenant AND (any collection) AND (any document); empty lists do not restrict.
    fn filter(&self, filter: &SearchFilter) -> Filter {
        let mut must = vec![field(&self.tenant, Match::from(filter.tenant.clone()))];
        if !filter.collections.is_empty() {
            must.push(field(
                &self.collection,
                Match::from(filter.collections.clone()),
            ));
        }
        if !filter.documents.is_empty() {
            must.push(field(&self.document, Match::from(filter.documents.clone())));
        }
        Filter {
            must: Some(must),
            ..Filter::new()
        }
    }
}

#[derive(Clone)]
struct OpenShard {
    engine: Arc<EdgeShard>,
    dimension: usize,
    /// Whether points hold a multivector (whole text and passage windows). A shard
    /// created before passage windows holds one vector per point; it keeps working,
    /// storing whole-text vectors only, until it is rebuilt.
    multivector: bool,
    /// qdrant-edge's `flush` panics if another thread holds its WAL lock, so an update and
    /// the flush that follows it must never overlap with another update.
    write_lock: Arc<Mutex<()>>,
}

impl std::fmt::Debug for EdgeVectorStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeVectorStore")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl EdgeVectorStore {
    /// Opens the shard in `dir` if there is one (points, dimension and payload indexes
    /// come back as they were); otherwise the store stays empty until
    /// [`VectorStore::ensure_ready`] creates it.
    pub async fn open(dir: &Path) -> Result<Self, IndexError> {
        Self::open_with(dir, EdgeStoreOptions::default()).await
    }

    /// [`EdgeVectorStore::open`] with `options` applied to the shard, now if it exists,
    /// else when [`VectorStore::ensure_ready`] creates it.
    pub async fn open_with(dir: &Path, options: EdgeStoreOptions) -> Result<Self, IndexError> {
        let dir = dir.to_path_buf();
        let shard = if dir.join(EDGE_CONFIG_FILE).is_file() {
            let path = dir.clone();
            let engine = tokio::task::spawn_blocking(move || {
                let engine = EdgeShard::load(&path, None)?;
                let marker = path.join(OPTIMIZING_MARKER);
                if marker.exists() {
                    let repaired = remove_duplicate_points(&engine)?;
                    if repaired > 0 {
                        tracing::warn!(
                            shard = %path.display(),
                            points = repaired,
                            "an interrupted optimisation left points in two segments; rewrote them once"
                        );
                    }
                    remove_contents(&path.join(TEMP_SEGMENTS_DIR))?;
                    std::fs::remove_file(&marker)?;
                }
                apply_options(&engine, options)?;
                Ok::<_, IndexError>(engine)
            })
            .await??;
            let (dimension, multivector) = engine
                .config()
                .vectors
                .get(DEFAULT_VECTOR_NAME)
                .map(|params| (params.size, params.multivector_config.is_some()))
                .ok_or_else(|| {
                    IndexError::Corrupt(format!(
                        "shard {} has no default dense vector",
                        dir.display()
                    ))
                })?;
            if !multivector {
                tracing::warn!(
                    shard = %dir.display(),
                    "this vector shard predates passage windows: chunks are searched by their \
                     whole-text vector only until the shard is rebuilt (stop the server, move \
                     this directory aside and run `folio admin reindex`)"
                );
            }
            Some(OpenShard {
                engine: Arc::new(engine),
                dimension,
                multivector,
                write_lock: Arc::new(Mutex::new(())),
            })
        } else {
            None
        };
        Ok(Self {
            dir,
            shard: RwLock::new(shard),
            keys: PayloadKeys::parse()?,
            options,
        })
    }

    /// Runs qdrant-edge's optimizers (index building, vacuum of deleted points, merges)
    /// until there is nothing left to do. Blocking work: call it after large ingestions,
    /// not per request. Returns whether anything was optimised.
    async fn run_optimizers(&self) -> Result<bool, IndexError> {
        let shard = self.open_shard().await?;
        let marker = self.dir.join(OPTIMIZING_MARKER);
        let optimized = tokio::task::spawn_blocking(move || {
            let _writing = shard
                .write_lock
                .lock()
                .map_err(|_| IndexError::Poisoned("edge writer"))?;
            write_durably(&marker)?;
            let optimized = shard.engine.optimize()?;
            shard.engine.flush();
            std::fs::remove_file(&marker)?;
            Ok::<_, IndexError>(optimized)
        })
        .await??;
        Ok(optimized)
    }

    async fn open_shard(&self) -> Result<OpenShard, IndexError> {
        self.shard
            .read()
            .await
            .clone()
            .ok_or(IndexError::NotReady { store: NAME })
    }

    async fn write(&self, operations: Vec<UpdateOperation>) -> Result<(), IndexError> {
        let shard = self.open_shard().await?;
        tokio::task::spawn_blocking(move || {
            let _writing = shard
                .write_lock
                .lock()
                .map_err(|_: PoisonError<_>| IndexError::Poisoned("edge writer"))?;
            for operation in operations {
                shard.engine.update(operation)?;
            }
            shard.engine.flush();
            Ok::<_, IndexError>(())
        })
        .await?
    }

    async fn create_or_check(&self, dimension: usize) -> Result<(), IndexError> {
        if dimension == 0 {
            return Err(IndexError::InvalidInput(
                "vector dimension must be positive".into(),
            ));
        }
        let mut slot = self.shard.write().await;
        let shard = match slot.as_ref() {
            Some(shard) if shard.dimension != dimension => {
                return Err(IndexError::DimensionMismatch {
                    expected: shard.dimension,
                    actual: dimension,
                })
            }
            Some(shard) => shard.clone(),
            None => {
                let (dir, options) = (self.dir.clone(), self.options);
                let engine = tokio::task::spawn_blocking(move || {
                    std::fs::create_dir_all(&dir)?;
                    let config = EdgeConfig::builder()
                        .vector(
                            DEFAULT_VECTOR_NAME,
                            EdgeVectorParams::builder(dimension, Distance::Cosine)
                                .multivector_config(MultiVectorConfig {
                                    comparator: MultiVectorComparator::MaxSim,
                                })
                                .build(),
                        )
                        .build();
                    let engine = EdgeShard::new(&dir, config)?;
                    apply_options(&engine, options)?;
                    Ok::<_, IndexError>(engine)
                })
                .await??;
                let shard = OpenShard {
                    engine: Arc::new(engine),
                    dimension,
                    multivector: true,
                    write_lock: Arc::new(Mutex::new(())),
                };
                *slot = Some(shard.clone());
                shard
            }
        };
        drop(slot);

        let existing = shard.engine.info().payload_schema;
        let missing: Vec<UpdateOperation> = self
            .keys
            .indexes()
            .into_iter()
            .filter(|(key, _)| !existing.contains_key(key))
            .map(|(field_name, schema)| {
                UpdateOperation::FieldIndexOperation(FieldIndexOperations::CreateIndex(
                    CreateIndex {
                        field_name,
                        field_schema: Some(schema),
                    },
                ))
            })
            .collect();
        if !missing.is_empty() {
            self.write(missing).await?;
        }
        Ok(())
    }
}

impl VectorStore for EdgeVectorStore {
    fn name(&self) -> &'static str {
        NAME
    }

    fn optimize(&self) -> StoreFuture<'_, bool> {
        Box::pin(self.run_optimizers())
    }

    fn stats(&self) -> StoreFuture<'_, VectorStoreStats> {
        Box::pin(async move {
            let Some(shard) = self.shard.read().await.clone() else {
                return Ok(VectorStoreStats::default());
            };
            let info = tokio::task::spawn_blocking(move || shard.engine.info()).await?;
            Ok(VectorStoreStats {
                points: info.points_count as u64,
                indexed_vectors: info.indexed_vectors_count as u64,
                segments: info.segments_count as u64,
            })
        })
    }

    fn recorded_embedder(&self) -> StoreFuture<'_, Option<String>> {
        Box::pin(async move {
            match tokio::fs::read_to_string(self.dir.join(EMBEDDER_ID_FILE)).await {
                Ok(id) => Ok(Some(id.trim().to_string())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e.into()),
            }
        })
    }

    fn record_embedder<'a>(&'a self, embedder_id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            tokio::fs::create_dir_all(&self.dir).await?;
            tokio::fs::write(self.dir.join(EMBEDDER_ID_FILE), embedder_id).await?;
            Ok(())
        })
    }

    fn ensure_ready(&self, dimension: usize) -> StoreFuture<'_, ()> {
        Box::pin(self.create_or_check(dimension))
    }

    fn upsert<'a>(&'a self, points: &'a [VectorPoint]) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            if points.is_empty() {
                return Ok(());
            }
            let shard = self.open_shard().await?;
            validate_points(points, shard.dimension)?;
            let persisted = points
                .iter()
                .map(|point| to_persisted(point, shard.multivector))
                .collect::<Result<Vec<_>, _>>()?;
            self.write(vec![UpdateOperation::PointOperation(
                PointOperations::UpsertPoints(PointInsertOperations::PointsList(persisted)),
            )])
            .await
        })
    }

    fn delete_document<'a>(&'a self, document: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let filter = Filter::new_must(field(
                &self.keys.document,
                Match::from(document.to_string()),
            ));
            self.write(vec![UpdateOperation::PointOperation(
                PointOperations::DeletePointsByFilter(filter),
            )])
            .await
        })
    }

    fn delete_document_version<'a>(
        &'a self,
        document: &'a str,
        version: u64,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let version = payload_version(version)?;
            let filter = Filter {
                must: Some(vec![
                    field(&self.keys.document, Match::from(document.to_string())),
                    field(&self.keys.version, Match::from(version)),
                ]),
                ..Filter::new()
            };
            self.write(vec![UpdateOperation::PointOperation(
                PointOperations::DeletePointsByFilter(filter),
            )])
            .await
        })
    }

    fn search<'a>(
        &'a self,
        vector: &'a [f32],
        filter: &'a SearchFilter,
        limit: usize,
    ) -> StoreFuture<'a, Vec<Hit>> {
        Box::pin(async move {
            filter.validate()?;
            let shard = self.open_shard().await?;
            check_dimension(vector, shard.dimension)?;
            if limit == 0 {
                return Ok(Vec::new());
            }
            let request = QueryRequest {
                prefetches: Vec::new(),
                query: Some(ScoringQuery::Vector(QueryEnum::Nearest(
                    NamedQuery::default_dense(vector.to_vec()),
                ))),
                filter: Some(self.keys.filter(filter)),
                score_threshold: None,
                limit,
                offset: 0,
                params: None,
                with_vector: WithVector::Bool(false),
                with_payload: WithPayloadInterface::Bool(false),
            };
            let points = tokio::task::spawn_blocking(move || shard.engine.query(request)).await??;
            points
                .into_iter()
                .map(|point| match point.id {
                    PointId::Uuid(chunk_id) => Ok(Hit {
                        chunk_id,
                        score: point.score,
                    }),
                    PointId::NumId(other) => Err(IndexError::Corrupt(format!(
                        "vector point with numeric id {other} (Folio writes UUIDs only)"
                    ))),
                })
                .collect()
        })
    }

    fn count<'a>(&'a self, filter: &'a SearchFilter) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            filter.validate()?;
            let shard = self.open_shard().await?;
            let request = CountRequest {
                filter: Some(self.keys.filter(filter)),
                exact: true,
            };
            let count = tokio::task::spawn_blocking(move || shard.engine.count(request)).await??;
            Ok(count as u64)
        })
    }
}

/// Creates an empty file and makes its directory entry durable, so a crash after this
/// returns still finds the file.
fn write_durably(path: &Path) -> Result<(), IndexError> {
    std::fs::File::create(path)?.sync_all()?;
    if let Some(parent) = path.parent() {
        std::fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}

/// Empties `dir`, keeping the directory itself; a missing `dir` is already empty.
fn remove_contents(dir: &Path) -> Result<(), IndexError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    for entry in entries {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(entry.path())?;
        } else {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// Writes the options that differ from the shard's saved configuration.
fn apply_options(engine: &EdgeShard, options: EdgeStoreOptions) -> Result<(), IndexError> {
    let current: EdgeOptimizersConfig = engine.config().optimizers.clone();
    if options.indexing_threshold_kb.is_some()
        && current.indexing_threshold != options.indexing_threshold_kb
    {
        engine.set_optimizers_config(EdgeOptimizersConfig {
            indexing_threshold: options.indexing_threshold_kb,
            ..current
        })?;
    }
    Ok(())
}

/// Finds points stored in more than one segment and leaves each in exactly one; returns
/// how many points were rewritten.
///
/// Scrolling deduplicates ids while an exact count adds up every segment's copies, so a
/// page whose count exceeds its id count holds duplicates. Those points are read back
/// (vector and payload), deleted from every segment and written again.
fn remove_duplicate_points(engine: &EdgeShard) -> Result<usize, IndexError> {
    let mut offset = None;
    let mut repaired = 0;
    loop {
        let (records, next) = engine.scroll(ScrollRequest {
            offset,
            limit: Some(REPAIR_PAGE),
            filter: None,
            with_payload: Some(WithPayloadInterface::Bool(false)),
            with_vector: WithVector::Bool(false),
            order_by: None,
        })?;
        let ids: Vec<PointId> = records.into_iter().map(|record| record.id).collect();
        if !ids.is_empty() {
            let copies = engine.count(CountRequest {
                filter: Some(Filter::new_must(Condition::HasId(
                    ids.iter().copied().collect::<HasIdCondition>(),
                ))),
                exact: true,
            })?;
            if copies > ids.len() {
                repaired += rewrite_points(engine, &ids)?;
            }
        }
        match next {
            Some(next) => offset = Some(next),
            None => break,
        }
    }
    if repaired > 0 {
        engine.flush();
    }
    Ok(repaired)
}

/// Deletes `ids` from every segment and writes each point back once.
fn rewrite_points(engine: &EdgeShard, ids: &[PointId]) -> Result<usize, IndexError> {
    let records = engine.retrieve(
        ids,
        Some(WithPayloadInterface::Bool(true)),
        Some(WithVector::Bool(true)),
    )?;
    let points = records
        .into_iter()
        .map(|record| {
            let vector = record.vector.ok_or_else(|| {
                IndexError::Corrupt(format!("point {:?} has no vector", record.id))
            })?;
            Ok(PointStructPersisted {
                id: record.id,
                vector: VectorStructPersisted::from(vector),
                payload: record.payload,
            })
        })
        .collect::<Result<Vec<_>, IndexError>>()?;
    let count = points.len();
    engine.update(UpdateOperation::PointOperation(
        PointOperations::DeletePoints { ids: ids.to_vec() },
    ))?;
    engine.update(UpdateOperation::PointOperation(
        PointOperations::UpsertPoints(PointInsertOperations::PointsList(points)),
    ))?;
    Ok(count)
}

/// Qdrant indexes integers as i64.
pub(crate) fn payload_version(version: u64) -> Result<i64, IndexError> {
    i64::try_from(version).map_err(|_| {
        IndexError::InvalidInput(format!("document version {version} exceeds i64::MAX"))
    })
}

/// `point` as qdrant-edge stores it: its whole-text vector followed by its windows' as
/// one multivector, or the whole-text vector alone in a single-vector shard.
fn to_persisted(
    point: &VectorPoint,
    multivector: bool,
) -> Result<PointStructPersisted, IndexError> {
    let payload = &point.payload;
    let mut map = serde_json::Map::new();
    map.insert(payload_key::TENANT.into(), payload.tenant.clone().into());
    map.insert(
        payload_key::COLLECTION.into(),
        payload.collection.clone().into(),
    );
    map.insert(
        payload_key::DOCUMENT.into(),
        payload.document.clone().into(),
    );
    map.insert(
        payload_key::VERSION.into(),
        payload_version(payload.version)?.into(),
    );
    map.insert(payload_key::ORDINAL.into(), payload.ordinal.into());
    Ok(PointStructPersisted {
        id: PointId::Uuid(point.id),
        vector: if multivector {
            VectorStructPersisted::MultiDense(
                std::iter::once(&point.vector)
                    .chain(&point.windows)
                    .cloned()
                    .collect(),
            )
        } else {
            VectorStructPersisted::Single(point.vector.clone())
        },
        payload: Some(Payload(map)),
    })
}

fn field(key: &JsonPath, matcher: Match) -> Condition {
    Condition::Field(FieldCondition::new_match(key.clone(), matcher))
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn uuid_point_ids_round_trip() {
        let id = Uuid::new_v4();
        let point = VectorPoint {
            id,
            vector: vec![1.0, 0.0],
            windows: Vec::new(),
            payload: crate::PointPayload {
                tenant: "t".into(),
                collection: "c".into(),
                document: "d".into(),
                version: 3,
                ordinal: 7,
            },
        };
        let persisted = to_persisted(&point, true).unwrap();
        assert_eq!(persisted.id, PointId::Uuid(id));
        let payload = persisted.payload.unwrap();
        assert_eq!(payload.0["version"], serde_json::json!(3));
        assert_eq!(payload.0["ordinal"], serde_json::json!(7));
    }

    #[test]
    fn payload_keys_parse() {
        let keys = PayloadKeys::parse().unwrap();
        assert_eq!(keys.indexes().len(), 4);
        assert_eq!(
            keys.filter(&SearchFilter::tenant("t").with_documents(["d"]))
                .must
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn versions_beyond_i64_are_refused() {
        assert!(payload_version(u64::MAX).is_err());
        assert_eq!(payload_version(42).unwrap(), 42);
    }
}
