//! Learning from usage at the facade: feedback, learning with a regression guard, and
//! suggested layers. The rules live in [`crate::usage`]; this file wires them to the store.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::judge::is_right;
use super::{Engine, Prepared, Upserted, WriteError};
use crate::build::{self, AssociationCarry, BuildOptions};
use crate::query::QueryOptions;
use crate::registry::{Keyword, LayerSource};
use crate::storage::{self, PublishError};
use crate::usage::feedback::split_layer;
use crate::usage::fold::{self, Labelled};
use crate::usage::inbox::InboxError;
use crate::usage::suggest::{self, ClosestLayer, Suggestion};
use crate::usage::{
    FeedbackError, FeedbackItem, FeedbackLog, FeedbackRecord, FeedbackTarget, InboxEntry,
    MAX_FEEDBACK_BATCH,
};

/// One-sided z for the regression guard: the candidate is refused when the held-out lines show
/// it worse at the 5 % level (a paired sign test in its normal approximation).
///
/// Why a test rather than a fixed tolerance: the exam is small (validation lines plus one
/// feedback text in ten), so a fixed "no worse than x points" either lets real regressions
/// through on a large exam or stalls learning on the noise of a small one. Comparing the
/// lines the two models disagree on scales the tolerance with the evidence: with `b` lines
/// only the candidate gets right and `c` only the serving model gets right, the candidate is
/// refused when `c − b > 1.645·√(b + c)`.
pub const GUARD_Z: f64 = 1.645;

/// Accuracy figures of one model on the guard's exam.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// In-scope exam lines answered with their layer.
    pub in_scope_accuracy: f64,
    /// Out-of-scope exam lines answered `no_match`.
    pub oos_recall: f64,
    /// Exam lines.
    pub examples: usize,
}

/// What one learning run did (`jessy learn --json` prints it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LearnReport {
    /// Whether a new generation was published.
    pub published: bool,
    /// Why (or why not), in one sentence.
    pub reason: String,
    /// Feedback records behind the texts this run trained on.
    pub feedback_used: usize,
    /// Feedback records in the log.
    pub feedback_total: usize,
    /// Distinct texts added or moved as training examples.
    pub texts_trained: usize,
    /// Distinct texts held out as exam lines.
    pub held_out: usize,
    /// Distinct texts left out because their feedback is tied between labels.
    pub contradictory: usize,
    /// Distinct texts left out because their layer no longer exists.
    pub stale: usize,
    /// Distinct texts the registry already had with the same label.
    pub known: usize,
    /// The serving model on the exam.
    pub before: Figures,
    /// The candidate on the exam (equal to `before` when nothing was trained).
    pub after: Figures,
    /// The generation serving after the run.
    pub generation: u64,
    /// Wall time of the run, in milliseconds.
    pub duration_ms: f64,
}

/// Errors from learning.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LearnError {
    /// The feedback log could not be read.
    #[error(transparent)]
    Feedback(#[from] FeedbackError),
    /// Building or publishing the candidate failed; the serving generation is unchanged.
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// Errors accepting a suggestion.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AcceptError {
    /// No current suggestion has that id (the inbox changed, or it never existed).
    #[error("unknown suggestion {0:?}")]
    UnknownSuggestion(String),
    /// Creating the layer failed (invalid id, unknown dimension, …).
    #[error(transparent)]
    Write(#[from] WriteError),
}

impl Engine {
    /// Validates and durably records a batch of feedback. All or nothing: one bad item refuses
    /// the batch, naming the item. Returns how many records the log holds afterwards.
    pub fn record_feedback(&self, items: &[FeedbackItem]) -> Result<usize, FeedbackError> {
        let records = self.resolve_feedback(items)?;
        let mut log = self.feedback_log()?;
        let log = log.as_mut().expect("feedback_log opens the log");
        log.append(records)?;
        Ok(log.records().len())
    }

    /// Validates a batch of feedback and resolves its query ids to their texts, writing
    /// nothing: the records [`Engine::record_feedback`] would append. A cluster core stores
    /// them in the cluster's log instead of this directory's. All or nothing: one bad item
    /// refuses the batch, naming the item.
    pub fn resolve_feedback(
        &self,
        items: &[FeedbackItem],
    ) -> Result<Vec<FeedbackRecord>, FeedbackError> {
        if items.is_empty() {
            return Err(FeedbackError::Empty);
        }
        if items.len() > MAX_FEEDBACK_BATCH {
            return Err(FeedbackError::TooMany {
                count: items.len(),
                max: MAX_FEEDBACK_BATCH,
            });
        }
        let registry = self.store.current();
        let mut records = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            if let Some(layer) = &item.layer {
                let known = split_layer(layer).is_some_and(|(d, l)| registry.layer(d, l).is_some());
                if !known {
                    return Err(FeedbackError::UnknownLayer {
                        index,
                        layer: layer.clone(),
                    });
                }
            }
            let (text, query_id) = match &item.target {
                FeedbackTarget::Text(text) => (text.trim().to_string(), None),
                FeedbackTarget::QueryId(id) => match self.recent.get(id) {
                    Some(q) => (q.text, Some(id.clone())),
                    None => {
                        return Err(FeedbackError::UnknownQueryId {
                            index,
                            id: id.clone(),
                        })
                    }
                },
            };
            if text.is_empty() {
                return Err(FeedbackError::EmptyText { index });
            }
            records.push(FeedbackRecord {
                text,
                layer: item.layer.clone(),
                query_id,
            });
        }
        Ok(records)
    }

    /// The prefix of the query ids this engine issues (see [`RecentQueries::prefix`]).
    ///
    /// [`RecentQueries::prefix`]: crate::usage::RecentQueries::prefix
    pub fn query_id_prefix(&self) -> String {
        self.recent.prefix()
    }

    /// Every feedback record accepted so far, oldest first.
    pub fn feedback_records(&self) -> Result<Vec<FeedbackRecord>, FeedbackError> {
        if !self.store.is_writable() {
            return match self.store.dir() {
                Some(dir) => FeedbackLog::read(dir),
                None => Ok(Vec::new()),
            };
        }
        let log = self.feedback_log()?;
        Ok(log
            .as_ref()
            .map(|l| l.records().to_vec())
            .unwrap_or_default())
    }

    /// The feedback log, opened on first use.
    fn feedback_log(
        &self,
    ) -> Result<std::sync::MutexGuard<'_, Option<FeedbackLog>>, FeedbackError> {
        if !self.store.is_writable() {
            return Err(FeedbackError::ReadOnly);
        }
        let mut guard = self.feedback.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            *guard = Some(match self.store.dir() {
                Some(dir) => FeedbackLog::open(dir)?,
                None => FeedbackLog::in_memory(),
            });
        }
        Ok(guard)
    }

    /// Folds the feedback into the training data, retrains (warm-started), re-calibrates on
    /// the stored validation lines, and publishes the candidate only if the regression guard
    /// ([`GUARD_Z`]) passes on the exam: the validation lines plus the held-out feedback.
    /// Queries keep being answered from the serving generation throughout.
    ///
    /// A learning run is one *period* of the term associations: links the confirmed traffic
    /// co-occurs grow, idle ones decay (see `build::AssociationCarry`).
    pub fn learn(&self) -> Result<LearnReport, LearnError> {
        let started = Instant::now();
        let records = self.feedback_records()?;
        let mut warm = self.write_lock.lock().unwrap_or_else(|e| e.into_inner());
        let (mut report, candidate) = self.learn_candidate(&records, &warm)?;
        if let Some(mut compiled) = candidate {
            let published = self
                .store
                .publish(|generation| compiled.encode(generation))
                .map_err(WriteError::from)?;
            *warm = Some(Arc::new(compiled.take_warm_start()));
            report.published = true;
            report.generation = published.generation();
        }
        report.duration_ms = started.elapsed().as_secs_f64() * 1e3;
        Ok(report)
    }

    /// The build half of [`Engine::learn`] for a cluster: learns from `records` (the cluster's
    /// whole feedback log) exactly as `learn` does, but encodes a candidate that passed the
    /// guard as generation `generation` and verifies it instead of publishing it; the caller
    /// stores it in the cluster and installs it ([`Engine::install`]). The report says
    /// `published: false` either way — only the caller knows when the generation is
    /// committed — and its `reason` says whether the guard passed.
    pub fn prepare_learn(
        &self,
        records: &[FeedbackRecord],
        generation: u64,
    ) -> Result<(LearnReport, Option<Prepared>), LearnError> {
        let started = Instant::now();
        let mut warm = self.write_lock.lock().unwrap_or_else(|e| e.into_inner());
        let (mut report, candidate) = self.learn_candidate(records, &warm)?;
        let prepared = match candidate {
            None => None,
            Some(mut compiled) => {
                let bytes = compiled.encode(generation);
                storage::verify::<crate::Registry>(&bytes, Path::new("<learned generation>"))
                    .map_err(|e| WriteError::from(PublishError::from(e)))?;
                // Kept even if the caller's publication fails, as for a prepared layer write.
                *warm = Some(Arc::new(compiled.take_warm_start()));
                Some(Prepared {
                    generation,
                    bytes,
                    created: false,
                })
            }
        };
        report.duration_ms = started.elapsed().as_secs_f64() * 1e3;
        Ok((report, prepared))
    }

    /// Folds `records` into the serving generation's source, trains the guard's two models,
    /// and — when the guard passes — compiles the candidate to publish. The caller holds the
    /// write lock (`warm`) and publishes, or prepares, the candidate.
    fn learn_candidate(
        &self,
        records: &[FeedbackRecord],
        warm: &Option<Arc<build::WarmStart>>,
    ) -> Result<(LearnReport, Option<build::Compiled>), LearnError> {
        let current = self.store.current();
        let serving_source = current.to_source();
        let folded = fold::fold(&serving_source, records);
        let exam = exam_lines(&current, &folded.held_out);
        let no_figures = Figures {
            in_scope_accuracy: 0.0,
            oos_recall: 0.0,
            examples: exam.len(),
        };
        let mut report = LearnReport {
            published: false,
            reason: String::new(),
            feedback_used: folded.records_used,
            feedback_total: records.len(),
            texts_trained: folded.trained.len(),
            held_out: folded.held_out.len(),
            contradictory: folded.contradictory,
            stale: folded.stale,
            known: folded.known,
            before: no_figures,
            after: no_figures,
            generation: current.generation(),
            duration_ms: 0.0,
        };
        if folded.trained.is_empty() {
            report.reason = "no new feedback to learn from".to_string();
            return Ok((report, None));
        }
        let carry = AssociationCarry {
            links: current.association_links(),
            observe: folded
                .trained
                .iter()
                .filter(|(_, label)| label.is_some())
                .map(|(text, _)| text.clone())
                .collect(),
            period_ends: true,
        };
        let rebuild = BuildOptions {
            associations: Some(carry),
            ..BuildOptions::for_rebuild(&current)
        };
        // The guard compares the lexical models; the published one also retrains the semantic
        // head when the registry has one and this engine has its encoder.
        let semantic = self.semantic_rebuild(&current);
        // The guard's two models are trained without the validation lines (no refit), so the
        // exam — validation lines and held-out feedback — is unseen by both: a refit model has
        // memorized the validation lines and would pass any candidate.
        let honest = BuildOptions {
            no_refit: true,
            warm: warm.clone(),
            ..rebuild.clone()
        };
        let serving_exam = compile_in_memory(&serving_source, &honest, current.generation())?;
        let mut candidate = build::compile(&folded.source, &honest).map_err(WriteError::from)?;
        let candidate_exam = in_memory(candidate.encode(current.generation() + 1))?;
        let (before, after, verdict) = figures_paired(&serving_exam.0, &candidate_exam, &exam);
        report.before = before;
        report.after = after;
        if let Some(refusal) = verdict {
            report.reason = refusal;
            return Ok((report, None));
        }
        // The published model is built like any rebuild (refit when the registry refits),
        // its first stage starting where the candidate's ended.
        let start = candidate.take_warm_start().combine(warm.as_deref());
        let final_options = BuildOptions {
            warm: Some(Arc::new(start)),
            semantic,
            ..rebuild
        };
        let compiled = build::compile(&folded.source, &final_options).map_err(WriteError::from)?;
        report.reason = format!(
            "the candidate passed the regression guard on {} exam lines",
            exam.len()
        );
        Ok((report, Some(compiled)))
    }

    /// Saves the no-match inbox beside the snapshot (a no-op in memory or read-only).
    pub fn save_inbox(&self) -> Result<(), InboxError> {
        match self.store.dir() {
            Some(dir) if self.store.is_writable() => self.inbox.save(dir),
            _ => Ok(()),
        }
    }

    /// The no-match inbox, most asked first.
    pub fn inbox_entries(&self) -> Vec<InboxEntry> {
        self.inbox.entries()
    }

    /// The no-match inbox grouped into suggested layers, largest first.
    pub fn suggestions(&self) -> Vec<Suggestion> {
        let options = QueryOptions {
            include_content: false,
            ..QueryOptions::default()
        };
        suggest::group(&self.inbox.entries(), |text| {
            let result = self.query_unrecorded(text, &options).ok()?;
            let top = result.top_layers.first()?;
            (top.confidence > 0.0).then(|| ClosestLayer {
                dimension: top.dimension.clone(),
                layer: top.layer.clone(),
                confidence: top.confidence,
            })
        })
    }

    /// Creates a layer from suggestion `id` (its members as examples, its keywords as
    /// keywords) in `dimension`, publishes it, and clears its members from the inbox.
    pub fn accept_suggestion(
        &self,
        id: &str,
        dimension: &str,
        layer_id: &str,
        name: &str,
    ) -> Result<Upserted, AcceptError> {
        let suggested = self.suggested_layer(id, dimension, layer_id, name)?;
        let upserted = self.upsert_layer(dimension, suggested.layer)?;
        self.forget_unrouted(&suggested.members);
        Ok(upserted)
    }

    /// The layer accepting suggestion `id` would create in `dimension` (its members as
    /// examples, its keywords as keywords, the dimension's mid frequency), writing nothing: a
    /// cluster core writes it through the cluster, then calls [`Engine::forget_unrouted`].
    pub fn suggested_layer(
        &self,
        id: &str,
        dimension: &str,
        layer_id: &str,
        name: &str,
    ) -> Result<SuggestedLayer, AcceptError> {
        let suggestion = self
            .suggestions()
            .into_iter()
            .find(|s| s.id == id)
            .ok_or_else(|| AcceptError::UnknownSuggestion(id.to_string()))?;
        let frequency = self
            .registry()
            .dimension(dimension)
            .map(|d| {
                let [lo, hi] = d.frequency();
                (lo + hi) / 2.0
            })
            .ok_or_else(|| WriteError::UnknownDimension(dimension.to_string()))?;
        let layer = LayerSource {
            id: layer_id.to_string(),
            name: name.to_string(),
            parent: None,
            frequency,
            keywords: suggestion
                .keywords
                .iter()
                .map(|k| Keyword::new(k.clone(), 1.0))
                .collect(),
            examples: suggestion.members.clone(),
            content: String::new(),
        };
        Ok(SuggestedLayer {
            layer,
            members: suggestion.members,
        })
    }

    /// Removes `texts` from the no-match inbox (they are routed now).
    pub fn forget_unrouted(&self, texts: &[String]) {
        self.inbox.remove(texts);
    }
}

/// The layer an accepted suggestion becomes, and the inbox texts it answers.
#[derive(Debug, Clone)]
pub struct SuggestedLayer {
    /// The layer to create.
    pub layer: LayerSource,
    /// The unrouted queries it was grouped from (its examples).
    pub members: Vec<String>,
}

/// The guard's exam: the stored validation lines and the held-out feedback.
fn exam_lines(registry: &crate::Registry, held_out: &[Labelled]) -> Vec<Labelled> {
    let mut exam: Vec<Labelled> = registry
        .validation_lines()
        .map(|(text, ids)| {
            (
                text.to_string(),
                ids.map(|(d, l)| (d.to_string(), l.to_string())),
            )
        })
        .collect();
    exam.extend(held_out.iter().cloned());
    exam
}

/// Scores the serving and the candidate model on `exam`, and gives the guard's verdict:
/// `Some(reason)` to refuse the candidate.
fn figures_paired(
    serving: &Engine,
    candidate: &Engine,
    exam: &[Labelled],
) -> (Figures, Figures, Option<String>) {
    let options = QueryOptions {
        include_content: false,
        ..QueryOptions::default()
    };
    // [in-scope, out-of-scope] × (serving right, candidate right, only candidate, only serving)
    let mut tally = [[0usize; 4]; 2];
    let mut totals = [0usize; 2];
    for (text, gold) in exam {
        let gold_ref = gold.as_ref().map(|(d, l)| (d.as_str(), l.as_str()));
        let kind = usize::from(gold.is_none());
        totals[kind] += 1;
        let s = is_right(&serving.query_unrecorded(text, &options), gold_ref);
        let c = is_right(&candidate.query_unrecorded(text, &options), gold_ref);
        let t = &mut tally[kind];
        t[0] += usize::from(s);
        t[1] += usize::from(c);
        t[2] += usize::from(c && !s);
        t[3] += usize::from(s && !c);
    }
    let ratio = |n: usize, d: usize| if d == 0 { 0.0 } else { n as f64 / d as f64 };
    let figures = |i: usize| Figures {
        in_scope_accuracy: ratio(tally[0][i], totals[0]),
        oos_recall: ratio(tally[1][i], totals[1]),
        examples: exam.len(),
    };
    let mut verdict = None;
    for (kind, name) in [(0, "in-scope accuracy"), (1, "out-of-scope recall")] {
        let (b, c) = (tally[kind][2] as f64, tally[kind][3] as f64);
        if c - b > GUARD_Z * (b + c).sqrt() {
            verdict = Some(format!(
                "refused: the candidate's {name} is worse on the exam ({c} lines lost, {b} gained, beyond the guard's tolerance of {:.1})",
                GUARD_Z * (b + c).sqrt()
            ));
            break;
        }
    }
    (figures(0), figures(1), verdict)
}

/// An in-memory engine over freshly encoded generation bytes (for the guard's models).
fn in_memory(bytes: Vec<u8>) -> Result<Engine, WriteError> {
    Engine::from_bytes(&bytes).map_err(|e| match e {
        super::EngineError::Build(b) => WriteError::Build(b),
        super::EngineError::Open(o) => WriteError::Build(o.into()),
        other => WriteError::Build(build::BuildError::Semantic(other.to_string())),
    })
}

/// Compiles `source` and opens it in memory as generation `generation`.
fn compile_in_memory(
    source: &crate::registry::RegistrySource,
    options: &BuildOptions,
    generation: u64,
) -> Result<(Engine, build::Compiled), WriteError> {
    let compiled = build::compile(source, options)?;
    let engine = in_memory(compiled.encode(generation))?;
    Ok((engine, compiled))
}
