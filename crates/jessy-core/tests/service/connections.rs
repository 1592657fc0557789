//! Slow and idle clients over real sockets: the header read timeout and the connection cap.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::util::{prepared_dir, start_core};

use jessy_testkit::read_to_close;

/// Sends a complete `GET /health` on a new connection and returns what comes back within
/// `limit` (`None` if nothing does).
async fn health_within(addr: SocketAddr, limit: Duration) -> Option<String> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    read_to_close(&mut stream, limit)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .filter(|text| !text.is_empty())
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let dir = prepared_dir();
    let server = start_core(dir.path(), &["--header-read-timeout-ms", "300"]);

    let mut half_line = TcpStream::connect(server.addr).await.unwrap();
    half_line.write_all(b"GET /health HT").await.unwrap();
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    for stream in [&mut half_line, &mut silent] {
        let received = read_to_close(stream, Duration::from_secs(10))
            .await
            .expect("disconnected by the header read timeout");
        assert!(received.is_empty(), "closed without an answer");
    }
    // The service itself is fine.
    let answer = health_within(server.addr, Duration::from_secs(10)).await;
    assert!(answer.is_some_and(|a| a.starts_with("HTTP/1.1 200")));
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let dir = prepared_dir();
    let server = start_core(
        dir.path(),
        &[
            "--max-connections",
            "2",
            "--header-read-timeout-ms",
            "60000",
        ],
    );
    // Two idle connections take both slots.
    let first = TcpStream::connect(server.addr).await.unwrap();
    let _second = TcpStream::connect(server.addr).await.unwrap();
    // A third is queued in the listen backlog: no answer while both are held...
    let mut queued = TcpStream::connect(server.addr).await.unwrap();
    queued
        .write_all(b"GET /health HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut early = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_millis(500), queued.read(&mut early)).await;
    assert!(read.is_err(), "no answer while the cap is reached");
    // ...and served as soon as one of them closes.
    drop(first);
    let answer = read_to_close(&mut queued, Duration::from_secs(10))
        .await
        .expect("served once a slot is free");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
}
