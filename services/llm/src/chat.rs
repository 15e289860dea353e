//! Chat prompts for local models: the GGUF's own Jinja chat template (rendered with
//! minijinja); when the file carries none, the turn layout its vocabulary was
//! trained with (Gemma's `<start_of_turn>` turns), else ChatML.
//!
//! Message contents are neutralized first (special-token texts broken), so text
//! taken from a document can never open or close a turn of the conversation.

use minijinja::{context, Environment, Error as TemplateError, ErrorKind};

use crate::tokenizer::GgufTokenizer;
use crate::{ChatMessage, ChatRole, LlmError};

/// Renders chats into the prompt text a model was trained on.
#[derive(Debug, Clone)]
pub(crate) struct ChatFormatter {
    template: Option<String>,
    fallback: Fallback,
    bos: String,
    eos: String,
}

/// The layout used when the GGUF carries no chat template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fallback {
    /// `<start_of_turn>user … <end_of_turn>`, the system text folded into the
    /// first user turn (Gemma has no system role).
    GemmaTurns,
    /// `<|im_start|>role … <|im_end|>`.
    ChatMl,
}

impl ChatFormatter {
    pub(crate) fn new(tokenizer: &GgufTokenizer) -> Self {
        let text_of = |id: Option<u32>| {
            id.and_then(|id| tokenizer.decode(&[id], true).ok())
                .unwrap_or_default()
        };
        // ChatML's markers are plain text to a vocabulary without them, and a
        // model reads them as noise; Gemma's own turn tokens say which layout
        // such a file was trained with.
        let has = |token: &str| tokenizer.token_id(token).is_some();
        let fallback = if has("<start_of_turn>") && has("<end_of_turn>") {
            Fallback::GemmaTurns
        } else {
            Fallback::ChatMl
        };
        Self {
            template: tokenizer.chat_template().map(str::to_string),
            fallback,
            bos: text_of(tokenizer.bos()),
            eos: text_of(tokenizer.eos()),
        }
    }

    /// `gguf-template`, `gemma-turns-fallback` or `chatml-fallback`.
    pub(crate) fn name(&self) -> &'static str {
        match (&self.template, self.fallback) {
            (Some(_), _) => "gguf-template",
            (None, Fallback::GemmaTurns) => "gemma-turns-fallback",
            (None, Fallback::ChatMl) => "chatml-fallback",
        }
    }

    /// The prompt text for `messages` followed by the assistant's turn opening.
    /// Contents must already be neutralized.
    pub(crate) fn render(&self, messages: &[ChatMessage]) -> Result<String, LlmError> {
        let Some(template) = &self.template else {
            return Ok(match self.fallback {
                Fallback::GemmaTurns => gemma_turns(messages),
                Fallback::ChatMl => chatml(messages),
            });
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

/// Gemma's turns: `user` and `model` only, so system text opens the next user
/// turn, as Gemma's own template does.
fn gemma_turns(messages: &[ChatMessage]) -> String {
    let mut out = String::new();
    let mut pending_system = String::new();
    for message in messages {
        let opening = match message.role {
            ChatRole::System => {
                pending_system.push_str(&message.content);
                pending_system.push_str("\n\n");
                continue;
            }
            ChatRole::User => format!(
                "<start_of_turn>user\n{}",
                std::mem::take(&mut pending_system)
            ),
            ChatRole::Assistant => "<start_of_turn>model\n".to_string(),
        };
        out.push_str(&opening);
        out.push_str(message.content.trim());
        out.push_str("<end_of_turn>\n");
    }
    out.push_str("<start_of_turn>model\n");
    out
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
    fn gemma_turns_fold_the_system_text_into_the_user_turn() {
        let text = gemma_turns(&[
            ChatMessage::system("Be brief."),
            ChatMessage::user("Hi"),
            ChatMessage::assistant("Hello."),
            ChatMessage::user("Again"),
        ]);
        assert_eq!(
            text,
            "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello.<end_of_turn>\n<start_of_turn>user\nAgain<end_of_turn>\n<start_of_turn>model\n"
        );
    }

    #[test]
    fn chatml_ends_with_the_assistant_turn() {
        let text = chatml(&[ChatMessage::system("Be brief."), ChatMessage::user("Hi")]);
        assert_eq!(
            text,
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
    }
}
