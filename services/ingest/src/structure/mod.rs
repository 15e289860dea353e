//! The structurizer: recovers a document's section tree and its defined
//! terms from the canonical text, deterministically (no model).
//!
//! Sources, most trusted first:
//! 1. markup headings the parser saw (`doc.headings`: HTML `<h1..h6>`, DOCX
//!    heading styles, Markdown `#`);
//! 2. legal and financial numbering at line starts: `PART II`,
//!    `Exhibit A`/`Schedule 1`, `ARTICLE IV`, SEC `Item 7A`, `Note 12`,
//!    `Section 4.2`/`§ 4.2`/`4.2.1`/`12.`, and list clauses `(a)`, `(iv)`,
//!    `(A)`, `(1)`;
//! 3. ALL-CAPS heading lines.
//!
//! False positives do the most harm, so a line opens a section only when it
//! looks like a heading where it stands (a short line, or a paragraph opening
//! with a run-in title, never a wrapped sentence), is not page furniture
//! (running headers, page numbers) nor part of a table of contents, and
//! continues its siblings' numbering.

mod lines;
mod numbering;
mod report;
mod terms;
mod tree;

use folio_common::model::{ParsedDocument, SectionTree};

pub use report::{structure_report, DocumentStructureReport, StructureReport};

use lines::Lines;
use numbering::{parse_markup_heading, recognize, Candidate};

/// Recovers the section tree (pre-order; every section's range holds its
/// children and ends where the next section at the same or a higher level
/// starts) and the defined terms of a parsed document.
pub fn structurize(doc: &ParsedDocument) -> SectionTree {
    let lines = Lines::scan(doc);
    let markup = markup_candidates(doc);
    let mut candidates: Vec<Candidate> = Vec::new();
    let mut markup_cursor = 0usize;
    // Lines already used as a previous heading's title are not headings.
    let mut covered_until = 0usize;
    for i in 0..lines.lines.len() {
        let line = &lines.lines[i];
        if line.content_start < covered_until {
            continue;
        }
        while markup_cursor < markup.len()
            && markup[markup_cursor].heading_end <= line.content_start
        {
            markup_cursor += 1;
        }
        if markup
            .get(markup_cursor)
            .is_some_and(|m| m.heading_start < line.content_end)
        {
            continue;
        }
        if let Some(cand) = recognize(&lines, i) {
            covered_until = cand.heading_end;
            candidates.push(cand);
        }
    }
    candidates.extend(markup);
    candidates.sort_by_key(|c| c.heading_start);

    let sections = tree::build(&doc.text, candidates);
    let mut tree = SectionTree {
        sections,
        terms: Vec::new(),
    };
    tree.terms = terms::find(&doc.text, &tree);
    tree
}

/// Markup headings, validated (the parser is ours, but offsets are still
/// checked rather than trusted to slice).
fn markup_candidates(doc: &ParsedDocument) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = Vec::new();
    for hint in &doc.headings {
        let Some(text) = doc.text.get(hint.start..hint.end) else {
            continue;
        };
        if text.trim().is_empty() || out.last().is_some_and(|c| c.heading_end > hint.start) {
            continue;
        }
        out.push(parse_markup_heading(text, hint.start, hint.level.max(1)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use folio_common::model::{HeadingHint, PageRange, SectionKind};

    fn doc(text: &str) -> ParsedDocument {
        ParsedDocument {
            text: text.to_string(),
            pages: vec![PageRange {
                number: 1,
                start: 0,
                end: text.len(),
            }],
            ..Default::default()
        }
    }

    fn paths(tree: &SectionTree) -> Vec<String> {
        tree.sections
            .iter()
            .map(|s| tree.path(s.id).join(" › "))
            .collect()
    }

    fn assert_well_formed(tree: &SectionTree, len: usize) {
        for (i, s) in tree.sections.iter().enumerate() {
            assert_eq!(s.id as usize, i);
            assert!(
                s.start <= s.heading_start
                    && s.heading_start < s.heading_end
                    && s.heading_end <= s.end,
                "{s:?}"
            );
            assert!(s.end <= len);
            if let Some(p) = s.parent {
                let parent = &tree.sections[p as usize];
                assert!(
                    p < s.id && parent.start <= s.start && s.end <= parent.end,
                    "{s:?} in {parent:?}"
                );
                assert_eq!(s.depth, parent.depth + 1);
            }
        }
    }

    #[test]
    fn contract_articles_sections_and_clauses() {
        let text = "MASTER SERVICES AGREEMENT\n\nThis Agreement (the \"Agreement\") is made today.\n\n\
            ARTICLE I\nDEFINITIONS\n\n1.1 \"Affiliate\" means any entity that controls a Party.\n\n\
            1.2 \"Services\" shall mean the work.\n\nARTICLE II   TERM AND TERMINATION\n\n\
            2.1 Term. This Agreement starts on the Effective Date, pursuant to Section 4.2 hereof.\n\n\
            2.2 Termination. Either Party may terminate:\n\n(a) for breach;\n\n(b) for insolvency; and\n\n\
            (i) upon notice;\n\n(ii) after cure; or\n\n(c) for convenience.\n\n\
            2.3 Effect. Sections 2.1 and 2.2 survive.\n";
        let tree = structurize(&doc(text));
        assert_well_formed(&tree, text.len());
        assert_eq!(
            paths(&tree),
            vec![
                "MASTER SERVICES AGREEMENT",
                "ARTICLE I DEFINITIONS",
                "ARTICLE I DEFINITIONS › 1.1 \"Affiliate\"",
                "ARTICLE I DEFINITIONS › 1.2 \"Services\"",
                "ARTICLE II TERM AND TERMINATION",
                "ARTICLE II TERM AND TERMINATION › 2.1 Term",
                "ARTICLE II TERM AND TERMINATION › 2.2 Termination",
                "ARTICLE II TERM AND TERMINATION › 2.2 Termination › (a)",
                "ARTICLE II TERM AND TERMINATION › 2.2 Termination › (b)",
                "ARTICLE II TERM AND TERMINATION › 2.2 Termination › (b) › (i)",
                "ARTICLE II TERM AND TERMINATION › 2.2 Termination › (b) › (ii)",
                "ARTICLE II TERM AND TERMINATION › 2.2 Termination › (c)",
                "ARTICLE II TERM AND TERMINATION › 2.3 Effect",
            ]
        );
        let terms: Vec<&str> = tree.terms.iter().map(|t| t.term.as_str()).collect();
        assert_eq!(terms, vec!["Agreement", "Affiliate", "Services"]);
        let affiliate = &tree.terms[1];
        assert_eq!(
            &text[affiliate.start..affiliate.end],
            "1.1 \"Affiliate\" means any entity that controls a Party."
        );
        assert_eq!(affiliate.section, Some(2));
        assert_eq!(tree.sections[1].kind, SectionKind::Article);
        assert_eq!(tree.sections[7].kind, SectionKind::Clause);
    }

    #[test]
    fn letters_versus_roman_numerals() {
        let mut text = String::from("Section 1. Covenants. The Company agrees:\n\n");
        for letter in 'a'..='j' {
            text.push_str(&format!("({letter}) Covenant {letter} applies.\n\n"));
        }
        let tree = structurize(&doc(&text));
        let labels: Vec<&str> = tree.sections.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(
            labels,
            vec![
                "Section 1",
                "(a)",
                "(b)",
                "(c)",
                "(d)",
                "(e)",
                "(f)",
                "(g)",
                "(h)",
                "(i)",
                "(j)"
            ]
        );
        assert!(tree.sections[1..].iter().all(|s| s.parent == Some(0)));
    }

    #[test]
    fn cross_references_and_wrapped_lines_are_not_headings() {
        let text = "1. Scope. The supplier shall deliver the goods described in the order and the buyer will\n\
            Section 4.2 of the master agreement applies to every delivery made under it.\n\
            pursuant to Section 4.2 the buyer pays.\n\n2. Price. The price is fixed.\n";
        let tree = structurize(&doc(text));
        let labels: Vec<&str> = tree.sections.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, vec!["1.", "2."]);
    }

    #[test]
    fn filing_parts_items_notes_and_toc() {
        let mut text = String::from(
            "UNITED STATES SECURITIES AND EXCHANGE COMMISSION\nFORM 10-K\n\nTABLE OF CONTENTS\nPART I\n",
        );
        for (item, title, page) in [
            ("1", "Business", 3),
            ("1A", "Risk Factors", 9),
            ("7", "Management's Discussion", 20),
            ("8", "Financial Statements", 40),
        ] {
            text.push_str(&format!("Item {item}.\n{title}\n{page}\n"));
        }
        text.push_str(
            "\x0cPART I\nITEM 1. BUSINESS\nWe make software for everyone. It is sold widely.\n",
        );
        text.push_str(
            "ITEM 1A. RISK FACTORS\nRisks abound in our business and they are many.\n\x0cPART II\n",
        );
        text.push_str("ITEM 7. MANAGEMENT'S DISCUSSION AND ANALYSIS OF FINANCIAL CONDITION AND\nRESULTS OF OPERATIONS\nRevenue grew.\n");
        text.push_str("ITEM 8. FINANCIAL STATEMENTS\nNOTES TO CONSOLIDATED FINANCIAL STATEMENTS\n");
        text.push_str("NOTE 1. BASIS OF PRESENTATION\nWe follow GAAP in all material respects.\n");
        text.push_str("See Note 2 for details.\nNOTE 2 — INCOME TAXES\nWe pay taxes.\n");
        let tree = structurize(&doc(&text));
        assert_well_formed(&tree, text.len());
        let p = paths(&tree);
        assert!(
            p.contains(&"PART I › ITEM 1 BUSINESS".to_string()),
            "{p:#?}"
        );
        assert!(p.contains(&"PART II › ITEM 7 MANAGEMENT'S DISCUSSION AND ANALYSIS OF FINANCIAL CONDITION AND RESULTS OF OPERATIONS".to_string()), "{p:#?}");
        assert!(
            p.contains(&"PART II › ITEM 8 FINANCIAL STATEMENTS › NOTE 2 INCOME TAXES".to_string()),
            "{p:#?}"
        );
        let items = tree
            .sections
            .iter()
            .filter(|s| s.kind == SectionKind::Item)
            .count();
        assert_eq!(items, 4, "TOC entries must not become sections: {p:#?}");
    }

    #[test]
    fn markup_headings_are_trusted() {
        let text = "# Lease\nintro\n## 1. Rent\nPay rent.\n## 2. Repairs\nFix things.\n";
        let mut d = doc(text);
        let hint = |line: &str, level| {
            let start = text.find(line).unwrap();
            HeadingHint {
                start,
                end: start + line.len(),
                level,
            }
        };
        d.headings = vec![
            hint("# Lease", 1),
            hint("## 1. Rent", 2),
            hint("## 2. Repairs", 2),
        ];
        let tree = structurize(&d);
        assert_well_formed(&tree, text.len());
        assert_eq!(
            paths(&tree),
            vec!["Lease", "Lease › 1. Rent", "Lease › 2. Repairs"]
        );
        assert_eq!(tree.sections[1].kind, SectionKind::Section);
    }

    fn labels(tree: &SectionTree) -> Vec<&str> {
        tree.sections.iter().map(|s| s.label.as_str()).collect()
    }

    #[test]
    fn run_together_sections_are_split() {
        let text = "Exhibit 10.2\n\nSUPPLY AGREEMENT\n\n\
            The parties agree as follows: 1. Definitions.\n\
            1.1 \"Product\" means the goods. 1.2 \"Price\" shall have the meaning set forth below. \
            2. Supply. 2.1 Orders. Buyer orders goods in writing.    2.2 Delivery. Seller delivers them. \
            Pursuant to Section 2.1 orders bind.\n";
        let tree = structurize(&doc(text));
        assert_well_formed(&tree, text.len());
        assert_eq!(
            paths(&tree),
            vec![
                "SUPPLY AGREEMENT",
                "1. Definitions",
                "1. Definitions › 1.1 \"Product\"",
                "1. Definitions › 1.2 \"Price\"",
                "2. Supply",
                "2. Supply › 2.1 Orders",
                "2. Supply › 2.2 Delivery",
            ]
        );
    }

    #[test]
    fn dot_leader_contents_and_page_number_prefixes() {
        let text = "TABLE OF CONTENTS\n1. Definitions.............\n2. Grant....................\n\
            3. Fees.....................\n4. Term.....................\n\n\
            1. DEFINITIONS\n\n\"Term\" means the term.\n\n                      1\n\n\
            2 2. GRANT\n\nLicensor grants a license.\n\n3. FEES\n\nFees are due.\n\n\
            4. TERM\n\nThe term is one year.\n";
        let tree = structurize(&doc(text));
        assert_well_formed(&tree, text.len());
        assert_eq!(
            labels(&tree),
            vec!["1.", "2.", "3.", "4."],
            "{:#?}",
            paths(&tree)
        );
        let grant = &tree.sections[1];
        assert_eq!(&text[grant.heading_start..grant.heading_end], "2. GRANT");
    }

    #[test]
    fn title_case_headings_nest_under_capitals() {
        let text = "ITEM 7. MANAGEMENT'S DISCUSSION AND ANALYSIS\nOVERVIEW\n\
            We design and sell software and services to customers around the world, in many markets.\n\
            Digital Media\n\
            Revenue from Digital Media grew strongly in the year because subscriptions increased.\n\
            Amy E. Hood\n\
            Executive Vice President and Chief Financial Officer of the company since 2013, and more.\n\
            RESULTS OF OPERATIONS\n\
            Revenue increased by ten percent compared with the prior fiscal year, driven by volume.\n";
        let tree = structurize(&doc(text));
        assert_well_formed(&tree, text.len());
        assert_eq!(
            paths(&tree),
            vec![
                "ITEM 7 MANAGEMENT'S DISCUSSION AND ANALYSIS",
                "ITEM 7 MANAGEMENT'S DISCUSSION AND ANALYSIS › OVERVIEW",
                "ITEM 7 MANAGEMENT'S DISCUSSION AND ANALYSIS › OVERVIEW › Digital Media",
                "ITEM 7 MANAGEMENT'S DISCUSSION AND ANALYSIS › RESULTS OF OPERATIONS",
            ]
        );
    }

    #[test]
    fn figures_and_references_are_not_sections() {
        let text =
            "NOTE 2 — EARNINGS PER SHARE\nBasic earnings per share are computed as follows.\n\
            2.66 $\nDiluted (A/C)\n5.0\n26.1 International\nSee Note 13 for details.\n\
            Note 13\n1.4\n3.7\nNOTE 3 — INCOME TAXES\nWe pay taxes in many places.\n";
        let tree = structurize(&doc(text));
        assert_eq!(
            labels(&tree),
            vec!["NOTE 2", "NOTE 3"],
            "{:#?}",
            paths(&tree)
        );
    }
}
