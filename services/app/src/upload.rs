//! Storing one upload: stream to the blob store, detect the format, record
//! the version and queue its job (waking the workers). Shared by the HTTP API
//! and the CLI.

use folio_common::blob::BlobWriter;
use folio_common::model::DocumentFormat;
use folio_store::{NewVersion, SubmitOutcome};

use crate::runtime::Runtime;
use crate::AppError;

/// Keeps the last path component and drops control characters, so a name
/// like `../../etc/passwd` or `C:\x\y.pdf` becomes a plain file name.
pub fn clean_file_name(raw: &str) -> Option<String> {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last.chars().filter(|c| !c.is_control()).collect();
    let cleaned = cleaned.trim().to_string();
    if cleaned.is_empty() || cleaned == "." || cleaned == ".." {
        None
    } else {
        Some(cleaned.chars().take(255).collect())
    }
}

/// An upload in progress.
pub struct Upload {
    writer: BlobWriter,
    tenant_id: String,
    name: String,
    head: Vec<u8>,
}

impl Upload {
    /// Starts storing a file called `raw_name` for a tenant.
    pub async fn begin(
        runtime: &Runtime,
        tenant_id: &str,
        raw_name: &str,
    ) -> Result<Self, AppError> {
        let name = clean_file_name(raw_name)
            .ok_or_else(|| AppError::InvalidFileName(raw_name.to_string()))?;
        let writer = runtime
            .blobs
            .begin_upload(tenant_id, runtime.config.server.max_upload_bytes)
            .await?;
        Ok(Upload {
            writer,
            tenant_id: tenant_id.to_string(),
            name,
            head: Vec::new(),
        })
    }

    /// Appends bytes.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), AppError> {
        if self.head.len() < 1024 {
            let take = (1024 - self.head.len()).min(bytes.len());
            self.head.extend_from_slice(&bytes[..take]);
        }
        Ok(self.writer.write(bytes).await?)
    }

    /// Drops the upload.
    pub async fn abort(self) {
        self.writer.abort().await;
    }

    /// Seals the blob and records the version in `collection_id`.
    pub async fn finish(
        self,
        runtime: &Runtime,
        collection_id: &str,
    ) -> Result<(String, SubmitOutcome), AppError> {
        let Some(format) = DocumentFormat::detect(&self.name, &self.head) else {
            self.writer.abort().await;
            return Err(AppError::UnsupportedFormat(self.name));
        };
        let blob = self.writer.finish().await?;
        let outcome = runtime
            .store
            .submit_version(&NewVersion {
                tenant_id: &self.tenant_id,
                collection_id,
                name: &self.name,
                file_name: &self.name,
                format: format.as_str(),
                sha256: &blob.sha256,
                bytes: blob.bytes as i64,
                blob_key: &blob.key,
            })
            .await;
        match outcome {
            Ok(outcome @ SubmitOutcome::Queued { .. }) => {
                runtime.wake.notify_waiters();
                Ok((self.name, outcome))
            }
            Ok(outcome @ SubmitOutcome::Unchanged { .. }) => {
                // Identical bytes: the new copy is not needed.
                runtime.blobs.delete(&blob.key).await?;
                Ok((self.name, outcome))
            }
            Err(e) => {
                runtime.blobs.delete(&blob.key).await?;
                Err(e.into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::clean_file_name;

    #[test]
    fn file_names_lose_their_paths() {
        assert_eq!(
            clean_file_name("../../etc/passwd").as_deref(),
            Some("passwd")
        );
        assert_eq!(clean_file_name("/abs/path/a.pdf").as_deref(), Some("a.pdf"));
        assert_eq!(
            clean_file_name("C:\\Users\\x\\b.docx").as_deref(),
            Some("b.docx")
        );
        assert_eq!(
            clean_file_name("nul\0byte.txt").as_deref(),
            Some("nulbyte.txt")
        );
        assert_eq!(clean_file_name(".."), None);
        assert_eq!(clean_file_name("dir/"), None);
    }
}
