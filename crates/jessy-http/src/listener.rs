//! The accept loop both services run: a cap on open connections, a deadline for the request
//! head, and graceful shutdown with a bounded drain ([`serve`]).
//!
//! Without the cap and the deadline, a client that opens connections and never finishes a
//! request holds a descriptor and a task forever: enough of them (tens of thousands of
//! half-open connections) exhaust the process's descriptors and valid requests time out. With
//! them, a connection that does not deliver its request head in time is closed, and past the
//! cap new connections wait in the kernel's listen backlog instead of costing descriptors.
//!
//! Both services serve HTTP/1.1 only (with upgrades, for the gateway's WebSocket route).

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

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

/// How [`serve`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drained {
    /// Every connection finished its request in flight and closed within the grace period.
    Clean,
    /// The grace period ended with connections still open; they were abandoned (their tasks
    /// end with the runtime, or when their clients leave).
    GraceExpired {
        /// Connections still open.
        open: usize,
    },
}

/// Serves `router` over HTTP/1.1 (with upgrades) on `listener` under `limits` until `shutdown`
/// is cancelled; then stops accepting, lets every connection finish its request in flight and
/// close, and returns once they all have or `grace` has passed, whichever is first.
/// Connections already upgraded (WebSocket sessions) are their owners' to close, typically
/// on the same token.
///
/// Each request carries the client's address as `ConnectInfo<SocketAddr>` (the gateway's
/// failed-authentication throttle reads it). Accept errors are logged and, unless they concern
/// only the one connection, retried after a second (running out of descriptors must not end
/// the server). The 400/414/431 hyper answers by itself leave with the JSON error body
/// ([`crate::wire::JsonErrorIo`]).
pub async fn serve(
    listener: TcpListener,
    limits: ConnectionLimits,
    router: Router,
    shutdown: CancellationToken,
    grace: Duration,
) -> Drained {
    let permits = Arc::new(Semaphore::new(
        limits.max_connections.clamp(1, Semaphore::MAX_PERMITS),
    ));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let connections = TaskTracker::new();

    'serve: loop {
        let permit = tokio::select! {
            biased;
            () = shutdown.cancelled() => break 'serve,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                // The semaphore is never closed; if it were, nothing more could be served.
                Err(_) => break 'serve,
            },
        };
        let (stream, remote) = loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break 'serve,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => break accepted,
                    Err(error) if is_connection_error(&error) => continue,
                    Err(error) => {
                        tracing::error!(%error, "accepting a connection failed; retrying in 1 s");
                        tokio::select! {
                            biased;
                            () = shutdown.cancelled() => break 'serve,
                            () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        }
                    }
                },
            }
        };
        let io = TokioIo::new(crate::wire::JsonErrorIo::new(Counted {
            stream,
            _permit: permit,
        }));
        let service = TowerToHyperService::new(WithPeer {
            router: router.clone(),
            remote,
        });
        let connection = builder.serve_connection(io, service).with_upgrades();
        let stop = shutdown.clone();
        connections.spawn(async move {
            let mut connection = pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = stop.cancelled() => {
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
        });
    }
    drop(listener);
    connections.close();
    match tokio::time::timeout(grace, connections.wait()).await {
        Ok(()) => Drained::Clean,
        Err(_) => {
            let open = connections.len();
            tracing::warn!(
                grace_secs = grace.as_secs_f64(),
                open,
                "grace period over; abandoning open connections"
            );
            Drained::GraceExpired { open }
        }
    }
}

/// The router of one connection, which attaches the client's address to every request as
/// `ConnectInfo` (what `axum::serve`'s connect-info service does, without a clone per request).
#[derive(Clone)]
struct WithPeer {
    router: Router,
    remote: SocketAddr,
}

impl tower_service::Service<http::Request<Incoming>> for WithPeer {
    type Response = axum::response::Response;
    type Error = Infallible;
    type Future = axum::routing::future::RouteFuture<Infallible>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        tower_service::Service::<http::Request<Incoming>>::poll_ready(&mut self.router, cx)
    }

    fn call(&mut self, mut request: http::Request<Incoming>) -> Self::Future {
        request.extensions_mut().insert(ConnectInfo(self.remote));
        self.router.call(request)
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    async fn started(
        grace: Duration,
    ) -> (
        SocketAddr,
        CancellationToken,
        tokio::task::JoinHandle<Drained>,
    ) {
        let router = Router::new()
            .route(
                "/peer",
                get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
            )
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    "done"
                }),
            );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let token = CancellationToken::new();
        let task = tokio::spawn(serve(
            listener,
            ConnectionLimits::default(),
            router,
            token.clone(),
            grace,
        ));
        (addr, token, task)
    }

    async fn get_text(addr: SocketAddr, path: &str) -> (TcpStream, String) {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut buf = vec![0; 4096];
        let n = stream.read(&mut buf).await.unwrap();
        (stream, String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    #[tokio::test]
    async fn requests_carry_the_peer_address() {
        let (addr, token, task) = started(Duration::from_secs(1)).await;
        let (stream, text) = get_text(addr, "/peer").await;
        let local = stream.local_addr().unwrap();
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        assert!(text.ends_with(&local.to_string()), "{text}");
        drop(stream);
        token.cancel();
        assert_eq!(task.await.unwrap(), Drained::Clean);
    }

    #[tokio::test]
    async fn a_request_in_flight_finishes_during_the_drain() {
        let (addr, token, task) = started(Duration::from_secs(5)).await;
        let request = tokio::spawn(async move { get_text(addr, "/slow").await.1 });
        tokio::time::sleep(Duration::from_millis(100)).await;
        token.cancel();
        let text = request.await.unwrap();
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        assert!(text.ends_with("done"), "{text}");
        assert_eq!(task.await.unwrap(), Drained::Clean);
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "the listener is closed after the drain"
        );
    }

    #[tokio::test]
    async fn the_grace_period_bounds_the_drain() {
        let (addr, token, task) = started(Duration::from_millis(50)).await;
        // An upgraded-like connection that never ends its request: a head that never finishes
        // is closed by hyper's graceful shutdown at once, so hold a request in flight instead.
        let request = tokio::spawn(async move { get_text(addr, "/slow").await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        token.cancel();
        assert_eq!(task.await.unwrap(), Drained::GraceExpired { open: 1 });
        drop(request);
    }
}
