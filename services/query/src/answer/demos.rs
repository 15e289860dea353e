//! Stage 2 (optional): demonstrations recycled from the key context itself: a
//! question the model writes about one of its sentences, with that sentence's
//! answer span. Cached per document version and span, so a document's demos
//! are generated once per process.

use std::collections::{HashMap, VecDeque};

use super::state::AnswerState;
use super::Answerer;
use crate::demos::{self, Demo};
use crate::QueryError;

/// Demos kept per process. A demo is a few hundred bytes; this bounds the
/// cache to a few megabytes however many documents a server is asked about.
const DEMO_CACHE_ENTRIES: usize = 8192;

/// A unit's demo (or the finding that it has none) by document, version and span.
type DemoKey = (String, i64, usize, usize);

/// Demos generated so far, the oldest forgotten first once
/// [`DEMO_CACHE_ENTRIES`] are kept.
#[derive(Debug, Default)]
pub(super) struct DemoCache {
    entries: HashMap<DemoKey, Option<Demo>>,
    order: VecDeque<DemoKey>,
}

impl DemoCache {
    fn get(&self, key: &DemoKey) -> Option<Option<Demo>> {
        self.entries.get(key).cloned()
    }

    fn insert(&mut self, key: DemoKey, demo: Option<Demo>) {
        if self.entries.insert(key.clone(), demo).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > DEMO_CACHE_ENTRIES {
            if let Some(oldest) = self.order.pop_front() {
                self.entries.remove(&oldest);
            }
        }
    }
}

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
                .and_then(|cache| cache.get(&key));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_forgets_its_oldest_demos_beyond_its_bound() {
        let mut cache = DemoCache::default();
        let key = |n: usize| ("d".to_string(), 1, n, n + 1);
        for n in 0..DEMO_CACHE_ENTRIES + 10 {
            cache.insert(key(n), None);
        }
        cache.insert(key(DEMO_CACHE_ENTRIES + 9), None);
        assert_eq!(cache.entries.len(), DEMO_CACHE_ENTRIES);
        assert_eq!(cache.order.len(), DEMO_CACHE_ENTRIES);
        assert!(cache.get(&key(9)).is_none(), "the oldest are gone");
        assert_eq!(cache.get(&key(10)), Some(None), "the rest are kept");
    }
}
