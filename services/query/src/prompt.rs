//! The text layout shared by XL3M scoring and answering.
//!
//! XL3M reads the model's certainty at the positions of the question block, so the
//! question block must be *exactly* the tail of the prompt that precedes the answer:
//! the same tokens in the same place. Every prompt Folio builds around a context
//! therefore ends with [`question_block`], and XL3M scores
//! `segment_prefix(segment)` followed by `question_block(question)`.

/// The text placed before the question when a single segment is the context.
pub fn segment_prefix(heading: &str, text: &str) -> String {
    let mut out = String::with_capacity(text.len() + heading.len() + 64);
    out.push_str("Excerpt from a document:\n");
    if !heading.is_empty() {
        out.push('[');
        out.push_str(heading);
        out.push_str("]\n");
    }
    out.push_str(text.trim());
    out.push_str("\n\n");
    out
}

/// The prefix with no segment at all: the baseline that tells how certain the model
/// is about the question without any evidence.
pub fn empty_prefix() -> String {
    "Excerpt from a document:\n(none)\n\n".to_string()
}

/// The question block: the last text of every prompt before the answer.
pub fn question_block(question: &str) -> String {
    format!("Question: {}", question.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_question_block_is_the_prompt_tail() {
        let prompt = segment_prefix("Article 9", " Either party may terminate. ")
            + &question_block(" Who may terminate? ");
        assert!(prompt.ends_with("Question: Who may terminate?"));
        assert!(prompt.contains("[Article 9]\nEither party may terminate.\n\n"));
    }
}
