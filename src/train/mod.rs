//! Training: read the inputs, split, build the vocabulary, run the epochs on a backend, and
//! report on the held-out test split. One file per step:
//!
//! - `inputs.rs`: read and hash every file, de-duplicate;
//! - `parent.rs`: fine-tuning from a parent model (`--init`, `--replay`, lineage);
//! - `split.rs`: the stratified split and its encoded parts;
//! - `fit.rs`: the epochs, early stopping, checkpoints, threshold, held-out report;
//! - `ensemble.rs`: the LSTM + CNN ensemble, its members fitted in turn, then weighed;
//! - `held_out.rs`: families and lists kept out of every split, scored after training;
//! - `audit.rs`: label noise found by k-fold out-of-fold scores (`dga-lite audit`).
//!
//! Reproducibility: every random choice draws from `Rng::new(seed)` forks with fixed stream
//! numbers, and batches are reduced in fixed chunks (`model::CHUNK_ROWS`), so the same seed and
//! data give the same model bytes whatever the thread count.

pub mod audit;
mod ensemble;
mod fit;
pub mod held_out;
mod inputs;
mod parent;
mod split;

pub use inputs::read_input;
pub use split::Split;

use crate::backend::Backend;
use crate::checkpoint::EpochStats;
use crate::classes::{Classes, OTHER_DGA, family_name};
use crate::data::{Class, DataError, Format, ReadReport};
use crate::encode::Vocab;
use crate::metrics::Report;
use crate::model::file::Net;
use crate::model::{Architecture, EndgameConfig, EndgameLstm, ModelFile, SnowmanCnn, TrainingInfo};
use crate::nn::OptimizerConfig;
use crate::progress::Progress;
use crate::rng::Rng;
use fit::{Run, fit};
use parent::Parent;
use split::Parts;

// Fixed stream numbers: each kind of randomness has its own generator.
const STREAM_SAMPLE: u64 = 1;
const STREAM_INIT: u64 = 2;
const STREAM_SHUFFLE: u64 = 3;
const STREAM_DROPOUT: u64 = 4;
const STREAM_REPLAY: u64 = 5;
/// The root of an ensemble's CNN member (its own init, shuffle and dropout streams).
const STREAM_ENSEMBLE_CNN: u64 = 6;

/// How each training example's loss is weighted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClassWeight {
    /// Every example counts once.
    #[default]
    None,
    /// Each class counts as much as any other: weight `n / (classes * n_class)` (the
    /// convention of scikit-learn's and Keras users' `balanced`).
    Balanced,
}

#[derive(Clone, Debug)]
pub struct TrainOptions {
    pub benign: Vec<String>,
    pub dga: Vec<String>,
    pub format: Option<Format>,
    pub architecture: Architecture,
    pub optimizer: OptimizerConfig,
    pub epochs: usize,
    pub batch_size: usize,
    pub seed: u64,
    /// Keep at most this many names of each class (a seeded random sample). For a multiclass
    /// model each DGA family counts as a class.
    pub max_per_class: Option<usize>,
    /// Multiclass: DGA families with fewer training names than this merge into `other_dga`.
    pub min_family_size: usize,
    pub class_weight: ClassWeight,
    pub test_split: f64,
    pub val_split: f64,
    /// Stop after this many epochs without a better validation AUC (needs `val_split > 0`).
    pub patience: Option<usize>,
    /// Choose the decision threshold as the lowest score that keeps the validation split's
    /// false-positive rate at or below this (needs `val_split > 0`); otherwise 0.5.
    pub target_fpr: Option<f64>,
    /// Write a checkpoint here every `checkpoint_every` epochs (atomically).
    pub checkpoint: Option<std::path::PathBuf>,
    pub checkpoint_every: usize,
    /// Continue the run saved in this checkpoint (and keep checkpointing to it).
    pub resume: Option<std::path::PathBuf>,
    /// Names to leave out of training (one per line, or the CSV `audit` writes).
    pub exclude: Option<std::path::PathBuf>,
    /// DGA families kept out of every split and scored after training (`held_out.rs`).
    pub hold_out_families: Vec<String>,
    /// Benign files kept out of every split and scored after training.
    pub hold_out_benign: Vec<String>,
    /// Fine-tune this model: its architecture, vocabulary and weights are the starting point.
    pub init: Option<std::path::PathBuf>,
    /// With `init`: mix this many names of each class from the parent's own training files in.
    pub replay: usize,
    /// With `init`: the dropout rate to fine-tune with (the parent's when `None`). Dropout
    /// acts in training only, so the fine-tuned model scores with the parent's function.
    pub init_dropout: Option<f32>,
    /// Write every name with its class and split (train, val, test) here as CSV, so another
    /// framework can train and test on exactly the same split.
    pub split_out: Option<std::path::PathBuf>,
    /// Recorded in the model (without `--out`).
    pub command: Vec<String>,
    /// Where the training steps run. Validation and the test report are scored on the fast
    /// CPU path whatever the backend (so they are comparable across backends).
    pub backend: Backend,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            benign: Vec::new(),
            dga: Vec::new(),
            format: None,
            architecture: Architecture::EndgameLstm(EndgameConfig::default()),
            optimizer: OptimizerConfig::rmsprop(),
            epochs: 10,
            batch_size: 128,
            seed: 0,
            max_per_class: None,
            min_family_size: 100,
            class_weight: ClassWeight::None,
            test_split: 0.2,
            val_split: 0.05,
            patience: None,
            target_fpr: None,
            checkpoint: None,
            checkpoint_every: 1,
            resume: None,
            exclude: None,
            hold_out_families: Vec::new(),
            hold_out_benign: Vec::new(),
            init: None,
            replay: 0,
            init_dropout: None,
            split_out: None,
            command: Vec::new(),
            backend: Backend::cpu(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Backend(#[from] crate::backend::BackendError),
    #[error(transparent)]
    Checkpoint(#[from] crate::checkpoint::CheckpointError),
    #[error("{0}")]
    Invalid(String),
}

pub struct TrainOutcome {
    pub model: ModelFile,
    pub reports: Vec<ReadReport>,
    pub history: Vec<EpochStats>,
    pub test_report: Option<Report>,
    /// The test split without the `--exclude` names, when a list was given.
    pub audited_test_report: Option<Report>,
    /// The names held out of every split (`--hold-out-family`, `--hold-out-benign`).
    pub held_out_report: Option<crate::model::held_out_report::HeldOutReport>,
}

fn check(options: &TrainOptions) -> Result<(), TrainError> {
    let bad = |m: &str| Err(TrainError::Invalid(m.to_string()));
    if options.benign.is_empty() || options.dga.is_empty() {
        return bad("training needs at least one --benign and one --dga input");
    }
    if options.init_dropout.is_some() && options.init.is_none() {
        return bad("init_dropout sets the dropout of a fine-tuned model: give init too");
    }
    if options
        .init_dropout
        .is_some_and(|d| !(0.0..1.0).contains(&d))
    {
        return bad("--dropout must be in [0, 1)");
    }
    if options.replay > 0 && options.init.is_none() {
        return bad("--replay mixes in the data of the model given with --init; pass --init MODEL");
    }
    if options.batch_size == 0 {
        return bad("--batch-size must be at least 1");
    }
    if options.max_per_class == Some(0) {
        return bad(
            "--max-per-class 0 leaves nothing to train on; give at least 1 (or leave it out)",
        );
    }
    if options.epochs == 0 {
        return bad("--epochs must be at least 1");
    }
    let (t, v) = (options.test_split, options.val_split);
    if !(0.0..1.0).contains(&t) || !(0.0..1.0).contains(&v) || t + v >= 1.0 {
        return bad(
            "--test-split and --val-split must each be in [0, 1) and leave names to train on",
        );
    }
    if options.patience.is_some() && v == 0.0 {
        return bad("--patience needs a validation split: pass --val-split (for example 0.1)");
    }
    if options.target_fpr.is_some() && v == 0.0 {
        return bad(
            "--target-fpr chooses the threshold on the validation split: pass --val-split (for example 0.05)",
        );
    }
    if options.target_fpr.is_some_and(|f| !(f > 0.0 && f < 1.0)) {
        return bad("--target-fpr must be in (0, 1), for example 0.001");
    }
    let dropouts = match &options.architecture {
        Architecture::EndgameLstm(c) | Architecture::EndgameLstmMulticlass(c) => vec![c.dropout],
        Architecture::SnowmanCnn(c) => vec![c.dropout],
        Architecture::LstmCnnEnsemble(lstm, cnn) => vec![lstm.dropout, cnn.dropout],
    };
    if dropouts.iter().any(|d| !(0.0..1.0).contains(d)) {
        return bad("--dropout must be in [0, 1)");
    }
    if let Architecture::LstmCnnEnsemble(..) = options.architecture {
        if v == 0.0 {
            return bad(
                "the ensemble weighs its members on the validation split: pass --val-split (for example 0.05)",
            );
        }
        if options.checkpoint.is_some() || options.resume.is_some() || options.init.is_some() {
            return bad(
                "--checkpoint, --resume and --init take one network; train the ensemble from scratch (or its members alone with --model-type endgame-lstm / snowman-cnn)",
            );
        }
    }
    Ok(())
}

/// Trains a model as `options` says, telling `progress` what it read, the split and each
/// epoch.
pub fn train(options: &TrainOptions, progress: &dyn Progress) -> Result<TrainOutcome, TrainError> {
    check(options)?;
    let root = Rng::new(options.seed);
    // A parent model to fine-tune, if any.
    let parent = match &options.init {
        Some(path) => Some(Parent::load(path)?),
        None => None,
    };
    let read = inputs::read_all(options, parent.as_ref(), &root, progress)?;
    // What a checkpoint of this run must match (computed before the samples move on).
    let fingerprint = run_fingerprint(&read, options, parent.as_ref().map(|p| p.sha256.as_str()));

    // The split, stratified by class (binary) or by benign and each DGA family (multiclass).
    let parent_classes = parent.as_ref().map(|p| p.model.classes().to_vec());
    let multiclass = match &parent_classes {
        Some(names) => !names.is_empty(),
        None => matches!(options.architecture, Architecture::EndgameLstmMulticlass(_)),
    };
    let mut parts = split::stratify(
        read.by_class,
        multiclass,
        options,
        &mut root.fork(STREAM_SAMPLE),
        progress,
    )?;
    // An exclude list (the reviewed `audit` suspects) leaves training and validation; the
    // test part stays as drawn, and is also reported without the listed names.
    let (excluded, audited_test) = match read.exclude {
        Some((names, mut info)) => {
            let audited = parts.exclude(&names, &mut info, progress)?;
            (Some(info), Some(audited))
        }
        None => (None, None),
    };
    let classes = classes_for(&parts, parent_classes, multiclass, options, progress)?;
    if let Some(path) = &options.split_out {
        let named = [
            ("train", &parts.train),
            ("val", &parts.val),
            ("test", &parts.test),
        ];
        split::write_split(path, &named, &classes).map_err(|e| {
            TrainError::Invalid(format!("cannot write --split-out {}: {e}", path.display()))
        })?;
    }

    // The vocabulary from the training names only, then every part encoded. A fine-tuned
    // model keeps its parent's vocabulary: new characters map to "unknown".
    let vocab = match &parent {
        Some(parent) => parent.model.vocab.clone(),
        None => Vocab::from_names(parts.train.iter().map(|s| s.name.as_str())),
    };
    let split_sizes = parts.sizes_json();
    let train_split = Split::new(&parts.train, &vocab, &classes);
    let val_split = Split::new(&parts.val, &vocab, &classes);
    let test_split = Split::new(&parts.test, &vocab, &classes);
    let audited_test_split = audited_test.map(|test| Split::new(&test, &vocab, &classes));
    drop(parts);

    // The epochs, the threshold and the held-out report.
    let init = &mut root.fork(STREAM_INIT);
    let run = Run {
        options,
        root: &root,
        splits: (&train_split, &val_split, &test_split),
        audited_test: audited_test_split.as_ref(),
        classes: &classes,
        fingerprint: &fingerprint,
        progress,
    };
    let mut members = Vec::new();
    let fitted = match (
        parent.as_ref().map(|p| p.model.net()),
        &options.architecture,
    ) {
        // Fine-tuning starts from the parent's architecture and weights (and its dropout
        // rate unless another is asked for).
        (Some(Net::EndgameLstm(net)), _) => {
            let mut net = net.clone();
            net.config.dropout = options.init_dropout.unwrap_or(net.config.dropout);
            fit(net, &run)?
        }
        (Some(Net::SnowmanCnn(net)), _) => {
            let mut net = net.clone();
            net.config.dropout = options.init_dropout.unwrap_or(net.config.dropout);
            fit(net, &run)?
        }
        (Some(Net::LstmCnnEnsemble(_)), _) => {
            return Err(TrainError::Invalid(
                "--init: an ensemble cannot be fine-tuned as one network; fine-tune its members' architectures alone (--model-type endgame-lstm / snowman-cnn)".into(),
            ));
        }
        (None, Architecture::LstmCnnEnsemble(lstm, cnn)) => {
            let (fitted, fitted_members) = ensemble::fit_ensemble(*lstm, cnn, vocab.size(), &run)?;
            members = fitted_members;
            fitted
        }
        (None, Architecture::EndgameLstm(config)) => {
            fit(EndgameLstm::new(*config, vocab.size(), init), &run)?
        }
        (None, Architecture::EndgameLstmMulticlass(config)) => {
            let config = EndgameConfig {
                outputs: classes.names.len(),
                ..*config
            };
            fit(EndgameLstm::new(config, vocab.size(), init), &run)?
        }
        (None, Architecture::SnowmanCnn(config)) => {
            fit(SnowmanCnn::new(config.clone(), vocab.size(), init), &run)?
        }
    };
    let training = TrainingInfo {
        command: options.command.clone(),
        seed: options.seed,
        inputs: read.infos,
        optimizer: Some(options.optimizer),
        batch_size: options.batch_size,
        epochs_run: fitted.history.len(),
        best_epoch: fitted.best_epoch,
        split_sizes,
        test_metrics: serde_json::to_value(&fitted.test_report).expect("report serialises"),
        audited_test_metrics: fitted
            .audited_test_report
            .as_ref()
            .map(|r| serde_json::to_value(r).expect("report serialises")),
        lineage: parent.as_ref().map(Parent::lineage).unwrap_or_default(),
        excluded,
        members,
        held_out: None,
    };
    let mut model = ModelFile::new(fitted.net, vocab, fitted.threshold, training)
        .with_classes(classes.names)
        .map_err(|e| TrainError::Invalid(e.to_string()))?;
    model.operating_points = fitted.operating_points;
    // Scored with the finished model, at its own points, beside the test split.
    let held_out_report = held_out::report(&read.held_out, &model, &test_split);
    if let Some(report) = &held_out_report {
        model.training.held_out = Some(report.clone());
    }
    Ok(TrainOutcome {
        model,
        reports: read.reports,
        history: fitted.history,
        test_report: fitted.test_report,
        audited_test_report: fitted.audited_test_report,
        held_out_report,
    })
}

/// The classes (and their loss weights) from the training part: binary, the parent's (when
/// fine-tuning a multiclass model), or benign and the families found.
fn classes_for(
    parts: &Parts,
    parent_classes: Option<Vec<String>>,
    multiclass: bool,
    options: &TrainOptions,
    progress: &dyn Progress,
) -> Result<Classes, TrainError> {
    let mut classes = match parent_classes {
        Some(names) if multiclass => {
            let merged = !names.iter().any(|n| n == OTHER_DGA);
            if let Some(s) = parts.train.iter().find(|s| {
                s.class == Class::Dga && merged && !names[1..].iter().any(|n| n == family_name(s))
            }) {
                return Err(TrainError::Invalid(format!(
                    "family {:?} is not one of the --init model's classes, which have no {OTHER_DGA} to merge it into",
                    family_name(s)
                )));
            }
            Classes::from_names(names)
        }
        _ if multiclass => Classes::from_families(
            &parts.train,
            &[&parts.val, &parts.test],
            options.min_family_size,
        ),
        _ => Classes::binary(),
    };
    if multiclass {
        progress.line(&format!(
            "{} classes: {}",
            classes.names.len(),
            classes.names.join(", ")
        ));
    }
    if options.class_weight == ClassWeight::Balanced {
        classes.balance(&parts.train);
    }
    Ok(classes)
}

/// What a checkpoint must match to be resumed: the data (by content) and every setting that
/// shapes the run, except the number of epochs and the patience, which a resume may change.
fn run_fingerprint(read: &inputs::Inputs, options: &TrainOptions, parent: Option<&str>) -> String {
    let data: Vec<String> = read
        .infos
        .iter()
        .map(|i| format!("{:?}:{}", i.class, i.sha256))
        .collect();
    // An exclude list changes the data; runs without one keep the fingerprint they had.
    // (The list applies after the split since it keeps test splits comparable; the marker
    // keeps checkpoints of runs that dropped the names before the split from resuming.)
    let excluded = read.exclude.as_ref().map_or(String::new(), |(_, e)| {
        format!(" exclude={} after-split", e.sha256)
    });
    let fingerprint = format!(
        "data={data:?} parent={parent:?} replay={} seed={} max_per_class={:?} min_family_size={} class_weight={:?} test={} val={} batch={} model={:?} optimizer={:?} engine={:?}",
        options.replay,
        options.seed,
        options.max_per_class,
        options.min_family_size,
        options.class_weight,
        options.test_split,
        options.val_split,
        options.batch_size,
        options.architecture,
        options.optimizer,
        // Named as before backends existed, so older checkpoints still resume.
        if options.backend == Backend::Reference {
            "Reference"
        } else {
            "Fast"
        }
    );
    // A fine-tune's dropout rate shapes the run too (absent unless asked for, as before).
    let dropout = options
        .init_dropout
        .map_or(String::new(), |d| format!(" init_dropout={d}"));
    fingerprint + &excluded + &read.held_out.fingerprint() + &dropout
}
