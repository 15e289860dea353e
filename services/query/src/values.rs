//! Checkable values in text: dates, durations, money amounts, percentages,
//! plain numbers and governing jurisdictions, found and normalised so that two
//! phrasings of one value compare equal ("forty-five (45) days" = "45 days",
//! "$1.2 billion" = "$1,200 million", "October 29, 1999" = "29 October 1999").
//!
//! Used by the extractive answer (the value a question asks for) and by the
//! claim check (every value of a shown sentence must occur in its source).

use once_cell::sync::Lazy;
use regex::{Captures, Regex};

/// What kind of value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueKind {
    /// A calendar date (day, month or year precision).
    Date,
    /// A period: an amount of days, weeks, months or years.
    Duration,
    /// A sum of money.
    Amount,
    /// A percentage.
    Percent,
    /// Any other number.
    Number,
    /// The place whose laws govern ("the State of California").
    Jurisdiction,
}

/// A value in its normal form.
#[derive(Debug, Clone, PartialEq)]
pub enum Normal {
    /// Year, then month and day where the text gives them.
    Date(i32, Option<u32>, Option<u32>),
    /// Amount and unit (`day`, `week`, `month`, `year`).
    Duration(f64, &'static str),
    /// In currency units ("$1.2 billion" → 1.2e9).
    Amount(f64),
    /// Percent points.
    Percent(f64),
    /// A number as written, scaled by a following "million"/"billion".
    Number(f64),
    /// The jurisdiction's name, lower case.
    Name(String),
}

/// One value found in a text.
#[derive(Debug, Clone, PartialEq)]
pub struct FoundValue {
    /// Its kind.
    pub kind: ValueKind,
    /// Byte range in the text searched.
    pub start: usize,
    /// One past its last byte.
    pub end: usize,
    /// Normal form.
    pub normal: Normal,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

const MONTH_NAME: &str = r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sept?(?:ember)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)";

const NUMBER_WORD: &str = r"(?:(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)(?:[- ](?:one|two|three|four|five|six|seven|eight|nine))?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|hundred|thousand)";

static DATE_MDY: Lazy<Regex> = Lazy::new(|| {
    Regex::new(&format!(
        r"(?i)\b({MONTH_NAME})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b"
    ))
    .expect("valid date pattern")
});
static DATE_DMY: Lazy<Regex> = Lazy::new(|| {
    Regex::new(&format!(
        r"(?i)\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:day\s+of\s+)?({MONTH_NAME})\.?,?\s+(\d{{4}})\b"
    ))
    .expect("valid date pattern")
});
static DATE_MY: Lazy<Regex> = Lazy::new(|| {
    Regex::new(&format!(r"(?i)\b({MONTH_NAME})\.?,?\s+(\d{{4}})\b")).expect("valid date pattern")
});
static DATE_ISO: Lazy<Regex> =
    Lazy::new(|| Regex::new(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b").expect("valid date pattern"));
static DATE_SLASH: Lazy<Regex> =
    Lazy::new(|| Regex::new(r"\b(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})\b").expect("valid date pattern"));
static DURATION: Lazy<Regex> = Lazy::new(|| {
    Regex::new(&format!(
        r"(?i)\b(?:({NUMBER_WORD})\s*\(\s*(\d+(?:\.\d+)?)\s*\)|(\d+(?:\.\d+)?)|({NUMBER_WORD}))[\s-]+(?:(?:business|calendar|working|consecutive|full)\s+)?(day|week|month|year)s?\b"
    ))
    .expect("valid duration pattern")
});
static AMOUNT: Lazy<Regex> = Lazy::new(|| {
    Regex::new(r"(?i)(?:US\$|\$|USD\s?|€|£|EUR\s?|GBP\s?)\s?(\d[\d,]*(?:\.\d+)?)(?:\s*(thousand|million|billion|trillion|mm|bn|m|b|k)\b)?")
        .expect("valid amount pattern")
});
static AMOUNT_WORDS: Lazy<Regex> = Lazy::new(|| {
    Regex::new(r"(?i)\b(\d[\d,]*(?:\.\d+)?)\s*(thousand|million|billion|trillion)?\s*(?:U\.?S\.?\s+)?(?:dollars|usd|euros?|pounds)\b")
        .expect("valid amount pattern")
});
static PERCENT: Lazy<Regex> = Lazy::new(|| {
    Regex::new(&format!(
        r"(?i)(?:({NUMBER_WORD})\s*\(\s*)?(\d+(?:\.\d+)?)\s*(?:\)\s*)?(?:%|\s?percent\b|\s?per\s?cent\b)|\b({NUMBER_WORD})\s+(?:percent|per\s?cent)\b"
    ))
    .expect("valid percent pattern")
});
static NUMBER: Lazy<Regex> = Lazy::new(|| {
    Regex::new(r"\d[\d,]*(?:\.\d+)?(?:\s*(thousand|million|billion|trillion)\b)?")
        .expect("valid number pattern")
});
static JURISDICTION: Lazy<Regex> = Lazy::new(|| {
    Regex::new(r"(?:[Ll]aws?|[Jj]urisdiction|[Cc]ourts?)\s+of\s+(?:the\s+)?(?:(?:[Ss]tate|[Cc]ommonwealth|[Pp]rovince|[Rr]epublic|[Kk]ingdom|[Dd]istrict)\s+of\s+)?([A-Z][A-Za-z]+(?:\s+(?:of\s+)?[A-Z][A-Za-z]+){0,3})")
        .expect("valid jurisdiction pattern")
});

/// Words that may follow "laws of" without naming a place.
const NOT_PLACES: &[&str] = &[
    "this", "any", "such", "each", "all", "its", "their", "such", "that",
];

fn month_number(name: &str) -> Option<u32> {
    let lower = name.to_ascii_lowercase();
    MONTHS
        .iter()
        .position(|m| lower.starts_with(m))
        .map(|i| i as u32 + 1)
}

/// "forty-five" → 45 ([`folio_common::text::number_word`]).
pub fn number_word(word: &str) -> Option<f64> {
    folio_common::text::number_word(word).map(f64::from)
}

fn scale(word: Option<&str>) -> f64 {
    match word.map(str::to_ascii_lowercase).as_deref() {
        Some("thousand" | "k") => 1e3,
        Some("million" | "mm" | "m") => 1e6,
        Some("billion" | "bn" | "b") => 1e9,
        Some("trillion") => 1e12,
        _ => 1.0,
    }
}

fn parse_number(digits: &str) -> Option<f64> {
    digits.replace(',', "").trim_end_matches('.').parse().ok()
}

fn date_mdy(c: &Captures<'_>) -> Option<Normal> {
    Some(Normal::Date(
        c[3].parse().ok()?,
        Some(month_number(&c[1])?),
        Some(c[2].parse().ok()?),
    ))
}

fn date_dmy(c: &Captures<'_>) -> Option<Normal> {
    Some(Normal::Date(
        c[3].parse().ok()?,
        Some(month_number(&c[2])?),
        Some(c[1].parse().ok()?),
    ))
}

fn date_iso(c: &Captures<'_>) -> Option<Normal> {
    Some(Normal::Date(
        c[1].parse().ok()?,
        Some(c[2].parse().ok()?),
        Some(c[3].parse().ok()?),
    ))
}

fn date_slash(c: &Captures<'_>) -> Option<Normal> {
    let (m, d, y): (u32, u32, i32) = (c[1].parse().ok()?, c[2].parse().ok()?, c[3].parse().ok()?);
    let year = match y {
        0..50 => y + 2000,
        50..100 => y + 1900,
        _ => y,
    };
    ((1..=12).contains(&m) && (1..=31).contains(&d)).then_some(Normal::Date(year, Some(m), Some(d)))
}

fn date_month_year(c: &Captures<'_>) -> Option<Normal> {
    Some(Normal::Date(
        c[2].parse().ok()?,
        Some(month_number(&c[1])?),
        None,
    ))
}

fn amount(c: &Captures<'_>) -> Option<Normal> {
    Some(Normal::Amount(
        parse_number(&c[1])? * scale(c.get(2).map(|m| m.as_str())),
    ))
}

fn percent(c: &Captures<'_>) -> Option<Normal> {
    let value = c
        .get(2)
        .and_then(|m| parse_number(m.as_str()))
        .or_else(|| c.get(3).and_then(|m| number_word(m.as_str())))?;
    Some(Normal::Percent(value))
}

fn duration(c: &Captures<'_>) -> Option<Normal> {
    let amount = c
        .get(2)
        .or(c.get(3))
        .and_then(|m| parse_number(m.as_str()))
        .or_else(|| c.get(1).or(c.get(4)).and_then(|m| number_word(m.as_str())))?;
    let unit = match c[5].to_ascii_lowercase().as_str() {
        "day" => "day",
        "week" => "week",
        "month" => "month",
        _ => "year",
    };
    Some(Normal::Duration(amount, unit))
}

/// Reads a value's normal form from a pattern's match.
type Reader = fn(&Captures<'_>) -> Option<Normal>;

/// The patterns read by [`find_values`], most specific first: where two match
/// the same characters the earlier wins (a date over its numbers, an amount
/// over its digits).
fn readers() -> [(&'static Regex, ValueKind, Reader); 9] {
    [
        (&DATE_MDY, ValueKind::Date, date_mdy),
        (&DATE_DMY, ValueKind::Date, date_dmy),
        (&DATE_ISO, ValueKind::Date, date_iso),
        (&DATE_SLASH, ValueKind::Date, date_slash),
        (&DATE_MY, ValueKind::Date, date_month_year),
        (&AMOUNT, ValueKind::Amount, amount),
        (&AMOUNT_WORDS, ValueKind::Amount, amount),
        (&PERCENT, ValueKind::Percent, percent),
        (&DURATION, ValueKind::Duration, duration),
    ]
}

/// Every value in `text`, left to right: the typed values of [`readers`], then
/// governing places, then any other number not inside a word.
pub fn find_values(text: &str) -> Vec<FoundValue> {
    let mut found: Vec<FoundValue> = Vec::new();
    let mut push = |kind, start, end, normal| {
        if !found.iter().any(|f| f.start < end && start < f.end) {
            found.push(FoundValue {
                kind,
                start,
                end,
                normal,
            });
        }
    };
    for (pattern, kind, read) in readers() {
        for c in pattern.captures_iter(text) {
            if let (Some(whole), Some(normal)) = (c.get(0), read(&c)) {
                push(kind, whole.start(), whole.end(), normal);
            }
        }
    }
    for c in JURISDICTION.captures_iter(text) {
        let Some(name) = c.get(1) else { continue };
        let first = name.as_str().split_whitespace().next().unwrap_or("");
        if NOT_PLACES.contains(&first.to_ascii_lowercase().as_str()) {
            continue;
        }
        let trimmed = trim_trailing_common(name.as_str());
        let normal = Normal::Name(trimmed.to_ascii_lowercase());
        push(
            ValueKind::Jurisdiction,
            name.start(),
            name.start() + trimmed.len(),
            normal,
        );
    }
    for c in NUMBER.captures_iter(text) {
        let Some(whole) = c.get(0) else { continue };
        // A digit run inside a word ("Q4", "10-K", "S3") is a label, not a value.
        let before = text[..whole.start()].chars().next_back();
        let mut after = text[whole.end()..].chars();
        let next = after.next();
        let glued = next.is_some_and(char::is_alphabetic)
            || (next == Some('-') && after.next().is_some_and(char::is_alphabetic));
        if before.is_some_and(char::is_alphabetic) || glued {
            continue;
        }
        let digits = whole.as_str().split_whitespace().next().unwrap_or("");
        if let Some(value) = parse_number(digits) {
            let value = value * scale(c.get(1).map(|m| m.as_str()));
            push(
                ValueKind::Number,
                whole.start(),
                whole.end(),
                Normal::Number(value),
            );
        }
    }
    found.sort_by_key(|f| f.start);
    found
}

/// Drops words that end a capitalised run without naming the place ("California
/// Without" in a heading-cased clause).
fn trim_trailing_common(name: &str) -> &str {
    const TRAILING: &[&str] = &[
        "Without",
        "Excluding",
        "And",
        "In",
        "Shall",
        "As",
        "The",
        "For",
    ];
    let mut name = name.trim_end();
    while let Some((rest, last)) = name.rsplit_once(char::is_whitespace) {
        if !TRAILING.contains(&last) {
            break;
        }
        name = rest.trim_end();
    }
    name
}

/// The numeric magnitude of a value (dates and names have none).
fn magnitude(normal: &Normal) -> Option<f64> {
    match normal {
        Normal::Duration(v, _) | Normal::Amount(v) | Normal::Percent(v) | Normal::Number(v) => {
            Some(*v)
        }
        Normal::Date(..) | Normal::Name(_) => None,
    }
}

fn close(a: f64, b: f64) -> bool {
    let tolerance = (a.abs().max(b.abs()) * 0.005).max(1e-9);
    (a - b).abs() <= tolerance
}

/// Whether `claimed` is stated by one of `source`'s values: the same date (at the
/// claim's precision), period, amount (within rounding, any scale word), share or
/// place. A bare number matches any value of the same magnitude, so "45" is
/// supported by "forty-five (45) days" and "1.2" by "$1.2 billion".
pub fn supports(source: &[FoundValue], claimed: &FoundValue) -> bool {
    source.iter().any(|s| match (&claimed.normal, &s.normal) {
        (Normal::Date(y, m, d), Normal::Date(sy, sm, sd)) => {
            y == sy && (m.is_none() || m == sm) && (d.is_none() || d == sd)
        }
        (Normal::Duration(a, u), Normal::Duration(b, v)) => u == v && close(*a, *b),
        (Normal::Amount(a), Normal::Amount(b)) => close(*a, *b),
        (Normal::Percent(a), Normal::Percent(b)) => close(*a, *b),
        (Normal::Name(a), Normal::Name(b)) => a == b || b.starts_with(a.as_str()),
        (Normal::Number(a), other) => match other {
            Normal::Date(y, _, d) => {
                close(*a, f64::from(*y)) || d.is_some_and(|d| close(*a, f64::from(d)))
            }
            _ => magnitude(other).is_some_and(|b| close(*a, b) || scaled_alike(*a, b)),
        },
        // A period, amount or share is not supported by a bare number of the same
        // size ("5%" by "Article 5"): its unit is part of the claim.
        _ => false,
    })
}

/// "1.2" against 1.2e9: the same figure written without its scale word.
fn scaled_alike(a: f64, b: f64) -> bool {
    [1e3, 1e6, 1e9]
        .iter()
        .any(|s| close(a * s, b) || close(a, b * s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(ValueKind, Normal)> {
        find_values(text)
            .into_iter()
            .map(|v| (v.kind, v.normal))
            .collect()
    }

    #[test]
    fn contract_periods_in_words_and_digits_are_one_duration() {
        assert_eq!(
            kinds("The Buyer shall pay each invoice within forty-five (45) days of receipt."),
            [(ValueKind::Duration, Normal::Duration(45.0, "day"))]
        );
        assert_eq!(
            kinds("upon thirty (30) calendar days' prior written notice"),
            [(ValueKind::Duration, Normal::Duration(30.0, "day"))]
        );
        assert_eq!(
            kinds("a term of five years")[0].1,
            Normal::Duration(5.0, "year")
        );
        assert_eq!(
            kinds("within 10 business days")[0].1,
            Normal::Duration(10.0, "day")
        );
        let said = find_values("within forty-five (45) days");
        for claim in ["45 days", "forty five days", "45"] {
            let claimed = &find_values(claim)[0];
            assert!(supports(&said, claimed), "{claim}");
        }
        assert!(!supports(&said, &find_values("1 day")[0]));
        assert!(!supports(&said, &find_values("45 months")[0]));
    }

    #[test]
    fn dates_in_any_format_compare_equal() {
        let said = find_values(
            "made and entered into as of October 29, 1999 (\"EFFECTIVE DATE\") by and between",
        );
        assert_eq!(said[0].normal, Normal::Date(1999, Some(10), Some(29)));
        for claim in [
            "29 October 1999",
            "the 29th day of October, 1999",
            "1999-10-29",
            "10/29/1999",
            "Oct. 29, 1999",
            "October 1999",
            "1999",
        ] {
            let claimed = &find_values(claim)[0];
            assert!(supports(&said, claimed), "{claim}: {claimed:?}");
        }
        for claim in ["2022-01-01", "October 30, 1999", "2023"] {
            let claimed = &find_values(claim)[0];
            assert!(!supports(&said, claimed), "{claim}");
        }
    }

    #[test]
    fn amounts_keep_their_scale_and_percentages_their_points() {
        // 10-K phrasing.
        let said = find_values(
            "Consolidated net revenues of $3.6 billion, an increase of 18% compared to the prior year quarter; share buybacks of $352 million.",
        );
        assert!(
            said.iter()
                .any(|v| v.kind == ValueKind::Amount && v.normal == Normal::Amount(3.6e9)),
            "{said:?}"
        );
        for claim in [
            "$3,600 million",
            "3.6 billion dollars",
            "18 percent",
            "18%",
            "$352 million",
            "352",
        ] {
            let claimed = &find_values(claim)[0];
            assert!(supports(&said, claimed), "{claim}: {claimed:?}");
        }
        for claim in ["$3.6 million", "$36 billion", "19%", "$352 billion"] {
            let claimed = &find_values(claim)[0];
            assert!(!supports(&said, claimed), "{claim}");
        }
        // A bare figure is supported by the cell it repeats.
        let table = find_values("Net sales                           $1,840.0    $1,732.6");
        assert!(supports(&table, &find_values("1,840")[0]));
        // A share is not supported by a section number of the same size.
        let headings = find_values("Article 5 Notices");
        assert!(!supports(
            &headings,
            &find_values("a late fee of 5% applies")[0]
        ));
    }

    #[test]
    fn the_governing_law_is_read_as_a_place() {
        let said = find_values(
            "This Agreement shall be governed by the laws of the State of California, USA, excluding conflict of laws provisions",
        );
        let places: Vec<&Normal> = said
            .iter()
            .filter(|v| v.kind == ValueKind::Jurisdiction)
            .map(|v| &v.normal)
            .collect();
        assert_eq!(places, [&Normal::Name("california".into())]);
        let dc = find_values("construed in accordance with the laws of the District of Columbia");
        assert_eq!(dc[0].normal, Normal::Name("columbia".into()));
        assert!(find_values("subject to the laws of any jurisdiction")
            .iter()
            .all(|v| v.kind != ValueKind::Jurisdiction));
    }

    #[test]
    fn labels_are_not_numbers() {
        assert!(kinds("see Exhibit 10-K and Q4 results [S3]").is_empty());
        assert_eq!(number_word("forty-five"), Some(45.0));
        assert_eq!(number_word("ninety"), Some(90.0));
        assert_eq!(number_word("twelve"), Some(12.0));
        assert_eq!(number_word("lots"), None);
    }
}
