//! Response bodies of the API, typed so the OpenAPI spec describes exactly what
//! the handlers send.

use super::resources::{ChunkRecord, Collection, DocumentRecord, JobRecord, VersionRecord};
use serde::Serialize;
use utoipa::{IntoResponses, ToSchema};

use super::resources::Role;

// The text endpoint streams this body; the type describes it for the spec.
/// The canonical text of a document's current version and its layout.
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentText {
    /// Document id.
    pub document_id: String,
    /// Version the text belongs to.
    pub version: i64,
    /// The canonical text; every offset in Folio refers to it.
    pub text: String,
    /// Page map, sections and defined terms (character offsets).
    pub structure: super::resources::StoredStructure,
}

/// `{"error": {…}}`: the body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// One error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable snake_case code clients may match on (see the README's error table).
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
    /// `auth`, `not_found`, `invalid_request`, `unavailable` or `internal`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// The errors any authorized route may answer.
#[allow(dead_code)] // only its OpenAPI description is used
#[derive(IntoResponses)]
pub enum ApiErrors {
    /// The request is malformed or fails validation.
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// No API key, or not a valid one.
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// The key's role may not use this route.
    #[response(status = 403)]
    Forbidden(ErrorBody),
    /// Nothing of that id in the caller's tenant.
    #[response(status = 404)]
    NotFound(ErrorBody),
    /// A JSON body that does not fit the route's schema.
    #[response(status = 422)]
    Unprocessable(ErrorBody),
    /// The key's rate limit is spent; see `Retry-After`.
    #[response(status = 429)]
    TooManyRequests(ErrorBody),
    /// Generation queue full or a dependency down; see `Retry-After` when present.
    #[response(status = 503)]
    Unavailable(ErrorBody),
}

/// `GET /v1/collections`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CollectionList {
    /// By name.
    pub collections: Vec<Collection>,
    /// `offset` of the next page; null on the last page.
    pub next_offset: Option<usize>,
}

/// `GET /v1/documents`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentList {
    /// Newest first.
    pub documents: Vec<DocumentRecord>,
    /// `offset` of the next page; null on the last page.
    pub next_offset: Option<usize>,
}

/// One file of an upload.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadedDocument {
    /// Cleaned file name (the document's name in its collection).
    pub name: String,
    /// The document (new, or existing when the name was uploaded before).
    pub document_id: String,
    /// The version the upload created, or the existing one when unchanged.
    pub version: i64,
    /// The ingestion job, when one was queued.
    pub job_id: Option<String>,
    /// `queued` or `unchanged` (same bytes as the newest version).
    pub status: String,
}

/// `POST /v1/documents`.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadResult {
    /// One entry per file part.
    pub documents: Vec<UploadedDocument>,
}

/// `GET /v1/documents/{id}/chunks`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChunkList {
    /// The document.
    pub document_id: String,
    /// The version the chunks belong to (none before the first ingestion).
    pub version: Option<i64>,
    /// In document order.
    pub chunks: Vec<ChunkRecord>,
}

/// `GET /v1/documents/{id}/versions`.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionList {
    /// The document.
    pub document_id: String,
    /// Oldest first.
    pub versions: Vec<VersionRecord>,
}

/// `DELETE /v1/documents/{id}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeleteAccepted {
    /// The document.
    pub document_id: String,
    /// The deletion job.
    pub job_id: String,
    /// Always `deleting`.
    pub status: String,
}

/// `GET /v1/jobs`.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobList {
    /// Newest first.
    pub jobs: Vec<JobRecord>,
    /// `offset` of the next page; null on the last page.
    pub next_offset: Option<usize>,
}

/// `GET /v1/me`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// The tenant every request with this key acts in.
    pub tenant_id: String,
    /// What the key may do.
    pub role: Role,
    /// The key's id (none when authentication is off).
    pub key_id: Option<String>,
}

// Built from the store's row, so the hash is not in a response by construction.
/// An API key as stored: never the key itself, only its hash.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ApiKeyRecord)]
pub struct ApiKey {
    /// Public id (also the key's visible prefix).
    pub id: String,
    /// The tenant every request made with the key acts in.
    pub tenant_id: String,
    /// A label for people (e.g. "ci", "alice's laptop").
    pub name: String,
    /// `viewer`, `editor` or `admin`.
    pub role: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// When the key was revoked (Unix milliseconds), if it was.
    pub revoked_at: Option<i64>,
}

impl From<folio_store::ApiKeyRecord> for ApiKey {
    fn from(row: folio_store::ApiKeyRecord) -> Self {
        ApiKey {
            id: row.id,
            tenant_id: row.tenant_id,
            name: row.name,
            role: row.role,
            created_at: row.created_at,
            revoked_at: row.revoked_at,
        }
    }
}

/// `GET /v1/keys`.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    /// Oldest first, revoked ones included.
    pub keys: Vec<ApiKey>,
    /// `offset` of the next page; null on the last page.
    pub next_offset: Option<usize>,
}

/// `POST /v1/keys`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    /// The key: shown this once, stored only as a hash.
    pub key: String,
    /// Its public id.
    pub id: String,
    /// Its label.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// Its tenant.
    pub tenant_id: String,
    /// Unix milliseconds.
    pub created_at: i64,
}
