//! API keys and roles: issuing a key (shown once, stored only as an argon2id
//! hash), recognizing one on a request, and what each role may do.
//!
//! A key reads `folio_<id>_<secret>`: the id finds the stored hash without a scan,
//! the secret is what the hash protects. Verified keys are remembered for a short
//! while so that argon2's deliberate cost is paid once per key, not per request.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use folio_common::store::{now_ms, ApiKeyRecord, MetadataStore, StoreError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How long a verified key is trusted without asking the store again; also the
/// longest a key revoked on another node keeps working here.
const VERIFIED_KEY_TTL: Duration = Duration::from_secs(30);

/// What a key may do; each role includes the ones before it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
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

/// Why a key was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No key on the request.
    #[error("an API key is required: send `Authorization: Bearer <key>`")]
    Missing,
    /// The key is unknown, malformed, revoked or wrong.
    #[error("the API key is not valid")]
    Invalid,
    /// The store could not be asked.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Hashing failed (a bug or an exhausted machine, never the caller's fault).
    #[error("key hashing failed: {0}")]
    Hash(String),
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
) -> Result<IssuedKey, AuthError> {
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
            .map_err(|e| AuthError::Hash(e.to_string()))??
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

fn hash_key(key: &str) -> Result<String, AuthError> {
    let salt = SaltString::encode_b64(uuid::Uuid::new_v4().as_bytes())
        .map_err(|e| AuthError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(key.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
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

/// Recognizes keys on requests, remembering recently verified ones.
#[derive(Debug)]
pub struct KeyVerifier {
    store: MetadataStore,
    verified: Mutex<HashMap<[u8; 32], (Caller, Instant)>>,
}

impl KeyVerifier {
    /// A verifier over the store's keys.
    pub fn new(store: MetadataStore) -> Self {
        KeyVerifier {
            store,
            verified: Mutex::new(HashMap::new()),
        }
    }

    /// The caller a key stands for.
    pub async fn verify(&self, key: &str) -> Result<Caller, AuthError> {
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        if let Some(caller) = self.remembered(&digest) {
            return Ok(caller);
        }
        let id = key_id(key).ok_or(AuthError::Invalid)?;
        let record = self.store.api_key(id).await?.ok_or(AuthError::Invalid)?;
        if record.revoked_at.is_some() {
            return Err(AuthError::Invalid);
        }
        let role = Role::parse(&record.role).ok_or(AuthError::Invalid)?;
        let matches = {
            let key = key.to_string();
            let hash = record.hash.clone();
            tokio::task::spawn_blocking(move || key_matches(&key, &hash))
                .await
                .map_err(|e| AuthError::Hash(e.to_string()))?
        };
        if !matches {
            return Err(AuthError::Invalid);
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
        Ok(caller)
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
}
