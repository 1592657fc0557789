//! What both services do with a client connection before any route runs: a cap on open
//! connections, a deadline for the request head, graceful shutdown ([`serve`]), and a deadline
//! for the request body ([`read_body`], answered 408 `request_timeout`).
//!
//! Without these, a client that opens connections and never finishes a request holds a
//! descriptor and a task forever: enough of them (tens of thousands of half-open connections)
//! exhaust the process's descriptors and valid requests time out. With them, a connection
//! that does not deliver its request head in time is closed, a body that does not arrive in
//! time is answered 408, and past the cap new connections wait in the kernel's listen backlog
//! instead of costing descriptors.
//!
//! Both services serve HTTP/1.1 only (with upgrades, for the gateway's WebSocket route), as
//! they did under `axum::serve` without its `http2` feature.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::{Body, Bytes, Incoming};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use crate::ProtocolError;

/// Default cap on open client connections per service. Below the common default descriptor
/// limit (`ulimit -n` 1024) with room for what else a connection costs (the gateway holds an
/// upstream connection per request in flight) and for the listener, the snapshot files and
/// logs; a service with a raised descriptor limit can raise this with it.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;

/// Default time a client has to send a complete request head. It also bounds how long an idle
/// keep-alive connection is kept (the wait for the next request's head is the same timer).
/// Ten seconds is far more than any client on a working network needs for a few hundred
/// bytes, and short enough that a client holding connections open without sending anything
/// frees them quickly.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Default time a client has to send a complete request body once its head has arrived.
/// Bodies are at most 64 KiB, which takes well under a second on any working link; ten
/// seconds leaves room for a slow mobile link and still frees a stalled request quickly.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Limits on client connections, the same for both services (each reads them from its own
/// flags and variables).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections open at once. At the cap the service stops accepting: further connections
    /// wait in the kernel's listen backlog and are accepted, in order, as open ones close
    /// (when the backlog is full too, the kernel refuses or drops new ones, and clients retry
    /// or time out). A WebSocket session counts as the connection it was upgraded from.
    pub max_connections: usize,
    /// Time a connection has to deliver a complete request head, counted from accepting it
    /// or from the end of the previous response (so it also closes idle keep-alive
    /// connections). A connection that misses it is closed without an answer.
    pub header_read_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> ConnectionLimits {
        ConnectionLimits {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
        }
    }
}

/// Serves HTTP/1.1 (with upgrades) on `listener` under `limits` until `shutdown` completes,
/// then stops accepting, lets every connection finish its request in flight and close, and
/// returns once they all have (connections already upgraded, such as WebSocket sessions, are
/// their owners' to close).
///
/// `make_service` builds the service for each accepted connection from the client's address
/// (a router clone, possibly with the address attached). Accept errors are logged and, unless
/// they concern only the one connection, retried after a second (running out of descriptors
/// must not end the server).
pub async fn serve<M, S, B>(
    listener: TcpListener,
    limits: ConnectionLimits,
    mut make_service: M,
    shutdown: impl Future<Output = ()>,
) where
    M: FnMut(SocketAddr) -> S,
    S: tower_service::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let permits = Arc::new(Semaphore::new(
        limits.max_connections.clamp(1, Semaphore::MAX_PERMITS),
    ));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let (stop_tx, stop_rx) = watch::channel(false);
    // Every connection task holds a receiver; `closed()` on the sender completes when all are
    // gone.
    let (open_tx, open_rx) = watch::channel(());
    let mut shutdown = pin!(shutdown);

    'serve: loop {
        let permit = tokio::select! {
            biased;
            () = &mut shutdown => break 'serve,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                // The semaphore is never closed; if it were, nothing more could be served.
                Err(_) => break 'serve,
            },
        };
        let (stream, remote) = loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break 'serve,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => break accepted,
                    Err(error) if is_connection_error(&error) => continue,
                    Err(error) => {
                        tracing::error!(%error, "accepting a connection failed; retrying in 1 s");
                        tokio::select! {
                            biased;
                            () = &mut shutdown => break 'serve,
                            () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        }
                    }
                },
            }
        };
        // `JsonErrorIo`: the 400/414/431 hyper answers by itself leave with the JSON error body.
        let io = TokioIo::new(crate::wire::JsonErrorIo::new(Counted {
            stream,
            _permit: permit,
        }));
        let service = TowerToHyperService::new(make_service(remote));
        let connection = builder.serve_connection(io, service).with_upgrades();
        let mut stop = stop_rx.clone();
        let open = open_rx.clone();
        tokio::spawn(async move {
            let mut connection = pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = stopped(&mut stop) => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = result {
                // Header timeouts, clients hanging up mid-request, malformed requests: the
                // client's problem, and one line per connection would let a client flood the
                // log.
                tracing::debug!(%remote, %error, "connection ended with an error");
            }
            drop(open);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(open_rx);
    open_tx.closed().await;
}

/// Completes once the server stops (or is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// Errors of `accept` that concern one connection only (the client gave up before it was
/// accepted); the next accept may succeed at once.
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// A client connection that holds one of the connection cap's permits until it is dropped,
/// whoever ends up owning it (hyper, or a WebSocket session after an upgrade).
struct Counted {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
}

impl AsyncRead for Counted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// Reads a whole request body, which must arrive within `timeout` (the body read timeout).
///
/// Reading stops as soon as more than `limit` bytes have arrived: the bytes so far are
/// returned, so the caller's own size check answers 413 in its usual place in the order of
/// checks (after the content type). A body whose `Content-Length` is over `limit` should not
/// be read at all; the caller can check that first.
///
/// Errors: 408 `request_timeout` when the deadline passes first, 400 `unreadable_body` when
/// the body fails (the client hung up mid-body).
pub async fn read_body<B>(body: B, limit: usize, timeout: Duration) -> Result<Bytes, ProtocolError>
where
    B: Body<Data = Bytes>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let mut body = pin!(body);
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut len = 0usize;
    while len <= limit {
        match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => return Err(ProtocolError::request_timeout(timeout)),
            Ok(None) => break,
            Ok(Some(Err(_))) => return Err(ProtocolError::unreadable_body()),
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    len += data.len();
                    chunks.push(data);
                }
            }
        }
    }
    Ok(match chunks.len() {
        0 => Bytes::new(),
        1 => chunks.swap_remove(0),
        _ => Bytes::from(chunks.concat()),
    })
}

/// Buffers an axum request's body with [`read_body`], so the handler sees a body that has
/// fully arrived. A request without a body (a WebSocket upgrade included), or one whose
/// declared length is already over `limit` (its extractor answers 413 at once), is returned
/// untouched.
pub async fn buffer_request(
    request: axum::extract::Request,
    limit: usize,
    timeout: Duration,
) -> Result<axum::extract::Request, ProtocolError> {
    let declared_too_large = request
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > limit as u64);
    if request.body().is_end_stream() || declared_too_large {
        return Ok(request);
    }
    let (parts, body) = request.into_parts();
    let bytes = read_body(body, limit, timeout).await?;
    Ok(axum::extract::Request::from_parts(
        parts,
        axum::body::Body::from(bytes),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;
    use hyper::body::Frame;
    use std::collections::VecDeque;

    /// A body of `chunks`, which then ends or, with `stall`, never sends anything again (a
    /// client that stopped sending).
    struct TestBody {
        chunks: VecDeque<Bytes>,
        stall: bool,
    }

    impl TestBody {
        fn new(chunks: &[&'static [u8]], stall: bool) -> TestBody {
            TestBody {
                chunks: chunks.iter().map(|c| Bytes::from_static(c)).collect(),
                stall,
            }
        }
    }

    impl Body for TestBody {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            let this = self.get_mut();
            match this.chunks.pop_front() {
                Some(chunk) => Poll::Ready(Some(Ok(Frame::data(chunk)))),
                None if this.stall => Poll::Pending,
                None => Poll::Ready(None),
            }
        }
    }

    #[tokio::test]
    async fn a_body_that_arrives_is_read_whole() {
        let body = TestBody::new(&[b"{\"query\":", b"\"x\"}"], false);
        let bytes = read_body(body, 100, Duration::from_secs(5)).await.unwrap();
        assert_eq!(&bytes[..], b"{\"query\":\"x\"}");
    }

    #[tokio::test]
    async fn reading_stops_just_past_the_limit() {
        let body = TestBody::new(&[b"abcd".as_slice(); 10], true);
        let bytes = read_body(body, 6, Duration::from_secs(5)).await.unwrap();
        assert_eq!(bytes.len(), 8, "two chunks: just over the limit, no more");
    }

    #[tokio::test]
    async fn a_stalled_body_is_a_408() {
        let body = TestBody::new(&[b"{\"query\":"], true);
        let err = read_body(body, 100, Duration::from_millis(50))
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::RequestTimeout);
        assert_eq!(err.status().as_u16(), 408);
        assert_eq!(err.message, "the request body did not arrive within 50 ms");
    }
}
