//! Pages of the list queries tile the whole lists, in the same order.

use folio_store::{ApiKeyRecord, MetadataStore, NewVersion, Page, PageOf};

/// Reads every page of `limit` items through `read` and returns them in order.
async fn all_pages<T, F, Fut>(limit: usize, read: F) -> Vec<T>
where
    F: Fn(Page) -> Fut,
    Fut: std::future::Future<Output = PageOf<T>>,
{
    let mut items = Vec::new();
    let mut offset = 0;
    loop {
        let page = read(Page { limit, offset }).await;
        assert!(page.items.len() <= limit);
        let more = page.more;
        offset += page.items.len();
        items.extend(page.items);
        if !more {
            return items;
        }
    }
}

#[tokio::test]
async fn pages_tile_documents_collections_keys_and_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("folio.db").display());
    let store = MetadataStore::connect(&url, 4).await.unwrap();
    let tenant = store.ensure_tenant("paged").await.unwrap();
    let other = store.ensure_tenant("other").await.unwrap();
    for i in 0..5 {
        let collection = store
            .ensure_collection(&tenant.id, &format!("c{i}"))
            .await
            .unwrap();
        let name = format!("d{i}.txt");
        let sha = format!("sha{i}");
        store
            .submit_version(&NewVersion {
                tenant_id: &tenant.id,
                collection_id: &collection.id,
                name: &name,
                file_name: &name,
                format: "text",
                sha256: &sha,
                bytes: 10,
                blob_key: "t/blob",
            })
            .await
            .unwrap();
        for owner in [&tenant.id, &other.id] {
            store
                .insert_api_key(&ApiKeyRecord {
                    id: format!("{owner}-{i}"),
                    tenant_id: owner.clone(),
                    name: format!("k{i}"),
                    role: "viewer".into(),
                    hash: "h".into(),
                    created_at: i,
                    revoked_at: None,
                })
                .await
                .unwrap();
        }
    }
    let t = tenant.id.as_str();
    let store = &store;
    for limit in [1, 2, 5, 7] {
        let documents = all_pages(limit, |page| async move {
            store.list_documents_page(t, None, page).await.unwrap()
        })
        .await;
        let whole = store.list_documents(t, None).await.unwrap();
        let ids = |d: &[folio_store::DocumentRecord]| -> Vec<String> {
            d.iter().map(|d| d.id.clone()).collect()
        };
        assert_eq!(ids(&documents), ids(&whole), "documents by {limit}");
        assert_eq!(whole.len(), 5);

        let collections = all_pages(limit, |page| async move {
            store.list_collections_page(t, page).await.unwrap()
        })
        .await;
        assert_eq!(collections, store.list_collections(t).await.unwrap());

        let keys = all_pages(limit, |page| async move {
            store.list_api_keys_page(t, page).await.unwrap()
        })
        .await;
        let whole_keys = store.list_api_keys(t).await.unwrap();
        assert_eq!(keys.len(), 5, "another tenant's keys stay out");
        assert_eq!(
            keys.iter().map(|k| &k.id).collect::<Vec<_>>(),
            whole_keys.iter().map(|k| &k.id).collect::<Vec<_>>()
        );

        let jobs = all_pages(limit, |page| async move {
            store.list_jobs_page(t, page).await.unwrap()
        })
        .await;
        let whole_jobs = store.list_jobs(t, 1000).await.unwrap();
        assert_eq!(
            jobs.iter().map(|j| &j.id).collect::<Vec<_>>(),
            whole_jobs.iter().map(|j| &j.id).collect::<Vec<_>>()
        );
        assert_eq!(jobs.len(), 5);
    }
    let past_the_end = store
        .list_documents_page(
            t,
            None,
            Page {
                limit: 2,
                offset: 10,
            },
        )
        .await
        .unwrap();
    assert!(past_the_end.items.is_empty() && !past_the_end.more);
}
