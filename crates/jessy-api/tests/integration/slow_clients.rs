//! Slow and idle clients against the `jessy-api` binary over real sockets: the header read
//! timeout, the body read timeout (408) and the connection cap.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

use jessy_testkit::read_to_close;

/// A gateway in front of a core that is not there (nothing here needs one), with `extra` flags.
async fn gateway(keys: &Keys, extra: &[&str]) -> jessy_testkit::RunningProcess {
    let dead = dead_url().await;
    let mut args = vec![
        "--core",
        &dead,
        "--keys",
        keys.path.to_str().expect("utf8 path"),
    ];
    args.extend(extra);
    start_api(&args)
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let keys = Keys::new(&["alice"]);
    let api = gateway(&keys, &["--header-read-timeout-secs", "0.3"]).await;

    let mut half_line = TcpStream::connect(api.addr).await.unwrap();
    half_line.write_all(b"GET /api/health HT").await.unwrap();
    let mut silent = TcpStream::connect(api.addr).await.unwrap();
    for stream in [&mut half_line, &mut silent] {
        let received = read_to_close(stream, TIMEOUT)
            .await
            .expect("disconnected by the header read timeout");
        assert!(received.is_empty(), "closed without an answer");
    }
}

#[tokio::test]
async fn a_stalled_body_is_answered_408_with_a_json_body() {
    let keys = Keys::new(&["alice"]);
    let api = gateway(&keys, &["--body-read-timeout-secs", "0.3"]).await;
    let mut stream = TcpStream::connect(api.addr).await.unwrap();
    let head = format!(
        "POST /api/v1/query HTTP/1.1\r\nhost: test\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"query\":",
        keys.key(0)
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let answer = read_to_close(&mut stream, TIMEOUT)
        .await
        .expect("an answer, then the connection closed");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("connection: close"), "{text}");
    assert!(
        text.ends_with(
            r#"{"error":{"code":"request_timeout","message":"the request body did not arrive within 300 ms"}}"#
        ),
        "{text}"
    );
}

async fn send_health(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /api/health HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    stream
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let keys = Keys::new(&["alice"]);
    let api = gateway(
        &keys,
        &["--max-connections", "2", "--header-read-timeout-secs", "60"],
    )
    .await;
    // Two idle connections take both slots.
    let first = TcpStream::connect(api.addr).await.unwrap();
    let _second = TcpStream::connect(api.addr).await.unwrap();
    // A third waits in the listen backlog: no answer while both are held...
    let mut queued = send_health(api.addr).await;
    let mut early = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_millis(500), queued.read(&mut early)).await;
    assert!(read.is_err(), "no answer while the cap is reached");
    // ...and is served as soon as one of them closes.
    drop(first);
    let answer = read_to_close(&mut queued, TIMEOUT)
        .await
        .expect("served once a slot is free");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 "), "{text}");
    assert!(text.contains("\"status\""), "the health answer: {text}");
}
