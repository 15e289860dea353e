//! Scoring segments by the model's certainty about the question.

use std::time::Instant;

use folio_common::config::Xl3mScore;
use folio_llm::{ContinuationScores, LanguageModel, ScoreInput};
use serde::{Deserialize, Serialize};

use super::Segment;
use crate::prompt::{empty_prefix, question_block, segment_prefix};
use crate::QueryError;

/// The model's certainty about the question given one segment. Lower is more relevant
/// for every field.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CertaintyScores {
    /// Mean entropy (nats) of the next-token distributions over the question block.
    pub entropy: f32,
    /// Mean negative log-likelihood of the question-block tokens.
    pub nll: f32,
    /// Model tokens of prefix + question block.
    pub tokens: usize,
}

impl CertaintyScores {
    fn from_scores(scores: &ContinuationScores) -> Self {
        Self {
            entropy: scores.mean_entropy(),
            nll: scores.mean_nll(),
            tokens: scores.prefix_tokens + scores.tokens.len(),
        }
    }

    /// The value `kind` ranks by, given the empty-segment baseline.
    pub fn value(&self, kind: Xl3mScore, baseline: &CertaintyScores) -> f32 {
        match kind {
            Xl3mScore::Entropy => self.entropy,
            Xl3mScore::Nll => self.nll,
            Xl3mScore::EntropyBaseline => self.entropy - baseline.entropy,
            Xl3mScore::NllBaseline => self.nll - baseline.nll,
        }
    }
}

/// The result of scoring a list of segments for one question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoredSegments {
    /// Scores with no segment at all (the baseline correction's reference).
    pub baseline: CertaintyScores,
    /// One entry per input segment, in input order; `None` when the time budget ran
    /// out before the segment was scored.
    pub scores: Vec<Option<CertaintyScores>>,
    /// Model tokens processed (prefixes and question blocks, baseline included).
    pub tokens_scored: usize,
    /// Wall time of the scoring.
    pub elapsed_ms: f64,
}

impl ScoredSegments {
    /// No segment scored (a backend without log-probabilities): selection then keeps
    /// the retrieval (or document) order.
    pub fn unscored(segments: usize) -> Self {
        Self {
            baseline: CertaintyScores {
                entropy: 0.0,
                nll: 0.0,
                tokens: 0,
            },
            scores: vec![None; segments],
            tokens_scored: 0,
            elapsed_ms: 0.0,
        }
    }
}

/// Progress callback: `(segments scored, segments total)`; returning `false`
/// stops scoring (the caller is gone), like a deadline that has passed.
pub type Progress<'a> = &'a mut dyn FnMut(usize, usize) -> bool;

/// Scores each segment with one forward pass over `[segment ; question block]`.
///
/// Blocking (runs the model). Segments go to the model `batch` at a time, longest
/// first so each batch pads little; `deadline` stops scoring between batches and
/// leaves the rest unscored.
pub fn score_segments(
    model: &dyn LanguageModel,
    question: &str,
    segments: &[Segment],
    batch: usize,
    deadline: Option<Instant>,
    progress: Progress<'_>,
) -> Result<ScoredSegments, QueryError> {
    let started = Instant::now();
    let block = question_block(question);
    let baseline_scores = model.score(&[ScoreInput::new(empty_prefix(), block.clone())])?;
    let baseline = baseline_scores
        .first()
        .map(CertaintyScores::from_scores)
        .ok_or_else(|| QueryError::Task("the model returned no baseline score".into()))?;
    let mut tokens_scored = baseline.tokens;

    let inputs: Vec<ScoreInput> = segments
        .iter()
        .map(|s| ScoreInput::new(segment_prefix(&s.heading(), &s.text), block.clone()))
        .collect();
    // Longest first: similar lengths share a batch, and a deadline cuts the cheap tail.
    let mut order: Vec<usize> = (0..inputs.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(inputs[i].prefix.len()));

    let mut scores: Vec<Option<CertaintyScores>> = vec![None; inputs.len()];
    let mut done = 0;
    let mut go_on = progress(done, inputs.len());
    for group in order.chunks(batch.max(1)) {
        if !go_on || deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let batch_inputs: Vec<ScoreInput> = group.iter().map(|&i| inputs[i].clone()).collect();
        let results = model.score(&batch_inputs)?;
        for (&i, result) in group.iter().zip(&results) {
            let certainty = CertaintyScores::from_scores(result);
            tokens_scored += certainty.tokens;
            scores[i] = Some(certainty);
        }
        done += group.len();
        go_on = progress(done, inputs.len());
    }
    Ok(ScoredSegments {
        baseline,
        scores,
        tokens_scored,
        elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
    })
}
