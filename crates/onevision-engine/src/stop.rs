//! Stop strings (OpenAI's `stop`): the answer ends where one of them first appears, without it.
//! Streamed text that could still be the start of a stop string is held back until it is known
//! not to be, so nothing after a stop string ever reaches a listener.

#[derive(Debug, Clone, Default)]
pub struct StopStrings {
    stops: Vec<String>,
    held: String,
}

impl StopStrings {
    /// Empty strings never match and are dropped.
    pub fn new(stops: &[String]) -> Self {
        StopStrings {
            stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(),
            held: String::new(),
        }
    }

    /// Feeds decoded text; returns the text now certain to be part of the answer, and whether a
    /// stop string was reached (the text after it is dropped).
    pub fn push(&mut self, delta: &str) -> (String, bool) {
        if self.stops.is_empty() {
            return (delta.to_string(), false);
        }
        self.held.push_str(delta);
        let first_stop = self
            .stops
            .iter()
            .filter_map(|s| self.held.find(s.as_str()))
            .min();
        if let Some(at) = first_stop {
            let out = self.held[..at].to_string();
            self.held.clear();
            return (out, true);
        }
        let keep = self.partial_stop_suffix();
        let cut = self.held.len() - keep;
        let out = self.held[..cut].to_string();
        self.held.drain(..cut);
        (out, false)
    }

    /// The text held back at the end of the answer: it never became a stop string.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }

    /// Bytes at the end of the held text that are a proper prefix of some stop string.
    fn partial_stop_suffix(&self) -> usize {
        let text = self.held.as_str();
        let mut best = 0;
        for stop in &self.stops {
            let longest = (stop.len() - 1).min(text.len());
            for len in (best + 1..=longest).rev() {
                if stop.is_char_boundary(len)
                    && text.is_char_boundary(text.len() - len)
                    && text.ends_with(&stop[..len])
                {
                    best = len;
                    break;
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stops: &[&str], deltas: &[&str]) -> (String, bool) {
        let stops: Vec<String> = stops.iter().map(|s| s.to_string()).collect();
        let mut s = StopStrings::new(&stops);
        let mut out = String::new();
        for d in deltas {
            let (text, stopped) = s.push(d);
            out.push_str(&text);
            if stopped {
                return (out, true);
            }
        }
        out.push_str(&s.finish());
        (out, false)
    }

    #[test]
    fn no_stops_passes_everything_through() {
        assert_eq!(run(&[], &["a", "b"]), ("ab".into(), false));
        assert_eq!(run(&[""], &["a", "b"]), ("ab".into(), false));
    }

    #[test]
    fn stops_before_the_string_even_when_cut_across_deltas() {
        assert_eq!(
            run(&["END"], &["x = 1", " E", "N", "D tail"]),
            ("x = 1 ".into(), true)
        );
        assert_eq!(run(&["\n\n"], &["a\n", "\nb"]), ("a".into(), true));
    }

    #[test]
    fn the_earliest_of_several_stops_wins() {
        assert_eq!(run(&["b", "a"], &["xxab"]), ("xx".into(), true));
    }

    #[test]
    fn a_false_start_is_released() {
        assert_eq!(run(&["ENDE"], &["EN", "D", "x"]), ("ENDx".into(), false));
        assert_eq!(run(&["ENDE"], &["END"]), ("END".into(), false));
    }

    #[test]
    fn held_text_never_splits_a_character() {
        assert_eq!(run(&["éé"], &["aé", "b"]), ("aéb".into(), false));
        assert_eq!(run(&["éé"], &["aé", "é"]), ("a".into(), true));
    }
}
