//! One page of a tenant's list: documents, collections, API keys and jobs, in the
//! same order as the whole lists, so that consecutive pages tile them.

use sqlx::AssertSqlSafe;

use super::{
    api_key_from_row, collection_from_row, document_from_row, job_from_row, ApiKeyRecord,
    Collection, DocumentRecord, JobRecord, MetadataStore, StoreError, DOCUMENT_COLUMNS,
    DOCUMENT_JOINS, JOB_COLUMNS,
};

/// Which slice of a list to read: `limit` items after skipping `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Items wanted (at least 1).
    pub limit: usize,
    /// Items skipped.
    pub offset: usize,
}

/// The items of a page, and whether any follow it.
#[derive(Debug, Clone, PartialEq)]
pub struct PageOf<T> {
    /// At most `limit` items.
    pub items: Vec<T>,
    /// Whether the list goes on after this page.
    pub more: bool,
}

impl Page {
    /// The whole list, in one page.
    pub const ALL: Page = Page {
        limit: usize::MAX,
        offset: 0,
    };

    /// SQL's `LIMIT $a OFFSET $b` binds: one row more than wanted, to learn
    /// whether another page follows.
    fn binds(self) -> (i64, i64) {
        let clamp = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        (
            clamp(self.limit.max(1)).saturating_add(1),
            clamp(self.offset),
        )
    }

    fn cut<T>(self, mut items: Vec<T>) -> PageOf<T> {
        let more = items.len() > self.limit.max(1);
        items.truncate(self.limit.max(1));
        PageOf { items, more }
    }
}

impl MetadataStore {
    /// A page of [`MetadataStore::list_documents`].
    pub async fn list_documents_page(
        &self,
        tenant_id: &str,
        collection_id: Option<&str>,
        page: Page,
    ) -> Result<PageOf<DocumentRecord>, StoreError> {
        let sql = format!(
            "SELECT {DOCUMENT_COLUMNS} {DOCUMENT_JOINS} WHERE d.tenant_id = $1 \
             AND d.status <> 'deleting' AND ($2 = '' OR d.collection_id = $2) \
             ORDER BY d.created_at DESC, d.name, d.id LIMIT $3 OFFSET $4"
        );
        let (limit, offset) = page.binds();
        let rows = sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(tenant_id)
            .bind(collection_id.unwrap_or(""))
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
        let items = rows
            .iter()
            .map(document_from_row)
            .collect::<Result<_, _>>()?;
        Ok(page.cut(items))
    }

    /// A page of [`MetadataStore::list_collections`].
    pub async fn list_collections_page(
        &self,
        tenant_id: &str,
        page: Page,
    ) -> Result<PageOf<Collection>, StoreError> {
        let (limit, offset) = page.binds();
        let rows = sqlx::query(
            "SELECT id, tenant_id, name FROM collections WHERE tenant_id = $1 \
             ORDER BY name, id LIMIT $2 OFFSET $3",
        )
        .bind(tenant_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let items = rows
            .iter()
            .map(collection_from_row)
            .collect::<Result<_, _>>()?;
        Ok(page.cut(items))
    }

    /// A page of [`MetadataStore::list_api_keys`].
    pub async fn list_api_keys_page(
        &self,
        tenant_id: &str,
        page: Page,
    ) -> Result<PageOf<ApiKeyRecord>, StoreError> {
        let (limit, offset) = page.binds();
        let rows = sqlx::query(
            "SELECT id, tenant_id, name, role, hash, created_at, revoked_at FROM api_keys \
             WHERE tenant_id = $1 ORDER BY created_at, id LIMIT $2 OFFSET $3",
        )
        .bind(tenant_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let items = rows
            .iter()
            .map(api_key_from_row)
            .collect::<Result<_, _>>()?;
        Ok(page.cut(items))
    }

    /// A page of a tenant's jobs, newest first.
    pub async fn list_jobs_page(
        &self,
        tenant_id: &str,
        page: Page,
    ) -> Result<PageOf<JobRecord>, StoreError> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE tenant_id = $1 \
             ORDER BY created_at DESC, id LIMIT $2 OFFSET $3"
        );
        let (limit, offset) = page.binds();
        let rows = sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(tenant_id)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
        let items = rows.iter().map(job_from_row).collect::<Result<_, _>>()?;
        Ok(page.cut(items))
    }
}
