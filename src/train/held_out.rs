//! Names kept out of every split (`train --hold-out-family`, `--hold-out-benign`) and scored
//! once the model is trained: how it does on DGA families and benign lists it never saw.
//!
//! A model is judged later on data it never saw: other families, other popularity lists. The
//! test split cannot tell how it will do there (it is drawn from the same lists and families
//! as the training split), and tuning on it would spoil it. Holding whole families and whole
//! lists out of training, validation and test is the closest a run can come, and the model
//! card keeps the result beside the test report.

use super::TrainError;
use super::split::Split;
use crate::backend::Scorer;
use crate::classes::family_name;
use crate::data::{Class, Format, Sample};
use crate::metrics;
use crate::model::ModelFile;
use crate::model::file::InputInfo;
use crate::model::held_out_report::{
    AtPoints, FamilyRecall, HeldOutBenign, HeldOutDga, HeldOutReport,
};
use crate::progress::Progress;
use crate::words::count;
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// How many of the held-out benign names that score highest the report lists, to review.
const HIGHEST_LISTED: usize = 10;

/// The names taken out of the inputs before the split.
#[derive(Default)]
pub struct HeldOut {
    /// DGA names of the held-out families.
    pub dga: Vec<Sample>,
    /// Names read from the `--hold-out-benign` files.
    pub benign: Vec<Sample>,
    /// Those files, hashed as they were read (for the card and the checkpoint fingerprint).
    pub benign_inputs: Vec<InputInfo>,
    /// The families asked for, sorted.
    pub families: Vec<String>,
}

impl HeldOut {
    pub fn is_empty(&self) -> bool {
        self.families.is_empty() && self.benign_inputs.is_empty()
    }

    /// What a checkpoint must match besides the inputs (empty when nothing is held out, so
    /// runs without these flags keep the fingerprint they had).
    pub fn fingerprint(&self) -> String {
        if self.is_empty() {
            return String::new();
        }
        let files: Vec<&str> = self
            .benign_inputs
            .iter()
            .map(|i| i.sha256.as_str())
            .collect();
        format!(
            " hold_out_families={:?} hold_out_benign={files:?}",
            self.families
        )
    }
}

/// Takes every DGA name of `families` and every name of the `benign_files` out of `by_class`
/// (benign names first, DGA names second), before the split. A family no input names, or a
/// class left without names to train on, is an error.
pub fn take(
    by_class: &mut [Vec<Sample>; 2],
    families: &[String],
    benign_files: &[String],
    format: Option<Format>,
    progress: &dyn Progress,
) -> Result<HeldOut, TrainError> {
    let mut held = HeldOut::default();
    if !families.is_empty() {
        let wanted: BTreeSet<String> = families.iter().map(|f| f.trim().to_string()).collect();
        let present: BTreeSet<&str> = by_class[1].iter().map(family_name).collect();
        if let Some(missing) = wanted.iter().find(|f| !present.contains(f.as_str())) {
            let known: Vec<&str> = present.iter().copied().take(30).collect();
            return Err(TrainError::Invalid(format!(
                "--hold-out-family {missing:?}: no --dga input names that family; families found: {}{}",
                known.join(", "),
                if present.len() > known.len() {
                    ", ..."
                } else {
                    ""
                }
            )));
        }
        let (out, kept): (Vec<Sample>, Vec<Sample>) = std::mem::take(&mut by_class[1])
            .into_iter()
            .partition(|s| wanted.contains(family_name(s)));
        by_class[1] = kept;
        held.dga = out;
        held.families = wanted.into_iter().collect();
        if by_class[1].is_empty() {
            return Err(TrainError::Invalid(
                "--hold-out-family holds out every DGA name: leave at least one family to train on"
                    .into(),
            ));
        }
        progress.line(&format!(
            "held out of every split: {} of the {} {}",
            count(held.dga.len() as u64, "DGA name"),
            if held.families.len() == 1 {
                "family"
            } else {
                "families"
            },
            held.families.join(", ")
        ));
    }
    if !benign_files.is_empty() {
        for path in benign_files {
            let (samples, report, info) = super::read_input(path, Class::Benign, format)?;
            progress.line(&format!("held out: {report}"));
            held.benign.extend(samples);
            held.benign_inputs.push(info);
        }
        let mut seen = HashSet::new();
        held.benign.retain(|s| seen.insert(s.name.clone()));
        // A held-out name is in no split, whatever class an input gives it.
        let before: [usize; 2] = [by_class[0].len(), by_class[1].len()];
        for samples in by_class.iter_mut() {
            samples.retain(|s| !seen.contains(&s.name));
        }
        progress.line(&format!(
            "held out of every split: {} ({} of them taken out of the benign inputs, {} out of the DGA inputs)",
            count(held.benign.len() as u64, "benign name"),
            before[0] - by_class[0].len(),
            before[1] - by_class[1].len()
        ));
        if by_class[0].is_empty() {
            return Err(TrainError::Invalid(
                "--hold-out-benign holds out every benign name: the --benign inputs must keep names to train on"
                    .into(),
            ));
        }
    }
    Ok(held)
}

/// Scores the held-out names with the trained `model` and reports them beside the test
/// split (`None` when nothing was held out).
pub fn report(held: &HeldOut, model: &ModelFile, test: &Split) -> Option<HeldOutReport> {
    if held.is_empty() {
        return None;
    }
    let mut points = BTreeMap::from([("threshold".to_string(), model.threshold)]);
    if let Some(op) = model.operating_points {
        points.insert("dga".into(), op.dga);
        points.insert("suspicious".into(), op.suspicious);
    }
    let scorer = Scorer::cpu(model.clone());
    let score = |samples: &[Sample]| {
        let names: Vec<&str> = samples.iter().map(|s| s.name.as_str()).collect();
        scorer.score_names(&names)
    };
    let test_scores = crate::model::head::dga_scores(
        &scorer.indices_probabilities(&test.indices),
        model.net().outputs(),
    );
    let test_positive = test.positives();
    let test_of = |dga: bool| -> Vec<f32> {
        test_scores
            .iter()
            .zip(&test_positive)
            .filter(|&(_, &p)| p == dga)
            .map(|(&s, _)| s)
            .collect()
    };
    // How many names each point calls DGA (at or above it), then that as a share.
    let called_at = |scores: &[f32]| -> BTreeMap<String, u64> {
        points
            .iter()
            .map(|(k, &t)| (k.clone(), scores.iter().filter(|&&s| s >= t).count() as u64))
            .collect()
    };
    let share_of = |called: &BTreeMap<String, u64>, whole: usize| -> AtPoints {
        called
            .iter()
            .map(|(k, &n)| (k.clone(), metrics::ratio(n, whole as u64)))
            .collect()
    };
    let share_at = |scores: &[f32]| share_of(&called_at(scores), scores.len());

    let dga_scores = score(&held.dga);
    let benign_scores = score(&held.benign);
    let dga = (!held.dga.is_empty()).then(|| {
        let mut by_family: BTreeMap<String, Vec<f32>> = BTreeMap::new();
        for (s, &v) in held.dga.iter().zip(&dga_scores) {
            by_family
                .entry(family_name(s).to_string())
                .or_default()
                .push(v);
        }
        HeldOutDga {
            names: held.dga.len() as u64,
            recall: share_at(&dga_scores),
            families: by_family
                .iter()
                .map(|(f, v)| {
                    let recall = share_at(v);
                    (
                        f.clone(),
                        FamilyRecall {
                            names: v.len() as u64,
                            recall,
                        },
                    )
                })
                .collect(),
            auc_against_test_benign: auc(&test_of(false), &dga_scores),
        }
    });
    let benign = (!held.benign.is_empty()).then(|| {
        let mut ranked: Vec<(String, f32)> = held
            .benign
            .iter()
            .zip(&benign_scores)
            .map(|(s, &v)| (s.name.clone(), v))
            .collect();
        // Highest first; equal scores by name, so the list is the same every run.
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        ranked.truncate(HIGHEST_LISTED);
        let false_positives = called_at(&benign_scores);
        HeldOutBenign {
            names: held.benign.len() as u64,
            inputs: held.benign_inputs.clone(),
            false_positive_rate: share_of(&false_positives, benign_scores.len()),
            false_positives,
            auc_test_dga_against: auc(&benign_scores, &test_of(true)),
            highest: ranked,
        }
    });
    let auc_both_held_out = match (&dga, &benign) {
        (Some(_), Some(_)) => auc(&benign_scores, &dga_scores),
        _ => None,
    };
    Some(HeldOutReport {
        points,
        dga,
        benign,
        auc_both_held_out,
    })
}

/// ROC AUC of `positive` scores against `negative` ones (`None` when either is empty).
fn auc(negative: &[f32], positive: &[f32]) -> Option<f64> {
    let scores: Vec<f32> = negative.iter().chain(positive).copied().collect();
    let truth: Vec<bool> = (0..scores.len()).map(|i| i >= negative.len()).collect();
    metrics::roc_auc(&scores, &truth)
}
