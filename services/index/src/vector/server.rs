//! Vector store on a Qdrant server or cluster, through qdrant-client (gRPC).

use std::collections::HashMap;
use std::sync::OnceLock;

use qdrant_client::qdrant::point_id::PointIdOptions;
use qdrant_client::qdrant::r#match::MatchValue;
use qdrant_client::qdrant::vectors_config::Config as VectorsConfigKind;
use qdrant_client::qdrant::{
    Condition, CountPointsBuilder, CreateCollectionBuilder, CreateFieldIndexCollectionBuilder,
    DeletePointsBuilder, Distance, FieldType, Filter, KeywordIndexParamsBuilder,
    MultiVectorComparator, MultiVectorConfigBuilder, PointStruct, QueryPointsBuilder,
    RepeatedStrings, UpdateCollection, UpsertPointsBuilder, Value, Vector, VectorParamsBuilder,
};
use qdrant_client::{Payload, Qdrant};

use super::edge::payload_version;
use super::{
    check_dimension, payload_key, validate_points, StoreFuture, VectorStore, VectorStoreStats,
};
use crate::{Hit, IndexError, SearchFilter, VectorPoint};

const NAME: &str = "qdrant-server";
/// Collection metadata key holding the id of the embedder whose vectors it stores.
const EMBEDDER_ID_KEY: &str = "folio_embedder_id";

/// How [`QdrantServerStore::ensure_ready`](VectorStore::ensure_ready) creates a missing collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QdrantCollectionOptions {
    /// Number of shards (spread over the cluster's nodes).
    pub shards: u32,
    /// Copies of each shard.
    pub replication_factor: u32,
    /// API key, if the server requires one.
    pub api_key: Option<String>,
}

impl Default for QdrantCollectionOptions {
    fn default() -> Self {
        Self {
            shards: 1,
            replication_factor: 1,
            api_key: None,
        }
    }
}

/// Vectors in one collection of a Qdrant server or cluster.
///
/// Same payload and filters as [`crate::EdgeVectorStore`]; writes wait for the server
/// to apply them.
pub struct QdrantServerStore {
    client: Qdrant,
    collection: String,
    options: QdrantCollectionOptions,
    dimension: OnceLock<usize>,
    /// Whether the collection stores multivectors (whole text and passage windows); one
    /// created before passage windows stores whole-text vectors only.
    multivector: OnceLock<bool>,
}

impl std::fmt::Debug for QdrantServerStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QdrantServerStore")
            .field("collection", &self.collection)
            .field("shards", &self.options.shards)
            .field("replication_factor", &self.options.replication_factor)
            .finish_non_exhaustive()
    }
}

impl QdrantServerStore {
    /// Connects to the server at `url` (gRPC, e.g. `http://localhost:6334`) and checks
    /// that it answers. The collection is created by `ensure_ready`.
    pub async fn connect(
        url: &str,
        collection: &str,
        options: QdrantCollectionOptions,
    ) -> Result<Self, IndexError> {
        if collection.trim().is_empty() {
            return Err(IndexError::InvalidInput(
                "Qdrant collection name must not be empty".into(),
            ));
        }
        if options.shards == 0 || options.replication_factor == 0 {
            return Err(IndexError::InvalidInput(format!(
                "Qdrant shards and replication factor must be positive, got {options:?}"
            )));
        }
        let client = Qdrant::from_url(url)
            .api_key(options.api_key.clone())
            .skip_compatibility_check()
            .build()?;
        client.health_check().await?;
        Ok(Self {
            client,
            collection: collection.to_string(),
            options,
            dimension: OnceLock::new(),
            multivector: OnceLock::new(),
        })
    }

    fn dimension(&self) -> Result<usize, IndexError> {
        self.dimension
            .get()
            .copied()
            .ok_or(IndexError::NotReady { store: NAME })
    }

    /// The existing collection's vector size and whether it holds multivectors.
    async fn existing_layout(&self) -> Result<Option<(usize, bool)>, IndexError> {
        if !self.client.collection_exists(&self.collection).await? {
            return Ok(None);
        }
        let info = self.client.collection_info(&self.collection).await?;
        let (size, multivector) = info
            .result
            .and_then(|info| info.config)
            .and_then(|config| config.params)
            .and_then(|params| params.vectors_config)
            .and_then(|vectors| vectors.config)
            .and_then(|config| match config {
                VectorsConfigKind::Params(params) => {
                    Some((params.size, params.multivector_config.is_some()))
                }
                VectorsConfigKind::ParamsMap(_) => None,
            })
            .ok_or_else(|| {
                IndexError::Corrupt(format!(
                    "Qdrant collection {} has no single unnamed dense vector",
                    self.collection
                ))
            })?;
        let size = usize::try_from(size).map_err(|_| {
            IndexError::Corrupt(format!("vector size {size} does not fit in usize"))
        })?;
        Ok(Some((size, multivector)))
    }

    async fn create_or_check(&self, dimension: usize) -> Result<(), IndexError> {
        if dimension == 0 {
            return Err(IndexError::InvalidInput(
                "vector dimension must be positive".into(),
            ));
        }
        let multivector = match self.existing_layout().await? {
            Some((existing, _)) if existing != dimension => {
                return Err(IndexError::DimensionMismatch {
                    expected: existing,
                    actual: dimension,
                })
            }
            Some((_, multivector)) => multivector,
            None => {
                let created = self
                    .client
                    .create_collection(
                        CreateCollectionBuilder::new(&self.collection)
                            .vectors_config(
                                VectorParamsBuilder::new(dimension as u64, Distance::Cosine)
                                    .multivector_config(MultiVectorConfigBuilder::new(
                                        MultiVectorComparator::MaxSim,
                                    )),
                            )
                            .shard_number(self.options.shards)
                            .replication_factor(self.options.replication_factor),
                    )
                    .await;
                // Another replica may have created it at the same moment: only fail if it
                // still does not exist with the right dimension.
                match created {
                    Ok(_) => true,
                    Err(error) => match self.existing_layout().await? {
                        Some((existing, multivector)) if existing == dimension => multivector,
                        Some((existing, _)) => {
                            return Err(IndexError::DimensionMismatch {
                                expected: existing,
                                actual: dimension,
                            })
                        }
                        None => return Err(error.into()),
                    },
                }
            }
        };

        // Creating an index that exists with the same type is a no-op on the server.
        self.client
            .create_field_index(
                CreateFieldIndexCollectionBuilder::new(
                    &self.collection,
                    payload_key::TENANT,
                    FieldType::Keyword,
                )
                .field_index_params(KeywordIndexParamsBuilder::default().is_tenant(true))
                .wait(true),
            )
            .await?;
        for (key, field_type) in [
            (payload_key::COLLECTION, FieldType::Keyword),
            (payload_key::DOCUMENT, FieldType::Keyword),
            (payload_key::VERSION, FieldType::Integer),
        ] {
            self.client
                .create_field_index(
                    CreateFieldIndexCollectionBuilder::new(&self.collection, key, field_type)
                        .wait(true),
                )
                .await?;
        }
        if !multivector {
            tracing::warn!(
                collection = %self.collection,
                "this Qdrant collection predates passage windows: chunks are searched by \
                 their whole-text vector only until the collection is rebuilt (point \
                 vectors.collection at a new collection and run `folio admin reindex`)"
            );
        }
        // A second ensure_ready with the same dimension keeps the first value.
        let _ = self.dimension.set(dimension);
        let _ = self.multivector.set(multivector);
        Ok(())
    }

    async fn delete_by_filter(&self, filter: Filter) -> Result<(), IndexError> {
        self.client
            .delete_points(
                DeletePointsBuilder::new(&self.collection)
                    .points(filter)
                    .wait(true),
            )
            .await?;
        Ok(())
    }
}

impl VectorStore for QdrantServerStore {
    fn name(&self) -> &'static str {
        NAME
    }

    fn optimize(&self) -> StoreFuture<'_, bool> {
        // The server runs its own optimisers in the background.
        Box::pin(async { Ok(false) })
    }

    fn stats(&self) -> StoreFuture<'_, VectorStoreStats> {
        Box::pin(async move {
            if !self.client.collection_exists(&self.collection).await? {
                return Ok(VectorStoreStats::default());
            }
            let info = self
                .client
                .collection_info(&self.collection)
                .await?
                .result
                .unwrap_or_default();
            Ok(VectorStoreStats {
                points: info.points_count.unwrap_or(0),
                indexed_vectors: info.indexed_vectors_count.unwrap_or(0),
                segments: info.segments_count,
            })
        })
    }

    fn recorded_embedder(&self) -> StoreFuture<'_, Option<String>> {
        Box::pin(async move {
            if !self.client.collection_exists(&self.collection).await? {
                return Ok(None);
            }
            let info = self.client.collection_info(&self.collection).await?;
            Ok(info
                .result
                .and_then(|info| info.config)
                .and_then(|config| config.metadata.get(EMBEDDER_ID_KEY).cloned())
                .and_then(|value| value.as_str().cloned()))
        })
    }

    fn record_embedder<'a>(&'a self, embedder_id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            // The server merges metadata keys, so other keys an operator set survive.
            self.client
                .update_collection(UpdateCollection {
                    collection_name: self.collection.clone(),
                    metadata: HashMap::from([(
                        EMBEDDER_ID_KEY.to_string(),
                        Value::from(embedder_id),
                    )]),
                    ..UpdateCollection::default()
                })
                .await?;
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
            validate_points(points, self.dimension()?)?;
            let structs = points
                .iter()
                .map(|point| to_point_struct(point, self.multivector.get() == Some(&true)))
                .collect::<Result<Vec<_>, _>>()?;
            self.client
                .upsert_points(UpsertPointsBuilder::new(&self.collection, structs).wait(true))
                .await?;
            Ok(())
        })
    }

    fn delete_document<'a>(&'a self, document: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(self.delete_by_filter(Filter::must([keyword(payload_key::DOCUMENT, document)])))
    }

    fn delete_document_version<'a>(
        &'a self,
        document: &'a str,
        version: u64,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let version = payload_version(version)?;
            self.delete_by_filter(Filter::must([
                keyword(payload_key::DOCUMENT, document),
                Condition::matches(payload_key::VERSION, version),
            ]))
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
            check_dimension(vector, self.dimension()?)?;
            if limit == 0 {
                return Ok(Vec::new());
            }
            let response = self
                .client
                .query(
                    QueryPointsBuilder::new(&self.collection)
                        .query(vector.to_vec())
                        .filter(to_server_filter(filter))
                        .limit(limit as u64)
                        .with_payload(false),
                )
                .await?;
            response
                .result
                .into_iter()
                .map(|point| {
                    let chunk_id = match point.id.and_then(|id| id.point_id_options) {
                        Some(PointIdOptions::Uuid(text)) => {
                            uuid::Uuid::parse_str(&text).map_err(|error| {
                                IndexError::Corrupt(format!("point id {text:?}: {error}"))
                            })?
                        }
                        other => {
                            return Err(IndexError::Corrupt(format!(
                                "vector point with non-UUID id {other:?} (Folio writes UUIDs only)"
                            )))
                        }
                    };
                    Ok(Hit {
                        chunk_id,
                        score: point.score,
                    })
                })
                .collect()
        })
    }

    fn count<'a>(&'a self, filter: &'a SearchFilter) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            filter.validate()?;
            let response = self
                .client
                .count(
                    CountPointsBuilder::new(&self.collection)
                        .filter(to_server_filter(filter))
                        .exact(true),
                )
                .await?;
            Ok(response.result.map_or(0, |result| result.count))
        })
    }
}

/// `point` as the server stores it: its whole-text vector followed by its windows' as
/// one multivector, or the whole-text vector alone in a single-vector collection.
fn to_point_struct(point: &VectorPoint, multivector: bool) -> Result<PointStruct, IndexError> {
    let payload = &point.payload;
    let mut fields = Payload::new();
    fields.insert(payload_key::TENANT, payload.tenant.clone());
    fields.insert(payload_key::COLLECTION, payload.collection.clone());
    fields.insert(payload_key::DOCUMENT, payload.document.clone());
    fields.insert(payload_key::VERSION, payload_version(payload.version)?);
    fields.insert(
        payload_key::ORDINAL,
        Value::from(i64::from(payload.ordinal)),
    );
    let vector = if multivector {
        Vector::new_multi(
            std::iter::once(&point.vector)
                .chain(&point.windows)
                .cloned()
                .collect::<Vec<_>>(),
        )
    } else {
        Vector::from(point.vector.clone())
    };
    Ok(PointStruct::new(point.id.to_string(), vector, fields))
}

/// Exact keyword match. qdrant-client's `From<String>` would turn a value containing
/// whitespace into a full-text match, which must never happen to a tenant id.
fn keyword(key: &str, value: &str) -> Condition {
    Condition::matches(key, MatchValue::Keyword(value.to_string()))
}

fn any_keyword(key: &str, values: &[String]) -> Condition {
    Condition::matches(
        key,
        MatchValue::Keywords(RepeatedStrings {
            strings: values.to_vec(),
        }),
    )
}

/// tenant AND (any collection) AND (any document); empty lists do not restrict.
fn to_server_filter(filter: &SearchFilter) -> Filter {
    let mut must = vec![keyword(payload_key::TENANT, &filter.tenant)];
    if !filter.collections.is_empty() {
        must.push(any_keyword(payload_key::COLLECTION, &filter.collections));
    }
    if !filter.documents.is_empty() {
        must.push(any_keyword(payload_key::DOCUMENT, &filter.documents));
    }
    Filter::must(must)
}

#[cfg(test)]
mod tests {
    use super::*;
    use qdrant_client::qdrant::condition::ConditionOneOf;
    use qdrant_client::qdrant::r#match::MatchValue;

    #[test]
    fn tenant_with_whitespace_stays_an_exact_keyword_match() {
        let filter = to_server_filter(&SearchFilter::tenant("acme corp"));
        let Some(ConditionOneOf::Field(field)) = &filter.must[0].condition_one_of else {
            panic!("expected a field condition");
        };
        let matched = field.r#match.as_ref().and_then(|m| m.match_value.clone());
        assert_eq!(matched, Some(MatchValue::Keyword("acme corp".into())));
    }
}
