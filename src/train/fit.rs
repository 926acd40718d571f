//! The epochs: batches through a backend `Session`, validation after each epoch (early
//! stopping on its AUC, or accuracy for a multiclass model), checkpoints, then the threshold
//! for `--target-fpr` and the held-out report.

use super::split::Split;
use super::{STREAM_DROPOUT, STREAM_SHUFFLE, TrainError, TrainOptions};
use crate::backend::{Backend, Batch, Trainable};
use crate::checkpoint::{Checkpoint, EpochStats};
use crate::classes::Classes;
use crate::encode::MAXLEN;
use crate::metrics::{self, Report};
use crate::model::file::{Net, OperatingPoints};
use crate::nn::Optimizer;
use crate::progress::Progress;
use crate::rng::Rng;
use std::time::Instant;

/// What fitting gave.
pub struct Fitted {
    pub net: Net,
    pub history: Vec<EpochStats>,
    pub best_epoch: usize,
    pub threshold: f32,
    pub operating_points: Option<OperatingPoints>,
    pub test_report: Option<Report>,
    pub audited_test_report: Option<Report>,
}

/// Everything `fit` needs besides the starting network.
#[derive(Clone, Copy)]
pub struct Run<'a> {
    pub options: &'a TrainOptions,
    pub root: &'a Rng,
    pub splits: (&'a Split, &'a Split, &'a Split),
    /// The test split without the `--exclude` names, when a list was given.
    pub audited_test: Option<&'a Split>,
    pub classes: &'a Classes,
    pub fingerprint: &'a str,
    pub progress: &'a dyn Progress,
}

/// The epochs (with early stopping on validation AUC, or accuracy for a multiclass model),
/// the threshold for `--target-fpr`, and the held-out report, for any architecture on any
/// backend: the steps run in a `Session`, whose weights come back once per epoch.
pub fn fit<N: Trainable>(net: N, run: &Run) -> Result<Fitted, TrainError> {
    let Run {
        options,
        root,
        splits: (train_split, val_split, test_split),
        audited_test,
        classes,
        fingerprint,
        progress,
    } = *run;
    let dropout_root = root.fork(STREAM_DROPOUT);
    let mut state = match &options.resume {
        Some(path) => {
            let state = Checkpoint::load(
                path,
                &net,
                Optimizer::new(options.optimizer),
                fingerprint,
                train_split.len(),
            )?;
            progress.line(&format!(
                "resuming after epoch {} from {}",
                state.epoch,
                path.display()
            ));
            state
        }
        None => Checkpoint {
            net,
            optimizer: Optimizer::new(options.optimizer),
            shuffle_rng: root.fork(STREAM_SHUFFLE),
            order: (0..train_split.len()).collect(),
            step: 0,
            epoch: 0,
            history: Vec::new(),
            best: None,
            stopped: false,
        },
    };
    let checkpoint_path = options.checkpoint.as_ref().or(options.resume.as_ref());
    let mut gathered = Batch::default();
    let mut session = options
        .backend
        .session(state.net.clone(), state.optimizer.clone())?;
    if let Backend::Cuda(_) = options.backend {
        progress.line(&format!("training on {}", session.describe()));
    }
    while !state.stopped && state.epoch < options.epochs {
        let epoch = state.epoch + 1;
        let started = Instant::now();
        state.shuffle_rng.shuffle(&mut state.order);
        progress.start(
            &format!("epoch {epoch}/{}", options.epochs),
            state.order.len() as u64,
        );
        let mut seen_names = 0usize;
        for batch in state.order.chunks(options.batch_size) {
            gathered.clear();
            for &i in batch {
                let row = &train_split.indices[i * MAXLEN..(i + 1) * MAXLEN];
                gathered.indices.extend_from_slice(row);
                gathered.labels.push(train_split.labels[i]);
                gathered.weights.push(train_split.weights[i]);
            }
            session.train_step(&gathered, &dropout_root.fork(state.step))?;
            state.step += 1;
            seen_names += batch.len();
            let status = session.running_loss().map_or(String::new(), |loss| {
                format!("loss {:.4}", loss / seen_names as f64)
            });
            progress.advance(batch.len() as u64, &status);
        }
        let loss_sum = session.take_loss()?;
        (state.net, state.optimizer) = session.download()?;
        progress.finish();
        let seconds = started.elapsed().as_secs_f64();
        let val_report =
            (!val_split.is_empty()).then(|| val_split.evaluate(&state.net, 0.5, classes));
        let val_auc = val_report.as_ref().and_then(|r| r.auc);
        let val_accuracy = val_report
            .as_ref()
            .and_then(|r| r.multiclass.as_ref())
            .map(|m| m.micro_f1);
        let stats = EpochStats {
            epoch,
            loss: loss_sum / seen_names.max(1) as f64,
            val_auc,
            val_accuracy,
            seconds,
            names_per_second: seen_names as f64 / seconds.max(1e-9),
        };
        progress.line(&format!(
            "epoch {epoch}/{}: loss {:.5}{}{}, {:.1} s, {:.0} names/s",
            options.epochs,
            stats.loss,
            val_auc.map_or(String::new(), |a| format!(", validation AUC {a:.5}")),
            val_accuracy.map_or(String::new(), |a| format!(", accuracy {a:.5}")),
            stats.seconds,
            stats.names_per_second
        ));
        state.history.push(stats);
        state.epoch = epoch;
        // A multiclass model is judged on naming the family, a binary one on ranking.
        if let Some(score) = val_accuracy.or(val_auc) {
            if state.best.as_ref().is_none_or(|(b, _, _)| score > *b) {
                state.best = Some((score, epoch, state.net.clone()));
            } else if let (Some(patience), Some((_, best_epoch, _))) =
                (options.patience, &state.best)
                && epoch - best_epoch >= patience
            {
                progress.line(&format!(
                    "early stop: no better validation score for {}; keeping epoch {best_epoch}",
                    crate::words::count(patience as u64, "epoch")
                ));
                state.stopped = true;
            }
        }
        if let Some(path) = checkpoint_path
            && (epoch % options.checkpoint_every.max(1) == 0
                || state.stopped
                || epoch == options.epochs)
        {
            state.save(path, fingerprint).map_err(|e| {
                TrainError::Invalid(format!("cannot write checkpoint {}: {e}", path.display()))
            })?;
        }
    }
    let Checkpoint {
        net: mut last,
        history,
        best,
        ..
    } = state;
    let epochs_run = history.len();
    let best_epoch = match best {
        Some((_, epoch, best_net)) => {
            last = best_net;
            epoch
        }
        None => epochs_run,
    };
    let net = last;
    let val_scores = scores_of(&net, val_split);
    let (threshold, operating_points) =
        thresholds(&val_scores, val_split, options.target_fpr, progress);
    let test_report =
        (!test_split.is_empty()).then(|| test_split.evaluate(&net, threshold, classes));
    let audited_test_report = audited_test
        .filter(|split| !split.is_empty())
        .map(|split| split.evaluate(&net, threshold, classes));
    Ok(Fitted {
        net: net.into_net(),
        history,
        best_epoch,
        threshold,
        operating_points,
        test_report,
        audited_test_report,
    })
}

/// Scores (probability of DGA) of `net` on a split.
pub fn scores_of<N: Trainable>(net: &N, split: &Split) -> Vec<f32> {
    crate::model::head::dga_scores(&net.cpu_probabilities(&split.indices), net.outputs())
}

/// The model's threshold and operating points from its scores on the validation split:
/// the `dga` and `suspicious` points (absent without a validation split), and the binary
/// threshold: `--target-fpr`'s, else the `dga` point, else 0.5.
pub fn thresholds(
    val_scores: &[f32],
    val_split: &Split,
    target_fpr: Option<f64>,
    progress: &dyn Progress,
) -> (f32, Option<OperatingPoints>) {
    let operating_points = operating_points_for(val_scores, val_split, progress);
    let threshold = match (target_fpr, operating_points) {
        (Some(target), _) => threshold_for(val_scores, val_split, target, progress),
        (None, Some(points)) => points.dga,
        (None, None) => 0.5,
    };
    (threshold, operating_points)
}

/// The `dga` (validation FPR at most 1e-3) and `suspicious` (at most 1e-2) thresholds, chosen
/// on the validation split; `None` without one, or when it lacks a class.
fn operating_points_for(
    scores: &[f32],
    val_split: &Split,
    progress: &dyn Progress,
) -> Option<OperatingPoints> {
    if val_split.is_empty() {
        return None;
    }
    let positive = val_split.positives();
    let dga = metrics::tpr_at_fpr(scores, &positive, 1e-3)?;
    let suspicious = metrics::tpr_at_fpr(scores, &positive, 1e-2)?;
    progress.line(&format!(
        "operating points on the validation split: dga >= {:.6} (FPR {:.5}, TPR {:.4}), suspicious >= {:.6} (FPR {:.5}, TPR {:.4})",
        dga.threshold, dga.fpr, dga.tpr, suspicious.threshold, suspicious.fpr, suspicious.tpr
    ));
    Some(OperatingPoints {
        dga: dga.threshold.clamp(0.0, 1.0),
        suspicious: suspicious.threshold.clamp(0.0, 1.0),
    })
}

/// The lowest threshold that keeps the validation split's false-positive rate at or below
/// `target` (0.5 when the split lacks a class).
fn threshold_for(scores: &[f32], val_split: &Split, target: f64, progress: &dyn Progress) -> f32 {
    match metrics::tpr_at_fpr(scores, &val_split.positives(), target) {
        Some(p) => {
            progress.line(&format!(
                "threshold {:.6}: validation FPR {:.5}, TPR {:.4} (target FPR {target})",
                p.threshold, p.fpr, p.tpr
            ));
            p.threshold.clamp(0.0, 1.0)
        }
        None => {
            progress.line("the validation split lacks a class; keeping threshold 0.5");
            0.5
        }
    }
}
