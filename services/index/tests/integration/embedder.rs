//! The real all-MiniLM-L6-v2 model through fastembed and ONNX Runtime.

use folio_common::model::TokenCounter;
use folio_index::{Embedder, EmbedderOptions, IndexError};

use crate::common::{cosine, embedder, model_dir, ort_dylib};

#[test]
fn vectors_have_the_model_dimension_and_unit_norm() {
    let embedder = embedder();
    assert_eq!(embedder.dimension(), 384);
    let texts = vec![
        "The Supplier may terminate this Agreement for convenience.".to_string(),
        "Revenue grew 12% year over year.".to_string(),
        String::new(),
    ];
    let vectors = embedder.embed(&texts).unwrap();
    assert_eq!(vectors.len(), 3);
    for vector in &vectors {
        assert_eq!(vector.len(), 384);
        let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
    }
    assert!(embedder.embed(&[]).unwrap().is_empty());
}

#[test]
fn similar_meaning_is_closer() {
    let texts: Vec<String> = [
        "termination for convenience",
        "Either party may end this agreement at any time without cause upon thirty days written notice.",
        "Net revenue increased by 8 percent compared to the prior fiscal year.",
    ]
    .map(String::from)
    .to_vec();
    let v = embedder().embed(&texts).unwrap();
    let to_termination = cosine(&v[0], &v[1]);
    let to_revenue = cosine(&v[0], &v[2]);
    assert!(
        to_termination > to_revenue + 0.05,
        "termination {to_termination} vs revenue {to_revenue}"
    );
}

#[test]
fn batching_does_not_change_vectors() {
    let texts: Vec<String> = (0..40)
        .map(|i| format!("Section {i}. The Licensee shall pay the fees stated in Schedule {i} within {i} days."))
        .collect();
    let batched = embedder().embed(&texts).unwrap();
    let single = embedder().embed(&texts[17..18]).unwrap();
    assert!(cosine(&batched[17], &single[0]) > 0.9999);
}

#[test]
fn a_long_texts_tail_shapes_its_vector() {
    let embedder = embedder();
    let head = "The Licensee shall pay the royalties stated in Schedule B within thirty days of each quarter end. "
        .repeat(16);
    let tail = "Either party may terminate this Agreement for convenience upon ninety days written notice to the other party.";
    let long = format!("{head}{tail}");
    assert!(
        embedder.count_tokens(&head) > embedder.max_length(),
        "the tail lies past the model's window"
    );
    let texts = vec![
        long,
        head.clone(),
        "Either party may terminate the agreement for convenience on written notice.".to_string(),
    ];
    let v = embedder.embed(&texts).unwrap();
    let norm = v[0].iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
    let with_tail = cosine(&v[2], &v[0]);
    let head_only = cosine(&v[2], &v[1]);
    assert!(
        with_tail > head_only + 0.02,
        "a truncating embedder would give the same vector to both: {with_tail} vs {head_only}"
    );
}

#[test]
fn token_counts_use_the_model_vocabulary_without_special_tokens() {
    let embedder = embedder();
    assert_eq!(embedder.count_tokens(""), 0);
    assert_eq!(embedder.count_tokens("hello world"), 2);
    // WordPiece splits rare words into several pieces; the count is not truncated at max_length.
    let long = "indemnification ".repeat(400);
    assert!(embedder.count_tokens(&long) > embedder.max_length());
    assert!(embedder.count_tokens("indemnification") >= 2);
}

#[test]
fn model_id_is_stable_and_names_the_model() {
    let id = embedder().model_id();
    assert!(id.starts_with("all-minilm-l6-v2@"), "{id}");
    assert_eq!(id.len(), "all-minilm-l6-v2@".len() + 16);
    let again = Embedder::load(&model_dir(), &ort_dylib(), EmbedderOptions::default()).unwrap();
    assert_eq!(again.model_id(), id);
    let shorter = EmbedderOptions {
        max_length: 128,
        ..EmbedderOptions::default()
    };
    let other = Embedder::load(&model_dir(), &ort_dylib(), shorter).unwrap();
    assert_ne!(
        other.model_id(),
        id,
        "max length changes the vectors, so the id"
    );
}

#[test]
fn missing_onnx_runtime_is_a_clear_error() {
    let missing = std::env::temp_dir().join("folio-no-such-dir/libonnxruntime.so.1.31.1");
    let error = Embedder::load(&model_dir(), &missing, EmbedderOptions::default()).unwrap_err();
    match &error {
        IndexError::OnnxRuntime { path, reason } => {
            assert_eq!(path, &missing);
            assert!(reason.contains("cannot read"), "{reason}");
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert!(error.to_string().contains("libonnxruntime.so.1.31.1"));
}

#[test]
fn too_old_onnx_runtime_is_refused_before_loading() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("libonnxruntime.so.1.16.3");
    std::fs::write(&old, b"not really a library").unwrap();
    let error = Embedder::load(&model_dir(), &old, EmbedderOptions::default()).unwrap_err();
    match error {
        IndexError::OnnxRuntime { reason, .. } => {
            assert!(
                reason.contains("1.16.3") && reason.contains("1.24"),
                "{reason}"
            )
        }
        other => panic!("unexpected error {other:?}"),
    }
}

#[test]
fn a_file_that_is_not_a_library_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("libonnxruntime.so.1.31.1");
    std::fs::write(&fake, b"garbage").unwrap();
    let error = Embedder::load(&model_dir(), &fake, EmbedderOptions::default()).unwrap_err();
    assert!(matches!(error, IndexError::OnnxRuntime { .. }), "{error:?}");
}

#[test]
fn missing_model_files_are_reported_by_name() {
    let empty = tempfile::tempdir().unwrap();
    let error = Embedder::load(empty.path(), &ort_dylib(), EmbedderOptions::default()).unwrap_err();
    match error {
        IndexError::ModelFile { path, .. } => assert!(path.ends_with("model.onnx")),
        other => panic!("unexpected error {other:?}"),
    }
}

#[test]
fn zero_batch_size_is_refused() {
    let options = EmbedderOptions {
        batch_size: 0,
        ..EmbedderOptions::default()
    };
    let error = Embedder::load(&model_dir(), &ort_dylib(), options).unwrap_err();
    assert!(matches!(error, IndexError::InvalidInput(_)));
}

#[test]
fn embedder_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Embedder>();
    let embedder = embedder();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..3)
            .map(|i| scope.spawn(move || embedder.embed(&[format!("clause {i}")]).unwrap()))
            .collect();
        for handle in handles {
            assert_eq!(handle.join().unwrap()[0].len(), 384);
        }
    });
}

#[test]
fn passage_windows_cover_long_texts_only() {
    // Folio's configured window (512), so the long text's whole vector is one pass.
    let options = EmbedderOptions {
        max_length: 512,
        ..EmbedderOptions::default()
    };
    let embedder = &Embedder::load(&model_dir(), &ort_dylib(), options).unwrap();
    const WINDOW: usize = 128;
    let head = "The Licensee shall pay the royalties stated in Schedule B within thirty days of each quarter end. "
        .repeat(14);
    let tail = "Either party may terminate this Agreement for convenience upon ninety days written notice to the other party.";
    let long = format!("{head}{tail}");
    let tokens = embedder.count_tokens(&long);
    assert!(
        tokens > 2 * WINDOW && tokens < embedder.max_length(),
        "{tokens} tokens"
    );
    let texts = vec![
        "A short clause.".to_string(),
        long.clone(),
        "Either party may terminate the agreement for convenience on written notice.".to_string(),
    ];
    let windows = embedder.embed_passage_windows(&texts, WINDOW).unwrap();
    assert_eq!(windows.len(), 3);
    assert!(windows[0].is_empty(), "a text within one window has none");
    assert!(windows[2].is_empty());
    assert_eq!(
        windows[1].len(),
        tokens.div_ceil(WINDOW),
        "the fewest windows that cover it"
    );
    for vector in &windows[1] {
        let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
    }
    let whole = embedder.embed(&texts).unwrap();
    let query = &whole[2];
    let similarities: Vec<f32> = windows[1].iter().map(|w| cosine(query, w)).collect();
    let best = (0..similarities.len())
        .max_by(|&a, &b| similarities[a].total_cmp(&similarities[b]))
        .unwrap();
    assert_eq!(
        best,
        similarities.len() - 1,
        "the last window holds the termination clause: {similarities:?}"
    );
    assert!(
        similarities[best] > cosine(query, &whole[1]) + 0.03,
        "the window holding the clause matches it better than the whole text: {similarities:?} vs {}",
        cosine(query, &whole[1])
    );
    assert_ne!(
        embedder.passage_windows_id(WINDOW),
        embedder.passage_windows_id(64),
        "the cache key names the window"
    );
    assert!(embedder
        .passage_windows_id(WINDOW)
        .starts_with(&embedder.model_id()));
}

#[test]
fn int8_products_keep_the_vectors_and_change_the_id() {
    let exact = embedder();
    assert_eq!(exact.int8_products(), 0);
    let options = EmbedderOptions {
        int8_matmul: true,
        ..EmbedderOptions::default()
    };
    let int8 = Embedder::load(&model_dir(), &ort_dylib(), options).unwrap();
    // all-MiniLM-L6-v2: 6 layers × (query, key, value, output, two feed-forward).
    assert_eq!(int8.int8_products(), 36);
    assert_ne!(int8.model_id(), exact.model_id(), "other vectors, other id");

    let texts: Vec<String> = [
        "termination for convenience",
        "Either party may end this agreement at any time without cause upon thirty days written notice.",
        "Net revenue increased by 8 percent compared to the prior fiscal year.",
        "The Company's total current liabilities were $4,215 million as of December 31, 2022.",
    ]
    .map(String::from)
    .to_vec();
    let (a, b) = (exact.embed(&texts).unwrap(), int8.embed(&texts).unwrap());
    for (x, y) in a.iter().zip(&b) {
        let similarity = cosine(x, y);
        assert!(similarity > 0.97, "int8 vs f32 cosine {similarity}");
        assert!(similarity < 0.99999, "the products really changed");
    }
    assert!(cosine(&b[0], &b[1]) > cosine(&b[0], &b[2]) + 0.05);
}

#[test]
fn a_query_is_embedded_as_its_first_window_only() {
    let embedder = embedder();
    let head = "The Licensee shall pay the royalties stated in Schedule B within thirty days of each quarter end. "
        .repeat(16);
    // 1 MB of text after the head: embedded whole it would be hundreds of windows.
    let long = format!(
        "{head}{}",
        "Either party may terminate for convenience. ".repeat(25_000)
    );
    let prefix = embedder.first_window(&long);
    assert!(long.starts_with(prefix) && !prefix.is_empty());
    let tokens = embedder.count_tokens(prefix);
    assert!(
        tokens <= embedder.max_length() && tokens + 16 > embedder.max_length() - 2,
        "{tokens} tokens in the first window of {}",
        embedder.max_length()
    );
    let started = std::time::Instant::now();
    let query = embedder.embed_query(&long).unwrap();
    let took = started.elapsed();
    let head_alone = embedder.embed(std::slice::from_ref(&head)).unwrap();
    // The head fills more than a window, so its first window is what the query keeps.
    let first = embedder.embed(&[prefix.to_string()]).unwrap();
    assert!(cosine(&query, &first[0]) > 0.9999);
    assert!(cosine(&query, &head_alone[0]) > 0.9);
    // A short query is embedded as it is.
    let short = "termination for convenience";
    assert_eq!(embedder.first_window(short), short);
    let by_query = embedder.embed_query(short).unwrap();
    let by_embed = embedder.embed(&[short.to_string()]).unwrap();
    assert!(cosine(&by_query, &by_embed[0]) > 0.9999);
    println!("1 MB query embedded in {took:?}");
}
