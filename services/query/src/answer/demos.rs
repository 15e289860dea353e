//! Stage 2 (optional): demonstrations recycled from the key context itself: a
//! question the model writes about one of its sentences, with that sentence's
//! answer span. Cached per document version and span, so a document's demos
//! are generated once per process.

use super::state::AnswerState;
use super::Answerer;
use crate::demos;
use crate::QueryError;

impl Answerer {
    pub(super) async fn recycle_demos(
        &self,
        state: &mut AnswerState<'_>,
    ) -> Result<(), QueryError> {
        let at = state.stage("demos");
        let mut out = Vec::new();
        for unit in demos::pick_units(&state.trace.units, self.config.demos) {
            let key = (
                unit.document_id.clone(),
                unit.version,
                unit.char_start,
                unit.char_end,
            );
            let cached = self
                .demo_cache
                .lock()
                .ok()
                .and_then(|cache| cache.get(&key).cloned());
            let Some(answer) = demos::answer_span(&unit.text) else {
                continue;
            };
            let demo = match cached {
                Some(demo) => demo,
                None => {
                    let prompt = demos::demo_prompt(unit, answer);
                    let reply = self
                        .call("demo", prompt, 48, None, &mut state.trace.calls)
                        .await?;
                    let demo = demos::parse_demo(&reply.text, unit, answer)
                        .or_else(|| demos::cloze_demo(unit, answer));
                    if let Ok(mut cache) = self.demo_cache.lock() {
                        cache.insert(key, demo.clone());
                    }
                    demo
                }
            };
            out.extend(demo);
        }
        state.trace.demos = out.clone();
        state.demos = out;
        state.timings.demos_s = at.elapsed().as_secs_f64();
        Ok(())
    }
}
