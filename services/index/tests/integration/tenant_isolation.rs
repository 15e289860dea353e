//! Tenant isolation, a product invariant: a search or count for tenant A never sees
//! tenant B's chunks, in BM25 or in vectors, whatever the tenants and documents are.

use std::collections::{HashMap, HashSet};

use folio_index::{Bm25Index, EdgeVectorStore, SearchFilter, VectorStore};
use proptest::prelude::*;
use uuid::Uuid;

use crate::common::{chunk, point_for, pseudo_vector, runtime};

const DIM: usize = 8;

/// Tenant ids chosen to collide under sloppy matching: prefixes, case, whitespace,
/// punctuation that query parsers treat specially.
fn tenant_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("acme".to_string()),
        Just("Acme".to_string()),
        Just("acme corp".to_string()),
        Just("acme-corp".to_string()),
        Just("acme:corp".to_string()),
        Just("ac".to_string()),
        "[a-z]{1,6}( [a-z]{1,3})?",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    #[test]
    fn a_tenant_never_sees_another_tenants_chunks(
        layout in prop::collection::vec((tenant_strategy(), 0usize..3, 1usize..4), 2..7),
        query_seed in 0u64..1000,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let bm25 = Bm25Index::open_or_create(&dir.path().join("bm25")).unwrap();
        let rt = runtime();
        let store = rt.block_on(async {
            let store = EdgeVectorStore::open(&dir.path().join("vectors")).await.unwrap();
            store.ensure_ready(DIM).await.unwrap();
            store
        });

        // Documents get the same ids across tenants on purpose: ids are not a security boundary.
        let mut owner: HashMap<Uuid, String> = HashMap::new();
        let mut chunks = Vec::new();
        for (i, (tenant, doc, n)) in layout.iter().enumerate() {
            for ordinal in 0..*n {
                let c = chunk(tenant, "shared", &format!("doc-{doc}"), 1, ordinal as u32, "Shared heading", &format!("shared clause number {i} {ordinal}"));
                owner.insert(c.chunk_id, tenant.clone());
                chunks.push(c);
            }
        }
        bm25.add(&chunks).unwrap();
        bm25.commit().unwrap();
        let points: Vec<_> = chunks.iter().enumerate().map(|(i, c)| point_for(c, pseudo_vector(i as u64, DIM))).collect();
        rt.block_on(store.upsert(&points)).unwrap();

        let tenants: HashSet<&String> = layout.iter().map(|(t, _, _)| t).collect();
        for tenant in tenants.iter().map(|t| t.as_str()).chain(["ACME", "acme corp ", "nobody"]) {
            let expected = owner.values().filter(|t| t.as_str() == tenant).count();
            let filters = [
                SearchFilter::tenant(tenant),
                SearchFilter::tenant(tenant).with_documents(["doc-0", "doc-1", "doc-2"]),
                SearchFilter::tenant(tenant).with_collections(["shared"]),
            ];
            for filter in &filters {
                let text_hits = bm25.search("shared clause heading", filter, 1000).unwrap();
                prop_assert!(text_hits.iter().all(|h| owner[&h.chunk_id] == tenant), "BM25 leaked into {tenant:?}");
                let query = pseudo_vector(query_seed, DIM);
                let vector_hits = rt.block_on(store.search(&query, filter, 1000)).unwrap();
                prop_assert!(vector_hits.iter().all(|h| owner[&h.chunk_id] == tenant), "vectors leaked into {tenant:?}");
                prop_assert_eq!(text_hits.len(), expected);
                prop_assert_eq!(vector_hits.len(), expected);
                prop_assert_eq!(bm25.count(filter).unwrap(), expected as u64);
                prop_assert_eq!(rt.block_on(store.count(filter)).unwrap(), expected as u64);
            }
        }
    }
}
