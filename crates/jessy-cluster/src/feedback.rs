//! The feedback log: what users said about routing decisions, the input to learning.
//!
//! In cluster mode every core appends here, so learning sees the feedback of all of them.
//! [`append`] commits before it returns (one transaction per batch): a client told its
//! feedback was recorded never loses it to a crash.

use std::time::SystemTime;

use tokio_postgres::GenericClient;

use crate::ClusterError;

/// One feedback record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FeedbackRecord {
    /// The query text the feedback is about.
    pub text: String,
    /// The layer it should have routed to, as `dimension/layer`; `None` when it should not
    /// have matched anything.
    pub layer: Option<String>,
    /// The id of the query response the feedback refers to, when the client sent it.
    pub query_id: Option<String>,
    /// When the service received it.
    pub received_at: SystemTime,
}

/// A record as stored: its id in the log (increasing in commit order of the appending
/// transactions' inserts) and the record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoredFeedback {
    /// Position in the log; [`read_since`] continues after it.
    pub id: i64,
    /// The record.
    pub record: FeedbackRecord,
}

/// Appends `records` in one transaction and returns their ids, after the commit.
pub async fn append(
    client: &mut tokio_postgres::Client,
    records: &[FeedbackRecord],
) -> Result<Vec<i64>, ClusterError> {
    let tx = client.transaction().await?;
    let ids = insert(&tx, records).await?;
    tx.commit().await?;
    Ok(ids)
}

/// Appends `records` in one transaction like [`append`], and returns how many records the
/// log holds with them, counted in the same transaction (so a count that fails can never
/// follow a committed batch the caller would then retry).
pub async fn append_counted(
    client: &mut tokio_postgres::Client,
    records: &[FeedbackRecord],
) -> Result<usize, ClusterError> {
    let tx = client.transaction().await?;
    insert(&tx, records).await?;
    let total = count(&tx).await?;
    tx.commit().await?;
    Ok(total)
}

async fn insert(
    tx: &tokio_postgres::Transaction<'_>,
    records: &[FeedbackRecord],
) -> Result<Vec<i64>, ClusterError> {
    let insert = tx
        .prepare(
            "INSERT INTO jessy_feedback (text, layer, query_id, received_at)
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .await?;
    let mut ids = Vec::with_capacity(records.len());
    for record in records {
        let row = tx
            .query_one(
                &insert,
                &[
                    &record.text,
                    &record.layer,
                    &record.query_id,
                    &record.received_at,
                ],
            )
            .await?;
        ids.push(row.get(0));
    }
    Ok(ids)
}

/// Every record with an id greater than `after` (0 for all), in id order.
pub async fn read_since(
    client: &impl GenericClient,
    after: i64,
) -> Result<Vec<StoredFeedback>, ClusterError> {
    Ok(client
        .query(
            "SELECT id, text, layer, query_id, received_at FROM jessy_feedback
              WHERE id > $1 ORDER BY id",
            &[&after],
        )
        .await?
        .iter()
        .map(|row| StoredFeedback {
            id: row.get(0),
            record: FeedbackRecord {
                text: row.get(1),
                layer: row.get(2),
                query_id: row.get(3),
                received_at: row.get(4),
            },
        })
        .collect())
}

/// Every record, in id order.
pub async fn read_all(client: &impl GenericClient) -> Result<Vec<StoredFeedback>, ClusterError> {
    read_since(client, 0).await
}

/// How many records the log holds.
pub async fn count(client: &impl GenericClient) -> Result<usize, ClusterError> {
    let row = client
        .query_one("SELECT count(*) FROM jessy_feedback", &[])
        .await?;
    let count: i64 = row.get(0);
    Ok(usize::try_from(count).unwrap_or(usize::MAX))
}
