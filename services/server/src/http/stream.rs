//! Response bodies read from files a piece at a time: an original or a canonical
//! text is served without ever being whole in memory (a 100 MiB upload read whole
//! per request would let a few clients exhaust it).

use std::io;

use axum::body::{Body, Bytes};
use futures::stream::{self, Stream, StreamExt};
use tokio::io::AsyncReadExt;

/// Bytes read from a file per piece of the body.
const PIECE: usize = 64 * 1024;

/// The file's bytes as they are.
pub(super) fn file_body(file: tokio::fs::File) -> Body {
    Body::from_stream(pieces(file))
}

/// `{<head>,"text":"<the file as a JSON string>"}`, where `head` is a JSON
/// object's members without the braces and the file holds UTF-8 text.
pub(super) fn json_with_text_body(head: String, file: tokio::fs::File) -> Body {
    let open = stream::once(async move { Ok(Bytes::from(format!("{{{head},\"text\":\""))) });
    let close = stream::once(async { Ok(Bytes::from_static(b"\"}")) });
    Body::from_stream(open.chain(escaped_text(file)).chain(close))
}

fn pieces(file: tokio::fs::File) -> impl Stream<Item = io::Result<Bytes>> + Send {
    stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buffer = vec![0u8; PIECE];
        match file.read(&mut buffer).await {
            Ok(0) => None,
            Ok(read) => {
                buffer.truncate(read);
                Some((Ok(Bytes::from(buffer)), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    })
}

fn escaped_text(file: tokio::fs::File) -> impl Stream<Item = io::Result<Bytes>> + Send {
    let state = (Box::pin(pieces(file)), JsonStringEscaper::default(), false);
    stream::unfold(state, |(mut pieces, mut escaper, failed)| async move {
        if failed {
            return None;
        }
        match pieces.next().await {
            Some(Ok(bytes)) => {
                let escaped = escaper.push(&bytes);
                let failed = escaped.is_err();
                Some((escaped, (pieces, escaper, failed)))
            }
            Some(Err(e)) => Some((Err(e), (pieces, escaper, true))),
            None => match escaper.finish() {
                Ok(()) => None,
                Err(e) => Some((Err(e), (pieces, escaper, true))),
            },
        }
    })
}

/// Escapes UTF-8 text for the inside of a JSON string as it arrives in pieces
/// that may split a character.
#[derive(Debug, Default)]
struct JsonStringEscaper {
    /// The start of a character whose other bytes are in the next piece.
    pending: Vec<u8>,
}

impl JsonStringEscaper {
    fn push(&mut self, piece: &[u8]) -> io::Result<Bytes> {
        let mut bytes = std::mem::take(&mut self.pending);
        bytes.extend_from_slice(piece);
        let complete = match std::str::from_utf8(&bytes) {
            Ok(_) => bytes.len(),
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
        };
        self.pending = bytes.split_off(complete);
        let text =
            String::from_utf8(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let quoted = serde_json::to_string(&text)?;
        Ok(Bytes::copy_from_slice(
            quoted
                .strip_prefix('"')
                .and_then(|q| q.strip_suffix('"'))
                .unwrap_or_default()
                .as_bytes(),
        ))
    }

    fn finish(&self) -> io::Result<()> {
        if self.pending.is_empty() {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the text ends inside a UTF-8 character",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_split_anywhere_escape_as_the_whole_text() {
        let text = "Price: 5 €\n\"quoted\"\t\\ — 𝄞 end\u{1}";
        let whole: serde_json::Value = serde_json::Value::String(text.to_string());
        for cut in 0..=text.len() {
            let mut escaper = JsonStringEscaper::default();
            let mut out = Vec::new();
            for piece in [&text.as_bytes()[..cut], &text.as_bytes()[cut..]] {
                out.extend_from_slice(&escaper.push(piece).expect("valid UTF-8"));
            }
            escaper.finish().expect("nothing left over");
            let json = format!("\"{}\"", String::from_utf8(out).expect("UTF-8 out"));
            let parsed: serde_json::Value = serde_json::from_str(&json).expect("a JSON string");
            assert_eq!(parsed, whole, "cut at byte {cut}");
        }
        let mut escaper = JsonStringEscaper::default();
        assert!(escaper.push(&[0xff, b'a']).is_err(), "invalid UTF-8");
        let mut escaper = JsonStringEscaper::default();
        escaper
            .push("€".as_bytes().get(..1).unwrap_or_default())
            .expect("a prefix");
        assert!(escaper.finish().is_err(), "a cut-off character at the end");
    }

    #[tokio::test]
    async fn a_file_streams_as_json_with_its_text() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("canonical.txt");
        let text = "Ünïcode ".repeat(20_000);
        std::fs::write(&path, &text).expect("written");
        let file = tokio::fs::File::open(&path).await.expect("opened");
        let body = json_with_text_body("\"document_id\":\"d\",\"version\":3".into(), file);
        let bytes = axum::body::to_bytes(body, usize::MAX)
            .await
            .expect("the body");
        let value: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
        assert_eq!(value["text"], text.as_str());
        assert_eq!(value["version"], 3);
    }
}
