//! Releasing generated text as it is produced, without ever releasing part of a
//! stop sequence or half of a UTF-8 character.

/// What one decoding step releases to the caller.
pub(crate) enum Advance<'a> {
    /// Text that is final (no stop sequence can start in it).
    Emit(&'a str),
    /// A stop sequence was reached; the last text before it.
    Stopped(&'a str),
}

/// Turns the growing decoded text into final pieces: holds back an incomplete UTF-8
/// character and any tail that could be the start of a stop sequence.
pub(crate) struct TextStream {
    stop: Vec<String>,
    text: String,
    emitted: usize,
}

impl TextStream {
    pub(crate) fn new(stop: &[String]) -> Self {
        Self {
            stop: stop.iter().filter(|s| !s.is_empty()).cloned().collect(),
            text: String::new(),
            emitted: 0,
        }
    }

    pub(crate) fn advance(&mut self, decoded: &str) -> Advance<'_> {
        self.text = decoded.to_string();
        let earliest = self
            .stop
            .iter()
            .filter_map(|s| self.text.find(s.as_str()))
            .min();
        if let Some(at) = earliest {
            self.text.truncate(at);
            let from = self.emitted.min(at);
            self.emitted = at;
            return Advance::Stopped(&self.text[from..at]);
        }
        let mut safe = self.text.len();
        if self.text.ends_with('\u{FFFD}') {
            safe -= '\u{FFFD}'.len_utf8();
        }
        for stop in &self.stop {
            for cut in (1..stop.len()).rev() {
                if stop.is_char_boundary(cut) && self.text[..safe].ends_with(&stop[..cut]) {
                    safe = safe.min(self.text.len() - cut);
                    break;
                }
            }
        }
        while !self.text.is_char_boundary(safe) {
            safe -= 1;
        }
        if safe <= self.emitted {
            return Advance::Emit("");
        }
        let from = self.emitted;
        self.emitted = safe;
        Advance::Emit(&self.text[from..safe])
    }

    /// Text not yet released (at the end of generation nothing is held back).
    pub(crate) fn finish(&mut self) -> String {
        let tail = self.text.get(self.emitted..).unwrap_or("").to_string();
        self.emitted = self.text.len();
        tail
    }

    pub(crate) fn into_text(self) -> String {
        self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stop: &[&str], steps: &[&str]) -> (Vec<String>, String, bool) {
        let stop: Vec<String> = stop.iter().map(|s| s.to_string()).collect();
        let mut stream = TextStream::new(&stop);
        let mut pieces = Vec::new();
        let mut stopped = false;
        for step in steps {
            match stream.advance(step) {
                Advance::Emit(p) => pieces.push(p.to_string()),
                Advance::Stopped(p) => {
                    pieces.push(p.to_string());
                    stopped = true;
                    break;
                }
            }
        }
        pieces.push(stream.finish());
        (pieces, stream.into_text(), stopped)
    }

    #[test]
    fn a_stop_sequence_is_never_released_even_in_part() {
        let (pieces, text, stopped) =
            run(&["\n\nQ:"], &["A", "A\n", "A\n\n", "A\n\nQ", "A\n\nQ: x"]);
        assert!(stopped);
        assert_eq!(text, "A");
        assert_eq!(pieces.concat(), "A");
    }

    #[test]
    fn a_held_back_prefix_is_released_when_it_turns_out_not_to_be_a_stop() {
        let (pieces, text, stopped) = run(&["END"], &["x E", "x EN", "x ENo"]);
        assert!(!stopped);
        assert_eq!(text, "x ENo");
        assert_eq!(pieces.concat(), "x ENo");
        assert_eq!(pieces[0], "x ");
    }

    #[test]
    fn an_incomplete_character_waits_for_its_bytes() {
        let (pieces, text, _) = run(&[], &["a\u{FFFD}", "a\u{e9}"]);
        assert_eq!(pieces[0], "a");
        assert_eq!(text, "a\u{e9}");
        assert_eq!(pieces.concat(), "a\u{e9}");
    }
}
