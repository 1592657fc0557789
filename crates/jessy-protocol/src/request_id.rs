//! The `x-request-id` rules both services follow.
//!
//! Every response carries `x-request-id`: the client's own id when it sent an acceptable one
//! (so a caller can correlate across its systems), else a fresh UUID v4. The services do this
//! with tower-http's `SetRequestIdLayer` and `PropagateRequestIdLayer`; in front of them,
//! [`drop_unacceptable_request_id`] removes a client id that is not acceptable, so tower-http
//! generates a new one in its place.

use http::{HeaderName, HeaderValue, Request};

use crate::limits::MAX_REQUEST_ID_LEN;

/// The request-id header, read from the client when present and always returned; the gateway
/// also sends it to the core.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Whether a client-supplied id is kept: non-empty, at most [`MAX_REQUEST_ID_LEN`] bytes, all
/// visible ASCII. Anything else could stuff arbitrary bytes into every log line.
pub fn is_acceptable_request_id(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty() && bytes.len() <= MAX_REQUEST_ID_LEN && bytes.iter().all(u8::is_ascii_graphic)
}

/// Removes every `x-request-id` header from `request` unless there is exactly one and it is
/// acceptable; meant for `tower::util::MapRequestLayer` in front of tower-http's
/// `SetRequestIdLayer`, which then generates an id where none is left.
pub fn drop_unacceptable_request_id<B>(mut request: Request<B>) -> Request<B> {
    let headers = request.headers_mut();
    let mut values = headers.get_all(&REQUEST_ID_HEADER).iter();
    let keep = match (values.next(), values.next()) {
        (Some(value), None) => is_acceptable_request_id(value),
        _ => false,
    };
    if !keep {
        headers.remove(&REQUEST_ID_HEADER);
    }
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    fn after(values: &[&str]) -> Option<String> {
        let mut builder = Request::builder();
        for value in values {
            builder = builder.header(&REQUEST_ID_HEADER, HeaderValue::from_str(value).unwrap());
        }
        let request = drop_unacceptable_request_id(builder.body(()).unwrap());
        request
            .headers()
            .get(&REQUEST_ID_HEADER)
            .map(|v| v.to_str().unwrap().to_owned())
    }

    #[test]
    fn client_ids_are_kept_only_when_printable_and_short() {
        assert_eq!(after(&["abc-123_XYZ.9"]).as_deref(), Some("abc-123_XYZ.9"));
        let long = "a".repeat(MAX_REQUEST_ID_LEN + 1);
        let at_limit = "a".repeat(MAX_REQUEST_ID_LEN);
        assert_eq!(after(&[&at_limit]), Some(at_limit.clone()));
        for bad in [
            &[long.as_str()][..],
            &["has space"],
            &[""],
            &["a", "b"],
            &[],
        ] {
            assert_eq!(after(bad), None, "{bad:?}");
        }
    }
}
