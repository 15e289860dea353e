//! Gemma 3 270M (SentencePiece vocabulary, sliding-window layers, q/k norms):
//! fetched with `folio models fetch --with gemma3`; skipped when absent.

use std::path::PathBuf;

use folio_llm::{
    CandleModel, CandleOptions, ChatMessage, GenerateRequest, LanguageModel, ScoreInput,
};

fn gemma() -> Option<CandleModel> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../models/gemma3-270m/gemma-3-270m-q4_k_m.gguf");
    if !path.exists() {
        eprintln!(
            "{} absent (`folio models fetch --with gemma3`): skipped",
            path.display()
        );
        return None;
    }
    Some(CandleModel::load(&path, CandleOptions::default()).expect("Gemma 3 loads"))
}

#[test]
fn gemma3_tokenizes_scores_and_knows_facts() {
    let Some(model) = gemma() else { return };
    assert_eq!(model.describe().architecture, "gemma3");
    let tokenizer = model.tokenizer();
    assert!(tokenizer.adds_bos());
    for text in [
        "Section 4.2(a) of the Agreement, dated March 15, 2021 — € 1,234.56",
        "<start_of_turn>user\nWhat is the term?<end_of_turn>\n<start_of_turn>model\n",
        "  two spaces, a tab\there and 日本語",
    ] {
        let ids = tokenizer.encode(text).unwrap();
        assert_eq!(tokenizer.decode(&ids, true).unwrap(), text, "{ids:?}");
    }
    let turn = tokenizer
        .token_id("<start_of_turn>")
        .expect("<start_of_turn>");
    let ids = tokenizer
        .encode("<start_of_turn>user\nHi<end_of_turn>")
        .unwrap();
    assert_eq!(ids[0], turn);

    crate::assert_knows(
        &model,
        &[
            ("The capital of France is", " Paris", " London"),
            ("One, two, three, four,", " five", " nine"),
        ],
    );
    // Batched equals alone here too (different lengths, GQA with one KV head).
    let inputs = [
        ScoreInput::new(
            "Revenue rose 12% to $4.2 billion in fiscal 2023.\n\n",
            "Question: What was revenue?",
        ),
        ScoreInput::new(
            "Either party may terminate.\n\n",
            "Question: Who may terminate?",
        ),
    ];
    let batched = model.score(&inputs).unwrap();
    for (input, together) in inputs.iter().zip(&batched) {
        let alone = &model.score(std::slice::from_ref(input)).unwrap()[0];
        for (a, b) in alone.logprobs.iter().zip(&together.logprobs) {
            assert!((a - b).abs() < 1e-3, "{a} vs {b}");
        }
    }
}

#[test]
fn gemma3_without_a_chat_template_gets_its_own_turn_layout() {
    let Some(model) = gemma() else { return };
    // This GGUF carries no `tokenizer.chat_template`; ChatML's markers would be
    // plain text to its vocabulary.
    assert_eq!(model.describe().chat_format, "gemma-turns-fallback");
    let ids = model
        .chat_prompt_tokens(&[ChatMessage::system("S"), ChatMessage::user("Hi")])
        .unwrap();
    let turn = model.tokenizer().token_id("<start_of_turn>").unwrap();
    assert_eq!(ids.iter().filter(|&&t| t == turn).count(), 2);
    let text = model.tokenizer().decode(&ids, true).unwrap();
    assert!(
        text.ends_with("<start_of_turn>user\nS\n\nHi<end_of_turn>\n<start_of_turn>model\n"),
        "{text:?}"
    );
    let reply = model
        .generate(
            &GenerateRequest {
                messages: vec![ChatMessage::user("What is the capital of France?")],
                max_tokens: 12,
                temperature: 0.0,
                seed: None,
                stop: vec![],
            },
            &mut |_: &str| true,
        )
        .unwrap();
    // Under ChatML this model replied with `<|im_end|>` markers only. This file
    // is a base model, not an instruction-tuned one: it continues the turn with
    // text rather than answering, so only the layout is checked here.
    assert!(!reply.text.contains("<|im_"), "{:?}", reply.text);
    assert!(!reply.text.trim().is_empty());
}
