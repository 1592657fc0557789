//! The one error type of the cluster store.

/// Errors from the cluster store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// PostgreSQL could not be reached.
    #[error("cannot connect to PostgreSQL at {url}: {source}")]
    Connect {
        /// The URL, password redacted.
        url: String,
        /// The driver's error.
        source: tokio_postgres::Error,
    },
    /// A statement failed (connection lost, constraint violated, …).
    #[error("PostgreSQL: {0}")]
    Db(#[from] tokio_postgres::Error),
    /// A generation's bytes do not match what was recorded for it.
    #[error("generation {generation}: {problem}")]
    Corrupt {
        /// The generation.
        generation: u64,
        /// What does not match.
        problem: String,
    },
    /// A generation that should exist does not (collected, or never published).
    #[error("generation {0} is not in the cluster")]
    MissingGeneration(u64),
    /// The schema in the database is newer than this binary knows.
    #[error("the cluster's schema is at version {found}, newer than this binary's {known}; upgrade this binary")]
    SchemaTooNew {
        /// Newest migration this binary has.
        known: i32,
        /// Newest migration applied to the database.
        found: i32,
    },
    /// Stored data could not be decoded (JSON of a registry row).
    #[error("cluster data: {0}")]
    Data(String),
    /// Redis failed or could not be reached.
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
}

impl ClusterError {
    /// Whether the error means the database connection is gone (so the caller should
    /// reconnect and report itself degraded), rather than a problem with the data.
    pub fn is_connection(&self) -> bool {
        match self {
            ClusterError::Connect { .. } => true,
            ClusterError::Db(e) => e.is_closed() || e.code().is_none(),
            _ => false,
        }
    }
}
