//! Collections: named groups of a tenant's documents.

use super::*;

impl MetadataStore {
    /// Returns the collection `name` of a tenant, creating it if needed.
    pub async fn ensure_collection(
        &self,
        tenant_id: &str,
        name: &str,
    ) -> Result<Collection, StoreError> {
        sqlx::query(
            "INSERT INTO collections (id, tenant_id, name, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id, name) DO NOTHING",
        )
        .bind(new_id())
        .bind(tenant_id)
        .bind(name)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        self.find_collection(tenant_id, name)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("collection {name}")))
    }

    /// The collection `name` of a tenant, if it exists.
    pub async fn find_collection(
        &self,
        tenant_id: &str,
        name: &str,
    ) -> Result<Option<Collection>, StoreError> {
        let row = sqlx::query(
            "SELECT id, tenant_id, name FROM collections WHERE tenant_id = $1 AND name = $2",
        )
        .bind(tenant_id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(collection_from_row).transpose()
    }

    /// The tenant's collection with this name, or else with this id.
    pub async fn collection_by_name_or_id(
        &self,
        tenant_id: &str,
        name_or_id: &str,
    ) -> Result<Option<Collection>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, tenant_id, name FROM collections \
             WHERE tenant_id = $1 AND (name = $2 OR id = $2)",
        )
        .bind(tenant_id)
        .bind(name_or_id)
        .fetch_all(&self.pool)
        .await?;
        // A name that is also another collection's id means the named one.
        let named = rows.iter().position(|row| {
            row.try_get::<String, _>("name")
                .is_ok_and(|name| name == name_or_id)
        });
        named
            .or((!rows.is_empty()).then_some(0))
            .map(|at| collection_from_row(&rows[at]))
            .transpose()
    }

    /// Every collection of a tenant, by name.
    pub async fn list_collections(&self, tenant_id: &str) -> Result<Vec<Collection>, StoreError> {
        Ok(self
            .list_collections_page(tenant_id, Page::ALL)
            .await?
            .items)
    }
}

pub(super) fn collection_from_row(row: &AnyRow) -> Result<Collection, StoreError> {
    Ok(Collection {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        name: row.try_get("name")?,
    })
}
