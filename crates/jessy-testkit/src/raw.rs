//! HTTP/1.1 over a bare TCP socket, for tests about framing: requests no HTTP client would
//! send (a 70 KB path, 150 header fields, a control byte in a header value), answered by the
//! server's HTTP parser before any handler runs.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Longest wait for the whole exchange.
const RAW_TIMEOUT: Duration = Duration::from_secs(30);

/// Reads until the server closes the connection; `None` if it is still open after `limit`
/// (how a test tells "the server hung up on a slow client" from "it is still waiting").
pub async fn read_to_close(stream: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut received = Vec::new();
    tokio::time::timeout(limit, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .ok()
    .map(|()| received)
}

/// What came back: the status, the header section as text, and the body.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// Status code of the status line.
    pub status: u16,
    /// The header lines, lower-cased names, as received.
    pub head: String,
    /// Everything after the blank line.
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The value of header `name` (lower case), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then_some(value.trim())
        })
    }

    /// The body parsed as JSON; panics with the raw response when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}\n\n{}",
                self.head,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// Sends `request` as is to `addr` and reads one response (until the server closes the
/// connection; send `Connection: close` for routes the server would keep open). The request is
/// written while the response is read, so a server that answers before reading everything
/// (a header section over its buffer) is still heard.
pub async fn raw_http(addr: SocketAddr, request: Vec<u8>) -> RawResponse {
    let exchange = async {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let (mut reader, mut writer) = stream.into_split();
        let writing = tokio::spawn(async move {
            // The server may close before taking everything: that is a result, not a failure.
            let _ = writer.write_all(&request).await;
            writer
        });
        let mut bytes = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            match reader.read(&mut chunk).await {
                Ok(0) => break,
                Ok(n) => {
                    bytes.extend_from_slice(&chunk[..n]);
                    if complete(&bytes) {
                        break;
                    }
                }
                Err(_) if !bytes.is_empty() => break,
                Err(error) => panic!("reading the response failed: {error}"),
            }
        }
        writing.abort();
        bytes
    };
    let bytes = tokio::time::timeout(RAW_TIMEOUT, exchange)
        .await
        .expect("the server answered in time");
    parse(&bytes)
}

/// Whether `bytes` hold a full head and a body of its `content-length`.
fn complete(bytes: &[u8]) -> bool {
    let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&bytes[..end]).to_ascii_lowercase();
    let length = head.lines().find_map(|line| {
        line.strip_prefix("content-length:")
            .and_then(|v| v.trim().parse::<usize>().ok())
    });
    length.is_some_and(|length| bytes.len() >= end + 4 + length)
}

fn parse(bytes: &[u8]) -> RawResponse {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(bytes)));
    let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head}"));
    RawResponse {
        status,
        head,
        body: bytes[end + 4..].to_vec(),
    }
}

/// Requests that hyper refuses while parsing, each with the status and code the services
/// answer it with: a 70,000-byte path (414 `uri_too_long`), 150 header fields and a
/// 500 KB header (431 `headers_too_large`), a control byte in a header value and a header name
/// with a space (400 `bad_request`).
pub fn unparsable_requests() -> Vec<(&'static str, Vec<u8>, u16, &'static str)> {
    let mut many = b"GET /health HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..150 {
        many.extend_from_slice(format!("X-Field-{i}: v\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    let big = format!(
        "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "b".repeat(500_000)
    );
    vec![
        (
            "long path",
            format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000)).into_bytes(),
            414,
            "uri_too_long",
        ),
        ("150 header fields", many, 431, "headers_too_large"),
        (
            "a 500 KB header",
            big.into_bytes(),
            431,
            "headers_too_large",
        ),
        (
            "control byte in a header value",
            b"GET /health HTTP/1.1\r\nHost: x\r\nX-Bad: a\x01b\r\n\r\n".to_vec(),
            400,
            "bad_request",
        ),
        (
            "space in a header name",
            b"GET /health HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n".to_vec(),
            400,
            "bad_request",
        ),
    ]
}
