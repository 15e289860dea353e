#![no_main]
//! ALR²'s fact checking on an arbitrary context and an arbitrary model reply: the
//! legal-aware sentence splitter, the claim parser and the verifier. Every verified
//! fact must rest on a real unit whose text is the exact slice of the context.

use folio_query::alr2::{parse_claims, verify, Unit};
use folio_common::text::sentences;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    // The context, then the reply after the first form feed.
    let (context, reply) = input.split_once('\u{c}').unwrap_or((&input, "S1: \"\""));
    let char_at = |byte: usize| context[..byte].chars().count();
    let ranges = sentences::split(context);
    let mut previous_end = 0;
    let units: Vec<Unit> = ranges
        .iter()
        .enumerate()
        .map(|(i, &(start, end))| {
            assert!(
                start >= previous_end && start < end && end <= context.len(),
                "unit {i}: {start}..{end}"
            );
            assert!(context.is_char_boundary(start) && context.is_char_boundary(end));
            previous_end = end;
            Unit {
                id: i + 1,
                document_id: "doc".into(),
                version: 1,
                char_start: char_at(start),
                char_end: char_at(end),
                heading_path: Vec::new(),
                page: None,
                text: context[start..end].to_string(),
            }
        })
        .collect();
    let parsed = parse_claims(reply);
    let check = verify(&parsed.claims, &units);
    assert!(check.verified.len() + check.rejected.len() <= parsed.claims.len());
    for fact in &check.verified {
        let unit = units
            .iter()
            .find(|u| u.id == fact.unit.id)
            .expect("a verified fact rests on a real unit");
        assert_eq!(unit, &fact.unit);
        let slice: String = context
            .chars()
            .skip(unit.char_start)
            .take(unit.char_end - unit.char_start)
            .collect();
        assert_eq!(slice, fact.unit.text);
        assert!(
            (0.0..=1.0).contains(&fact.overlap),
            "overlap {}",
            fact.overlap
        );
    }
});
