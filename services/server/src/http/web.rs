//! The browser-facing side: the web UI's files (compiled into the binary) and
//! the headers that keep a browser from running, framing or sniffing anything
//! Folio did not mean it to.

use crate::error_codes as codes;
use axum::extract::{Path, Request};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};

use super::ApiError;

/// The policy of the HTML pages: scripts and styles only from Folio's own files
/// (no inline code, so injected markup cannot run even if it reached the DOM),
/// API calls to this origin, no frames (a PDF opens in a tab of its own), and
/// no framing by other sites.
pub const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// The policy of every other response (JSON, text, files): nothing in it may
/// load or run anything, and nothing may frame it.
pub const DATA_POLICY: &str = "default-src 'none'; frame-ancestors 'none'; sandbox";

/// `GET /`: the web UI.
pub async fn ui_page() -> Html<&'static str> {
    Html(include_str!("../../../../web/index.html"))
}

/// `GET /assets/{file}`: the UI's and the API reader's scripts and styles.
pub async fn asset(Path(file): Path<String>) -> Response {
    let (content_type, body): (&str, &'static str) = match file.as_str() {
        "app.js" => (
            "text/javascript; charset=utf-8",
            include_str!("../../../../web/app.js"),
        ),
        "app.css" => (
            "text/css; charset=utf-8",
            include_str!("../../../../web/app.css"),
        ),
        "api-docs.js" => (
            "text/javascript; charset=utf-8",
            include_str!("../../../../web/api-docs.js"),
        ),
        "api-docs.css" => (
            "text/css; charset=utf-8",
            include_str!("../../../../web/api-docs.css"),
        ),
        _ => return ApiError::new(&codes::ROUTE_NOT_FOUND, "no such asset").into_response(),
    };
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// Middleware of every route: `nosniff`, no referrer, no framing, and a content
/// security policy (the page policy on HTML, the data policy elsewhere) unless
/// the handler set one.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // For browsers that predate `frame-ancestors`.
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        let policy = if is_html { PAGE_POLICY } else { DATA_POLICY };
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(policy),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    /// The pages must not need what the policy forbids: no inline script or
    /// style, no inline event handler, no style attribute.
    #[test]
    fn pages_carry_no_inline_code() {
        for (name, page) in [
            ("index.html", include_str!("../../../../web/index.html")),
            (
                "api-docs.html",
                include_str!("../../../../web/api-docs.html"),
            ),
        ] {
            let lower = page.to_ascii_lowercase();
            assert!(!lower.contains("<script>"), "{name} has an inline script");
            assert!(
                !lower.contains("<style"),
                "{name} has an inline style sheet"
            );
            assert!(!lower.contains(" style="), "{name} has a style attribute");
            let handler = lower.match_indices(" on").any(|(at, _)| {
                let rest = &lower[at + 3..];
                let word = rest.len()
                    - rest
                        .trim_start_matches(|c: char| c.is_ascii_lowercase())
                        .len();
                word > 0 && rest[word..].starts_with('=')
            });
            assert!(!handler, "{name} has an event handler attribute");
        }
    }
}
