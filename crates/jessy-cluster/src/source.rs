//! The registry source of record, as rows: the registry's header, one row per dimension
//! (without its layers), one per layer, one per calibration line.
//!
//! Rows are JSON (`jsonb`) in the engine's own source format, so this crate does not depend on
//! the engine and a new source field needs no migration. They are written in the same
//! transaction as the generation built from them, so the rows always describe the current
//! generation (each row records the generation that last wrote it); `pg_dump` of these tables
//! is a readable backup of everything a user wrote.

use serde_json::Value;
use tokio_postgres::GenericClient;

use crate::ClusterError;

/// A whole registry source as rows, for seeding an empty cluster.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceRows {
    /// Registry name.
    pub name: String,
    /// Registry description.
    pub description: String,
    /// Out-of-scope example utterances.
    pub out_of_scope: Vec<String>,
    /// `(dimension id, dimension source without layers)`.
    pub dimensions: Vec<(String, Value)>,
    /// `(dimension id, layer id, layer source)`.
    pub layers: Vec<(String, String, Value)>,
    /// Calibration (validation) lines: text and, unless out of scope, `(dimension, layer)`.
    pub calibration: Vec<(String, Option<(String, String)>)>,
}

/// Replaces every source row with `rows`, recorded as written by `generation` (seeding, or
/// `jessy cluster push`). Runs inside the caller's transaction.
pub async fn replace_all(
    tx: &tokio_postgres::Transaction<'_>,
    generation: u64,
    rows: &SourceRows,
) -> Result<(), ClusterError> {
    let generation = generation as i64;
    tx.batch_execute(
        "DELETE FROM jessy_layers; DELETE FROM jessy_dimensions;
         DELETE FROM jessy_calibration_lines; DELETE FROM jessy_registry;",
    )
    .await?;
    let out_of_scope =
        serde_json::to_value(&rows.out_of_scope).map_err(|e| ClusterError::Data(e.to_string()))?;
    tx.execute(
        "INSERT INTO jessy_registry (singleton, name, description, out_of_scope, generation)
         VALUES (TRUE, $1, $2, $3, $4)",
        &[&rows.name, &rows.description, &out_of_scope, &generation],
    )
    .await?;
    let dimension = tx
        .prepare("INSERT INTO jessy_dimensions (id, body, generation) VALUES ($1, $2, $3)")
        .await?;
    for (id, body) in &rows.dimensions {
        tx.execute(&dimension, &[id, body, &generation]).await?;
    }
    let layer = tx
        .prepare(
            "INSERT INTO jessy_layers (dimension, id, body, generation) VALUES ($1, $2, $3, $4)",
        )
        .await?;
    for (dimension, id, body) in &rows.layers {
        tx.execute(&layer, &[dimension, id, body, &generation])
            .await?;
    }
    let line = tx
        .prepare(
            "INSERT INTO jessy_calibration_lines (seq, text, dimension, layer) VALUES ($1, $2, $3, $4)",
        )
        .await?;
    for (seq, (text, label)) in rows.calibration.iter().enumerate() {
        let (dimension, layer) = match label {
            Some((d, l)) => (Some(d.as_str()), Some(l.as_str())),
            None => (None, None),
        };
        tx.execute(&line, &[&(seq as i32), text, &dimension, &layer])
            .await?;
    }
    Ok(())
}

/// Creates or replaces one layer's row, as written by `generation`.
pub async fn upsert_layer(
    tx: &tokio_postgres::Transaction<'_>,
    generation: u64,
    dimension: &str,
    id: &str,
    body: &Value,
) -> Result<(), ClusterError> {
    tx.execute(
        "INSERT INTO jessy_layers (dimension, id, body, generation) VALUES ($1, $2, $3, $4)
         ON CONFLICT (dimension, id) DO UPDATE SET body = EXCLUDED.body, generation = EXCLUDED.generation",
        &[&dimension, &id, body, &(generation as i64)],
    )
    .await?;
    Ok(())
}

/// Deletes one layer's row.
pub async fn delete_layer(
    tx: &tokio_postgres::Transaction<'_>,
    dimension: &str,
    id: &str,
) -> Result<(), ClusterError> {
    tx.execute(
        "DELETE FROM jessy_layers WHERE dimension = $1 AND id = $2",
        &[&dimension, &id],
    )
    .await?;
    Ok(())
}

/// Every layer row: `(dimension, layer id, source)`, ordered by dimension and id.
pub async fn layers(
    client: &impl GenericClient,
) -> Result<Vec<(String, String, Value)>, ClusterError> {
    Ok(client
        .query(
            "SELECT dimension, id, body FROM jessy_layers ORDER BY dimension, id",
            &[],
        )
        .await?
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect())
}
