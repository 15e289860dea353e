//! Crash recovery: SIGKILL at random moments during ingestion, and
//! failure-injection points that abort the process at each stage boundary.

use std::time::Duration;

use crate::harness::{
    consistency, fixture, small_document_set, wait_all_ready, Server, CONTRACT_PDF, SMALL_CONTRACTS,
};

use crate::harness::SETTLE;

/// A tiny deterministic generator, so a failing run can be replayed by seed.
struct Lcg(u64);

impl Lcg {
    fn next_ms(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        lo + (self.0 >> 33) % (hi - lo)
    }
}

/// Kills here come from outside (an operator, the OOM killer elsewhere), many
/// per job, not from the job itself: lift the limit on claims that turns a
/// job killed `ingest.max_attempts` times into a `crashed_worker` failure.
const OPERATOR_KILLS: &[(&str, &str)] = &[("FOLIO__INGEST__MAX_ATTEMPTS", "1000")];

/// Kills the server `rounds` times at random moments (`lo..hi` ms after each
/// start), restarting it each time.
async fn kill_repeatedly(
    data: &std::path::Path,
    server: Server,
    rng: &mut Lcg,
    rounds: usize,
    (lo, hi): (u64, u64),
    phase: &str,
) -> Server {
    let mut server = server;
    for round in 0..rounds {
        let delay = rng.next_ms(lo, hi);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        server.kill();
        eprintln!("{phase} round {round}: killed after {delay} ms");
        server = Server::start(data, OPERATOR_KILLS);
    }
    server
}

/// `FOLIO_CRASH_ROUNDS` kills (default 3) during the first ingestion of a mixed
/// set, then as many while changed versions are re-ingested and a document is
/// deleted; afterwards every document is ready exactly once at its newest
/// version, the deleted one is gone, and the stores agree.
#[tokio::test(flavor = "multi_thread")]
async fn sigkill_during_ingestion_loses_nothing() {
    let seed = std::env::var("FOLIO_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261128u64);
    let rounds = std::env::var("FOLIO_CRASH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3usize);
    eprintln!("crash test seed {seed} (FOLIO_CRASH_SEED replays it), {rounds} kills per phase");
    let mut rng = Lcg(seed);
    let data = tempfile::tempdir().unwrap();
    let mut files = small_document_set();
    files.push(("contract.pdf".into(), fixture(CONTRACT_PDF)));
    let server = Server::start(data.path(), OPERATOR_KILLS);
    let named: Vec<(&str, Vec<u8>)> = files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    let (status, body) = server.upload(&named, "default").await;
    assert_eq!(status, 202, "{body}");
    let server =
        kill_repeatedly(data.path(), server, &mut rng, rounds, (300, 2500), "ingest").await;
    let docs = wait_all_ready(&server, files.len()).await;
    let mut names: Vec<&str> = docs.iter().map(|d| d["name"].as_str().unwrap()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), files.len(), "every document exactly once");

    // Phase 2: changed versions of two documents and a delete, under kills.
    let changed: Vec<(String, Vec<u8>)> = files[..2]
        .iter()
        .map(|(name, bytes)| {
            let mut bytes = bytes.clone();
            bytes.extend_from_slice(
                b"\n\nAMENDMENT NO. 1\n\nThe parties amend this agreement in writing.\n",
            );
            (name.clone(), bytes)
        })
        .collect();
    let named: Vec<(&str, Vec<u8>)> = changed
        .iter()
        .map(|(n, b)| (n.as_str(), b.clone()))
        .collect();
    let (status, body) = server.upload(&named, "default").await;
    assert_eq!(status, 202, "{body}");
    let victim = docs
        .iter()
        .find(|d| d["name"] == files[2].0.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, body) = server.delete(&format!("/v1/documents/{victim}")).await;
    assert_eq!(status, 202, "{body}");
    let server = kill_repeatedly(
        data.path(),
        server,
        &mut rng,
        rounds,
        (50, 1500),
        "re-ingest+delete",
    )
    .await;
    let docs = wait_all_ready(&server, files.len() - 1).await;
    let (status, _) = server.get(&format!("/v1/documents/{victim}")).await;
    assert_eq!(status, 404, "the deleted document stays deleted");
    for doc in &docs {
        let id = doc["id"].as_str().unwrap();
        crate::harness::assert_chunks_are_exact_slices(&server, id).await;
        let amended = changed.iter().any(|(name, _)| doc["name"] == name.as_str());
        let (_, text) = server.get(&format!("/v1/documents/{id}/text")).await;
        assert_eq!(
            text["text"].as_str().unwrap().contains("AMENDMENT NO. 1"),
            amended,
            "{}: the newest version is served",
            doc["name"]
        );
    }
    server.kill();
    let counts = consistency(data.path()).await;
    assert_eq!(
        counts.ready_documents as usize,
        files.len() - 1,
        "{counts:?}"
    );
    counts.assert_indexes_agree("stores");
    assert_eq!(
        (counts.open_jobs, counts.orphan_blobs),
        (0, 0),
        "{counts:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn abort_at_every_stage_boundary_then_recover() {
    let data = tempfile::tempdir().unwrap();
    let points = [
        "after_claim",
        "after_parse",
        "after_canonical_write",
        "after_chunk",
        "after_embed_batch",
        "after_bm25_commit",
        "after_vector_upsert",
        "before_db_commit",
        "after_db_commit",
    ];
    let base = fixture(SMALL_CONTRACTS[2]);
    for (i, point) in points.iter().enumerate() {
        let server = Server::start(
            data.path(),
            &[("FOLIO_FAILPOINTS", &format!("{point}=abort"))],
        );
        // Each round uploads a distinct document (its bytes differ).
        let mut bytes = base.clone();
        bytes.extend_from_slice(format!("\n\nSCHEDULE {i}\n\nRound {i} for {point}.\n").as_bytes());
        let (status, body) = server
            .upload(&[(&format!("doc-{i}.txt"), bytes)], "default")
            .await;
        assert_eq!(status, 202, "{body}");
        let exit = server.wait_exit(SETTLE);
        assert!(
            !exit.success(),
            "{point}: the armed failpoint aborts the process"
        );
        let server = Server::start(data.path(), &[]);
        wait_all_ready(&server, i + 1).await;
        server.kill();
        let counts = consistency(data.path()).await;
        assert_eq!(
            counts.ready_documents as usize,
            i + 1,
            "{point}: {counts:?}"
        );
        counts.assert_indexes_agree(point);
        assert_eq!(counts.orphan_blobs, 0, "{point}");
    }

    // A crash while re-ingesting a changed document: v2 wins, v1's entries go.
    let server = Server::start(
        data.path(),
        &[("FOLIO_FAILPOINTS", "after_bm25_commit=abort")],
    );
    let mut changed = base.clone();
    changed.extend_from_slice(b"\n\nSCHEDULE 0\n\nRound 0 for after_claim.\n\nAMENDED.\n");
    let (status, body) = server.upload(&[("doc-0.txt", changed)], "default").await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["documents"][0]["version"], 2);
    server.wait_exit(SETTLE);
    let server = Server::start(data.path(), &[]);
    wait_all_ready(&server, points.len()).await;
    server.kill();
    let counts = consistency(data.path()).await;
    counts.assert_indexes_agree("re-ingest");

    // A crash in the middle of a delete: it completes after the restart.
    let server = Server::start(
        data.path(),
        &[("FOLIO_FAILPOINTS", "delete_after_indexes=abort")],
    );
    let (_, list) = server.get("/v1/documents").await;
    let victim = list["documents"][0]["id"].as_str().unwrap().to_string();
    let (status, body) = server.delete(&format!("/v1/documents/{victim}")).await;
    assert_eq!(status, 202, "{body}");
    server.wait_exit(SETTLE);
    let server = Server::start(data.path(), &[]);
    wait_all_ready(&server, points.len() - 1).await;
    let (status, _) = server.get(&format!("/v1/documents/{victim}")).await;
    assert_eq!(status, 404);
    server.kill();
    let counts = consistency(data.path()).await;
    assert_eq!(counts.ready_documents as usize, points.len() - 1);
    counts.assert_indexes_agree("delete");
    assert_eq!(
        (counts.open_jobs, counts.orphan_blobs),
        (0, 0),
        "delete: {counts:?}"
    );
}
