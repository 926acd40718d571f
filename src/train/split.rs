//! The split: each class (binary) or benign and each DGA family (multiclass) shuffled with
//! the run's seed, capped, and cut into train, validation and test parts; then each part
//! encoded for the backend. `--split-out` writes it for other frameworks.

use super::{TrainError, TrainOptions};
use crate::backend::Trainable;
use crate::classes::{BENIGN, Classes, family_name};
use crate::data::{Class, Sample};
use crate::encode::Vocab;
use crate::metrics::{self, Report};
use crate::model::file::ExcludedInfo;
use crate::progress::Progress;
use crate::rng::Rng;
use std::collections::HashSet;

/// The samples of each part, and the names per part and class (benign, DGA).
pub struct Parts {
    pub train: Vec<Sample>,
    pub val: Vec<Sample>,
    pub test: Vec<Sample>,
    /// Train, validation, test; each [benign, DGA].
    pub sizes: [[usize; 2]; 3],
}

impl Parts {
    /// Drops the listed names from the training and validation parts (not from the test part,
    /// so runs with and without a list are tested alike) and returns the test part without
    /// them, the audited test split; fills in the counts of `info`. A training part left
    /// without a class is an error.
    pub fn exclude(
        &mut self,
        names: &HashSet<String>,
        info: &mut ExcludedInfo,
        progress: &dyn Progress,
    ) -> Result<Vec<Sample>, TrainError> {
        let mut dropped = 0u64;
        for (part, sizes) in [&mut self.train, &mut self.val]
            .into_iter()
            .zip(&mut self.sizes)
        {
            part.retain(|s| {
                let keep = !names.contains(&s.name);
                if !keep {
                    sizes[s.class as usize] -= 1;
                    dropped += 1;
                }
                keep
            });
        }
        let audited_test: Vec<Sample> = self
            .test
            .iter()
            .filter(|s| !names.contains(&s.name))
            .cloned()
            .collect();
        info.dropped = dropped;
        info.in_test = (self.test.len() - audited_test.len()) as u64;
        progress.line(&format!(
            "--exclude: {} dropped from training and validation, {} kept in the test split and left out of its audited report ({} listed in {})",
            crate::words::count(info.dropped, "name"),
            info.in_test,
            info.listed,
            info.path
        ));
        check_training_classes(
            &self.sizes[0],
            "--max-per-class, the test and validation splits and --exclude",
        )?;
        Ok(audited_test)
    }

    /// `{"train": {"benign": n, "dga": n}, ...}`, as the model card records it.
    pub fn sizes_json(&self) -> serde_json::Value {
        let [train, val, test] = self.sizes;
        serde_json::json!({
            "train": {"benign": train[0], "dga": train[1]},
            "val": {"benign": val[0], "dga": val[1]},
            "test": {"benign": test[0], "dga": test[1]},
        })
    }
}

/// Splits `by_class` (benign, DGA), stratified by class, or by benign and each DGA family for
/// a multiclass model. A training part without names of a class is an error: an untrained
/// model written with exit 0 would look like a trained one.
pub fn stratify(
    by_class: [Vec<Sample>; 2],
    multiclass: bool,
    options: &TrainOptions,
    rng: &mut Rng,
    progress: &dyn Progress,
) -> Result<Parts, TrainError> {
    let [benign, dga] = by_class;
    let mut groups = vec![benign];
    if multiclass {
        let mut families: std::collections::BTreeMap<String, Vec<Sample>> = Default::default();
        for s in dga {
            families
                .entry(family_name(&s).to_string())
                .or_default()
                .push(s);
        }
        groups.extend(families.into_values());
    } else {
        groups.push(dga);
    }
    let (mut train, mut val, mut test) = (vec![], vec![], vec![]);
    let mut sizes = [[0usize; 2]; 3];
    for group in groups {
        let class = group[0].class as usize;
        let parts = split_class(
            group,
            rng,
            options.max_per_class,
            options.test_split,
            options.val_split,
        );
        for ((part, size), dest) in parts
            .into_iter()
            .zip(sizes.iter_mut())
            .zip([&mut train, &mut val, &mut test])
        {
            size[class] += part.len();
            dest.extend(part);
        }
    }
    let [train_n, val_n, test_n] = sizes;
    check_training_classes(
        &train_n,
        "--max-per-class and the test and validation splits",
    )?;
    progress.line(&format!(
        "split (benign/DGA): train {}/{}, validation {}/{}, test {}/{}",
        train_n[0], train_n[1], val_n[0], val_n[1], test_n[0], test_n[1]
    ));
    Ok(Parts {
        train,
        val,
        test,
        sizes,
    })
}

/// A training part without names of a class is an error: an untrained model written with
/// exit 0 would look like a trained one.
fn check_training_classes(train_n: &[usize; 2], after: &str) -> Result<(), TrainError> {
    for (class, &n) in ["benign", "DGA"].iter().zip(train_n) {
        if n == 0 {
            return Err(TrainError::Invalid(format!(
                "the training split holds no {class} names (after {after}); give more {class} names or smaller --test-split/--val-split"
            )));
        }
    }
    Ok(())
}

/// Splits one class's samples into (train, val, test) after a seeded shuffle and cap.
fn split_class(
    mut samples: Vec<Sample>,
    rng: &mut Rng,
    cap: Option<usize>,
    test: f64,
    val: f64,
) -> [Vec<Sample>; 3] {
    rng.shuffle(&mut samples);
    if let Some(cap) = cap {
        samples.truncate(cap);
    }
    let n = samples.len();
    let n_test = (n as f64 * test).round() as usize;
    let n_val = ((n as f64 * val).round() as usize).min(n - n_test);
    let test_part = samples.split_off(n - n_test);
    let val_part = samples.split_off(samples.len() - n_val);
    [samples, val_part, test_part]
}

/// The encoded names, labels and loss weights of one split.
pub struct Split {
    pub indices: Vec<u8>,
    /// Binary: 0 benign, 1 DGA. Multiclass: the class index (0 benign).
    pub labels: Vec<f32>,
    pub weights: Vec<f32>,
    pub families: Vec<Option<std::sync::Arc<str>>>,
}

impl Split {
    pub fn new(samples: &[Sample], vocab: &Vocab, classes: &Classes) -> Split {
        let names: Vec<&str> = samples.iter().map(|s| s.name.as_str()).collect();
        let labels: Vec<usize> = samples.iter().map(|s| classes.of(s)).collect();
        Split {
            indices: vocab.encode_batch(&names),
            labels: labels.iter().map(|&c| c as f32).collect(),
            weights: labels.iter().map(|&c| classes.weights[c]).collect(),
            families: samples.iter().map(|s| s.family.clone()).collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether each name is DGA (any class but benign).
    pub fn positives(&self) -> Vec<bool> {
        self.labels.iter().map(|&l| l > 0.5).collect()
    }

    /// The binary metrics of scores (probability of DGA, one per name) at `threshold`.
    pub fn evaluate_scores(&self, scores: &[f32], threshold: f32) -> Report {
        let families: Vec<Option<&str>> = self.families.iter().map(|f| f.as_deref()).collect();
        metrics::evaluate(scores, &self.positives(), &families, threshold)
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Metrics of `net` on this split at `threshold` (with the per-class report for a
    /// multiclass model).
    pub fn evaluate<N: Trainable>(&self, net: &N, threshold: f32, classes: &Classes) -> Report {
        let outputs = net.outputs();
        let p = net.cpu_probabilities(&self.indices);
        let mut report =
            self.evaluate_scores(&crate::model::head::dga_scores(&p, outputs), threshold);
        if outputs > 1 {
            let truth: Vec<usize> = self.labels.iter().map(|&l| l as usize).collect();
            report.multiclass = Some(crate::class_metrics::evaluate(&p, &truth, &classes.names));
        }
        report
    }
}

/// Writes `name,family,class,split` for every sample (class: benign/dga for a binary model,
/// the class name for a multiclass one), atomically.
pub fn write_split(
    path: &std::path::Path,
    parts: &[(&str, &Vec<Sample>)],
    classes: &Classes,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(["name", "family", "class", "split"])?;
    for (split, samples) in parts {
        for s in samples.iter() {
            let class = if classes.is_multiclass() {
                classes.names[classes.of(s)].as_str()
            } else if s.class == Class::Dga {
                "dga"
            } else {
                BENIGN
            };
            writer.write_record([&s.name, s.family.as_deref().unwrap_or(""), class, split])?;
        }
    }
    let bytes = writer.into_inner().map_err(|e| e.to_string())?;
    crate::atomic_file::write_atomically(path, &bytes)?;
    Ok(())
}
