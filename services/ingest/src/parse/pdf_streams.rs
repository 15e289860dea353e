//! Bounded decoding of a PDF's streams, before pdf-extract sees them.
//!
//! lopdf decodes a stream whenever it is read, with no bound on the output,
//! and pdf-extract reads a page's content streams once per reference: a
//! 78 KB file whose page lists one 64 MiB stream 2,000 times asked for
//! 128 GB. So every stream is decoded here once, through the same filter
//! chains lopdf would run (Flate with its raw-deflate fallback, LZW,
//! ASCII85, plus ASCIIHex and RunLength, which lopdf leaves undecoded),
//! each step bounded by what is left of the stream's and the document's
//! budget; the decoded bytes replace the stream with its filters removed, so
//! nothing downstream decodes again. Then each page's cost, every content
//! stream and form it runs counted as often as it runs, is checked against
//! a page budget before any page is extracted.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};

use pdf_extract::content::Content;
use pdf_extract::{Document, Object, ObjectId};

use super::{ParseError, ParseLimits};

/// Streams that decode to less than this are never judged by their ratio:
/// small streams of repeated bytes compress very well and are harmless.
const RATIO_FLOOR: u64 = 4 * 1024 * 1024;

/// Decodes every filtered stream of `doc` in place within `limits`, empties
/// image streams (no text in them), and returns the decoded bytes in total.
pub(super) fn decode_streams(doc: &mut Document, limits: &ParseLimits) -> Result<u64, ParseError> {
    let mut spent: u64 = 0;
    let ids: Vec<ObjectId> = doc.objects.keys().copied().collect();
    for id in ids {
        let Some(Object::Stream(stream)) = doc.objects.get_mut(&id) else {
            continue;
        };
        let kind = |key: &[u8]| stream.dict.get(key).and_then(Object::as_name).ok();
        if kind(b"Subtype") == Some(b"Image") {
            stream.set_plain_content(Vec::new());
            continue;
        }
        // Consumed when the file was loaded; pdf-extract never reads them.
        if matches!(kind(b"Type"), Some(b"XRef" | b"ObjStm")) {
            continue;
        }
        // lopdf treats a /Filter it cannot read as no filter at all.
        let Ok(filters) = stream.filters() else {
            continue;
        };
        let filters: Vec<Vec<u8>> = filters.into_iter().map(<[u8]>::to_vec).collect();
        if filters.is_empty() {
            continue;
        }
        let predictor = png_predictor(stream.dict.get(b"DecodeParms").ok());
        let early_change = stream
            .dict
            .get(b"DecodeParms")
            .and_then(Object::as_dict)
            .and_then(|p| p.get(b"EarlyChange"))
            .and_then(Object::as_i64)
            .map_or(true, |v| v != 0);
        let budget = limits
            .max_stream_decoded_bytes
            .min(limits.max_decoded_bytes.saturating_sub(spent));
        let decoded = decode_chain(&stream.content, &filters, predictor, early_change, budget)
            .map_err(|exceeded| too_large(exceeded, limits, spent))?;
        let ratio = decoded.len() as u64 / (stream.content.len() as u64).max(1);
        if decoded.len() as u64 > RATIO_FLOOR && ratio > limits.max_zip_ratio {
            return Err(ParseError::DecodedTooLarge(format!(
                "a {} byte stream decodes to {} bytes ({ratio}x)",
                stream.content.len(),
                decoded.len()
            )));
        }
        spent += decoded.len() as u64;
        stream.set_plain_content(decoded);
    }
    Ok(spent)
}

/// How far before `stream` a stream's dictionary is looked for.
const DICTIONARY_WINDOW: usize = 64 * 1024;

/// Measures, in the raw file, the streams lopdf inflates while it loads
/// (object streams and cross-reference streams), within the same per-stream
/// and per-document budgets: loading decodes them with no bound, before
/// [`decode_streams`] can. A stream whose dictionary is not found within
/// [`DICTIONARY_WINDOW`] is left to the parser process's memory limit.
pub(super) fn check_load_time_streams(
    bytes: &[u8],
    limits: &ParseLimits,
) -> Result<(), ParseError> {
    let mut spent: u64 = 0;
    let mut from = 0;
    while let Some(at) = find(&bytes[from..], b"stream").map(|at| from + at) {
        // A dictionary lies after the previous `stream` keyword, so the
        // windows never overlap and the scan stays linear in the file.
        let window = &bytes[at.saturating_sub(DICTIONARY_WINDOW).max(from)..at];
        from = at + b"stream".len();
        if bytes[..at].ends_with(b"end") {
            continue;
        }
        let dictionary = match rfind(window, b"obj") {
            Some(obj) => &window[obj..],
            None => continue,
        };
        if find(dictionary, b"/ObjStm").is_none() && find(dictionary, b"/XRef").is_none() {
            continue;
        }
        let data = bytes[from..].strip_prefix(b"\r").unwrap_or(&bytes[from..]);
        let data = data.strip_prefix(b"\n").unwrap_or(data);
        let budget = limits
            .max_stream_decoded_bytes
            .min(limits.max_decoded_bytes.saturating_sub(spent));
        let inflated =
            inflate(data, budget).map_err(|exceeded| too_large(exceeded, limits, spent))?;
        spent += inflated.len() as u64;
    }
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

/// The error for a decode that ran past `budget` after `spent` bytes of other streams.
fn too_large(budget: u64, limits: &ParseLimits, spent: u64) -> ParseError {
    if budget >= limits.max_stream_decoded_bytes {
        ParseError::DecodedTooLarge(format!(
            "a stream decodes to more than {} bytes",
            limits.max_stream_decoded_bytes
        ))
    } else {
        ParseError::DecodedTooLarge(format!(
            "the streams decode to more than {} bytes ({spent} before this one)",
            limits.max_decoded_bytes
        ))
    }
}

/// PNG predictor parameters (`/Predictor` 10–15), the only kind lopdf applies:
/// (bytes per pixel, pixels per row).
fn png_predictor(params: Option<&Object>) -> Option<(usize, usize)> {
    let params = params?.as_dict().ok()?;
    let int = |key: &[u8], default: i64| {
        params
            .get(key)
            .and_then(Object::as_i64)
            .unwrap_or(default)
            .clamp(1, 1 << 16) as usize
    };
    let predictor = params
        .get(b"Predictor")
        .and_then(Object::as_i64)
        .unwrap_or(1);
    if !(10..=15).contains(&predictor) {
        return None;
    }
    let bits = int(b"BitsPerComponent", 8).max(8);
    Some((int(b"Colors", 1) * bits / 8, int(b"Columns", 1)))
}

/// Runs the filter chain over `raw`; `Err(budget)` when the output would pass `budget`.
/// A filter that is not a text-bearing encoding (images: DCT, JPX, CCITT,
/// JBIG2) yields nothing.
fn decode_chain(
    raw: &[u8],
    filters: &[Vec<u8>],
    predictor: Option<(usize, usize)>,
    early_change: bool,
    budget: u64,
) -> Result<Vec<u8>, u64> {
    let mut data = raw.to_vec();
    for filter in filters {
        data = match filter.as_slice() {
            b"FlateDecode" | b"Fl" => apply_predictor(inflate(&data, budget)?, predictor),
            b"LZWDecode" | b"LZW" => apply_predictor(lzw(&data, early_change, budget)?, predictor),
            b"ASCII85Decode" | b"A85" => ascii85(&data, budget)?,
            b"ASCIIHexDecode" | b"AHx" => ascii_hex(&data, budget)?,
            b"RunLengthDecode" | b"RL" => run_length(&data, budget)?,
            _ => return Ok(Vec::new()),
        };
    }
    Ok(data)
}

fn apply_predictor(data: Vec<u8>, predictor: Option<(usize, usize)>) -> Vec<u8> {
    match predictor {
        // The predicted rows are never longer than their input.
        Some((bytes_per_pixel, pixels_per_row)) => {
            pdf_extract::filters::png::decode_frame(&data, bytes_per_pixel, pixels_per_row)
                .unwrap_or(data)
        }
        None => data,
    }
}

/// A sink that refuses to grow past its budget.
struct BoundedSink {
    out: Vec<u8>,
    budget: u64,
    exceeded: bool,
}

impl BoundedSink {
    fn new(budget: u64) -> Self {
        BoundedSink {
            out: Vec::new(),
            budget,
            exceeded: false,
        }
    }

    fn push(&mut self, bytes: &[u8]) -> bool {
        if self.out.len() as u64 + bytes.len() as u64 > self.budget {
            self.exceeded = true;
            return false;
        }
        self.out.extend_from_slice(bytes);
        true
    }

    fn finish(self) -> Result<Vec<u8>, u64> {
        if self.exceeded {
            Err(self.budget)
        } else {
            Ok(self.out)
        }
    }
}

impl Write for BoundedSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.push(buf) {
            Ok(buf.len())
        } else {
            Err(std::io::Error::other("decoded size budget exceeded"))
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Reads `reader` into a bounded sink; a decoding error ends the output there
/// (what lopdf keeps, too).
fn read_bounded(mut reader: impl Read, budget: u64) -> Result<(Vec<u8>, bool), u64> {
    let mut sink = BoundedSink::new(budget);
    let mut buffer = [0u8; 64 * 1024];
    let mut failed = false;
    loop {
        match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => {
                if !sink.push(&buffer[..n]) {
                    break;
                }
            }
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    sink.finish().map(|out| (out, failed))
}

/// Flate, with lopdf's fallback: a zlib stream that fails before producing
/// anything is retried as raw deflate after its 2-byte header.
fn inflate(data: &[u8], budget: u64) -> Result<Vec<u8>, u64> {
    if data.is_empty() {
        return Ok(Vec::new());
    }
    let (out, failed) = read_bounded(flate2::read::ZlibDecoder::new(data), budget)?;
    if failed && out.is_empty() && data.len() > 2 {
        return read_bounded(flate2::read::DeflateDecoder::new(&data[2..]), budget)
            .map(|(out, _)| out);
    }
    Ok(out)
}

fn lzw(data: &[u8], early_change: bool, budget: u64) -> Result<Vec<u8>, u64> {
    use weezl::{decode::Decoder, BitOrder};
    let mut decoder = if early_change {
        Decoder::with_tiff_size_switch(BitOrder::Msb, 8)
    } else {
        Decoder::new(BitOrder::Msb, 8)
    };
    let mut sink = BoundedSink::new(budget);
    // Errors (bad codes, the budget) end the output where they occur.
    let _ = decoder.into_stream(&mut sink).decode_all(data);
    sink.finish()
}

fn ascii85(data: &[u8], budget: u64) -> Result<Vec<u8>, u64> {
    let mut sink = BoundedSink::new(budget);
    let data = data.strip_suffix(b"~>").unwrap_or(data);
    let mut group: u64 = 0;
    let mut count = 0;
    for &byte in data {
        if byte.is_ascii_whitespace() {
            continue;
        }
        if byte == b'z' && count == 0 {
            if !sink.push(&[0; 4]) {
                break;
            }
            continue;
        }
        if !(b'!'..=b'u').contains(&byte) {
            break;
        }
        group = group * 85 + u64::from(byte - b'!');
        count += 1;
        if count == 5 {
            // A group over 2^32 - 1 is malformed; keep its low bytes like lopdf's wrap.
            if !sink.push(&(group as u32).to_be_bytes()) {
                break;
            }
            group = 0;
            count = 0;
        }
    }
    if count > 1 {
        for _ in count..5 {
            group = group * 85 + 84;
        }
        let bytes = (group as u32).to_be_bytes();
        sink.push(&bytes[..count - 1]);
    }
    sink.finish()
}

fn ascii_hex(data: &[u8], budget: u64) -> Result<Vec<u8>, u64> {
    let mut sink = BoundedSink::new(budget);
    let mut high: Option<u8> = None;
    for &byte in data {
        if byte == b'>' {
            break;
        }
        let Some(nibble) = (byte as char).to_digit(16) else {
            continue;
        };
        let nibble = nibble as u8;
        match high.take() {
            None => high = Some(nibble),
            Some(h) => {
                if !sink.push(&[(h << 4) | nibble]) {
                    break;
                }
            }
        }
    }
    if let Some(h) = high {
        sink.push(&[h << 4]);
    }
    sink.finish()
}

fn run_length(data: &[u8], budget: u64) -> Result<Vec<u8>, u64> {
    let mut sink = BoundedSink::new(budget);
    let mut at = 0;
    while let Some(&length) = data.get(at) {
        at += 1;
        let ok = match length {
            128 => break,
            0..=127 => {
                let end = (at + length as usize + 1).min(data.len());
                let ok = sink.push(&data[at..end]);
                at = end;
                ok
            }
            _ => {
                let Some(&byte) = data.get(at) else { break };
                at += 1;
                sink.push(&vec![byte; 257 - length as usize])
            }
        };
        if !ok {
            break;
        }
    }
    sink.finish()
}

/// Checks that no page runs more than [`ParseLimits::max_page_content_bytes`]
/// of content: its content streams as often as `/Contents` lists them, and
/// each form XObject as often as it is called (`form_calls`: every `Do` of
/// a form, one entry per call, after cycles and deep chains were cut).
/// `page_xobjects` gives a page's XObject names. Streams must already be
/// decoded. Each distinct stream is read once, however often it is listed:
/// the check itself must not cost what it guards against.
pub(super) fn check_page_costs(
    doc: &Document,
    pages: &BTreeMap<u32, ObjectId>,
    form_calls: &HashMap<ObjectId, Vec<ObjectId>>,
    page_xobjects: impl Fn(ObjectId) -> Vec<(Vec<u8>, ObjectId)>,
    limits: &ParseLimits,
) -> Result<(), ParseError> {
    let budget = limits.max_page_content_bytes;
    let mut form_cost: HashMap<ObjectId, u64> = HashMap::new();
    for (&page_number, &page) in pages {
        let mut listed: HashMap<ObjectId, u64> = HashMap::new();
        for id in content_streams(doc, page) {
            *listed.entry(id).or_default() += 1;
        }
        let mut cost = listed.iter().fold(0u64, |sum, (&id, &times)| {
            sum.saturating_add(stream_len(doc, id).saturating_mul(times))
        });
        if cost <= budget {
            let forms: Vec<(Vec<u8>, u64)> = page_xobjects(page)
                .into_iter()
                .filter(|(_, target)| form_calls.contains_key(target))
                .map(|(name, target)| {
                    let run = cost_of_form(doc, target, form_calls, &mut form_cost, budget);
                    (name, run)
                })
                .collect();
            for (&id, &times) in &listed {
                let called = forms_run_by(doc, id, &forms);
                cost = cost.saturating_add(called.saturating_mul(times));
            }
        }
        if cost > budget {
            return Err(ParseError::DecodedTooLarge(format!(
                "page {page_number} runs more than {budget} bytes of content \
                 (streams or forms referenced over and over)"
            )));
        }
    }
    Ok(())
}

/// Bytes of content that one run of content stream `id` makes its page's
/// forms run (`forms`: name and cost of one call). A page's streams are one
/// content stream split at any token, so a `Do` whose name sits in another
/// stream, or a stream that does not parse alone, counts each `Do` as the
/// page's costliest form: an attacker gains nothing by splitting.
fn forms_run_by(doc: &Document, id: ObjectId, forms: &[(Vec<u8>, u64)]) -> u64 {
    let Some(Object::Stream(stream)) = doc.objects.get(&id) else {
        return 0;
    };
    let costliest = forms.iter().map(|(_, run)| *run).max().unwrap_or(0);
    if costliest == 0 || !stream.content.windows(2).any(|w| w == b"Do") {
        return 0;
    }
    let Ok(content) = Content::decode(&stream.content) else {
        let calls = stream.content.windows(2).filter(|w| w == b"Do").count() as u64;
        return calls.saturating_mul(costliest);
    };
    content
        .operations
        .iter()
        .filter(|op| op.operator == "Do")
        .map(
            |op| match op.operands.first().and_then(|n| n.as_name().ok()) {
                Some(name) => forms
                    .iter()
                    .find(|(n, _)| n.as_slice() == name)
                    .map_or(0, |(_, run)| *run),
                None => costliest,
            },
        )
        .fold(0u64, u64::saturating_add)
}

/// The decoded length of a stream object (0 for anything else).
fn stream_len(doc: &Document, id: ObjectId) -> u64 {
    match doc.objects.get(&id) {
        Some(Object::Stream(stream)) => stream.content.len() as u64,
        _ => 0,
    }
}

/// A page's `/Contents` streams, one entry per reference (repeats included).
fn content_streams(doc: &Document, page: ObjectId) -> Vec<ObjectId> {
    let Ok(contents) = doc.get_dictionary(page).and_then(|d| d.get(b"Contents")) else {
        return Vec::new();
    };
    match contents {
        Object::Reference(id) => match doc.objects.get(id) {
            Some(Object::Array(items)) => {
                items.iter().filter_map(|o| o.as_reference().ok()).collect()
            }
            _ => vec![*id],
        },
        Object::Array(items) => items.iter().filter_map(|o| o.as_reference().ok()).collect(),
        _ => Vec::new(),
    }
}

/// Bytes of content one call of `form` runs: its own stream and, recursively,
/// every form it calls, each time it calls it. Saturates at `cap`; the call
/// graph is acyclic (cycles were cut before), and walked without recursion.
fn cost_of_form(
    doc: &Document,
    form: ObjectId,
    calls: &HashMap<ObjectId, Vec<ObjectId>>,
    memo: &mut HashMap<ObjectId, u64>,
    cap: u64,
) -> u64 {
    let mut pending = vec![(form, false)];
    while let Some((node, expanded)) = pending.pop() {
        if memo.contains_key(&node) {
            continue;
        }
        let callees = calls.get(&node).map_or(&[][..], Vec::as_slice);
        if expanded {
            let total = callees.iter().fold(stream_len(doc, node), |sum, callee| {
                sum.saturating_add(memo.get(callee).copied().unwrap_or(0))
            });
            memo.insert(node, total.min(cap.saturating_add(1)));
        } else {
            pending.push((node, true));
            pending.extend(
                callees
                    .iter()
                    .filter(|c| !memo.contains_key(*c))
                    .map(|&c| (c, false)),
            );
        }
    }
    memo.get(&form).copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        let _ = encoder.write_all(data);
        encoder.finish().unwrap_or_default()
    }

    #[test]
    fn each_filter_stops_at_its_budget() {
        let big = vec![b'a'; 100_000];
        let flate = vec![b"FlateDecode".to_vec()];
        assert_eq!(
            decode_chain(&zlib(&big), &flate, None, true, 200_000),
            Ok(big.clone())
        );
        assert_eq!(
            decode_chain(&zlib(&big), &flate, None, true, 1_000),
            Err(1_000)
        );
        // ASCII85 over Flate: the chain the old scan missed.
        let a85 = vec![b"ASCII85Decode".to_vec(), b"FlateDecode".to_vec()];
        let encoded = ascii85_encode(&zlib(&big));
        assert_eq!(
            decode_chain(&encoded, &a85, None, true, 200_000),
            Ok(big.clone())
        );
        assert_eq!(
            decode_chain(&encoded, &a85, None, true, 50_000),
            Err(50_000)
        );
        // 'z' expands 1 byte into 4.
        let zeros = vec![b'z'; 10_000];
        assert_eq!(
            decode_chain(&zeros, &[b"ASCII85Decode".to_vec()], None, true, 1_000),
            Err(1_000)
        );
        // RunLength: 2 bytes make 128.
        let runs: Vec<u8> = [129u8, b'x'].repeat(1_000);
        let rl = vec![b"RunLengthDecode".to_vec()];
        assert_eq!(
            decode_chain(&runs, &rl, None, true, 1_000_000).map(|v| v.len()),
            Ok(128_000)
        );
        assert_eq!(decode_chain(&runs, &rl, None, true, 10_000), Err(10_000));
        // LZW: a run of one byte compresses well.
        let mut lzw_bytes = Vec::new();
        let mut encoder = weezl::encode::Encoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8);
        let _ = encoder.into_vec(&mut lzw_bytes).encode_all(&big[..]);
        let lzw_filter = vec![b"LZWDecode".to_vec()];
        assert_eq!(
            decode_chain(&lzw_bytes, &lzw_filter, None, true, 200_000),
            Ok(big.clone())
        );
        assert_eq!(
            decode_chain(&lzw_bytes, &lzw_filter, None, true, 5_000),
            Err(5_000)
        );
        // Hex, and an image filter that yields nothing.
        assert_eq!(
            decode_chain(
                b"48 65 6c6C6f>",
                &[b"ASCIIHexDecode".to_vec()],
                None,
                true,
                100
            ),
            Ok(b"Hello".to_vec())
        );
        assert_eq!(
            decode_chain(b"\xff\xd8", &[b"DCTDecode".to_vec()], None, true, 100),
            Ok(vec![])
        );
    }

    #[test]
    fn streams_lopdf_inflates_at_load_are_measured_first() {
        let bomb = zlib(&vec![b' '; 64 * 1024 * 1024]);
        let file = |dictionary: &str| {
            let mut bytes = format!(
                "%PDF-1.7\n1 0 obj\n<< {dictionary} /Filter /FlateDecode /Length {} >>\nstream\n",
                bomb.len()
            )
            .into_bytes();
            bytes.extend_from_slice(&bomb);
            bytes.extend_from_slice(b"\nendstream\nendobj\n");
            bytes
        };
        let limits = ParseLimits::default();
        for dictionary in ["/Type /ObjStm /N 1 /First 4", "/Type /XRef /Size 2"] {
            let err = check_load_time_streams(&file(dictionary), &limits).unwrap_err();
            assert_eq!(err.code(), "decoded_too_large", "{dictionary}: {err}");
        }
        // Other streams are decoded after loading, by `decode_streams`, not twice.
        assert_eq!(check_load_time_streams(&file(""), &limits), Ok(()));
    }

    #[test]
    fn raw_deflate_fallback_is_bounded_too() {
        let big = vec![b'b'; 50_000];
        let mut encoder =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        let _ = encoder.write_all(&big);
        let raw = encoder.finish().unwrap_or_default();
        // Two junk bytes where the zlib header would be.
        let mut data = vec![0xff, 0xff];
        data.extend_from_slice(&raw);
        assert_eq!(inflate(&data, 100_000), Ok(big));
        assert_eq!(inflate(&data, 1_000), Err(1_000));
    }

    fn ascii85_encode(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for chunk in data.chunks(4) {
            let mut group = [0u8; 4];
            group[..chunk.len()].copy_from_slice(chunk);
            let mut value = u32::from_be_bytes(group) as u64;
            let mut digits = [0u8; 5];
            for digit in digits.iter_mut().rev() {
                *digit = (value % 85) as u8 + b'!';
                value /= 85;
            }
            out.extend_from_slice(&digits[..chunk.len() + 1]);
        }
        out.extend_from_slice(b"~>");
        out
    }

    #[test]
    fn ascii85_round_trips() {
        for data in [
            &b""[..],
            b"a",
            b"ab",
            b"abc",
            b"abcd",
            b"abcde",
            b"\0\0\0\0x",
        ] {
            assert_eq!(
                ascii85(&ascii85_encode(data), 1_000),
                Ok(data.to_vec()),
                "{data:?}"
            );
        }
    }

    #[test]
    fn repeated_forms_are_counted_per_call() {
        let mut calls: HashMap<ObjectId, Vec<ObjectId>> = HashMap::new();
        // Form 1 calls form 2 a thousand times; form 2 calls form 3 a thousand times.
        calls.insert((1, 0), vec![(2, 0); 1_000]);
        calls.insert((2, 0), vec![(3, 0); 1_000]);
        let mut doc = Document::with_version("1.5");
        for n in 1..=3 {
            doc.objects.insert(
                (n, 0),
                Object::Stream(pdf_extract::Stream::new(
                    pdf_extract::Dictionary::new(),
                    vec![b' '; 100],
                )),
            );
        }
        let mut memo = HashMap::new();
        let cost = cost_of_form(&doc, (1, 0), &calls, &mut memo, u64::MAX - 1);
        assert_eq!(cost, 100 + 1_000 * (100 + 1_000 * 100));
        let mut memo = HashMap::new();
        assert_eq!(cost_of_form(&doc, (1, 0), &calls, &mut memo, 1_000), 1_001);
    }
}
