//! Token scoring: shapes, probabilities, batching, and what the scores mean.

use folio_llm::{LanguageModel, LlmError, ScoreInput};

use crate::smollm2;

fn inputs() -> Vec<ScoreInput> {
    vec![
        ScoreInput::new(
            "This Agreement shall be governed by the laws of the State of Delaware. Either party may terminate this Agreement upon ninety (90) days' written notice to the other party.\n\n",
            "Question: Which state's law governs the Agreement?",
        ),
        ScoreInput::new("Revenue rose 12% to $4.2 billion.\n\n", "Question: What was revenue?"),
        ScoreInput::new(
            "The Supplier shall deliver the Products monthly. All invoices are payable within thirty (30) days of receipt. Late payments bear interest at one percent (1%) per month, compounded monthly, until paid in full, together with reasonable costs of collection including attorneys' fees.\n\n",
            "Question: When are invoices payable?",
        ),
    ]
}

#[test]
fn scores_are_log_probabilities_and_entropies() {
    let Some(model) = smollm2() else { return };
    let vocab = model.tokenizer().vocab_size() as f32;
    let scores = model.score(&inputs()).unwrap();
    assert_eq!(scores.len(), 3);
    for (input, s) in inputs().iter().zip(&scores) {
        assert_eq!(
            s.tokens,
            model.tokenizer().encode(&input.continuation).unwrap()
        );
        assert_eq!(s.logprobs.len(), s.tokens.len());
        assert_eq!(s.entropies.len(), s.tokens.len());
        assert_eq!(
            s.prefix_tokens,
            model
                .tokenizer()
                .encode_prompt(&input.prefix)
                .unwrap()
                .len()
        );
        for (&lp, &h) in s.logprobs.iter().zip(&s.entropies) {
            assert!(lp.is_finite() && lp <= 1e-4, "log-prob {lp}");
            assert!(h >= -1e-4 && h <= vocab.ln() + 1e-3, "entropy {h}");
        }
    }
    // The model is a language model: a question about the text it just read is far
    // more likely than the same tokens shuffled.
    let natural = &scores[0];
    let shuffled = model
        .score(&[ScoreInput::new(
            inputs()[0].prefix.clone(),
            "Agreement governs law state's the Which Question: ?",
        )])
        .unwrap();
    assert!(natural.mean_nll() + 1.0 < shuffled[0].mean_nll());
}

#[test]
fn batched_scores_equal_one_by_one_scores() {
    let Some(model) = smollm2() else { return };
    let inputs = inputs();
    let batched = model.score(&inputs).unwrap();
    for (input, together) in inputs.iter().zip(&batched) {
        let alone = &model.score(std::slice::from_ref(input)).unwrap()[0];
        assert_eq!(alone.tokens, together.tokens);
        let max_error = alone
            .logprobs
            .iter()
            .zip(&together.logprobs)
            .chain(alone.entropies.iter().zip(&together.entropies))
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(max_error < 1e-3, "batched vs alone differ by {max_error}");
    }
}

#[test]
fn relevant_context_makes_the_model_more_certain_of_the_question() {
    let Some(model) = smollm2() else { return };
    let question = "Question: Which state's law governs this Agreement?";
    let relevant = "This Agreement shall be governed by and construed in accordance with the laws of the State of Delaware, without regard to its conflict of laws principles.\n\n";
    let unrelated = "The cafeteria serves vegetable soup on Mondays and fresh pasta on Fridays; coffee is free for all staff before nine o'clock.\n\n";
    let scores = model
        .score(&[
            ScoreInput::new(relevant, question),
            ScoreInput::new(unrelated, question),
        ])
        .unwrap();
    assert!(
        scores[0].mean_nll() < scores[1].mean_nll(),
        "nll relevant {} vs unrelated {}",
        scores[0].mean_nll(),
        scores[1].mean_nll()
    );
}

#[test]
fn bad_inputs_are_refused() {
    let Some(model) = smollm2() else { return };
    let empty = model.score(&[ScoreInput::new("context", "")]).unwrap_err();
    assert!(matches!(empty, LlmError::InvalidRequest(_)), "{empty:?}");
    let limit = model.describe().context_length;
    let huge = "word ".repeat(limit + 10);
    let overflow = model
        .score(&[ScoreInput::new(huge, "Question: x?")])
        .unwrap_err();
    assert!(
        matches!(overflow, LlmError::ContextOverflow { .. }),
        "{overflow:?}"
    );
}

#[test]
fn the_model_knows_what_a_small_model_should_know() {
    let Some(model) = smollm2() else { return };
    crate::assert_knows(
        model,
        &[
            ("The capital of France is", " Paris", " London"),
            ("One, two, three, four,", " five", " nine"),
            (
                "The contract shall be governed by the laws of the State of New",
                " York",
                " Delhi",
            ),
        ],
    );
}
