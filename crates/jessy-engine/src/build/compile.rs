//! Compiling a validated source: order the layers, gather the training utterances, train the
//! model, calibrate it, and derive what the query path reads besides the model.

use super::derive::{self, Derived};
use super::order::{order_layers, LayerOrder};
use super::warm::{Keys, WarmStart};
use super::{calibrate, semantic, BuildError, BuildOptions};
use crate::model::{self, Calibration, Example, Model};
use crate::registry::{self, RegistrySource};

/// Weight of a keyword as a training utterance relative to an example. Keywords are short and
/// deliberate, so they count a little more than one example each.
const KEYWORD_WEIGHT: f32 = 1.5;

/// A compiled registry, ready to be laid out as any generation.
pub struct Compiled {
    pub(super) source: RegistrySource,
    pub(super) layers: LayerOrder,
    pub(super) model: Model,
    pub(super) calibration: Calibration,
    pub(super) derived: Derived,
    /// The validation lines calibration used, `(text, (dimension id, layer id))`.
    pub(super) validation: Vec<(String, Option<(String, String)>)>,
    /// Whether calibration kept the first model (`--no-refit`).
    pub(super) no_refit: bool,
    /// Where this compile's classifiers ended, for the next compile to start from.
    pub(super) warm: WarmStart,
    /// The semantic head, when the build had an encoder (`--encoder`), and the regularization
    /// cost chosen for it on the validation lines.
    pub(super) semantic: Option<(crate::semantic::SemanticHead, f32)>,
    /// Number of training examples used (examples + keywords + out-of-scope, plus the
    /// validation lines of a refit).
    pub training_examples: usize,
}

impl Compiled {
    /// Takes the dual variables this compile ended with: pass them as
    /// [`BuildOptions::warm`] to the next compile of nearly the same registry.
    pub fn take_warm_start(&mut self) -> WarmStart {
        std::mem::take(&mut self.warm)
    }

    /// The calibration in effect.
    pub fn calibration(&self) -> Calibration {
        self.calibration
    }

    /// The semantic head, when the build trained one.
    pub fn semantic_head(&self) -> Option<&crate::semantic::SemanticHead> {
        self.semantic.as_ref().map(|(head, _)| head)
    }

    /// The semantic head's regularization cost the build chose (reported, not stored: only
    /// the fitted weights matter at query time).
    pub fn semantic_cost(&self) -> Option<f32> {
        self.semantic.as_ref().map(|&(_, c)| c)
    }
}

/// Compiles a source: validates it, learns the model and everything derived from it.
pub fn compile(source: &RegistrySource, options: &BuildOptions) -> Result<Compiled, BuildError> {
    registry::validate(source)?;
    let layers = order_layers(source);
    let mut examples = training_examples(source, &layers);
    let num_classes = layers.order.len() as u32;
    let previous = options.warm.as_deref();
    let keys = Keys::new(source, &layers, &examples);
    let (mut model, first_duals) = model::train_warm(
        &examples,
        num_classes,
        &options.train,
        &keys.start_from(previous.and_then(|w| w.first.as_ref())),
    )?;
    let mut warm = WarmStart {
        first: keys.with(first_duals),
        refit: None,
    };

    let mut validation = Vec::new();
    let n_train = examples.len();
    let mut semantic_val = None;
    let calibration = match &options.calibrate {
        Some((path, val)) => {
            let labeled =
                calibrate::resolve_labels(source, &layers, path, val, options.drop_unknown_labels)?;
            // A validation file was given: the threshold counts as calibrated even where the
            // search fell back to the default rule (no usable validation line).
            let chosen = match options.incumbent_threshold {
                Some(incumbent) => {
                    model::calibrate::calibrate_near(&model.view(), &labeled, incumbent)
                }
                None => model::calibrate(&model.view(), &labeled),
            };
            let calibration = Calibration {
                calibrated: true,
                ..chosen
            };
            if options.semantic.is_some() {
                // Scored by the model that has not seen them, before the refit below.
                semantic_val = Some(semantic::score_val(
                    &model.view(),
                    &labeled,
                    calibration.threshold,
                ));
            }
            if !options.no_refit {
                // The threshold is fixed; now the validation lines teach the model too.
                examples.extend(labeled.iter().map(|&(text, label)| Example {
                    text,
                    label,
                    weight: 1.0,
                }));
                let keys = Keys::new(source, &layers, &examples);
                let (refit, duals) = model::train_warm(
                    &examples,
                    num_classes,
                    &options.train,
                    &keys.start_from(previous.and_then(|w| w.refit.as_ref())),
                )?;
                model = refit;
                warm.refit = keys.with(duals);
                if options.semantic.is_some() {
                    // The escalation margin is chosen on margins of models trained like the
                    // published one (see `semantic::cross_fit_val`), not the first model's.
                    semantic_val = Some(semantic::cross_fit_val(
                        source,
                        &layers,
                        &examples[..n_train],
                        &labeled,
                        calibration.threshold,
                        num_classes,
                        &options.train,
                        warm.refit.as_ref(),
                    )?);
                }
            }
            // Kept in the snapshot, labelled by ids, so a rebuild can calibrate again.
            validation = labeled
                .iter()
                .map(|&(text, label)| {
                    let ids = label.map(|class| {
                        let (d, l) = layers.order[class as usize];
                        let dim = &source.dimensions[d];
                        (dim.id.clone(), dim.layers[l].id.clone())
                    });
                    (text.to_string(), ids)
                })
                .collect();
            calibration
        }
        None => Calibration::uncalibrated(!source.out_of_scope.is_empty()),
    };

    let semantic = match (&options.semantic, &semantic_val) {
        (None, _) => None,
        (Some(settings), Some(val)) => Some(semantic::train_head(
            settings,
            &examples,
            n_train,
            val,
            &model.view(),
        )?),
        (Some(_), None) => {
            return Err(BuildError::Semantic(
                "an encoder needs validation lines (--calibrate): the cascade's settings are \
                 chosen on them"
                    .into(),
            ))
        }
    };

    let derived = derive::derive(
        source,
        &layers,
        &examples,
        &model,
        options.associations.as_ref(),
    );
    Ok(Compiled {
        source: source.clone(),
        layers,
        training_examples: examples.len(),
        model,
        calibration,
        derived,
        validation,
        no_refit: options.no_refit,
        warm,
        semantic,
    })
}

/// Every training utterance: each layer's examples and keywords (labelled with the layer's
/// class, its position in the layer table), then the out-of-scope examples (no label).
fn training_examples<'s>(source: &'s RegistrySource, layers: &LayerOrder) -> Vec<Example<'s>> {
    let mut examples: Vec<Example> = Vec::new();
    for (class, &(d, l)) in layers.order.iter().enumerate() {
        let layer = &source.dimensions[d].layers[l];
        for text in &layer.examples {
            examples.push(Example {
                text,
                label: Some(class as u32),
                weight: 1.0,
            });
        }
        for k in &layer.keywords {
            examples.push(Example {
                text: k.term(),
                label: Some(class as u32),
                weight: KEYWORD_WEIGHT * k.weight(),
            });
        }
    }
    for text in &source.out_of_scope {
        examples.push(Example {
            text,
            label: None,
            weight: 1.0,
        });
    }
    examples
}
