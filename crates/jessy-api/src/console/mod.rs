//! The web console at `/console`: pages and their static assets, embedded in the binary.
//!
//! The console is a few server-rendered page shells (one per area: sign-in, Query lab,
//! Registry, Quality, Feedback, Cluster) and a small vanilla-JavaScript client per page that
//! fills them from the gateway's own `/api/v1` routes. There is no build step: the files in
//! `crates/jessy-api/console/` are included with `include_str!`, so the console works offline,
//! from any `jessy serve` or `jessy-api` binary, with nothing fetched from elsewhere.
//!
//! Why pages are shells rather than filled in on the server: the API key lives in the
//! browser tab's `sessionStorage` and is sent as a bearer header by `fetch`, never as a cookie,
//! so a page request carries no credential for the server to render data with. That is also
//! the CSRF defence (see [`crate::routes`]' `console_origin`).
//!
//! Every console response carries a strict Content-Security-Policy ([`CSP`]): scripts, styles
//! and fetches from this origin only, no inline script or style, no frames, no plugins, and
//! `Referrer-Policy: no-referrer`. The Query lab keeps a shared query in the URL *fragment*,
//! which browsers never send to servers, so query texts do not reach access logs.

mod assets;
mod pages;

use axum::http::{header, HeaderName, HeaderValue};
use axum::response::Response;
use axum::routing::get;
use axum::Router;

use crate::state::AppState;

/// The Content-Security-Policy of every console response. `style-src 'self'` forbids inline
/// `style` attributes and `<style>` blocks; the client sizes bars through the CSSOM
/// (`element.style.width = …`), which the policy does not restrict. `img-src data:` is for
/// nothing but the browser's own form-control icons in some engines.
pub const CSP: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Routes of the console (no authentication: the pages hold no data; their scripts call the
/// authenticated API with the key the user typed).
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/console", get(pages::sign_in))
        .route("/console/", get(pages::sign_in))
        .route("/console/{page}", get(pages::page))
        .route("/console/assets/{file}", get(assets::asset))
}

/// Adds the console's security headers to `response`.
fn secure(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = |headers: &mut axum::http::HeaderMap, name: HeaderName, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(headers, header::CONTENT_SECURITY_POLICY, CSP);
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    response
}
