//! Scope checks in handlers: a route names the scope it needs as a type
//! (`Authorized<QueryScope>`), so a handler without a check does not compile into an
//! authenticated route by accident, and the check runs before the body is read.
//!
//! The scopes themselves ([`Scope`], [`super::Scopes`]) are plain values of the crate's
//! `caller` module; this module is only the extractor over them.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::caller::{Caller, Scope};
use crate::error::ApiError;

/// A scope a handler needs, as a type ([`QueryScope`], [`WriteScope`], [`AdminScope`]).
pub trait RequiredScope {
    /// The scope.
    const SCOPE: Scope;
}

/// Marker: the route needs [`Scope::Query`].
#[derive(Debug)]
pub struct QueryScope;
/// Marker: the route needs [`Scope::Write`].
#[derive(Debug)]
pub struct WriteScope;
/// Marker: the route needs [`Scope::Admin`].
#[derive(Debug)]
pub struct AdminScope;

impl RequiredScope for QueryScope {
    const SCOPE: Scope = Scope::Query;
}
impl RequiredScope for WriteScope {
    const SCOPE: Scope = Scope::Write;
}
impl RequiredScope for AdminScope {
    const SCOPE: Scope = Scope::Admin;
}

/// Extractor that lets a handler run only for a caller holding scope `S::SCOPE`: 403
/// `forbidden` otherwise. Runs before the body is read. Reads the [`Caller`] that
/// [`super::require_api_key`] put in the request, so it needs no state of its own.
#[derive(Debug)]
pub struct Authorized<S>(pub Caller, pub std::marker::PhantomData<S>);

impl<S: RequiredScope, St: Send + Sync> FromRequestParts<St> for Authorized<S> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &St) -> Result<Self, ApiError> {
        let caller = parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!(
                "scope check without authentication: the auth layer is missing"
            ))
        })?;
        if caller.scopes.contains(S::SCOPE) {
            Ok(Authorized(caller, std::marker::PhantomData))
        } else {
            Err(ApiError::Forbidden { scope: S::SCOPE })
        }
    }
}
