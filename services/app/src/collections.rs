//! Collections: the one rule for their names and the one way a name (or id)
//! becomes a collection of the tenant.

use folio_store::{Collection, Page, PageOf};

use crate::runtime::Runtime;
use crate::AppError;

/// A collection name as given, trimmed; refused when empty, over 200
/// characters or holding control characters.
pub fn checked_name(raw: &str) -> Result<String, AppError> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(AppError::InvalidCollectionName);
    }
    Ok(name.to_string())
}

/// The tenant's collections, a page at a time.
pub async fn list(
    runtime: &Runtime,
    tenant: &str,
    page: Page,
) -> Result<PageOf<Collection>, AppError> {
    Ok(runtime.store.list_collections_page(tenant, page).await?)
}

/// The collection of that name, created if needed (idempotent).
pub async fn ensure(
    runtime: &Runtime,
    tenant: &str,
    raw_name: &str,
) -> Result<Collection, AppError> {
    let name = checked_name(raw_name)?;
    Ok(runtime.store.ensure_collection(tenant, &name).await?)
}

/// The collection a name or id refers to in the tenant.
pub async fn find(runtime: &Runtime, tenant: &str, name: &str) -> Result<Collection, AppError> {
    let mut found = resolve(runtime, tenant, std::slice::from_ref(&name.to_string())).await?;
    found
        .pop()
        .ok_or_else(|| AppError::CollectionNotFound(name.to_string()))
}

/// The collections that names (or ids) refer to, in order; the first unknown
/// one is [`AppError::CollectionNotFound`].
pub async fn resolve(
    runtime: &Runtime,
    tenant: &str,
    names: &[String],
) -> Result<Vec<Collection>, AppError> {
    // One indexed lookup per name (their number is capped by
    // `limits.max_filter_items`), not a scan of the tenant's collections.
    let mut found = Vec::with_capacity(names.len());
    for name in names {
        let collection = runtime
            .store
            .collection_by_name_or_id(tenant, name)
            .await?
            .ok_or_else(|| AppError::CollectionNotFound(name.clone()))?;
        found.push(collection);
    }
    Ok(found)
}

/// Ids of [`resolve`]'s collections: a search or question's collection filter.
pub async fn resolve_ids(
    runtime: &Runtime,
    tenant: &str,
    names: &[String],
) -> Result<Vec<String>, AppError> {
    Ok(resolve(runtime, tenant, names)
        .await?
        .into_iter()
        .map(|c| c.id)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(checked_name("  contracts ").unwrap(), "contracts");
        assert!(matches!(
            checked_name("   "),
            Err(AppError::InvalidCollectionName)
        ));
        assert!(checked_name(&"é".repeat(200)).is_ok());
        assert!(checked_name(&"é".repeat(201)).is_err());
        assert!(checked_name("a\u{7}b").is_err());
    }
}
