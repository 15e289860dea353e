//! The blob store: original uploads and their canonical text, on a local
//! (or shared, network-mounted) directory.
//!
//! Keys are `<tenant>/<upload-uuid>`: an upload is written completely (and
//! hashed) before any DB row names it, so a crash leaves at worst an
//! unreferenced directory, which [`BlobStore::orphans`] finds.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

/// Errors of the blob store.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The file system failed.
    #[error("blob store I/O error on {path}: {source}")]
    Io {
        /// Path involved.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The upload exceeded the size limit.
    #[error("upload exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// A key that is not of the form `<tenant>/<uuid>`.
    #[error("invalid blob key {0:?}")]
    InvalidKey(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> BlobError + '_ {
    move |source| BlobError::Io {
        path: path.to_path_buf(),
        source,
    }
}

const ORIGINAL: &str = "original";
const CANONICAL: &str = "canonical.txt";
/// An upload being written; renamed to [`ORIGINAL`] once complete.
const ORIGINAL_PART: &str = "original.part";
/// Canonical text being written; renamed to [`CANONICAL`] once complete.
const CANONICAL_PART: &str = "canonical.txt.part";

/// A stored original: where it is and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlob {
    /// Key to find it again.
    pub key: String,
    /// sha256 of the bytes, hex.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// Directory-backed blob store.
#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
}

/// An upload being streamed to disk; hashed and size-checked as it goes.
///
/// Dropped before [`BlobWriter::finish`] (the client went away and the request's
/// future was dropped, or the request ran past its deadline), it removes the
/// partial upload: nothing else would, until the next sweep.
#[derive(Debug)]
pub struct BlobWriter {
    key: String,
    dir: PathBuf,
    file: tokio::fs::File,
    hasher: Sha256,
    written: u64,
    limit: u64,
    /// Finished or aborted: nothing is left for `drop` to remove.
    settled: bool,
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let dir = std::mem::take(&mut self.dir);
        let remove = move || {
            if let Err(error) = std::fs::remove_dir_all(&dir) {
                if error.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(dir = %dir.display(), %error, "removing a dropped upload failed; the sweep will");
                }
            }
        };
        // Inside the runtime the removal must not block a worker thread.
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(remove)),
            Err(_) => remove(),
        }
    }
}

impl BlobWriter {
    /// Appends bytes; fails once the limit is passed (the partial upload is
    /// removed by [`BlobWriter::abort`] or by the orphan sweep).
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), BlobError> {
        self.written += bytes.len() as u64;
        if self.written > self.limit {
            return Err(BlobError::TooLarge { limit: self.limit });
        }
        self.hasher.update(bytes);
        self.file.write_all(bytes).await.map_err(io_err(&self.dir))
    }

    /// Flushes and seals the upload (a failure removes it).
    pub async fn finish(mut self) -> Result<StoredBlob, BlobError> {
        self.file.flush().await.map_err(io_err(&self.dir))?;
        self.file.sync_all().await.map_err(io_err(&self.dir))?;
        let part = self.dir.join(ORIGINAL_PART);
        let done = self.dir.join(ORIGINAL);
        tokio::fs::rename(&part, &done)
            .await
            .map_err(io_err(&part))?;
        self.settled = true;
        Ok(StoredBlob {
            key: std::mem::take(&mut self.key),
            sha256: hex::encode(std::mem::take(&mut self.hasher).finalize()),
            bytes: self.written,
        })
    }

    /// Drops the partial upload.
    pub async fn abort(mut self) {
        let _ = tokio::fs::remove_dir_all(&self.dir).await;
        self.settled = true;
    }
}

impl BlobStore {
    /// A store rooted at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        BlobStore { root: root.into() }
    }

    /// Root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn dir_of(&self, key: &str) -> Result<PathBuf, BlobError> {
        // Keys come from our own DB rows, but never let one escape the root.
        let valid = key.split('/').count() == 2
            && key.split('/').all(|part| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            });
        if !valid {
            return Err(BlobError::InvalidKey(key.to_string()));
        }
        Ok(self.root.join(key))
    }

    /// Starts a new upload for a tenant, limited to `limit` bytes.
    pub async fn begin_upload(&self, tenant_id: &str, limit: u64) -> Result<BlobWriter, BlobError> {
        let key = format!("{}/{}", sanitize(tenant_id), uuid::Uuid::new_v4());
        let dir = self.dir_of(&key)?;
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(io_err(&dir))?;
        let part = dir.join(ORIGINAL_PART);
        let file = tokio::fs::File::create(&part)
            .await
            .map_err(io_err(&part))?;
        Ok(BlobWriter {
            key,
            dir,
            file,
            hasher: Sha256::new(),
            written: 0,
            limit,
            settled: false,
        })
    }

    /// Stores bytes already in memory.
    pub async fn put_original(
        &self,
        tenant_id: &str,
        bytes: &[u8],
        limit: u64,
    ) -> Result<StoredBlob, BlobError> {
        let mut writer = self.begin_upload(tenant_id, limit).await?;
        if let Err(e) = writer.write(bytes).await {
            writer.abort().await;
            return Err(e);
        }
        writer.finish().await
    }

    /// Reads an original.
    pub async fn read_original(&self, key: &str) -> Result<Vec<u8>, BlobError> {
        let path = self.dir_of(key)?.join(ORIGINAL);
        tokio::fs::read(&path).await.map_err(io_err(&path))
    }

    /// Opens an original to be read in pieces (served without holding it whole in
    /// memory); returns the file and its length in bytes.
    pub async fn open_original(&self, key: &str) -> Result<(tokio::fs::File, u64), BlobError> {
        self.open(key, ORIGINAL).await
    }

    /// Opens the canonical text of a version to be read in pieces (UTF-8); returns
    /// the file and its length in bytes.
    pub async fn open_canonical(&self, key: &str) -> Result<(tokio::fs::File, u64), BlobError> {
        self.open(key, CANONICAL).await
    }

    async fn open(&self, key: &str, name: &str) -> Result<(tokio::fs::File, u64), BlobError> {
        let path = self.dir_of(key)?.join(name);
        let file = tokio::fs::File::open(&path).await.map_err(io_err(&path))?;
        let length = file.metadata().await.map_err(io_err(&path))?.len();
        Ok((file, length))
    }

    /// Writes the canonical text of a version (atomically replaced).
    pub async fn put_canonical(&self, key: &str, text: &str) -> Result<(), BlobError> {
        let dir = self.dir_of(key)?;
        let tmp = dir.join(CANONICAL_PART);
        tokio::fs::write(&tmp, text.as_bytes())
            .await
            .map_err(io_err(&tmp))?;
        let path = dir.join(CANONICAL);
        tokio::fs::rename(&tmp, &path).await.map_err(io_err(&path))
    }

    /// Reads the canonical text of a version.
    pub async fn read_canonical(&self, key: &str) -> Result<String, BlobError> {
        let path = self.dir_of(key)?.join(CANONICAL);
        let bytes = tokio::fs::read(&path).await.map_err(io_err(&path))?;
        String::from_utf8(bytes).map_err(|e| BlobError::Io {
            path,
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })
    }

    /// Removes a version's blobs (idempotent).
    pub async fn delete(&self, key: &str) -> Result<(), BlobError> {
        let dir = self.dir_of(key)?;
        match tokio::fs::remove_dir_all(&dir).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(&dir)(e)),
        }
    }

    /// Copies a version's files (the original and, once written, its canonical text)
    /// into the same key of `target`. Returns false when the key has no original here
    /// (its document was deleted meanwhile).
    pub async fn copy_to(&self, key: &str, target: &BlobStore) -> Result<bool, BlobError> {
        let from = self.dir_of(key)?;
        let to = target.dir_of(key)?;
        if !tokio::fs::try_exists(from.join(ORIGINAL))
            .await
            .map_err(io_err(&from))?
        {
            return Ok(false);
        }
        tokio::fs::create_dir_all(&to).await.map_err(io_err(&to))?;
        for name in [ORIGINAL, CANONICAL] {
            let source = from.join(name);
            match tokio::fs::copy(&source, to.join(name)).await {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && name == CANONICAL => {}
                Err(e) => return Err(io_err(&source)(e)),
            }
        }
        Ok(true)
    }

    /// Every key present on disk.
    pub async fn keys(&self) -> Result<Vec<String>, BlobError> {
        let mut keys = Vec::new();
        let mut tenants = match tokio::fs::read_dir(&self.root).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(keys),
            Err(e) => return Err(io_err(&self.root)(e)),
        };
        while let Some(tenant) = tenants.next_entry().await.map_err(io_err(&self.root))? {
            let path = tenant.path();
            if !path.is_dir() {
                continue;
            }
            let mut uploads = tokio::fs::read_dir(&path).await.map_err(io_err(&path))?;
            while let Some(upload) = uploads.next_entry().await.map_err(io_err(&path))? {
                keys.push(format!(
                    "{}/{}",
                    tenant.file_name().to_string_lossy(),
                    upload.file_name().to_string_lossy()
                ));
            }
        }
        keys.sort();
        Ok(keys)
    }

    /// Removes what interrupted writes left: an upload that never finished (its
    /// `original.part`, with the key's directory) and a half-written canonical
    /// text, once untouched for `older_than`. A live upload writes its part
    /// continuously, and no database row names a key before its upload is
    /// finished, so this is safe while other processes share the directory
    /// (unlike [`BlobStore::orphans`], which needs every upload to be over).
    /// Returns the paths removed.
    pub async fn sweep_stale_parts(
        &self,
        older_than: std::time::Duration,
    ) -> Result<Vec<PathBuf>, BlobError> {
        // Asynchronous file-system calls: the sweep runs beside live requests.
        let stale = |path: PathBuf| async move {
            tokio::fs::metadata(&path)
                .await
                .and_then(|meta| meta.modified())
                .ok()
                .and_then(|modified| modified.elapsed().ok())
                .is_some_and(|age| age >= older_than)
        };
        let mut removed = Vec::new();
        for key in self.keys().await? {
            let Ok(dir) = self.dir_of(&key) else {
                continue;
            };
            let part = dir.join(ORIGINAL_PART);
            let finished = tokio::fs::try_exists(dir.join(ORIGINAL))
                .await
                .unwrap_or(true);
            if !finished && stale(part.clone()).await {
                match tokio::fs::remove_dir_all(&dir).await {
                    Ok(()) => removed.push(part),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err(&dir)(e)),
                }
                continue;
            }
            let canonical_part = dir.join(CANONICAL_PART);
            if stale(canonical_part.clone()).await {
                match tokio::fs::remove_file(&canonical_part).await {
                    Ok(()) => removed.push(canonical_part),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err(&canonical_part)(e)),
                }
            }
        }
        Ok(removed)
    }

    /// Keys on disk that no DB row references (given the referenced keys).
    pub async fn orphans(&self, referenced: &[String]) -> Result<Vec<String>, BlobError> {
        let referenced: std::collections::HashSet<&str> =
            referenced.iter().map(String::as_str).collect();
        Ok(self
            .keys()
            .await?
            .into_iter()
            .filter(|k| !referenced.contains(k.as_str()))
            .collect())
    }
}

fn sanitize(tenant_id: &str) -> String {
    let cleaned: String = tenant_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    if cleaned.is_empty() {
        "tenant".into()
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn upload_round_trip_and_orphans() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::new(dir.path());
        let blob = store.put_original("t1", b"hello", 100).await.unwrap();
        assert_eq!(blob.bytes, 5);
        assert_eq!(
            blob.sha256,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(store.read_original(&blob.key).await.unwrap(), b"hello");
        store.put_canonical(&blob.key, "héllo").await.unwrap();
        assert_eq!(store.read_canonical(&blob.key).await.unwrap(), "héllo");
        assert_eq!(store.orphans(&[]).await.unwrap(), vec![blob.key.clone()]);
        assert!(store
            .orphans(std::slice::from_ref(&blob.key))
            .await
            .unwrap()
            .is_empty());
        store.delete(&blob.key).await.unwrap();
        store.delete(&blob.key).await.unwrap();
        assert!(store.keys().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn limit_and_key_validation() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::new(dir.path());
        assert!(matches!(
            store.put_original("t", b"0123456789", 4).await,
            Err(BlobError::TooLarge { limit: 4 })
        ));
        assert!(
            store.keys().await.unwrap().is_empty(),
            "partial upload removed"
        );
        for bad in ["../x", "a/../../b", "/etc/passwd", "a", "a/b/c"] {
            assert!(matches!(
                store.read_original(bad).await,
                Err(BlobError::InvalidKey(_))
            ));
        }
    }

    /// Waits (bounded) for the blocking task a dropped writer spawns.
    async fn settle(store: &BlobStore, expected: usize) -> Vec<String> {
        for _ in 0..200 {
            let keys = store.keys().await.unwrap();
            if keys.len() == expected {
                return keys;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        store.keys().await.unwrap()
    }

    #[tokio::test]
    async fn a_writer_dropped_mid_upload_leaves_no_part() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::new(dir.path());
        let kept = store.put_original("t", b"kept", 100).await.unwrap();
        let mut dropped = store.begin_upload("t", 100).await.unwrap();
        dropped.write(b"half of it").await.unwrap();
        drop(dropped);
        assert_eq!(settle(&store, 1).await, vec![kept.key.clone()]);
        // Outside a runtime the removal happens at once.
        let mut dropped = store.begin_upload("t", 100).await.unwrap();
        dropped.write(b"half").await.unwrap();
        std::thread::spawn(move || drop(dropped)).join().unwrap();
        assert_eq!(store.keys().await.unwrap(), vec![kept.key]);
    }

    #[tokio::test]
    async fn the_sweep_removes_stale_parts_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::new(dir.path());
        let done = store.put_original("t", b"done", 100).await.unwrap();
        // A crash mid-upload and mid canonical write: the files stay behind.
        let upload = store.begin_upload("t", 100).await.unwrap();
        let part = upload.dir.join(ORIGINAL_PART);
        std::mem::forget(upload);
        tokio::fs::write(store.dir_of(&done.key).unwrap().join(CANONICAL_PART), "x")
            .await
            .unwrap();
        let hour = std::time::Duration::from_secs(3600);
        assert!(
            store.sweep_stale_parts(hour).await.unwrap().is_empty(),
            "fresh parts may be live uploads"
        );
        assert!(part.exists());
        let removed = store
            .sweep_stale_parts(std::time::Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(removed.len(), 2, "{removed:?}");
        assert!(!part.exists());
        assert_eq!(store.keys().await.unwrap(), vec![done.key.clone()]);
        assert_eq!(store.read_original(&done.key).await.unwrap(), b"done");
        assert!(store
            .sweep_stale_parts(std::time::Duration::ZERO)
            .await
            .unwrap()
            .is_empty());
    }
}
