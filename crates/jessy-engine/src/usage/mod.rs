//! Learning from usage: the loop that lets a registry improve from the traffic it serves.
//!
//! - `recent`: every result carries a `query_id`; the engine remembers the last
//!   [`RECENT_QUERIES`] queries so feedback can name one.
//! - [`feedback`]: "this query should have routed to that layer (or nowhere)", kept durably in
//!   an append-only log beside the snapshot.
//! - `fold`: the documented rules that turn the log into training examples and an exam.
//! - Learning itself (`Engine::learn`) retrains with the folded source, re-calibrates, and
//!   publishes only when a regression guard on held-out lines passes.
//! - `inbox` ([`NoMatchInbox`]) and `suggest` ([`Suggestion`]): what nobody routed, grouped into suggested new layers.

pub mod feedback;
pub(crate) mod fold;
pub(crate) mod inbox;
pub(crate) mod recent;
pub(crate) mod suggest;

pub use feedback::{
    FeedbackError, FeedbackItem, FeedbackLog, FeedbackRecord, FeedbackTarget, MAX_FEEDBACK_BATCH,
};
pub use inbox::{InboxEntry, InboxError, NoMatchInbox};
pub use recent::{RecentQueries, RecentQuery, RECENT_QUERIES};
pub use suggest::{ClosestLayer, Suggestion};
