//! The metadata store's contract, run on every supported database.

use std::collections::HashSet;

use folio_store::{
    ApiKeyRecord, ChunkRecord, Dialect, DocumentStatus, EmbeddingOwner, FailureReason,
    IngestResult, JobKind, MetadataStore, NewVersion, StoreError, SubmitOutcome,
};
use sqlx::Connection;

/// Opens a fresh, empty store of each available kind.
async fn fresh_stores() -> Vec<(String, MetadataStore, Option<tempfile::TempDir>)> {
    let mut stores = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("folio.db").display());
    stores.push((
        "sqlite".to_string(),
        MetadataStore::connect(&url, 4).await.unwrap(),
        Some(dir),
    ));
    match std::env::var("FOLIO_TEST_POSTGRES_URL") {
        Ok(admin_url) => {
            let name = format!("folio_test_{}", uuid_like());
            sqlx::any::install_default_drivers();
            let mut admin = sqlx::AnyConnection::connect(&admin_url).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut admin)
                .await
                .unwrap();
            let base = admin_url.rsplit_once('/').map(|(b, _)| b).unwrap();
            let url = format!("{base}/{name}");
            stores.push((
                "postgres".to_string(),
                MetadataStore::connect(&url, 8).await.unwrap(),
                None,
            ));
        }
        Err(_) => eprintln!("FOLIO_TEST_POSTGRES_URL not set: PostgreSQL store tests skipped"),
    }
    stores
}

fn uuid_like() -> String {
    format!(
        "{:x}{:x}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

fn version<'a>(
    tenant: &'a str,
    collection: &'a str,
    name: &'a str,
    sha: &'a str,
) -> NewVersion<'a> {
    NewVersion {
        tenant_id: tenant,
        collection_id: collection,
        name,
        file_name: name,
        format: "text",
        sha256: sha,
        bytes: 10,
        blob_key: "t/blob",
    }
}

fn chunks(tenant: &str, collection: &str, doc: &str, version: i64, n: usize) -> Vec<ChunkRecord> {
    (0..n)
        .map(|i| ChunkRecord {
            id: format!("{doc}-{version}-{i}"),
            document_id: doc.to_string(),
            version,
            tenant_id: tenant.to_string(),
            collection_id: collection.to_string(),
            ordinal: i as i64,
            heading_path: vec!["Article 1".into()],
            char_start: (i * 10) as i64,
            char_end: (i * 10 + 9) as i64,
            page_start: 1,
            page_end: 1,
            token_count: 3,
            text: format!("chunk {i}"),
            context_header: None,
        })
        .collect()
}

fn result(chunks: Vec<ChunkRecord>) -> IngestResult {
    IngestResult {
        text_chars: 100,
        page_count: 1,
        section_count: 2,
        structure_json: "{}".into(),
        chunks,
    }
}

#[tokio::test]
async fn document_lifecycle_versions_and_dedup() {
    for (kind, store, _guard) in fresh_stores().await {
        let tenant = store.ensure_tenant("acme").await.unwrap();
        assert_eq!(
            store.ensure_tenant("acme").await.unwrap(),
            tenant,
            "{kind}: idempotent"
        );
        let coll = store
            .ensure_collection(&tenant.id, "contracts")
            .await
            .unwrap();

        let SubmitOutcome::Queued {
            document_id,
            version: 1,
            job_id,
        } = store
            .submit_version(&version(&tenant.id, &coll.id, "a.txt", "sha1"))
            .await
            .unwrap()
        else {
            panic!("{kind}: first upload must queue version 1")
        };
        let doc = store.get_document(&tenant.id, &document_id).await.unwrap();
        assert_eq!(doc.status, DocumentStatus::Queued);

        // Identical bytes: nothing to do.
        assert_eq!(
            store
                .submit_version(&version(&tenant.id, &coll.id, "a.txt", "sha1"))
                .await
                .unwrap(),
            SubmitOutcome::Unchanged {
                document_id: document_id.clone(),
                version: 1
            },
            "{kind}"
        );

        let job = store
            .claim_job("w1", 60_000, 5)
            .await
            .unwrap()
            .expect("a job");
        assert_eq!(job.id, job_id);
        assert_eq!(job.kind, JobKind::Ingest);
        assert!(
            store.claim_job("w2", 60_000, 5).await.unwrap().is_none(),
            "{kind}: leased"
        );
        assert!(store
            .complete_ingest(
                &job,
                &result(chunks(&tenant.id, &coll.id, &document_id, 1, 3))
            )
            .await
            .unwrap());
        let doc = store.get_document(&tenant.id, &document_id).await.unwrap();
        assert_eq!(doc.status, DocumentStatus::Ready, "{kind}");
        assert_eq!(doc.current_version, Some(1));
        assert_eq!(doc.chunk_count, Some(3));
        assert_eq!(
            store
                .document_chunks(&tenant.id, &document_id)
                .await
                .unwrap()
                .len(),
            3
        );

        // Changed bytes: version 2 replaces version 1's chunks atomically.
        let SubmitOutcome::Queued { version: 2, .. } = store
            .submit_version(&version(&tenant.id, &coll.id, "a.txt", "sha2"))
            .await
            .unwrap()
        else {
            panic!("{kind}: changed upload must queue version 2")
        };
        let doc = store.get_document(&tenant.id, &document_id).await.unwrap();
        assert_eq!(doc.status, DocumentStatus::Processing);
        assert_eq!(
            doc.current_version,
            Some(1),
            "{kind}: v1 keeps serving meanwhile"
        );
        let job = store.claim_job("w1", 60_000, 5).await.unwrap().unwrap();
        assert_eq!(job.version, 2);
        store
            .complete_ingest(
                &job,
                &result(chunks(&tenant.id, &coll.id, &document_id, 2, 5)),
            )
            .await
            .unwrap();
        let rows = store
            .document_chunks(&tenant.id, &document_id)
            .await
            .unwrap();
        assert_eq!(rows.len(), 5);
        assert!(rows.iter().all(|c| c.version == 2));
        let versions = store.list_versions(&tenant.id, &document_id).await.unwrap();
        assert_eq!(
            versions
                .iter()
                .map(|v| v.status.as_str())
                .collect::<Vec<_>>(),
            vec!["superseded", "ready"],
            "{kind}: old version kept as a record"
        );
        let purge = store.claim_job("w1", 60_000, 5).await.unwrap().unwrap();
        assert_eq!((purge.kind, purge.version), (JobKind::PurgeVersion, 1));
        store.complete_job(&purge.id).await.unwrap();

        // Delete hides at once and removes every row at the end.
        store
            .request_delete(&tenant.id, &document_id)
            .await
            .unwrap();
        assert!(store
            .list_documents(&tenant.id, None)
            .await
            .unwrap()
            .is_empty());
        assert!(store
            .chunks_by_ids(&tenant.id, &[rows[0].id.clone()])
            .await
            .unwrap()
            .is_empty());
        let delete = store.claim_job("w1", 60_000, 5).await.unwrap().unwrap();
        assert_eq!(delete.kind, JobKind::Delete);
        store.purge_document_rows(&document_id).await.unwrap();
        store.complete_job(&delete.id).await.unwrap();
        let counts = store.counts().await.unwrap();
        assert_eq!((counts.chunks, counts.open_jobs), (0, 0), "{kind}");
    }
}

#[tokio::test]
async fn failures_keep_the_previous_version_serving() {
    for (kind, store, _guard) in fresh_stores().await {
        let t = store.ensure_tenant("t").await.unwrap();
        let c = store.ensure_collection(&t.id, "c").await.unwrap();
        store
            .submit_version(&version(&t.id, &c.id, "bad.pdf", "s1"))
            .await
            .unwrap();
        let job = store.claim_job("w", 60_000, 5).await.unwrap().unwrap();
        let reason = FailureReason {
            code: "pdf_encrypted".into(),
            message: "encrypted".into(),
        };
        store.fail_ingest(&job, &reason).await.unwrap();
        let doc = store.get_document(&t.id, &job.document_id).await.unwrap();
        assert_eq!(doc.status, DocumentStatus::Failed, "{kind}");
        assert_eq!(doc.error, Some(reason.clone()));
        // The same bytes again are retried (the last attempt failed).
        assert!(matches!(
            store
                .submit_version(&version(&t.id, &c.id, "bad.pdf", "s1"))
                .await
                .unwrap(),
            SubmitOutcome::Queued { version: 2, .. }
        ));
        let job = store.claim_job("w", 60_000, 5).await.unwrap().unwrap();
        store
            .complete_ingest(&job, &result(chunks(&t.id, &c.id, &job.document_id, 2, 1)))
            .await
            .unwrap();
        store
            .submit_version(&version(&t.id, &c.id, "bad.pdf", "s3"))
            .await
            .unwrap();
        let job = store.claim_job("w", 60_000, 5).await.unwrap().unwrap();
        store.fail_ingest(&job, &reason).await.unwrap();
        let doc = store.get_document(&t.id, &job.document_id).await.unwrap();
        assert_eq!(doc.status, DocumentStatus::Ready, "{kind}: v2 still serves");
        assert_eq!(doc.current_version, Some(2));
        assert!(doc.error.is_some(), "{kind}: the failure of v3 is visible");
    }
}

#[tokio::test]
async fn expired_leases_are_reclaimed_and_capped() {
    for (kind, store, _guard) in fresh_stores().await {
        let t = store.ensure_tenant("t").await.unwrap();
        let c = store.ensure_collection(&t.id, "c").await.unwrap();
        store
            .submit_version(&version(&t.id, &c.id, "a", "s"))
            .await
            .unwrap();
        let first = store
            .claim_job("dead-worker", -1, 3)
            .await
            .unwrap()
            .unwrap();
        let second = store
            .claim_job("w2", -1, 3)
            .await
            .unwrap()
            .expect("expired lease reclaimed");
        assert_eq!(first.id, second.id, "{kind}");
        assert_eq!(second.attempts, 2);
        assert!(
            !store
                .renew_lease(&first.id, "dead-worker", 1000)
                .await
                .unwrap(),
            "{kind}: lost lease"
        );
        let third = store.claim_job("w3", -1, 3).await.unwrap().unwrap();
        assert_eq!(third.attempts, 3);
        assert!(
            store.claim_job("w4", -1, 3).await.unwrap().is_none(),
            "{kind}: capped"
        );
        let job = store.get_job(&t.id, &first.id).await.unwrap();
        assert_eq!(job.status, "failed");
        assert_eq!(job.error.unwrap().code, "crashed_worker");
        let doc = store.get_document(&t.id, &job.document_id).await.unwrap();
        assert_eq!(doc.status, DocumentStatus::Failed, "{kind}");
    }
}

/// The single-process restart path: a crash leaves the job running, the
/// restart requeues it, and the claim counts; after `max_attempts` claims the
/// requeued job is failed with `crashed_worker` instead of being claimed
/// again, and the next job is claimed in its place.
#[tokio::test]
async fn requeued_jobs_that_keep_crashing_fail_for_good() {
    for (kind, store, _guard) in fresh_stores().await {
        let t = store.ensure_tenant("t").await.unwrap();
        let c = store.ensure_collection(&t.id, "c").await.unwrap();
        store
            .submit_version(&version(&t.id, &c.id, "poison", "s1"))
            .await
            .unwrap();
        let mut poison = None;
        for attempt in 1..=3 {
            let job = store.claim_job("w", 60_000, 3).await.unwrap().unwrap();
            assert_eq!(job.attempts, attempt, "{kind}");
            poison = Some(job);
            // The process dies; the next start requeues what was running.
            assert_eq!(store.requeue_interrupted_jobs().await.unwrap(), 1, "{kind}");
        }
        let poison = poison.unwrap();
        store
            .submit_version(&version(&t.id, &c.id, "healthy", "s2"))
            .await
            .unwrap();
        let next = store.claim_job("w", 60_000, 3).await.unwrap().unwrap();
        assert_ne!(
            next.id, poison.id,
            "{kind}: the poison job is not claimed a fourth time"
        );
        let failed = store.get_job(&t.id, &poison.id).await.unwrap();
        assert_eq!(failed.status, "failed", "{kind}");
        assert_eq!(failed.error.unwrap().code, "crashed_worker", "{kind}");
    }
}

#[tokio::test]
async fn concurrent_claims_never_share_a_job() {
    for (kind, store, _guard) in fresh_stores().await {
        let t = store.ensure_tenant("t").await.unwrap();
        let c = store.ensure_collection(&t.id, "c").await.unwrap();
        for i in 0..20 {
            store
                .submit_version(&version(&t.id, &c.id, &format!("d{i}"), "s"))
                .await
                .unwrap();
        }
        let mut tasks = Vec::new();
        for w in 0..4 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    match store.claim_job(&format!("w{w}"), 60_000, 5).await {
                        Ok(Some(job)) => mine.push(job.id),
                        Ok(None) => break,
                        Err(e) => panic!("claim failed under contention: {e}"),
                    }
                }
                mine
            }));
        }
        let mut all = Vec::new();
        for task in tasks {
            all.extend(task.await.unwrap());
        }
        let unique: HashSet<_> = all.iter().collect();
        assert_eq!(all.len(), 20, "{kind}: every job claimed");
        assert_eq!(unique.len(), 20, "{kind}: no job claimed twice");
    }
}

#[tokio::test]
async fn collections_are_found_by_name_or_id_within_their_tenant() {
    for (kind, store, _guard) in fresh_stores().await {
        let a = store.ensure_tenant("a").await.unwrap();
        let b = store.ensure_tenant("b").await.unwrap();
        let contracts = store.ensure_collection(&a.id, "contracts").await.unwrap();
        let find = |tenant: String, name: String| {
            let store = store.clone();
            async move {
                store
                    .collection_by_name_or_id(&tenant, &name)
                    .await
                    .unwrap()
            }
        };
        assert_eq!(
            find(a.id.clone(), "contracts".into()).await,
            Some(contracts.clone()),
            "{kind}"
        );
        assert_eq!(
            find(a.id.clone(), contracts.id.clone()).await,
            Some(contracts.clone()),
            "{kind}"
        );
        assert_eq!(find(b.id.clone(), "contracts".into()).await, None, "{kind}");
        assert_eq!(
            find(b.id.clone(), contracts.id.clone()).await,
            None,
            "{kind}"
        );
        // A collection named like another's id: the name wins.
        let confusing = store.ensure_collection(&a.id, &contracts.id).await.unwrap();
        assert_eq!(
            find(a.id.clone(), contracts.id.clone()).await,
            Some(confusing),
            "{kind}"
        );
    }
}

#[tokio::test]
async fn tenants_never_see_each_other() {
    for (kind, store, _guard) in fresh_stores().await {
        let a = store.ensure_tenant("a").await.unwrap();
        let b = store.ensure_tenant("b").await.unwrap();
        let ca = store.ensure_collection(&a.id, "shared-name").await.unwrap();
        let cb = store.ensure_collection(&b.id, "shared-name").await.unwrap();
        assert_ne!(ca.id, cb.id);
        store
            .submit_version(&version(&a.id, &ca.id, "secret", "s"))
            .await
            .unwrap();
        let job = store.claim_job("w", 60_000, 5).await.unwrap().unwrap();
        let rows = chunks(&a.id, &ca.id, &job.document_id, 1, 2);
        store
            .complete_ingest(&job, &result(rows.clone()))
            .await
            .unwrap();
        let ids: Vec<String> = rows.iter().map(|c| c.id.clone()).collect();
        assert_eq!(
            store.chunks_by_ids(&a.id, &ids).await.unwrap().len(),
            2,
            "{kind}"
        );
        assert!(
            store.chunks_by_ids(&b.id, &ids).await.unwrap().is_empty(),
            "{kind}"
        );
        assert!(matches!(
            store.get_document(&b.id, &job.document_id).await,
            Err(StoreError::NotFound(_))
        ));
        assert!(store
            .document_chunks(&b.id, &job.document_id)
            .await
            .unwrap()
            .is_empty());
        assert!(store.list_documents(&b.id, None).await.unwrap().is_empty());
        assert!(matches!(
            store.request_delete(&b.id, &job.document_id).await,
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            store.get_job(&b.id, &job.id).await,
            Err(StoreError::NotFound(_))
        ));
    }
}

#[tokio::test]
async fn tenants_and_api_keys_round_trip_and_stay_in_their_tenant() {
    for (kind, store, _guard) in fresh_stores().await {
        let acme = store.create_tenant("acme").await.unwrap();
        assert!(
            matches!(
                store.create_tenant("acme").await,
                Err(StoreError::Conflict(_))
            ),
            "{kind}: tenant names are unique"
        );
        assert_eq!(store.find_tenant("acme").await.unwrap(), Some(acme.clone()));
        assert_eq!(store.find_tenant("nobody").await.unwrap(), None);
        let other = store.ensure_tenant("other").await.unwrap();
        let names: Vec<String> = store
            .list_tenants()
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.name)
            .collect();
        assert_eq!(names, ["acme", "other"], "{kind}");

        let key = ApiKeyRecord {
            id: "0123456789abcdef".into(),
            tenant_id: acme.id.clone(),
            name: "ci".into(),
            role: "editor".into(),
            hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            created_at: 1,
            revoked_at: None,
        };
        store.insert_api_key(&key).await.unwrap();
        assert_eq!(
            store.api_key(&key.id).await.unwrap(),
            Some(key.clone()),
            "{kind}"
        );
        assert_eq!(store.active_api_key_count().await.unwrap(), 1);
        assert_eq!(
            store.list_api_keys(&acme.id).await.unwrap(),
            vec![key.clone()]
        );
        assert!(store.list_api_keys(&other.id).await.unwrap().is_empty());
        // Another tenant cannot revoke it; its own tenant can, once.
        assert!(matches!(
            store.revoke_api_key(&other.id, &key.id).await,
            Err(StoreError::NotFound(_))
        ));
        store.revoke_api_key(&acme.id, &key.id).await.unwrap();
        store.revoke_api_key(&acme.id, &key.id).await.unwrap();
        let revoked = store.api_key(&key.id).await.unwrap().unwrap();
        assert!(revoked.revoked_at.is_some(), "{kind}");
        assert_eq!(store.active_api_key_count().await.unwrap(), 0);
    }
}

#[tokio::test]
async fn embedding_cache_round_trips() {
    for (kind, store, _guard) in fresh_stores().await {
        let owner = EmbeddingOwner {
            tenant_id: "t",
            document_id: "d",
        };
        let entries = vec![
            ("h1".to_string(), vec![0.5f32, -1.25, 3.0]),
            ("h2".to_string(), vec![0.0; 3]),
        ];
        store.cache_embeddings(owner, "m", &entries).await.unwrap();
        store.cache_embeddings(owner, "m", &entries).await.unwrap();
        let mut got = store
            .cached_embeddings(owner, "m", &["h1".into(), "h2".into(), "h3".into()])
            .await
            .unwrap();
        got.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(got, entries, "{kind}");
        assert!(store
            .cached_embeddings(owner, "other-model", &["h1".into()])
            .await
            .unwrap()
            .is_empty());
    }
}

/// The cache belongs to a tenant's documents: another tenant never reads it, a
/// deleted document's entries go, and a text another live document of the same
/// tenant has stays cached.
#[tokio::test]
async fn deleting_a_document_deletes_its_cached_embeddings_unless_still_live() {
    for (kind, store, _guard) in fresh_stores().await {
        let owner = |tenant_id, document_id| EmbeddingOwner {
            tenant_id,
            document_id,
        };
        let hashes = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        let found = |got: Vec<(String, Vec<f32>)>| {
            let mut names: Vec<String> = got.into_iter().map(|(hash, _)| hash).collect();
            names.sort();
            names
        };
        let entries = vec![
            ("shared".to_string(), vec![1.0f32, 2.0]),
            ("only-first".to_string(), vec![3.0f32, 4.0]),
        ];
        store
            .cache_embeddings(owner("t", "first"), "m", &entries)
            .await
            .unwrap();
        // The second document has the shared text too: the lookup makes it its own.
        let second = store
            .cached_embeddings(owner("t", "second"), "m", &hashes(&["shared", "new"]))
            .await
            .unwrap();
        assert_eq!(
            second,
            vec![("shared".to_string(), vec![1.0, 2.0])],
            "{kind}"
        );
        // Another tenant with the same texts finds nothing.
        assert!(store
            .cached_embeddings(owner("u", "other"), "m", &hashes(&["shared", "only-first"]))
            .await
            .unwrap()
            .is_empty());
        assert_eq!(store.embedding_count("u", None).await.unwrap(), 0, "{kind}");
        assert_eq!(store.embedding_count("t", None).await.unwrap(), 3, "{kind}");

        store.purge_document_rows("first").await.unwrap();
        assert_eq!(store.embedding_count("t", None).await.unwrap(), 1, "{kind}");
        let third = store
            .cached_embeddings(owner("t", "third"), "m", &hashes(&["shared", "only-first"]))
            .await
            .unwrap();
        assert_eq!(
            found(third),
            vec!["shared"],
            "{kind}: only the live text stays cached"
        );

        assert_eq!(
            store.forget_embeddings(owner("t", "second")).await.unwrap(),
            1,
            "{kind}"
        );
        store.purge_document_rows("third").await.unwrap();
        assert_eq!(store.embedding_count("t", None).await.unwrap(), 0, "{kind}");
    }
}

#[tokio::test]
async fn concurrent_uploads_and_progress_never_see_a_locked_database() {
    for (kind, store, _guard) in fresh_stores().await {
        let t = store.ensure_tenant("t").await.unwrap();
        let c = store.ensure_collection(&t.id, "c").await.unwrap();
        let mut tasks = Vec::new();
        for w in 0..4 {
            let (store, tenant, coll) = (store.clone(), t.id.clone(), c.id.clone());
            tasks.push(tokio::spawn(async move {
                for i in 0..15 {
                    let name = format!("w{w}-d{i}");
                    store
                        .submit_version(&version(&tenant, &coll, &name, "s"))
                        .await
                        .unwrap();
                    if let Some(job) = store.claim_job(&format!("w{w}"), 60_000, 5).await.unwrap() {
                        let progress = folio_store::JobProgress {
                            stage: folio_store::JobStage::Embedding,
                            progress: 0.5,
                            chunks_done: 1,
                            chunks_total: 2,
                        };
                        store.update_progress(&job.id, &progress).await.unwrap();
                        store
                            .complete_ingest(
                                &job,
                                &result(chunks(&tenant, &coll, &job.document_id, job.version, 2)),
                            )
                            .await
                            .unwrap();
                    }
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(
            store.list_documents(&t.id, None).await.unwrap().len(),
            60,
            "{kind}"
        );
    }
}

#[test]
fn store_urls_name_their_database() {
    for (url, dialect) in [
        ("sqlite:///var/lib/folio/folio.db", Dialect::Sqlite),
        ("postgres://folio@db/folio", Dialect::Postgres),
        ("postgresql://folio@db/folio", Dialect::Postgres),
    ] {
        assert_eq!(Dialect::of_url(url).ok(), Some(dialect), "{url}");
    }
    assert_eq!(Dialect::Postgres.name(), "postgres");
    assert!(matches!(
        Dialect::of_url("mysql://db/folio"),
        Err(StoreError::UnsupportedUrl(_))
    ));
}
