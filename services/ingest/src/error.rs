//! The ingestion crate's error type.

use folio_store::FailureReason;

use crate::parse::ParseError;

/// Why an ingestion job (or a step of it) failed.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The document could not be read; permanent for these bytes.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The metadata store failed.
    #[error(transparent)]
    Store(#[from] folio_store::StoreError),
    /// The blob store failed.
    #[error(transparent)]
    Blob(#[from] folio_common::blob::BlobError),
    /// An index (embedder, BM25, vectors) failed.
    #[error(transparent)]
    Index(#[from] folio_index::IndexError),
    /// The document parsed but produced no indexable text.
    #[error("the document has no indexable text")]
    NoText,
    /// A failure-injection point fired (tests only).
    #[error("injected failure at {0}")]
    Injected(&'static str),
    /// A pipeline task panicked or was cancelled.
    #[error("internal error: {0}")]
    Internal(String),
}

impl IngestError {
    /// The stable reason recorded on the failed job and shown by the API.
    pub fn reason(&self) -> FailureReason {
        let code = match self {
            IngestError::Parse(e) => e.code(),
            IngestError::Store(_) => "store_error",
            IngestError::Blob(_) => "blob_error",
            IngestError::Index(_) => "index_error",
            IngestError::NoText => "no_text",
            IngestError::Injected(_) => "injected_failure",
            IngestError::Internal(_) => "internal_error",
        };
        // The document's own failures are the user's to read; Folio's own
        // (store, blobs, indexes, crashes) name paths and hosts, which stay in
        // the server's log.
        let message = match self {
            IngestError::Parse(_) | IngestError::NoText | IngestError::Injected(_) => {
                self.to_string()
            }
            IngestError::Store(_)
            | IngestError::Blob(_)
            | IngestError::Index(_)
            | IngestError::Internal(_) => {
                "Folio failed while ingesting this document; the server log has the details"
                    .to_string()
            }
        };
        FailureReason {
            code: code.to_string(),
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_of_folio_itself_keep_their_paths_out_of_the_reason() {
        let io = std::io::Error::other("disk gone");
        let error = IngestError::Blob(folio_common::blob::BlobError::Io {
            path: "/srv/folio/blobs/t/u/original".into(),
            source: io,
        });
        assert!(error.to_string().contains("/srv/folio"), "{error}");
        let reason = error.reason();
        assert_eq!(reason.code, "blob_error");
        assert!(!reason.message.contains("/srv/folio"), "{}", reason.message);
        let parse = IngestError::Parse(ParseError::Encrypted);
        assert_eq!(parse.reason().message, ParseError::Encrypted.to_string());
    }
}
