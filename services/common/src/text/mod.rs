//! Text rules that ingestion and query both apply, kept in one place so that
//! structure recovery and answering read a document the same way.

pub mod sentences;

/// A number written in words, as contracts write counts and periods ("five",
/// "forty-five", "Twenty One"): 0 to 99, and "hundred" or "thousand" alone.
pub fn number_word(word: &str) -> Option<u32> {
    const UNITS: [&str; 20] = [
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
    ];
    const TENS: [&str; 8] = [
        "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
    ];
    let lower = word.trim().to_ascii_lowercase();
    match lower.as_str() {
        "hundred" => return Some(100),
        "thousand" => return Some(1000),
        _ => {}
    }
    if let Some(i) = UNITS.iter().position(|u| *u == lower) {
        return u32::try_from(i).ok();
    }
    let mut parts = lower.split(['-', ' ']).filter(|p| !p.is_empty());
    let first = parts.next()?;
    let tens = TENS.iter().position(|t| *t == first)?;
    let tens = 20 + 10 * u32::try_from(tens).ok()?;
    let number = match parts.next() {
        None => tens,
        Some(unit) => tens + u32::try_from(UNITS[1..10].iter().position(|u| *u == unit)?).ok()? + 1,
    };
    parts.next().is_none().then_some(number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_words_as_contracts_write_them() {
        for (word, n) in [
            ("five", 5),
            ("Twelve", 12),
            ("forty-five", 45),
            ("Twenty One", 21),
            ("ninety", 90),
            ("thousand", 1000),
        ] {
            assert_eq!(number_word(word), Some(n), "{word}");
        }
        for word in ["lots", "forty-eleven", "twenty-one-two", ""] {
            assert_eq!(number_word(word), None, "{word}");
        }
    }
}
