//! A generated index of any size for `folio bench retrieve --synthetic-chunks N`.
//!
//! Embedding a million chunks would take hours on a small machine, so the generator
//! embeds a pool of real sentences from a document set once and builds every chunk
//! from pool sentences: its text is their concatenation (numbers redrawn, so the
//! vocabulary keeps growing as real filings do) and its vector the normalised mean of
//! their embeddings plus a little noise. A chunk longer than the configured passage
//! window also gets window vectors, as ingestion writes them: its sentences split into
//! that many consecutive runs, each run's vector built the same way. Each document draws from its own window of
//! the pool, so a document's chunks share vocabulary as real ones do. The rows,
//! full-text entries and vector points go through the same store and index APIs as
//! ingestion, so searches over the result exercise exactly the production paths.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use folio_index::{IndexedChunk, PointPayload, VectorPoint};
use folio_ingest::pipeline::chunk_id;
use folio_store::{ChunkRecord, IngestResult, NewVersion, SubmitOutcome};
use serde::{Deserialize, Serialize};

use folio_app::Runtime;

/// Written last into the data directory: its presence means the index is complete.
const MANIFEST: &str = "synthetic.json";
/// Bumped whenever the generated text or vectors change, so that an index built
/// by another version is never measured as if it were this one's.
const GENERATOR_VERSION: u32 = 3;
/// Characters per embedder token in English prose (all-MiniLM-L6-v2's WordPiece), used
/// to lay out a generated chunk's passage windows without tokenising it.
const CHARS_PER_TOKEN: usize = 4;
/// Documents' heading paths cycle through these so that headings are indexed too.
const HEADINGS: [&str; 6] = [
    "Article 1 › Definitions",
    "Article 4 › Payment Terms",
    "Item 7 › Management's Discussion and Analysis",
    "Item 8 › Financial Statements",
    "Section 12 › Termination",
    "Schedule A › Pricing",
];

/// The shape of a generated index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyntheticSpec {
    /// Chunks in all.
    pub chunks: usize,
    /// Chunks per document.
    pub chunks_per_document: usize,
    /// Sentences embedded to build vectors from.
    pub pool_sentences: usize,
    /// Seed of every random choice.
    pub seed: u64,
    /// The passage window in tokens (`ingest.embed_passage_window`; 0: whole-chunk
    /// vectors only).
    pub passage_window: usize,
    /// [`GENERATOR_VERSION`] of the code that built it.
    pub generator: u32,
}

/// What building the index took.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SyntheticManifest {
    /// The shape.
    pub spec: SyntheticSpec,
    /// Seconds spent embedding the sentence pool.
    pub embed_pool_s: f64,
    /// Seconds spent writing rows, full-text entries and vectors.
    pub write_s: f64,
    /// Seconds spent in the vector store's optimiser (index building).
    pub optimize_s: f64,
    /// Mean characters per chunk.
    pub mean_chunk_chars: f64,
}

impl SyntheticSpec {
    /// The shape of an index of `chunks` chunks built by this version.
    pub fn new(
        chunks: usize,
        chunks_per_document: usize,
        pool_sentences: usize,
        seed: u64,
        passage_window: usize,
    ) -> Self {
        SyntheticSpec {
            chunks,
            chunks_per_document,
            pool_sentences,
            seed,
            passage_window,
            generator: GENERATOR_VERSION,
        }
    }
}

/// Returns the manifest of the index in the runtime's data directory, building the
/// index first unless a complete one of the same shape is already there.
pub async fn ensure(
    runtime: &Runtime,
    spec: &SyntheticSpec,
    sentences_from: &Path,
) -> Result<SyntheticManifest> {
    let manifest_path = runtime.config.data_dir.join(MANIFEST);
    if let Ok(text) = std::fs::read_to_string(&manifest_path) {
        if let Ok(manifest) = serde_json::from_str::<SyntheticManifest>(&text) {
            if manifest.spec == *spec {
                return Ok(manifest);
            }
        }
        anyhow::bail!(
            "{} holds a synthetic index of another shape; remove the directory or choose another --synthetic-dir",
            runtime.config.data_dir.display()
        );
    }
    let existing = runtime.store.counts().await?.chunks;
    anyhow::ensure!(
        existing == 0,
        "{} already holds {existing} chunks but no complete synthetic index (an interrupted build?); remove it first",
        runtime.config.data_dir.display()
    );
    let manifest = build(runtime, spec, sentences_from).await?;
    std::fs::write(&manifest_path, serde_json::to_string_pretty(&manifest)?)?;
    Ok(manifest)
}

async fn build(
    runtime: &Runtime,
    spec: &SyntheticSpec,
    sentences_from: &Path,
) -> Result<SyntheticManifest> {
    anyhow::ensure!(
        spec.chunks > 0 && spec.chunks_per_document > 0,
        "the synthetic index needs chunks"
    );
    let mut rng = SplitMix64(spec.seed);
    let mut sentences = read_sentences(sentences_from)?;
    anyhow::ensure!(
        sentences.len() >= 100,
        "only {} usable sentences under {}",
        sentences.len(),
        sentences_from.display()
    );
    // A spread sample in source order: windows of the pool stay topical.
    if sentences.len() > spec.pool_sentences {
        let step = sentences.len() as f64 / spec.pool_sentences as f64;
        sentences = (0..spec.pool_sentences)
            .map(|i| sentences[(i as f64 * step) as usize].clone())
            .collect();
    }
    let started = Instant::now();
    let embedder = std::sync::Arc::clone(&runtime.indexes.embedder);
    let pool_text = sentences.clone();
    let vectors = tokio::task::spawn_blocking(move || embedder.embed(&pool_text)).await??;
    let embed_pool_s = started.elapsed().as_secs_f64();
    eprintln!(
        "embedded {} pool sentences in {embed_pool_s:.1} s",
        sentences.len()
    );

    let started = Instant::now();
    let store = &runtime.store;
    let indexes = &runtime.indexes;
    let tenant = &runtime.tenant.id;
    let collection = store.ensure_collection(tenant, "synthetic").await?;
    let documents = spec.chunks.div_ceil(spec.chunks_per_document);
    let window = (sentences.len() / 8).clamp(50, 4000);
    let mut total_chars = 0usize;
    let mut written = 0usize;
    for doc in 0..documents {
        let name = format!("synthetic-{doc:06}.txt");
        let digest = format!("{:064x}", doc as u128 + ((spec.seed as u128) << 64));
        let submitted = store
            .submit_version(&NewVersion {
                tenant_id: tenant,
                collection_id: &collection.id,
                name: &name,
                file_name: &name,
                format: "txt",
                sha256: &digest,
                bytes: 0,
                blob_key: &format!("synthetic/{doc}"),
            })
            .await?;
        let SubmitOutcome::Queued {
            document_id,
            version,
            job_id,
        } = submitted
        else {
            anyhow::bail!("{name} was already present");
        };
        let job = store
            .claim_job("synthetic-builder", 600_000, 3)
            .await?
            .filter(|job| job.id == job_id)
            .context("the synthetic document's job was not the next in the queue")?;

        let count = spec.chunks_per_document.min(spec.chunks - written);
        let window_start = rng.below(sentences.len().saturating_sub(window).max(1));
        let mut records = Vec::with_capacity(count);
        let mut entries = Vec::with_capacity(count);
        let mut points = Vec::with_capacity(count);
        let mut offset = 0i64;
        for ordinal in 0..count {
            let target_chars = 600 + rng.below(900);
            let mut text = String::new();
            // Each picked sentence and the character offset of its middle.
            let mut picks: Vec<(usize, usize)> = Vec::new();
            while text.len() < target_chars {
                let pick = window_start + rng.below(window.min(sentences.len()));
                if !text.is_empty() {
                    text.push(' ');
                }
                let start = text.len();
                redraw_numbers(&sentences[pick], &mut rng, &mut text);
                picks.push((pick, (start + text.len()) / 2));
            }
            let all: Vec<usize> = picks.iter().map(|&(pick, _)| pick).collect();
            let vector = noisy_mean(&vectors, &all, &mut rng);
            let passage_windows = passage_runs(&picks, text.len(), spec.passage_window)
                .iter()
                .map(|run| noisy_mean(&vectors, run, &mut rng))
                .collect();
            let id = chunk_id(&document_id, version, ordinal as u32);
            let heading = HEADINGS[(ordinal * HEADINGS.len()) / count.max(1)];
            let chars = text.chars().count() as i64;
            total_chars += chars as usize;
            entries.push(IndexedChunk {
                chunk_id: id,
                tenant: tenant.clone(),
                collection: collection.id.clone(),
                document: document_id.clone(),
                version: version as u64,
                ordinal: ordinal as u32,
                heading: heading.to_string(),
                body: text.clone(),
            });
            points.push(VectorPoint {
                id,
                vector,
                windows: passage_windows,
                payload: PointPayload {
                    tenant: tenant.clone(),
                    collection: collection.id.clone(),
                    document: document_id.clone(),
                    version: version as u64,
                    ordinal: ordinal as u32,
                },
            });
            records.push(ChunkRecord {
                id: id.to_string(),
                document_id: document_id.clone(),
                version,
                tenant_id: tenant.clone(),
                collection_id: collection.id.clone(),
                ordinal: ordinal as i64,
                heading_path: heading.split(" › ").map(str::to_string).collect(),
                char_start: offset,
                char_end: offset + chars,
                page_start: 1 + ordinal as i64 / 3,
                page_end: 1 + ordinal as i64 / 3,
                token_count: chars / 4,
                text,
                context_header: None,
            });
            offset += chars + 2;
        }
        let bm25 = std::sync::Arc::clone(&indexes.bm25);
        tokio::task::spawn_blocking(move || bm25.add(&entries)).await??;
        indexes.vectors.upsert(&points).await?;
        store
            .complete_ingest(
                &job,
                &IngestResult {
                    text_chars: offset,
                    page_count: 1 + count as i64 / 3,
                    section_count: HEADINGS.len() as i64,
                    structure_json: "{}".into(),
                    chunks: records,
                },
            )
            .await?;
        written += count;
        if doc % 50 == 49 || written == spec.chunks {
            let bm25 = std::sync::Arc::clone(&indexes.bm25);
            tokio::task::spawn_blocking(move || bm25.commit()).await??;
            eprintln!(
                "{written} / {} chunks written ({:.0} s)",
                spec.chunks,
                started.elapsed().as_secs_f64()
            );
        }
    }
    let write_s = started.elapsed().as_secs_f64();

    let started = Instant::now();
    eprintln!("building the vector index (optimiser)…");
    indexes.vectors.optimize().await?;
    let optimize_s = started.elapsed().as_secs_f64();
    eprintln!("optimised in {optimize_s:.0} s");
    Ok(SyntheticManifest {
        spec: spec.clone(),
        embed_pool_s,
        write_s,
        optimize_s,
        mean_chunk_chars: total_chars as f64 / written.max(1) as f64,
    })
}

/// The normalised mean of the `picks`' pool vectors plus a little noise.
fn noisy_mean(vectors: &[Vec<f32>], picks: &[usize], rng: &mut SplitMix64) -> Vec<f32> {
    let mut mean = vec![0f32; vectors.first().map_or(0, Vec::len)];
    for &pick in picks {
        for (sum, value) in mean.iter_mut().zip(&vectors[pick]) {
            *sum += value;
        }
    }
    for value in mean.iter_mut() {
        *value += (rng.unit() - 0.5) * 0.02;
    }
    normalise(&mut mean);
    mean
}

/// A generated chunk's passage windows as runs of its sentences: none when its text
/// (`chars` long, about `chars / CHARS_PER_TOKEN` tokens) fits one window of
/// `window` tokens, else the fewest windows that cover it, each sentence in the
/// window its middle falls in. `picks` are (sentence, middle offset) in text order.
fn passage_runs(picks: &[(usize, usize)], chars: usize, window: usize) -> Vec<Vec<usize>> {
    let tokens = chars.div_ceil(CHARS_PER_TOKEN);
    if window == 0 || tokens <= window {
        return Vec::new();
    }
    let count = tokens.div_ceil(window);
    let mut runs = vec![Vec::new(); count];
    for &(pick, middle) in picks {
        runs[(middle * count / chars.max(1)).min(count - 1)].push(pick);
    }
    runs.retain(|run| !run.is_empty());
    runs
}

/// Sentences of 40–400 characters from the `.txt` files under `dir` (or its
/// `docs/`), in file and reading order.
fn read_sentences(dir: &Path) -> Result<Vec<String>> {
    let docs = if dir.join("docs").is_dir() {
        dir.join("docs")
    } else {
        dir.to_path_buf()
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&docs)
        .with_context(|| format!("reading {}", docs.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "txt"))
        .collect();
    files.sort();
    let mut sentences = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        sentences.extend(split_sentences(&text));
    }
    Ok(sentences)
}

/// The answerer's sentence units of `text` (legal-aware splitting) that read as
/// prose: 40–400 characters, mostly letters.
fn split_sentences(text: &str) -> Vec<String> {
    folio_common::text::sentences::split(text)
        .into_iter()
        .map(|(start, end)| {
            text[start..end]
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|sentence| {
            let letters = sentence.chars().filter(|c| c.is_alphabetic()).count();
            (40..=400).contains(&sentence.len()) && letters * 2 > sentence.len()
        })
        .collect()
}

/// Copies `sentence` into `out` with every digit replaced by a random one, so that
/// amounts, dates and section numbers vary between chunks.
fn redraw_numbers(sentence: &str, rng: &mut SplitMix64, out: &mut String) {
    for c in sentence.chars() {
        if c.is_ascii_digit() {
            out.push(char::from(b'0' + rng.below(10) as u8));
        } else {
            out.push(c);
        }
    }
}

fn normalise(vector: &mut [f32]) {
    let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|v| *v /= norm);
    }
}

/// A small, fast, seedable generator (SplitMix64): the index must be the same on
/// every machine for a given seed, and no dependency is needed for that.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prose_sentences_are_kept_and_headings_and_fragments_dropped() {
        let text = "The Supplier shall deliver the goods on time.  The Buyer pays every invoice within thirty days.\n\nARTICLE 2\n\nShort.\n\nPursuant to 15 U.S.C. Sec. 78 the Company shall file its reports.";
        assert_eq!(
            split_sentences(text),
            vec![
                "The Supplier shall deliver the goods on time.",
                "The Buyer pays every invoice within thirty days.",
                "Pursuant to 15 U.S.C. Sec. 78 the Company shall file its reports."
            ]
        );
    }

    #[test]
    fn passage_runs_split_long_chunks_in_text_order() {
        // 1,200 characters ≈ 300 tokens: three windows of 128 tokens.
        let picks: Vec<(usize, usize)> = (0..6).map(|i| (10 + i, 100 + i * 200)).collect();
        let runs = passage_runs(&picks, 1200, 128);
        assert_eq!(runs, vec![vec![10, 11], vec![12, 13], vec![14, 15]]);
        assert!(passage_runs(&picks, 1200, 0).is_empty(), "windows off");
        assert!(
            passage_runs(&picks[..2], 400, 128).is_empty(),
            "fits one window"
        );
        // One long sentence leaves the windows it does not reach empty: they are dropped.
        assert_eq!(passage_runs(&[(7, 600)], 1200, 128), vec![vec![7]]);
    }

    #[test]
    fn numbers_are_redrawn_digit_by_digit() {
        let mut rng = SplitMix64(7);
        let mut out = String::new();
        redraw_numbers("paid $1,250 on 2019-03-01", &mut rng, &mut out);
        assert_eq!(out.len(), "paid $1,250 on 2019-03-01".len());
        assert!(out.starts_with("paid $") && out.contains(" on "));
        assert_eq!(out.chars().filter(char::is_ascii_digit).count(), 12);
    }

    #[test]
    fn the_generator_is_deterministic() {
        let draws = |seed| {
            let mut rng = SplitMix64(seed);
            (0..5).map(|_| rng.below(1000)).collect::<Vec<_>>()
        };
        assert_eq!(draws(3), draws(3));
        assert_ne!(draws(3), draws(4));
    }
}
