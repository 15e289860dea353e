//! The caller's identity and the tenant's API keys (admin only).

use super::pages::{next_offset, PageQuery};
use super::schema::{ApiErrors, ApiKey, CreatedKey, KeyList, Me};
use super::{ApiError, ApiJson, AppState};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use folio_app::keys::Caller;
use serde::Deserialize;

/// `POST /v1/keys` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    /// A label for people.
    name: String,
    /// `viewer`, `editor` or `admin`.
    pub(super) role: String,
}

/// `GET /v1/me`: the tenant and role the presented key stands for.
#[utoipa::path(
    get,
    path = "/v1/me",
    tag = "keys",
    summary = "The tenant and role of the presented key",
    responses((status = 200, body = Me), ApiErrors),
    security(("api_key" = []))
)]
pub async fn me(Extension(caller): Extension<Caller>) -> Json<Me> {
    Json(Me {
        tenant_id: caller.tenant_id,
        role: caller.role.into(),
        key_id: caller.key_id,
    })
}

#[utoipa::path(
    get,
    path = "/v1/keys",
    tag = "keys",
    summary = "The tenant's API keys (never the keys themselves)",
    params(("limit" = Option<usize>, Query, description = "Items in this page (default and most: `limits.max_page_size`, 1000)"),
        ("offset" = Option<usize>, Query, description = "Items skipped (the previous page's `next_offset`)")),
    responses((status = 200, body = KeyList), ApiErrors),
    security(("api_key" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<PageQuery>,
) -> Result<Json<KeyList>, ApiError> {
    let page = query.page(&state.runtime.config.limits, None)?;
    let listed = folio_app::keys::list(&state.runtime, &caller.tenant_id, page).await?;
    Ok(Json(KeyList {
        keys: listed.items.into_iter().map(ApiKey::from).collect(),
        next_offset: next_offset(page, listed.more),
    }))
}

#[utoipa::path(
    post,
    path = "/v1/keys",
    tag = "keys",
    summary = "Create an API key; the response is the only time it is shown",
    request_body(content = NewKey),
    responses((status = 201, body = CreatedKey), ApiErrors),
    security(("api_key" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<NewKey>,
) -> Result<impl IntoResponse, ApiError> {
    let (role, issued) =
        folio_app::keys::create(&state.runtime, &caller.tenant_id, &body.role, &body.name).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            key: issued.key,
            id: issued.record.id,
            name: issued.record.name,
            role: role.into(),
            tenant_id: issued.record.tenant_id,
            created_at: issued.record.created_at,
        }),
    ))
}

#[utoipa::path(
    delete,
    path = "/v1/keys/{id}",
    tag = "keys",
    summary = "Revoke an API key",
    params(("id" = String, Path, description = "Key id")),
    responses((status = 204, description = "Revoked"), ApiErrors),
    security(("api_key" = []))
)]
pub async fn revoke(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    folio_app::keys::revoke(&state.runtime, &state.keys, &caller.tenant_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
