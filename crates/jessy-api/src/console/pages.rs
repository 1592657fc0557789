//! The page shells: one layout, and the main content of each page from
//! `crates/jessy-api/console/*.html`.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// One console page.
struct Page {
    /// Path segment under `/console/`.
    slug: &'static str,
    /// Title and navigation label.
    title: &'static str,
    /// The scope a key needs to see the page in the navigation (its API routes check again).
    scope: &'static str,
    /// The page's `<main>` content.
    main: &'static str,
    /// Its script under `/console/assets/`.
    script: &'static str,
}

/// The pages behind sign-in, in navigation order.
const PAGES: &[Page] = &[
    Page {
        slug: "query",
        title: "Query lab",
        scope: "query",
        main: include_str!("../../console/query.html"),
        script: "query.js",
    },
    Page {
        slug: "registry",
        title: "Registry",
        scope: "query",
        main: include_str!("../../console/registry.html"),
        script: "registry.js",
    },
    Page {
        slug: "quality",
        title: "Quality",
        scope: "admin",
        main: include_str!("../../console/quality.html"),
        script: "quality.js",
    },
    Page {
        slug: "feedback",
        title: "Feedback",
        scope: "write",
        main: include_str!("../../console/feedback.html"),
        script: "feedback.js",
    },
    Page {
        slug: "cluster",
        title: "Cluster",
        // Names internal core URLs and every gateway's address, as `/api/v1/status` does.
        scope: "admin",
        main: include_str!("../../console/cluster.html"),
        script: "cluster.js",
    },
];

const SIGN_IN: &str = include_str!("../../console/signin.html");

/// `GET /console`: the sign-in page.
pub(crate) async fn sign_in() -> Response {
    html(render("Sign in", "signin", None, SIGN_IN, "signin.js"))
}

/// `GET /console/{page}`.
pub(crate) async fn page(Path(slug): Path<String>) -> Response {
    match PAGES.iter().find(|p| p.slug == slug) {
        Some(page) => html(render(
            page.title,
            page.slug,
            Some(page.slug),
            page.main,
            page.script,
        )),
        None => ApiError::NotFound.into_response(),
    }
}

fn html(body: String) -> Response {
    super::secure(
        (
            StatusCode::OK,
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            ],
            body,
        )
            .into_response(),
    )
}

/// The layout around `main`. Every interpolated value is a constant of this module (no user
/// input reaches the HTML), so no escaping is needed here; the client escapes what it renders
/// by building DOM nodes with `textContent`, never `innerHTML`.
fn render(title: &str, slug: &str, nav: Option<&str>, main: &str, script: &str) -> String {
    let navigation = match nav {
        None => String::new(),
        Some(current) => {
            let items: String = PAGES
                .iter()
                .map(|p| {
                    let current = if p.slug == current {
                        " aria-current=\"page\""
                    } else {
                        ""
                    };
                    format!(
                        "<li data-scope=\"{}\" hidden><a href=\"/console/{}\"{current}>{}</a></li>",
                        p.scope, p.slug, p.title
                    )
                })
                .collect();
            format!(
                "<nav aria-label=\"Console pages\"><ul>{items}</ul></nav>\
                 <span id=\"who\" class=\"who\"></span>\
                 <button type=\"button\" id=\"sign-out\">Sign out</button>"
            )
        }
    };
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title} · Jessy console</title>\n\
         <link rel=\"stylesheet\" href=\"/console/assets/console.css?v={v}\">\n\
         <script src=\"/console/assets/common.js?v={v}\" defer></script>\n\
         <script src=\"/console/assets/{script}?v={v}\" defer></script>\n</head>\n\
         <body data-page=\"{slug}\">\n<a class=\"skip\" href=\"#main\">Skip to content</a>\n\
         <header class=\"top\"><span class=\"brand\">Jessy console</span>{navigation}</header>\n\
         <main id=\"main\" tabindex=\"-1\">\n{main}\n</main>\n</body>\n</html>\n",
        v = super::assets::version()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_script_is_an_embedded_asset_and_nothing_is_inline() {
        for page in PAGES {
            assert!(
                super::super::assets::find(page.script).is_some(),
                "{}",
                page.script
            );
            let html = render(
                page.title,
                page.slug,
                Some(page.slug),
                page.main,
                page.script,
            );
            // Every asset is linked with the current version, so it is cached as immutable.
            let versioned = format!("?v={}\"", super::super::assets::version());
            assert_eq!(html.matches(&versioned).count(), 3, "{}", page.slug);
            // The CSP forbids inline script and style: the shells must not need them.
            assert!(!html.contains("<script>"), "{}", page.slug);
            assert!(!html.contains("style="), "{}", page.slug);
            assert!(!html.contains("<style"), "{}", page.slug);
            for handler in ["onclick=", "onload=", "onsubmit=", "onchange=", "oninput="] {
                assert!(!html.contains(handler), "{}: inline {handler}", page.slug);
            }
        }
    }
}
