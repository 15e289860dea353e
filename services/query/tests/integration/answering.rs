//! Invariants of answering's building blocks, by property: sentence units tile the
//! text exactly, and fact verification only ever grounds claims in real units.

use folio_common::text::sentences;
use folio_query::alr2::{self, Claim, Unit};
use proptest::prelude::*;

fn legal_text() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "The Licensee shall pay",
        "U.S.C.",
        "No.",
        "Sec. 2.1",
        "(a)",
        "(iv)",
        "1.",
        "J. Smith",
        "Inc.",
        "$5.2 million",
        "3.5%",
        ";",
        ":",
        ".",
        "?",
        "!",
        "\n",
        "\n\n",
        "  ",
        "é",
        "“quoted”",
        "Exhibit A.",
        "within thirty (30) days",
        "ARTICLE IX",
        "e.g.",
        "\t",
    ]);
    prop::collection::vec(pieces, 0..40).prop_map(|v| v.join(" "))
}

proptest! {
    #[test]
    fn units_are_ordered_trimmed_and_cover_every_visible_character(text in legal_text()) {
        let units = sentences::split(&text);
        let mut previous_end = 0;
        for &(start, end) in &units {
            prop_assert!(start >= previous_end && start < end && end <= text.len());
            let unit = &text[start..end];
            prop_assert_eq!(unit.trim(), unit);
            prop_assert!(!unit.is_empty());
            // Between units there is only whitespace.
            prop_assert!(text[previous_end..start].trim().is_empty());
            previous_end = end;
        }
        prop_assert!(text[previous_end..].trim().is_empty());
    }

    #[test]
    fn verified_facts_are_real_units_and_every_claim_is_accounted_for(
        ids in prop::collection::vec(prop::option::of(0usize..8), 0..8),
        quotes in prop::collection::vec("[a-z ]{0,30}", 8),
    ) {
        let texts = [
            "the supplier delivers valves every month",
            "the buyer pays each invoice within forty five days",
            "either party may terminate on ninety days notice",
            "delaware law governs this agreement",
        ];
        let units: Vec<Unit> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| Unit {
                id: i + 1,
                document_id: "d".into(),
                version: 1,
                char_start: i * 100,
                char_end: i * 100 + t.len(),
                heading_path: vec![],
                page: None,
                text: t.to_string(),
            })
            .collect();
        let claims: Vec<Claim> = ids
            .iter()
            .zip(&quotes)
            .map(|(id, quote)| Claim { id: *id, quote: quote.clone() })
            .collect();
        let check = alr2::verify(&claims, &units);
        prop_assert!(check.verified.len() + check.rejected.len() <= claims.len());
        let mut seen = std::collections::HashSet::new();
        for fact in &check.verified {
            prop_assert!(units.contains(&fact.unit));
            prop_assert!(seen.insert(fact.unit.id), "a unit is verified once");
            prop_assert!(!fact.quote.trim().is_empty(), "a fact needs a quote");
            prop_assert!(fact.overlap >= alr2::MIN_TOKEN_OVERLAP);
        }
        let rate = check.rejected_rate();
        prop_assert!((0.0..=1.0).contains(&rate));
    }
}
