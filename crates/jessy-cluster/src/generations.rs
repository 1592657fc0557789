//! Published generations: the snapshot bytes every core serves, and the pointer to the
//! current one.
//!
//! A generation row carries its number, the SHA-256 of its bytes, their size and the number
//! of chunks; the bytes are rows of [`CHUNK_BYTES`] each (a `bytea` value is limited to 1 GiB
//! and is read whole into memory, so one value per snapshot would not scale to the 1 GiB
//! snapshots the storage format supports). [`publish`] writes a generation and moves the
//! current pointer inside the caller's transaction: readers see the old generation or the new
//! one complete, never a half-written one, and a publisher killed mid-write leaves nothing.

use sha2::{Digest, Sha256};
use tokio_postgres::GenericClient;

use crate::ClusterError;

/// Bytes per chunk row: large enough that a 10 MB snapshot is 10 round trips, small enough
/// that one row is never a memory problem for the server or a client.
pub const CHUNK_BYTES: usize = 1 << 20;

/// How many generations are kept before the current one (older ones are deleted when a new
/// one is published). Cores only ever download the current generation; the few kept are for
/// inspection and for a core that is mid-download when a newer one is published.
pub const KEEP_PREVIOUS: i64 = 4;

/// What the cluster records about one generation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GenerationHead {
    /// Its number (the one inside its bytes).
    pub generation: u64,
    /// SHA-256 of its bytes, lowercase hex.
    pub digest: String,
    /// Its size in bytes.
    pub size: u64,
}

/// Lowercase hex SHA-256 of `bytes`: the digest the cluster records and checks.
pub fn digest_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn to_u64(value: i64, what: &str) -> Result<u64, ClusterError> {
    u64::try_from(value).map_err(|_| ClusterError::Data(format!("negative {what}: {value}")))
}

fn to_i64(value: u64) -> Result<i64, ClusterError> {
    i64::try_from(value).map_err(|_| ClusterError::Data(format!("generation {value} too large")))
}

/// The current generation, or `None` for an empty (unseeded) cluster.
pub async fn current(client: &impl GenericClient) -> Result<Option<GenerationHead>, ClusterError> {
    let row = client
        .query_opt(
            "SELECT g.generation, g.digest, g.size
               FROM jessy_current c JOIN jessy_generations g USING (generation)",
            &[],
        )
        .await?;
    row.map(|row| {
        Ok(GenerationHead {
            generation: to_u64(row.get(0), "generation")?,
            digest: row.get(1),
            size: to_u64(row.get(2), "size")?,
        })
    })
    .transpose()
}

/// Downloads generation `head.generation` chunk by chunk and checks its size and digest
/// against `head`. Any mismatch is [`ClusterError::Corrupt`]: never install such bytes.
pub async fn fetch(
    client: &impl GenericClient,
    head: &GenerationHead,
) -> Result<Vec<u8>, ClusterError> {
    let generation = to_i64(head.generation)?;
    let chunks: i32 = client
        .query_opt(
            "SELECT chunks FROM jessy_generations WHERE generation = $1",
            &[&generation],
        )
        .await?
        .ok_or(ClusterError::MissingGeneration(head.generation))?
        .get(0);
    let size = usize::try_from(head.size).map_err(|_| ClusterError::Corrupt {
        generation: head.generation,
        problem: format!("size {} does not fit in memory", head.size),
    })?;
    let mut bytes = Vec::with_capacity(size);
    for seq in 0..chunks {
        let row = client
            .query_opt(
                "SELECT bytes FROM jessy_generation_chunks WHERE generation = $1 AND seq = $2",
                &[&generation, &seq],
            )
            .await?
            .ok_or_else(|| ClusterError::Corrupt {
                generation: head.generation,
                problem: format!("chunk {seq} of {chunks} is missing"),
            })?;
        bytes.extend_from_slice(row.get::<_, &[u8]>(0));
    }
    let corrupt = |problem: String| ClusterError::Corrupt {
        generation: head.generation,
        problem,
    };
    if bytes.len() != size {
        return Err(corrupt(format!(
            "{} bytes downloaded, {} recorded",
            bytes.len(),
            size
        )));
    }
    let digest = digest_hex(&bytes);
    if digest != head.digest {
        return Err(corrupt(format!(
            "digest {digest} does not match the recorded {}",
            head.digest
        )));
    }
    Ok(bytes)
}

/// Records `bytes` as generation `generation` (built from `parent`, by `built_by`), makes it
/// current, deletes generations older than [`KEEP_PREVIOUS`] before it, and queues the
/// `NOTIFY` (delivered only if the caller's transaction commits). Returns its head.
///
/// The caller holds [`crate::locks::BUILD`] in the same transaction and read the current
/// generation under it, so `generation` is exactly one more than the current one; the
/// primary key would refuse a duplicate number anyway.
pub async fn publish(
    tx: &tokio_postgres::Transaction<'_>,
    generation: u64,
    parent: Option<u64>,
    bytes: &[u8],
    built_by: &str,
) -> Result<GenerationHead, ClusterError> {
    let head = GenerationHead {
        generation,
        digest: digest_hex(bytes),
        size: bytes.len() as u64,
    };
    let number = to_i64(generation)?;
    let parent = parent.map(to_i64).transpose()?;
    let chunks = bytes.chunks(CHUNK_BYTES).count() as i32;
    tx.execute(
        "INSERT INTO jessy_generations (generation, digest, size, chunks, parent, built_by)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &number,
            &head.digest,
            &(bytes.len() as i64),
            &chunks,
            &parent,
            &built_by,
        ],
    )
    .await?;
    let insert = tx
        .prepare("INSERT INTO jessy_generation_chunks (generation, seq, bytes) VALUES ($1, $2, $3)")
        .await?;
    for (seq, chunk) in bytes.chunks(CHUNK_BYTES).enumerate() {
        tx.execute(&insert, &[&number, &(seq as i32), &chunk])
            .await?;
    }
    tx.execute(
        "INSERT INTO jessy_current (singleton, generation) VALUES (TRUE, $1)
         ON CONFLICT (singleton) DO UPDATE SET generation = EXCLUDED.generation",
        &[&number],
    )
    .await?;
    tx.execute(
        "DELETE FROM jessy_generations WHERE generation < $1",
        &[&(number - KEEP_PREVIOUS)],
    )
    .await?;
    tx.execute(
        "SELECT pg_notify($1, $2)",
        &[&crate::GENERATION_CHANNEL, &generation.to_string()],
    )
    .await?;
    Ok(head)
}

/// Every generation number recorded, oldest first (for operators and tests).
pub async fn list(client: &impl GenericClient) -> Result<Vec<u64>, ClusterError> {
    client
        .query(
            "SELECT generation FROM jessy_generations ORDER BY generation",
            &[],
        )
        .await?
        .iter()
        .map(|row| to_u64(row.get(0), "generation"))
        .collect()
}
