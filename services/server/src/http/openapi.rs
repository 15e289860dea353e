//! The OpenAPI 3.1 description of the API, generated from the handlers' own
//! annotations, served at `/openapi.json` with a small reader at `/docs`, and
//! committed as `docs/openapi.json` (a test fails when the two differ).

use axum::response::Html;
use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi as Spec;
use utoipa::{Modify, OpenApi};

/// The parts of the spec not tied to one handler.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Folio",
        description = "Question answering over long legal and finance documents, with answers cited to exact character spans. Every `/v1` route needs an API key (`Authorization: Bearer <key>`); errors are `{\"error\": {\"code\", \"message\", \"type\"}}`.",
        license(name = "Apache-2.0")
    ),
    modifiers(&BearerKey),
    components(schemas(super::schema::ErrorBody, super::schema::ErrorDetail)),
    tags(
        (name = "collections", description = "Named groups of documents"),
        (name = "documents", description = "Upload, status, canonical text, chunks, versions, deletion"),
        (name = "jobs", description = "The ingestion queue"),
        (name = "query", description = "Search and cited answers"),
        (name = "llm", description = "The node's generator, OpenAI-compatible"),
        (name = "keys", description = "The caller and the tenant's API keys"),
        (name = "health", description = "Liveness and readiness (no key needed)")
    )
)]
pub struct ApiDoc;

struct BearerKey;

impl Modify for BearerKey {
    fn modify(&self, openapi: &mut Spec) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A Folio API key (`folio_<id>_<secret>`); `X-Api-Key: <key>` works too",
                    ))
                    .build(),
            ),
        );
    }
}

/// `GET /openapi.json`.
pub async fn spec_json(axum::extract::State(spec): axum::extract::State<SpecJson>) -> Json<Spec> {
    Json((*spec.0).clone())
}

/// The spec shared by the `/openapi.json` handler.
#[derive(Clone)]
pub struct SpecJson(pub std::sync::Arc<Spec>);

/// `GET /docs`: a self-contained reader of `/openapi.json` (no CDN, works offline).
pub async fn docs_page() -> Html<&'static str> {
    Html(include_str!("../../../../web/api-docs.html"))
}

/// The spec as committed: pretty JSON with a final newline.
pub fn render(spec: &Spec) -> String {
    let mut text = serde_json::to_string_pretty(spec).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_committed_spec_matches_the_code() {
        let generated = super::render(&crate::http::openapi_spec());
        let committed = include_str!("../../../../docs/openapi.json");
        assert!(
            generated == committed,
            "docs/openapi.json is out of date: run `folio openapi > docs/openapi.json` and commit it"
        );
    }
}
