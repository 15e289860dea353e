//! API keys and roles: issuing a key (shown once, stored only as an argon2id
//! hash), recognizing one on a request, and what each role may do.
//!
//! A key reads `folio_<id>_<secret>`: the id finds the stored hash without a scan,
//! the secret is what the hash protects. Verified keys are remembered for a short
//! while so that argon2's deliberate cost is paid once per key, not per request.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use folio_common::config::LimitsConfig;
use folio_store::{now_ms, ApiKeyRecord, MetadataStore, Page, PageOf};

use crate::runtime::Runtime;
use crate::AppError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

/// How long a verified key is trusted without asking the store again; also the
/// longest a key revoked on another node keeps working here.
const VERIFIED_KEY_TTL: Duration = Duration::from_secs(30);

/// What a key may do; each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read documents, search, ask.
    Viewer,
    /// Also upload and delete documents, create collections.
    Editor,
    /// Also manage the tenant's API keys.
    Admin,
}

impl Role {
    /// The role's name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }

    /// Parses `viewer`, `editor` or `admin`.
    pub fn parse(name: &str) -> Option<Role> {
        match name {
            "viewer" => Some(Role::Viewer),
            "editor" => Some(Role::Editor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// Who is making a request: the tenant it acts in and its role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Caller {
    /// Every read and write of the request is confined to this tenant.
    pub tenant_id: String,
    /// What the request may do.
    pub role: Role,
    /// The key used (`None` when authentication is switched off).
    pub key_id: Option<String>,
}

/// A freshly issued key: the only moment its secret exists outside the client.
#[derive(Debug, Clone, Serialize)]
pub struct IssuedKey {
    /// The full key, to give to the client once.
    pub key: String,
    /// What was stored.
    pub record: ApiKeyRecord,
}

/// Creates a key for a tenant and stores its hash.
pub async fn issue_key(
    store: &MetadataStore,
    tenant_id: &str,
    role: Role,
    name: &str,
) -> Result<IssuedKey, AppError> {
    let id = uuid::Uuid::new_v4().simple().to_string()[..16].to_string();
    let secret = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let key = format!("folio_{id}_{secret}");
    let hash = {
        let key = key.clone();
        tokio::task::spawn_blocking(move || hash_key(&key))
            .await
            .map_err(|e| AppError::Internal(format!("key hashing failed: {e}")))??
    };
    let record = ApiKeyRecord {
        id,
        tenant_id: tenant_id.to_string(),
        name: name.to_string(),
        role: role.as_str().to_string(),
        hash,
        created_at: now_ms(),
        revoked_at: None,
    };
    store.insert_api_key(&record).await?;
    Ok(IssuedKey { key, record })
}

/// Issues a key from a front end's request: the role by name, the name trimmed
/// and bounded (1–200 printable characters).
pub async fn create(
    runtime: &Runtime,
    tenant_id: &str,
    role: &str,
    name: &str,
) -> Result<(Role, IssuedKey), AppError> {
    let role = Role::parse(role).ok_or_else(|| AppError::InvalidRole(role.to_string()))?;
    let name = name.trim();
    if name.is_empty() || name.len() > 200 || name.chars().any(char::is_control) {
        return Err(AppError::InvalidKeyName);
    }
    Ok((
        role,
        issue_key(&runtime.store, tenant_id, role, name).await?,
    ))
}

/// The tenant's keys (hashes included: a front end shows only what it must).
pub async fn list(
    runtime: &Runtime,
    tenant_id: &str,
    page: Page,
) -> Result<PageOf<ApiKeyRecord>, AppError> {
    Ok(runtime.store.list_api_keys_page(tenant_id, page).await?)
}

/// Revokes a key: refused at once on this node (the verifier forgets it) and
/// within the verifier's memory time on others.
pub async fn revoke(
    runtime: &Runtime,
    verifier: &KeyVerifier,
    tenant_id: &str,
    key_id: &str,
) -> Result<(), AppError> {
    runtime.store.revoke_api_key(tenant_id, key_id).await?;
    verifier.forget(key_id);
    Ok(())
}

fn hash_key(key: &str) -> Result<String, AppError> {
    let salt = SaltString::encode_b64(uuid::Uuid::new_v4().as_bytes())
        .map_err(|e| AppError::Internal(format!("key hashing failed: {e}")))?;
    Argon2::default()
        .hash_password(key.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AppError::Internal(format!("key hashing failed: {e}")))
}

fn key_matches(key: &str, stored_hash: &str) -> bool {
    PasswordHash::new(stored_hash).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(key.as_bytes(), &hash)
            .is_ok()
    })
}

/// The public id inside a key, if it has the key's shape.
fn key_id(key: &str) -> Option<&str> {
    let rest = key.strip_prefix("folio_")?;
    let (id, secret) = rest.split_once('_')?;
    let hex = |s: &str| s.chars().all(|c| c.is_ascii_hexdigit());
    (id.len() == 16 && hex(id) && secret.len() == 64 && hex(secret)).then_some(id)
}

/// How long a key that once passed argon2 is exempt from the failed-attempt
/// limits: guessing at a key id (or from a shared proxy address) must not lock
/// out the key's owner.
const PROVEN_KEY_TTL: Duration = Duration::from_secs(3600);

/// The window failed attempts are counted over.
const FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// Entries kept per map before expired ones are swept.
const SWEEP_ABOVE: usize = 10_000;

/// Most subjects whose failures are counted at once. Past it (a guessing
/// attack from very many addresses) a subject not yet counted is refused
/// until expired entries can be swept: failing closed costs only keys that
/// have not proven themselves on this node.
const MAX_TRACKED: usize = 200_000;

/// How long a key waits for a hashing slot before it is told to retry.
const HASHING_WAIT: Duration = Duration::from_secs(5);

/// Recognizes keys on requests, remembering recently verified ones. Argon2 is
/// deliberately expensive (~19 MiB and tens of milliseconds a hash): at most
/// `key_verifications` run at once, and a key id or client address that failed
/// `failed_keys_per_minute` times is refused before hashing.
#[derive(Debug)]
pub struct KeyVerifier {
    store: MetadataStore,
    verified: Mutex<HashMap<[u8; 32], (Caller, Instant)>>,
    proven: Mutex<HashMap<[u8; 32], Instant>>,
    hashing: Arc<Semaphore>,
    failures: FailedAttempts,
}

impl KeyVerifier {
    /// A verifier over the store's keys with the bounds of `limits`.
    pub fn new(store: MetadataStore, limits: &LimitsConfig) -> Self {
        KeyVerifier {
            store,
            verified: Mutex::new(HashMap::new()),
            proven: Mutex::new(HashMap::new()),
            hashing: Arc::new(Semaphore::new(limits.key_verifications.max(1))),
            failures: FailedAttempts::new(limits.failed_keys_per_minute),
        }
    }

    /// The caller a key stands for; `client` is the address the key came from.
    pub async fn verify(&self, key: &str, client: Option<IpAddr>) -> Result<Caller, AppError> {
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        if let Some(caller) = self.remembered(&digest) {
            return Ok(caller);
        }
        let id = key_id(key);
        let mut subjects = Vec::with_capacity(2);
        if let Some(client) = client {
            subjects.push(format!("address {client}"));
        }
        if let Some(id) = id {
            subjects.push(format!("key {id}"));
        }
        let proven = self.proven(&digest);
        if !proven {
            if let Some(retry_after) = self.failures.blocked(&subjects) {
                return Err(AppError::TooManyFailedAttempts { retry_after });
            }
        }
        // An id that names no key counts against the address only: guessing
        // made-up ids must not lock real keys out, nor fill the map with ids.
        let address_only = &subjects[..subjects.len().min(usize::from(client.is_some()))];
        let failed_unknown = || {
            self.failures.record(address_only);
            AppError::InvalidApiKey
        };
        let failed = || {
            self.failures.record(&subjects);
            AppError::InvalidApiKey
        };
        let id = id.ok_or_else(failed_unknown)?;
        let record = self.store.api_key(id).await?.ok_or_else(failed_unknown)?;
        if record.revoked_at.is_some() {
            return Err(failed());
        }
        let role = Role::parse(&record.role).ok_or_else(failed)?;
        // A digest that matched this id's hash before matches it again: the hash of
        // a key never changes, and revocation was checked above.
        let matches = proven || {
            // A bounded wait for a hashing slot, and the limit checked again
            // once one is free: attempts sent all at once all passed the first
            // check, and only the ones before them have been counted since.
            let permit =
                tokio::time::timeout(HASHING_WAIT, Arc::clone(&self.hashing).acquire_owned())
                    .await
                    .map_err(|_| AppError::TooManyFailedAttempts {
                        retry_after: Duration::from_secs(1),
                    })?
                    .map_err(|e| AppError::Internal(format!("key hashing failed: {e}")))?;
            if let Some(retry_after) = self.failures.blocked(&subjects) {
                return Err(AppError::TooManyFailedAttempts { retry_after });
            }
            let key = key.to_string();
            let hash = record.hash.clone();
            tokio::task::spawn_blocking(move || {
                let _permit = permit;
                key_matches(&key, &hash)
            })
            .await
            .map_err(|e| AppError::Internal(format!("key hashing failed: {e}")))?
        };
        if !matches {
            return Err(failed());
        }
        let caller = Caller {
            tenant_id: record.tenant_id,
            role,
            key_id: Some(record.id),
        };
        if let Ok(mut verified) = self.verified.lock() {
            verified.retain(|_, (_, at)| at.elapsed() < VERIFIED_KEY_TTL);
            verified.insert(digest, (caller.clone(), Instant::now()));
        }
        if let Ok(mut proven) = self.proven.lock() {
            if proven.len() > SWEEP_ABOVE {
                proven.retain(|_, at| at.elapsed() < PROVEN_KEY_TTL);
            }
            proven.insert(digest, Instant::now());
        }
        Ok(caller)
    }

    fn proven(&self, digest: &[u8; 32]) -> bool {
        self.proven
            .lock()
            .ok()
            .and_then(|proven| proven.get(digest).copied())
            .is_some_and(|at| at.elapsed() < PROVEN_KEY_TTL)
    }

    fn remembered(&self, digest: &[u8; 32]) -> Option<Caller> {
        let verified = self.verified.lock().ok()?;
        let (caller, at) = verified.get(digest)?;
        (at.elapsed() < VERIFIED_KEY_TTL).then(|| caller.clone())
    }

    /// Forgets a key at once (after it was revoked on this node).
    pub fn forget(&self, key_id: &str) {
        if let Ok(mut verified) = self.verified.lock() {
            verified.retain(|_, (caller, _)| caller.key_id.as_deref() != Some(key_id));
        }
    }
}

/// Failed key attempts per subject (a key id, a client address) in a fixed
/// window of [`FAILURE_WINDOW`].
#[derive(Debug)]
struct FailedAttempts {
    per_window: u32,
    counts: Mutex<FailureCounts>,
}

#[derive(Debug)]
struct FailureCounts {
    by_subject: HashMap<String, (u32, Instant)>,
    last_sweep: Instant,
}

impl FailureCounts {
    /// Drops expired windows, at most once a window: a sweep walks every
    /// entry, and under attack every entry is fresh.
    fn sweep(&mut self) {
        if self.by_subject.len() > SWEEP_ABOVE && self.last_sweep.elapsed() >= FAILURE_WINDOW {
            self.by_subject
                .retain(|_, (_, since)| since.elapsed() < FAILURE_WINDOW);
            self.last_sweep = Instant::now();
        }
    }

    fn full(&self) -> bool {
        self.by_subject.len() >= MAX_TRACKED
    }
}

impl FailedAttempts {
    /// `per_window == 0` never blocks.
    fn new(per_window: u32) -> Self {
        FailedAttempts {
            per_window,
            counts: Mutex::new(FailureCounts {
                by_subject: HashMap::new(),
                last_sweep: Instant::now(),
            }),
        }
    }

    /// How long until every subject may try again, if any of them is at its
    /// limit (or, with the table full, is not in it).
    fn blocked(&self, subjects: &[String]) -> Option<Duration> {
        if self.per_window == 0 {
            return None;
        }
        let counts = self.counts.lock().ok()?;
        if counts.full() && subjects.iter().any(|s| !counts.by_subject.contains_key(s)) {
            return Some(FAILURE_WINDOW.saturating_sub(counts.last_sweep.elapsed()));
        }
        subjects
            .iter()
            .filter_map(|subject| counts.by_subject.get(subject))
            .filter(|(failures, since)| {
                *failures >= self.per_window && since.elapsed() < FAILURE_WINDOW
            })
            .map(|(_, since)| FAILURE_WINDOW.saturating_sub(since.elapsed()))
            .max()
    }

    fn record(&self, subjects: &[String]) {
        if self.per_window == 0 {
            return;
        }
        let Ok(mut counts) = self.counts.lock() else {
            return;
        };
        counts.sweep();
        for subject in subjects {
            if counts.full() && !counts.by_subject.contains_key(subject) {
                continue;
            }
            let (failures, since) = counts
                .by_subject
                .entry(subject.clone())
                .or_insert((0, Instant::now()));
            if since.elapsed() >= FAILURE_WINDOW {
                *failures = 0;
                *since = Instant::now();
            }
            *failures += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_include_the_ones_below() {
        assert!(Role::Admin > Role::Editor && Role::Editor > Role::Viewer);
        for role in [Role::Viewer, Role::Editor, Role::Admin] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn a_hash_accepts_its_key_only() {
        let key = format!("folio_{}_{}", "a".repeat(16), "b".repeat(64));
        let hash = hash_key(&key).expect("hashing works");
        assert!(hash.starts_with("$argon2id$"));
        assert!(!hash.contains(&key));
        assert!(key_matches(&key, &hash));
        let other = format!("folio_{}_{}", "a".repeat(16), "c".repeat(64));
        assert!(!key_matches(&other, &hash));
        assert!(!key_matches(&key, "not a hash"));
    }

    #[test]
    fn only_well_formed_keys_have_an_id() {
        let id = "0123456789abcdef";
        assert_eq!(key_id(&format!("folio_{id}_{}", "f".repeat(64))), Some(id));
        assert_eq!(key_id(&format!("folio_{id}_{}", "f".repeat(63))), None);
        assert_eq!(key_id(&format!("folio_{id}_{}", "g".repeat(64))), None);
        assert_eq!(key_id("Bearer nonsense"), None);
        assert_eq!(key_id(""), None);
    }

    #[test]
    fn failures_block_a_subject_for_the_rest_of_the_window() {
        let attempts = FailedAttempts::new(3);
        let (address, id) = ("address 10.0.0.1".to_string(), "key 0123".to_string());
        let both = [address.clone(), id.clone()];
        for _ in 0..2 {
            attempts.record(&both);
            assert!(attempts.blocked(&both).is_none());
        }
        attempts.record(std::slice::from_ref(&address));
        let wait = attempts.blocked(&both).expect("the address reached 3");
        assert!(
            wait <= FAILURE_WINDOW && wait > Duration::from_secs(50),
            "{wait:?}"
        );
        assert!(
            attempts.blocked(std::slice::from_ref(&id)).is_none(),
            "the id failed twice"
        );
        assert!(attempts
            .blocked(&["address 10.0.0.2".to_string()])
            .is_none());
        assert!(FailedAttempts::new(0).blocked(&both).is_none());
    }
}
