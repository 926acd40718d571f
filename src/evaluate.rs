//! Evaluating a model on labelled names: the metrics report, and the names it got wrong.
//! Shared by `dga-lite eval` and the HTML report.

use crate::backend::Scorer;
use crate::class_metrics;
use crate::classes::BENIGN;
use crate::data::{Class, Sample};
use crate::metrics::{self, Report};
use crate::scope::Scope;
use std::io::Write;

/// One model's results on one set of labelled names.
pub struct Evaluation {
    /// What the model is called in tables (its path, or the embedded model's name).
    pub label: String,
    /// Names that cannot be public, called benign without being scored.
    pub local: usize,
    pub report: Report,
    /// Probability of DGA per name, in sample order.
    pub scores: Vec<f32>,
    /// Multiclass models: the class names, and per name the true class (`None` when the
    /// model has no class for the name's family) and the predicted class with its probability.
    pub classes: Vec<String>,
    pub truth: Vec<Option<usize>>,
    pub predicted: Vec<(usize, f32)>,
}

/// How names are judged, as `predict` and `serve` judge them.
#[derive(Clone, Copy, Debug, Default)]
pub struct EvalOptions {
    /// The decision threshold (default: the model's).
    pub threshold: Option<f32>,
    /// What part of each name is scored.
    pub scope: Scope,
    /// Score names that cannot be public instead of calling them benign (`local`).
    pub score_local: bool,
}

/// Scores `samples` with `model` and measures it as `options` say. A name that cannot be
/// public (`public_name`) is called benign with score 0, as `predict` never calls it DGA,
/// unless `score_local`.
pub fn evaluate(
    model: &Scorer,
    label: String,
    samples: &[Sample],
    options: &EvalOptions,
) -> Evaluation {
    let threshold = options.threshold;
    // The rules every command applies (`judge`): which names are local, what part is scored.
    let judge = crate::judge::Judge {
        scope: options.scope,
        score_local: options.score_local,
        ..crate::judge::Judge::default()
    };
    let checked: Vec<Result<&str, _>> = samples
        .iter()
        .map(|s| judge.before_scoring(&s.name))
        .collect();
    let local: Vec<bool> = checked.iter().map(Result::is_err).collect();
    let names: Vec<&str> = checked
        .iter()
        .filter_map(|c| c.as_ref().ok().copied())
        .collect();
    let positive: Vec<bool> = samples.iter().map(|s| s.class == Class::Dga).collect();
    let families: Vec<Option<&str>> = samples.iter().map(|s| s.family.as_deref()).collect();
    let outputs = model.net().outputs();
    let scored = model.probabilities(&names);
    // Local names get the row of a certain benign: probability 0 of DGA, or of class 0.
    let benign_row: Vec<f32> = if outputs == 1 {
        vec![0.0]
    } else {
        (0..outputs)
            .map(|k| if k == 0 { 1.0 } else { 0.0 })
            .collect()
    };
    let mut rows = scored.chunks_exact(outputs);
    let probabilities: Vec<f32> = local
        .iter()
        .flat_map(|&local| {
            if local {
                benign_row.clone()
            } else {
                rows.next().expect("one row per scored name").to_vec()
            }
        })
        .collect();
    let scores = crate::model::head::dga_scores(&probabilities, outputs);
    let threshold = crate::verdict::Policy::for_model(model, threshold).dga_threshold();
    let mut report = metrics::evaluate(&scores, &positive, &families, threshold);
    let classes = model.classes().to_vec();
    let (mut truth, mut predicted) = (Vec::new(), Vec::new());
    if model.is_multiclass() {
        truth = samples
            .iter()
            .map(|s| crate::classes::true_class(&classes, s))
            .collect();
        predicted = class_metrics::predicted_classes(&probabilities, outputs)
            .into_iter()
            .zip(probabilities.chunks_exact(outputs))
            .map(|(c, row)| (c, row[c]))
            .collect();
        // Names whose family the model cannot name are left out of the class report.
        let (mut known_p, mut known_t) = (Vec::new(), Vec::new());
        for (row, t) in probabilities.chunks_exact(outputs).zip(&truth) {
            if let Some(t) = t {
                known_p.extend_from_slice(row);
                known_t.push(*t);
            }
        }
        report.multiclass = Some(class_metrics::evaluate(&known_p, &known_t, &classes));
    }
    Evaluation {
        label,
        local: local.iter().filter(|&&l| l).count(),
        report,
        scores,
        classes,
        truth,
        predicted,
    }
}

impl Evaluation {
    /// Names of samples the model has no class for (families it was not trained on, with no
    /// `other_dga` class to take them).
    pub fn unclassifiable(&self) -> usize {
        self.truth.iter().filter(|t| t.is_none()).count()
    }

    /// Writes every wrong name as CSV: `name,family,true_class,predicted_class,score,probability`.
    /// Binary models: wrong at the report's threshold, classes `benign`/`dga`, `probability`
    /// empty. Multiclass models: the predicted class differs from the true one; `probability`
    /// is the predicted class's. Returns how many rows were written.
    pub fn write_misclassified<W: Write>(
        &self,
        samples: &[Sample],
        out: W,
    ) -> Result<u64, csv::Error> {
        let mut writer = csv::Writer::from_writer(out);
        writer.write_record([
            "name",
            "family",
            "true_class",
            "predicted_class",
            "score",
            "probability",
        ])?;
        let mut written = 0;
        for (i, sample) in samples.iter().enumerate() {
            let score = self.scores[i];
            let family = sample.family.as_deref().unwrap_or("");
            let (truth, called, probability) = if self.classes.is_empty() {
                let truth = if sample.class == Class::Dga {
                    "dga"
                } else {
                    BENIGN
                };
                let called = if score >= self.report.threshold {
                    "dga"
                } else {
                    BENIGN
                };
                (truth, called, String::new())
            } else {
                let Some(t) = self.truth[i] else { continue };
                let (p, prob) = self.predicted[i];
                (
                    self.classes[t].as_str(),
                    self.classes[p].as_str(),
                    format!("{prob:.6}"),
                )
            };
            if truth != called {
                writer.write_record([
                    sample.name.as_str(),
                    family,
                    truth,
                    called,
                    &format!("{score:.6}"),
                    &probability,
                ])?;
                written += 1;
            }
        }
        writer.flush()?;
        Ok(written)
    }
}
