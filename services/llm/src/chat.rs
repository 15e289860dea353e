//! Chat prompts for local models: the GGUF's own Jinja chat template (rendered with
//! minijinja), or ChatML when the file carries none.
//!
//! Message contents are neutralized first (special-token texts broken), so text
//! taken from a document can never open or close a turn of the conversation.

use minijinja::{context, Environment, Error as TemplateError, ErrorKind};

use crate::tokenizer::GgufTokenizer;
use crate::{ChatMessage, LlmError};

/// Renders chats into the prompt text a model was trained on.
#[derive(Debug, Clone)]
pub(crate) struct ChatFormatter {
    template: Option<String>,
    bos: String,
    eos: String,
}

impl ChatFormatter {
    pub(crate) fn new(tokenizer: &GgufTokenizer) -> Self {
        let text_of = |id: Option<u32>| {
            id.and_then(|id| tokenizer.decode(&[id], true).ok())
                .unwrap_or_default()
        };
        Self {
            template: tokenizer.chat_template().map(str::to_string),
            bos: text_of(tokenizer.bos()),
            eos: text_of(tokenizer.eos()),
        }
    }

    /// `gguf-template` or `chatml-fallback`.
    pub(crate) fn name(&self) -> &'static str {
        if self.template.is_some() {
            "gguf-template"
        } else {
            "chatml-fallback"
        }
    }

    /// The prompt text for `messages` followed by the assistant's turn opening.
    /// Contents must already be neutralized.
    pub(crate) fn render(&self, messages: &[ChatMessage]) -> Result<String, LlmError> {
        let Some(template) = &self.template else {
            return Ok(chatml(messages));
        };
        let mut env = Environment::new();
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |message: String| -> Result<String, TemplateError> {
                Err(TemplateError::new(ErrorKind::InvalidOperation, message))
            },
        );
        let messages: Vec<minijinja::Value> = messages
            .iter()
            .map(|m| context! { role => m.role.as_str(), content => m.content.as_str() })
            .collect();
        env.render_str(
            template,
            context! {
                messages => messages,
                add_generation_prompt => true,
                bos_token => self.bos.as_str(),
                eos_token => self.eos.as_str(),
            },
        )
        .map_err(|e| LlmError::InvalidRequest(format!("the model's chat template failed: {e}")))
    }
}

/// ChatML, the layout of most small instruct models without a template.
fn chatml(messages: &[ChatMessage]) -> String {
    let mut out = String::new();
    for message in messages {
        out.push_str("<|im_start|>");
        out.push_str(message.role.as_str());
        out.push('\n');
        out.push_str(&message.content);
        out.push_str("<|im_end|>\n");
    }
    out.push_str("<|im_start|>assistant\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chatml_ends_with_the_assistant_turn() {
        let text = chatml(&[ChatMessage::system("Be brief."), ChatMessage::user("Hi")]);
        assert_eq!(
            text,
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
    }
}
