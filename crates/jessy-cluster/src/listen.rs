//! A PostgreSQL connection that delivers `NOTIFY` messages.
//!
//! `tokio_postgres` hands notifications to whoever polls the connection object, so this
//! module drives it on a task and forwards each payload on a channel. The channel closes when
//! the connection ends: that is how a follower learns it lost the database, and why it must
//! poll after reconnecting (a `NOTIFY` sent while nobody listened is gone for good).

use futures_util::future::poll_fn;
use tokio::sync::mpsc;
use tokio_postgres::AsyncMessage;

use crate::ClusterError;

/// A notification: its channel and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The channel `NOTIFY` named.
    pub channel: String,
    /// Its payload.
    pub payload: String,
}

/// A listening connection: the client (for queries on the same connection) and the stream
/// of notifications, which ends when the connection does.
pub struct Listener {
    /// The client of the listening connection.
    pub client: tokio_postgres::Client,
    /// Notifications, in the order the server sent them. `None` from `recv` means the
    /// connection is gone.
    pub notifications: mpsc::UnboundedReceiver<Notification>,
}

/// Connects to `url` and `LISTEN`s on every channel of `channels`.
pub async fn listen(url: &str, channels: &[&str]) -> Result<Listener, ClusterError> {
    let (client, mut connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(|source| ClusterError::Connect {
            url: crate::redact(url),
            source,
        })?;
    let (sender, notifications) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            match poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(n))) => {
                    let note = Notification {
                        channel: n.channel().to_string(),
                        payload: n.payload().to_string(),
                    };
                    if sender.send(note).is_err() {
                        break;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(error)) => {
                    tracing::debug!(%error, "PostgreSQL listening connection failed");
                    break;
                }
                None => break,
            }
        }
    });
    for channel in channels {
        // Channel names are this crate's constants; quoting keeps them one identifier.
        client
            .batch_execute(&format!("LISTEN \"{}\"", channel.replace('"', "\"\"")))
            .await?;
    }
    Ok(Listener {
        client,
        notifications,
    })
}
