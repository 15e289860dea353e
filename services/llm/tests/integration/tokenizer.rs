//! The tokenizer built from GGUF metadata.

use crate::smollm2;

#[test]
fn round_trips_legal_and_finance_text() {
    let Some(model) = smollm2() else { return };
    let tokenizer = model.tokenizer();
    for text in [
        "Section 4.2(a)(iii) of the Agreement, dated March 15, 2021, § 12.",
        "Net revenue was €1,234.56 million (up 7.8%) vs. $987,654 in FY2022.",
        "“Confidential Information” means…\n\n\tEXHIBIT B — Schedule of Fees\r\n",
        "日本語のテキスト and emoji 📄 survive too",
        "   leading and trailing spaces   ",
    ] {
        let ids = tokenizer.encode(text).unwrap();
        assert!(!ids.is_empty());
        assert_eq!(tokenizer.decode(&ids, true).unwrap(), text, "{ids:?}");
    }
}

#[test]
fn digits_are_split_one_by_one_without_a_prefix_space() {
    let Some(model) = smollm2() else { return };
    let tokenizer = model.tokenizer();
    // SmolLM2's pre-tokenizer splits every digit: "2021" is four tokens.
    let ids = tokenizer.encode("2021").unwrap();
    assert_eq!(ids.len(), 4, "{ids:?}");
    for (id, digit) in ids.iter().zip(["2", "0", "2", "1"]) {
        assert_eq!(tokenizer.decode(&[*id], true).unwrap(), digit);
    }
    // No prefix space: "Hello" at the start is the same token as without context,
    // and differs from " Hello".
    let hello = tokenizer.encode("Hello").unwrap();
    let spaced = tokenizer.encode(" Hello").unwrap();
    assert_eq!(hello.len(), 1, "{hello:?}");
    assert_ne!(hello, spaced);
}

#[test]
fn chat_template_tokens_are_single_special_tokens() {
    let Some(model) = smollm2() else { return };
    let tokenizer = model.tokenizer();
    let start = tokenizer
        .token_id("<|im_start|>")
        .expect("<|im_start|> in vocab");
    let end = tokenizer
        .token_id("<|im_end|>")
        .expect("<|im_end|> in vocab");
    let text = "<|im_start|>user\nWhat is the term?<|im_end|>\n<|im_start|>assistant\n";
    let ids = tokenizer.encode(text).unwrap();
    assert_eq!(ids[0], start);
    assert_eq!(ids.iter().filter(|&&i| i == start).count(), 2);
    assert_eq!(ids.iter().filter(|&&i| i == end).count(), 1);
    assert_eq!(tokenizer.decode(&ids, true).unwrap(), text);
    assert!(!tokenizer
        .decode(&ids, false)
        .unwrap()
        .contains("<|im_start|>"));
    let template = tokenizer
        .chat_template()
        .expect("the GGUF carries a chat template");
    assert!(template.contains("<|im_start|>"), "{template}");
}
