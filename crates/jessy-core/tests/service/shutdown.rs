//! Graceful shutdown: SIGTERM/SIGINT stop accepting, let in-flight requests finish, exit 0.

use std::time::{Duration, Instant};

use jessy_testkit::{eventually, Signal};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::util::{prepared_dir, start_core};

const BODY: &str = r#"{"query":"my rust code does not compile"}"#;

/// Reads one HTTP/1.1 response (headers plus `content-length` bytes of body).
async fn read_response(stream: &mut TcpStream) -> String {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = stream.read(&mut buf).await.unwrap();
        bytes.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&bytes).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if bytes.len() >= end + 4 + length {
                return text;
            }
        }
        assert!(n > 0, "connection closed before a full response: {text}");
    }
}

#[tokio::test]
async fn sigterm_lets_the_in_flight_request_finish_then_exits_0() {
    let dir = prepared_dir();
    let mut server = start_core(dir.path(), &[]);
    // A request whose body is half sent is in flight: its handler is waiting for the rest.
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let (first, rest) = BODY.split_at(10);
    let head = format!("POST /v1/query HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n", BODY.len());
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(first.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    server.signal(Signal::SIGTERM);
    // The listener closes: new connections are refused while the old one is served.
    eventually(
        Duration::from_secs(10),
        "connections refused after SIGTERM",
        || async { TcpStream::connect(server.addr).await.is_err() },
    )
    .await;

    stream.write_all(rest.as_bytes()).await.unwrap();
    let response = read_response(&mut stream).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.contains(r#""query":"my rust code does not compile""#),
        "{response}"
    );

    let status = server.wait_exit(Duration::from_secs(20));
    assert_eq!(status.code(), Some(0), "stderr:\n{}", server.stderr());
    assert!(
        server.extra_stdout().is_empty(),
        "{:?}",
        server.extra_stdout()
    );
}

#[tokio::test]
async fn sigint_exits_0_and_the_grace_period_bounds_draining() {
    let dir = prepared_dir();
    let mut server = start_core(dir.path(), &["--shutdown-grace-secs", "1"]);
    // This request never completes; the grace period must not wait for it forever.
    let mut stalled = TcpStream::connect(server.addr).await.unwrap();
    let head = "POST /v1/query HTTP/1.1\r\nhost: test\r\ncontent-length: 100\r\n\r\n{";
    stalled.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let started = Instant::now();
    server.signal(Signal::SIGINT);
    let status = server.wait_exit(Duration::from_secs(20));
    assert_eq!(status.code(), Some(0), "stderr:\n{}", server.stderr());
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "exited before the grace period: {took:?}"
    );
    assert!(
        took < Duration::from_secs(10),
        "grace period not enforced: {took:?}"
    );
}
