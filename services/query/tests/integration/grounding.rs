//! No shown sentence its sources do not support: a generator's reply goes
//! through the claim check before any of it reaches the caller, on the real
//! stack (store, indexes, embedder). The generator is a scripted stand-in, so
//! the test decides exactly which claims are false.

use std::sync::Arc;

use folio_common::config::{AnswerConfig, Xl3mConfig};
use folio_index::SearchFilter;
use folio_llm::{
    ContinuationScores, FinishReason, GenerateRequest, Generation, LanguageModel, LlmError,
    ModelDescription, ScoreInput, TokenSink,
};
use folio_query::answer::{Answerer, AskEvent, AskRequest, Pipeline, UNSUPPORTED_MARK};
use folio_query::context::ContextBuilder;

use crate::common::Stack;

const CONTRACT: &str = "# Supply Agreement\n\n## 2. Payment\n\n\
The Buyer shall pay each invoice within forty-five (45) days of receipt.\n\n\
## 9. Governing Law\n\nThis Agreement is governed by the laws of the State of New York.\n";

/// Replies with `reply`, streaming it as one piece, on a backend named `backend`.
struct Scripted {
    reply: String,
    backend: &'static str,
}

impl LanguageModel for Scripted {
    fn describe(&self) -> ModelDescription {
        ModelDescription {
            id: "scripted".into(),
            architecture: "none".into(),
            backend: self.backend.into(),
            device: "cpu".into(),
            context_length: 8192,
            supports_scoring: false,
            chat_format: "none".into(),
        }
    }

    fn count_tokens(&self, text: &str) -> Result<usize, LlmError> {
        Ok(text.split_whitespace().count())
    }

    fn score(&self, _: &[ScoreInput]) -> Result<Vec<ContinuationScores>, LlmError> {
        Err(LlmError::Unsupported("scoring"))
    }

    fn generate(
        &self,
        _: &GenerateRequest,
        on_text: TokenSink<'_>,
    ) -> Result<Generation, LlmError> {
        on_text(&self.reply);
        Ok(Generation {
            text: self.reply.clone(),
            finish_reason: FinishReason::Stop,
            prompt_tokens: 1,
            completion_tokens: 1,
            first_token_s: 0.0,
            total_s: 0.0,
        })
    }
}

/// Asks `plain` with a scripted reply; returns the answer and the text events.
async fn ask(
    stack: &Stack,
    tenant: &str,
    reply: &str,
    backend: &'static str,
) -> (folio_query::answer::Answer, String) {
    let model: Arc<dyn LanguageModel> = Arc::new(Scripted {
        reply: reply.to_string(),
        backend,
    });
    let contexts = ContextBuilder::new(
        stack.retriever.clone(),
        stack.store.clone(),
        stack.blobs.clone(),
        Arc::clone(&model),
        Xl3mConfig::default(),
    );
    let answerer = Answerer::new(
        stack.retriever.clone(),
        contexts,
        stack.store.clone(),
        stack.blobs.clone(),
        model,
        AnswerConfig {
            demos: 0,
            ..AnswerConfig::default()
        },
    );
    let (events, mut received) = tokio::sync::mpsc::unbounded_channel();
    let answer = answerer
        .ask(
            &AskRequest {
                question: "Within how many days must the Buyer pay?".into(),
                filter: SearchFilter::tenant(tenant),
                pipeline: "plain".parse::<Pipeline>().unwrap(),
            },
            Some(events),
        )
        .await
        .unwrap();
    let mut streamed = String::new();
    while let Ok(event) = received.try_recv() {
        if let AskEvent::Text(text) = event {
            streamed.push_str(&text);
        }
    }
    (answer, streamed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_false_claim_is_never_streamed_shown_as_fact_or_cited() {
    let stack = Stack::new().await;
    let contract = stack
        .ingest("acme", "contracts", "supply.md", CONTRACT)
        .await;
    let reply = "The Buyer shall pay each invoice within forty-five (45) days [P1]. \
                 A late fee of 5% a month applies [P1].";

    // The built-in kind of model (candle on CPU): the false claim is dropped,
    // from the answer and from what was streamed.
    let (answer, streamed) = ask(&stack, &contract.tenant, reply, "candle").await;
    assert!(!answer.answer.contains("5%"), "{}", answer.answer);
    assert!(!streamed.contains("5%"), "{streamed}");
    assert!(
        answer.answer.contains("forty-five (45) days"),
        "{}",
        answer.answer
    );
    assert_eq!(streamed, answer.answer);
    let false_claim = answer
        .claims
        .iter()
        .find(|c| c.text.contains("5%"))
        .unwrap();
    assert!(
        !false_claim.supported && !false_claim.shown,
        "{false_claim:?}"
    );
    assert!(false_claim.reason.contains("5%"), "{}", false_claim.reason);
    assert!(!answer.citations.is_empty());

    // Any other backend: flagged, so the answer text itself says so.
    let (answer, streamed) = ask(&stack, &contract.tenant, reply, "openai").await;
    assert!(
        answer
            .answer
            .contains(&format!("5% a month applies [P1]. {UNSUPPORTED_MARK}")),
        "{}",
        answer.answer
    );
    assert_eq!(streamed, answer.answer);
    assert!(answer.claims.iter().any(|c| c.shown && !c.supported));

    // No supported claim at all: the evidence itself, never the reply.
    let (answer, streamed) = ask(
        &stack,
        &contract.tenant,
        "Payment is due within 90 days [P1].",
        "candle",
    )
    .await;
    assert!(!answer.answer.contains("90"), "{}", answer.answer);
    assert!(!streamed.contains("90"), "{streamed}");
    assert!(
        answer.answer.contains("forty-five (45) days"),
        "{}",
        answer.answer
    );
    assert!(answer
        .claims
        .iter()
        .filter(|c| c.text.contains("90"))
        .all(|c| !c.shown));
}
