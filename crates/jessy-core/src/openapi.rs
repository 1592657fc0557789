//! The OpenAPI document, generated from the `#[utoipa::path]` attributes on the handlers and
//! the `ToSchema` derives on the request and response types.

use utoipa::OpenApi;

use crate::error::{ErrorBody, ErrorCode, ErrorDetail};
use crate::routes::{cluster, dimensions, eval, generations, health, layers, ops, query, usage};
use crate::views;

/// The document's root. Every handler in [`crate::routes`] is listed in `paths`; a test checks
/// the list against the router's own route table.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "jessy-core",
        description = "Jessy's routing engine over HTTP. Every error is `{\"error\": {\"code\", \"message\"}}`; \
                       every response carries `x-request-id`.",
    ),
    paths(
        health::health,
        health::ready,
        ops::metrics,
        ops::openapi,
        query::query,
        dimensions::list,
        dimensions::get,
        dimensions::layer,
        layers::put,
        layers::delete,
        cluster::status,
        usage::feedback,
        usage::learn,
        usage::suggestions,
        usage::accept,
        generations::list,
        eval::eval,
    ),
    components(schemas(
        ErrorBody,
        ErrorDetail,
        ErrorCode,
        health::Health,
        health::Ready,
        query::QueryRequest,
        query::QueryOptions,
        query::QueryResultSchema,
        views::DimensionList,
        views::DimensionSummary,
        views::DimensionDetail,
        views::LayerSummary,
        views::LayerDetail,
        views::KeywordView,
        views::FrequencyRange,
        layers::LayerWrite,
        layers::KeywordInput,
        layers::WeightedKeyword,
        layers::WriteOutcome,
        usage::FeedbackAccepted,
        usage::SuggestionList,
        usage::AcceptSuggestion,
        usage::Accepted,
        generations::GenerationList,
        crate::history::GenerationNote,
        eval::EvalAnswer,
        crate::quality::QualityDetail,
        crate::quality::Confusion,
        crate::quality::SweepPoint,
    )),
    tags(
        (name = "query", description = "Routing queries"),
        (name = "registry", description = "Browsing and editing dimensions and layers"),
        (name = "learning", description = "Feedback, learning from it, and suggested layers"),
        (name = "ops", description = "Health, readiness, metrics and this document"),
    )
)]
pub struct ApiDoc;

/// The document as pretty JSON, with the crate version filled in.
pub fn document_json() -> Vec<u8> {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    // Built from constants only, so this cannot fail at run time; a test renders it.
    doc.to_pretty_json()
        .map(String::into_bytes)
        .unwrap_or_else(|error| {
            tracing::error!(%error, "cannot render the OpenAPI document");
            b"{}".to_vec()
        })
}
