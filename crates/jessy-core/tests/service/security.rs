//! Who may write, and what the HTTP parser's own refusals look like, on the real binary.

use crate::util::{
    anonymous_client, assert_error, client, layer_body, prepared_dir, start_core,
    start_core_with_env,
};

#[tokio::test]
async fn writes_need_the_admin_token() {
    let dir = prepared_dir();
    let server = start_core(dir.path(), &[]);
    let url = server.url("/v1/dimensions/technical/layers/guarded");
    let body = layer_body("Guarded", "guardword");
    let refused = anonymous_client()
        .put(&url)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(refused.headers().contains_key("www-authenticate"));
    assert_error(refused, 401, "unauthorized").await;
    let wrong = anonymous_client()
        .delete(&url)
        .bearer_auth("not-the-admin-token-at-all")
        .send()
        .await
        .unwrap();
    assert_error(wrong, 401, "unauthorized").await;
    // Reads need nothing.
    let read = anonymous_client()
        .get(server.url("/v1/dimensions"))
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    let created = client().put(&url).json(&body).send().await.unwrap();
    assert_eq!(created.status(), 201);
}

#[tokio::test]
async fn without_a_token_writes_are_disabled_unless_explicitly_opened() {
    let dir = prepared_dir();
    let closed = start_core_with_env(dir.path(), &[], &[]);
    let url = closed.url("/v1/dimensions/technical/layers/open");
    let body = layer_body("Open", "openword");
    let refused = anonymous_client()
        .put(&url)
        .json(&body)
        .send()
        .await
        .unwrap();
    let message = assert_error(refused, 403, "writes_disabled").await;
    assert!(message.contains("--admin-token-file"), "{message}");
    drop(closed);

    let open = start_core_with_env(dir.path(), &["--allow-unauthenticated-writes"], &[]);
    let url = open.url("/v1/dimensions/technical/layers/open");
    let created = anonymous_client()
        .put(&url)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
}

#[tokio::test]
async fn the_parsers_refusals_have_json_bodies() {
    let dir = prepared_dir();
    let server = start_core(dir.path(), &[]);
    for (what, request, status, code) in jessy_testkit::unparsable_requests() {
        let response = jessy_testkit::raw_http(server.addr, request).await;
        assert_eq!(response.status, status, "{what}: {}", response.head);
        assert_eq!(
            response.header("content-type"),
            Some("application/json"),
            "{what}"
        );
        assert!(response.header("x-request-id").is_some(), "{what}");
        let json = response.json();
        assert_eq!(json["error"]["code"], code, "{what}: {json}");
        assert!(json["error"]["message"].is_string(), "{what}");
    }
    // The connection-level wrapper leaves ordinary answers alone.
    let ok = jessy_testkit::raw_http(
        server.addr,
        b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
    )
    .await;
    assert_eq!(ok.status, 200);
}
