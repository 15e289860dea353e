//! The embedding cache: vectors by text hash and embedder, owned by the
//! documents of one tenant, so re-ingesting unchanged text embeds nothing.

use super::*;

/// The document whose chunks an embedding-cache entry serves. Entries belong to
/// one tenant's documents: another tenant never reads them, and they go with
/// the last live document of the tenant that has the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmbeddingOwner<'a> {
    /// The document's tenant.
    pub tenant_id: &'a str,
    /// The document.
    pub document_id: &'a str,
}

impl MetadataStore {
    // ---- embedding cache ---------------------------------------------------------

    /// The owner's tenant's cached vectors for the given text hashes (absent ones
    /// are skipped). Each one found becomes the owner's own entry too, so that it
    /// stays cached while the owner lives, whatever happens to the document that
    /// embedded it first.
    pub async fn cached_embeddings(
        &self,
        owner: EmbeddingOwner<'_>,
        model_id: &str,
        hashes: &[String],
    ) -> Result<Vec<(String, Vec<f32>)>, StoreError> {
        let mut out = Vec::new();
        for batch in hashes.chunks(200) {
            let placeholders: Vec<String> =
                (0..batch.len()).map(|i| format!("${}", i + 4)).collect();
            let sql = format!(
                "INSERT INTO embeddings (tenant_id, model_id, text_sha256, document_id, vector) \
                 SELECT tenant_id, model_id, text_sha256, $3, vector FROM embeddings \
                 WHERE tenant_id = $1 AND model_id = $2 AND document_id <> $3 \
                 AND text_sha256 IN ({}) \
                 ON CONFLICT (tenant_id, model_id, text_sha256, document_id) DO NOTHING",
                placeholders.join(", ")
            );
            let mut adopt = sqlx::query(AssertSqlSafe(sql.as_str()))
                .bind(owner.tenant_id)
                .bind(model_id)
                .bind(owner.document_id);
            for hash in batch {
                adopt = adopt.bind(hash);
            }
            let mut tx = self.write_tx().await?;
            adopt.execute(&mut *tx).await?;
            let sql = format!(
                "SELECT text_sha256, vector FROM embeddings WHERE tenant_id = $1 \
                 AND model_id = $2 AND document_id = $3 AND text_sha256 IN ({})",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(AssertSqlSafe(sql.as_str()))
                .bind(owner.tenant_id)
                .bind(model_id)
                .bind(owner.document_id);
            for hash in batch {
                query = query.bind(hash);
            }
            for row in query.fetch_all(&mut *tx).await? {
                let hash: String = row.try_get("text_sha256")?;
                let bytes: Vec<u8> = row.try_get("vector")?;
                out.push((hash, decode_vector(&bytes)?));
            }
            tx.commit().await?;
        }
        Ok(out)
    }

    /// Stores the owner's vectors in the cache (existing entries are kept).
    pub async fn cache_embeddings(
        &self,
        owner: EmbeddingOwner<'_>,
        model_id: &str,
        entries: &[(String, Vec<f32>)],
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        for (hash, vector) in entries {
            sqlx::query(
                "INSERT INTO embeddings (tenant_id, model_id, text_sha256, document_id, vector) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (tenant_id, model_id, text_sha256, document_id) DO NOTHING",
            )
            .bind(owner.tenant_id)
            .bind(model_id)
            .bind(hash)
            .bind(owner.document_id)
            .bind(encode_vector(vector))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Removes the owner's embedding-cache entries (what an ingestion overtaken by
    /// the document's deletion may have written after the delete job ran).
    pub async fn forget_embeddings(&self, owner: EmbeddingOwner<'_>) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM embeddings WHERE tenant_id = $1 AND document_id = $2")
            .bind(owner.tenant_id)
            .bind(owner.document_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// How many embedding-cache entries a tenant (or one of its documents) has,
    /// under any model, for consistency checks.
    pub async fn embedding_count(
        &self,
        tenant_id: &str,
        document_id: Option<&str>,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query(
            "SELECT COUNT(*) AS n FROM embeddings WHERE tenant_id = $1 \
             AND ($2 = '' OR document_id = $2)",
        )
        .bind(tenant_id)
        .bind(document_id.unwrap_or(""))
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?)
    }
}

pub(super) fn encode_vector(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|v| v.to_le_bytes()).collect()
}

pub(super) fn decode_vector(bytes: &[u8]) -> Result<Vec<f32>, StoreError> {
    if !bytes.len().is_multiple_of(4) {
        return Err(StoreError::Corrupt(
            "embedding length is not a multiple of 4".into(),
        ));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}
