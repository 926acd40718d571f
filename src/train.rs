//! Training: read the feeds, split, build the vocabulary, run epochs with early stopping on
//! validation AUC, and report on the held-out test split.
//!
//! Reproducibility: every random choice draws from `Rng::new(seed)` forks with fixed stream
//! numbers, and batches are reduced in fixed chunks (`model::CHUNK_ROWS`), so the same seed and
//! data give the same model bytes whatever the thread count.

use crate::backend::{Backend, Batch, Trainable};
use crate::checkpoint::{Checkpoint, EpochStats};
use crate::classes::{BENIGN, Classes, OTHER_DGA, family_name};
use crate::data::{self, Class, DataError, Format, ReadReport, Sample};
use crate::encode::{MAXLEN, Vocab};
use crate::metrics::{self, Report};
use crate::model::file::{InputInfo, Net};
use crate::model::{
    EndgameConfig, EndgameLstm, ModelFile, SnowmanCnn, SnowmanConfig, TrainingInfo,
};
use crate::nn::{Optimizer, OptimizerConfig};
use crate::progress::Progress;
use crate::rng::Rng;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::io::{BufReader, Read};
use std::time::Instant;

// Fixed stream numbers: each kind of randomness has its own generator.
const STREAM_SAMPLE: u64 = 1;
const STREAM_INIT: u64 = 2;
const STREAM_SHUFFLE: u64 = 3;
const STREAM_DROPOUT: u64 = 4;
const STREAM_REPLAY: u64 = 5;

/// The model a fine-tuning run starts from.
struct Parent {
    model: ModelFile,
    sha256: String,
}

impl Parent {
    fn load(path: &std::path::Path) -> Result<Parent, TrainError> {
        let bytes = crate::bounded_read::read_regular_file(
            path,
            crate::model::file::MAX_FILE_BYTES,
            "model",
        )
        .map_err(|e| {
            TrainError::Invalid(format!("cannot read --init model {}: {e}", path.display()))
        })?;
        let model = ModelFile::from_bytes(&bytes, &path.display().to_string())
            .map_err(|e| TrainError::Invalid(e.to_string()))?;
        let sha256 = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Parent { model, sha256 })
    }

    /// The child's lineage: the parent's own, then the parent.
    fn lineage(&self) -> Vec<serde_json::Value> {
        let t = &self.model.training;
        let mut lineage = t.lineage.clone();
        lineage.push(serde_json::json!({
            "sha256": self.sha256,
            "architecture": self.model.net().architecture(),
            "command": t.command,
            "seed": t.seed,
            "inputs": t.inputs,
            "test_metrics": t.test_metrics,
        }));
        lineage
    }

    /// `per_class` names of each class, sampled from the parent's training files (which must
    /// still be where the parent's card says, unchanged).
    fn replay(&self, per_class: usize, rng: &mut Rng) -> Result<[Vec<Sample>; 2], TrainError> {
        let mut by_class: [Vec<Sample>; 2] = [Vec::new(), Vec::new()];
        for input in &self.model.training.inputs {
            if input.path == "-" {
                return Err(TrainError::Invalid(
                    "--replay: the parent read standard input, which cannot be read again".into(),
                ));
            }
            let format = Format::from_name(&input.format);
            let (samples, _, info) = read_input(&input.path, input.class, format).map_err(|e| {
                TrainError::Invalid(format!("--replay reads the parent's training files: {e}"))
            })?;
            if info.sha256 != input.sha256 {
                return Err(TrainError::Invalid(format!(
                    "--replay: {} has changed since the parent was trained (SHA-256 differs)",
                    input.path
                )));
            }
            by_class[input.class as usize].extend(samples);
        }
        for samples in by_class.iter_mut() {
            rng.shuffle(samples);
            samples.truncate(per_class);
        }
        Ok(by_class)
    }
}

/// The model to train, with its configuration.
#[derive(Clone, Debug, PartialEq)]
pub enum Architecture {
    EndgameLstm(EndgameConfig),
    /// The Endgame LSTM with a softmax over benign and the DGA families (`outputs` is set
    /// from the families found in the training data).
    EndgameLstmMulticlass(EndgameConfig),
    SnowmanCnn(SnowmanConfig),
}

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
    /// Fine-tune this model: its architecture, vocabulary and weights are the starting point.
    pub init: Option<std::path::PathBuf>,
    /// With `init`: mix this many names of each class from the parent's own training files in.
    pub replay: usize,
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
            val_split: 0.0,
            patience: None,
            target_fpr: None,
            checkpoint: None,
            checkpoint_every: 1,
            resume: None,
            init: None,
            replay: 0,
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
    #[error("{0}")]
    Invalid(String),
}

pub struct TrainOutcome {
    pub model: ModelFile,
    pub reports: Vec<ReadReport>,
    pub history: Vec<EpochStats>,
    pub test_report: Option<Report>,
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
    fn new(samples: &[Sample], vocab: &Vocab, classes: &Classes) -> Split {
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

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Metrics of `net` on this split at `threshold` (with the per-class report for a
    /// multiclass model).
    fn evaluate<N: Trainable>(&self, net: &N, threshold: f32, classes: &Classes) -> Report {
        let outputs = net.outputs();
        let p = net.cpu_probabilities(&self.indices);
        let s = crate::model::head::dga_scores(&p, outputs);
        let positive: Vec<bool> = self.labels.iter().map(|&l| l > 0.5).collect();
        let families: Vec<Option<&str>> = self.families.iter().map(|f| f.as_deref()).collect();
        let mut report = metrics::evaluate(&s, &positive, &families, threshold);
        if outputs > 1 {
            let truth: Vec<usize> = self.labels.iter().map(|&l| l as usize).collect();
            report.multiclass = Some(crate::class_metrics::evaluate(&p, &truth, &classes.names));
        }
        report
    }
}

/// Writes `name,family,class,split` for every sample (class: benign/dga for a binary model,
/// the class name for a multiclass one), atomically.
fn write_split(
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

/// Hashes what passes through a reader, so inputs are hashed in the same pass that reads them.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Reads one input file, hashing it as it goes.
pub fn read_input(
    path: &str,
    class: Class,
    format: Option<Format>,
) -> Result<(Vec<Sample>, ReadReport, InputInfo), DataError> {
    let mut reader = HashingReader {
        inner: data::open_input(path)?,
        hasher: Sha256::new(),
    };
    let (samples, report) = data::read_samples(BufReader::new(&mut reader), path, class, format)?;
    // Hash whatever detection or parsing left unread (nothing, normally).
    std::io::copy(&mut reader, &mut std::io::sink()).map_err(|e| DataError::Io {
        path: path.to_string(),
        source: e,
    })?;
    let sha256 = reader
        .hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let info = InputInfo {
        path: path.to_string(),
        sha256,
        class,
        format: report.format.map_or("?", Format::name).to_string(),
        names: report.accepted,
        skipped: report.skipped,
    };
    Ok((samples, report, info))
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

fn check(options: &TrainOptions) -> Result<(), TrainError> {
    let bad = |m: &str| Err(TrainError::Invalid(m.to_string()));
    if options.benign.is_empty() || options.dga.is_empty() {
        return bad("training needs at least one --benign and one --dga input");
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
    let dropout = match &options.architecture {
        Architecture::EndgameLstm(c) | Architecture::EndgameLstmMulticlass(c) => c.dropout,
        Architecture::SnowmanCnn(c) => c.dropout,
    };
    if !(0.0..1.0).contains(&dropout) {
        return bad("--dropout must be in [0, 1)");
    }
    Ok(())
}

/// Trains a model as `options` says, telling `progress` what it read, the split and each
/// epoch.
pub fn train(options: &TrainOptions, progress: &dyn Progress) -> Result<TrainOutcome, TrainError> {
    check(options)?;
    let root = Rng::new(options.seed);

    // 0. A parent model to fine-tune, if any.
    let parent = match &options.init {
        Some(path) => Some(Parent::load(path)?),
        None => None,
    };

    // 1. Read every input; a name seen twice is kept once, a name in both classes is dropped.
    let mut reports = Vec::new();
    let mut inputs = Vec::new();
    let mut by_class: [Vec<Sample>; 2] = [Vec::new(), Vec::new()];
    for (paths, class) in [(&options.benign, Class::Benign), (&options.dga, Class::Dga)] {
        for path in paths.iter() {
            let (samples, report, info) = read_input(path, class, options.format)?;
            progress.line(&format!("{report}"));
            by_class[class as usize].extend(samples);
            reports.push(report);
            inputs.push(info);
        }
    }
    if let Some(parent) = &parent
        && options.replay > 0
    {
        let replayed = parent.replay(options.replay, &mut root.fork(STREAM_REPLAY))?;
        for (class, samples) in replayed.into_iter().enumerate() {
            let which = if class == 0 { "benign" } else { "DGA" };
            progress.line(&format!(
                "replay: {} from the parent's training data",
                crate::words::count(samples.len() as u64, &format!("{which} name"))
            ));
            by_class[class].extend(samples);
        }
    }
    for samples in by_class.iter_mut() {
        // Which samples are first seen, decided without copying any name.
        let first: Vec<bool> = {
            let mut seen = HashSet::with_capacity(samples.len());
            samples
                .iter()
                .map(|s| seen.insert(s.name.as_str()))
                .collect()
        };
        let mut keep = first.into_iter();
        samples.retain(|_| keep.next().unwrap_or(false));
    }
    let benign_names: HashSet<&str> = by_class[0].iter().map(|s| s.name.as_str()).collect();
    let in_both: HashSet<String> = by_class[1]
        .iter()
        .filter(|s| benign_names.contains(s.name.as_str()))
        .map(|s| s.name.clone())
        .collect();
    if !in_both.is_empty() {
        progress.line(&format!(
            "{} in both benign and DGA inputs; dropped from both",
            crate::words::count(in_both.len() as u64, "name")
        ));
        for samples in by_class.iter_mut() {
            samples.retain(|s| !in_both.contains(&s.name));
        }
    }
    for (class, samples) in by_class.iter().enumerate() {
        if samples.is_empty() {
            let which = if class == 0 { "--benign" } else { "--dga" };
            return Err(TrainError::Invalid(format!(
                "the {which} inputs hold no valid names"
            )));
        }
    }

    // 2. Stratified split: by class (binary), or by benign and each DGA family (multiclass).
    let parent_classes = parent.as_ref().map(|p| p.model.classes().to_vec());
    let multiclass = match &parent_classes {
        Some(names) => !names.is_empty(),
        None => matches!(options.architecture, Architecture::EndgameLstmMulticlass(_)),
    };
    let mut sample_rng = root.fork(STREAM_SAMPLE);
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
    let (mut train_samples, mut val_samples, mut test_samples) = (vec![], vec![], vec![]);
    let mut sizes = [[0usize; 2]; 3];
    for group in groups {
        let class = group[0].class as usize;
        let parts = split_class(
            group,
            &mut sample_rng,
            options.max_per_class,
            options.test_split,
            options.val_split,
        );
        for ((part, size), dest) in parts.into_iter().zip(sizes.iter_mut()).zip([
            &mut train_samples,
            &mut val_samples,
            &mut test_samples,
        ]) {
            size[class] += part.len();
            dest.extend(part);
        }
    }
    let [train_n, val_n, test_n] = sizes;
    // An untrained model written with exit 0 would look like a trained one: refuse instead.
    for (class, &n) in ["benign", "DGA"].iter().zip(&train_n) {
        if n == 0 {
            return Err(TrainError::Invalid(format!(
                "the training split holds no {class} names (after --max-per-class and the test and validation splits); give more {class} names or smaller --test-split/--val-split"
            )));
        }
    }
    let split_sizes = serde_json::json!({
        "train": {"benign": train_n[0], "dga": train_n[1]},
        "val": {"benign": val_n[0], "dga": val_n[1]},
        "test": {"benign": test_n[0], "dga": test_n[1]},
    });
    progress.line(&format!(
        "split (benign/DGA): train {}/{}, validation {}/{}, test {}/{}",
        train_n[0], train_n[1], val_n[0], val_n[1], test_n[0], test_n[1]
    ));

    // Classes (and their loss weights) from the training split.
    let mut classes = match parent_classes {
        Some(names) if multiclass => {
            let merged = !names.iter().any(|n| n == OTHER_DGA);
            if let Some(s) = train_samples.iter().find(|s| {
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
            &train_samples,
            &[&val_samples, &test_samples],
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
        classes.balance(&train_samples);
    }
    if let Some(path) = &options.split_out {
        let parts = [
            ("train", &train_samples),
            ("val", &val_samples),
            ("test", &test_samples),
        ];
        write_split(path, &parts, &classes).map_err(|e| {
            TrainError::Invalid(format!("cannot write --split-out {}: {e}", path.display()))
        })?;
    }

    // 3. Vocabulary from the training names only, then encode every split.
    // A fine-tuned model keeps its parent's vocabulary: new characters map to "unknown".
    let vocab = match &parent {
        Some(parent) => parent.model.vocab.clone(),
        None => Vocab::from_names(train_samples.iter().map(|s| s.name.as_str())),
    };
    let train_split = Split::new(&train_samples, &vocab, &classes);
    let val_split = Split::new(&val_samples, &vocab, &classes);
    let test_split = Split::new(&test_samples, &vocab, &classes);
    drop((train_samples, val_samples, test_samples));

    // 4. Epochs, 5. threshold and held-out report.
    let fingerprint = run_fingerprint(options, &inputs, parent.as_ref().map(|p| p.sha256.as_str()));
    let init = &mut root.fork(STREAM_INIT);
    let run = Run {
        options,
        root: &root,
        splits: (&train_split, &val_split, &test_split),
        classes: &classes,
        fingerprint: &fingerprint,
        progress,
    };
    let fitted = match (
        parent.as_ref().map(|p| p.model.net()),
        &options.architecture,
    ) {
        // Fine-tuning starts from the parent's architecture and weights.
        (Some(Net::EndgameLstm(net)), _) => fit(net.clone(), &run)?,
        (Some(Net::SnowmanCnn(net)), _) => fit(net.clone(), &run)?,
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
        inputs,
        optimizer: Some(options.optimizer),
        batch_size: options.batch_size,
        epochs_run: fitted.history.len(),
        best_epoch: fitted.best_epoch,
        split_sizes,
        test_metrics: serde_json::to_value(&fitted.test_report).expect("report serialises"),
        lineage: parent.as_ref().map(Parent::lineage).unwrap_or_default(),
    };
    let model = ModelFile::new(fitted.net, vocab, fitted.threshold, training)
        .with_classes(classes.names)
        .map_err(|e| TrainError::Invalid(e.to_string()))?;
    Ok(TrainOutcome {
        model,
        reports,
        history: fitted.history,
        test_report: fitted.test_report,
    })
}

/// What a checkpoint must match to be resumed: the data (by content) and every setting that
/// shapes the run, except the number of epochs and the patience, which a resume may change.
fn run_fingerprint(options: &TrainOptions, inputs: &[InputInfo], parent: Option<&str>) -> String {
    let data: Vec<String> = inputs
        .iter()
        .map(|i| format!("{:?}:{}", i.class, i.sha256))
        .collect();
    format!(
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
    )
}

/// What fitting gave.
struct Fitted {
    net: Net,
    history: Vec<EpochStats>,
    best_epoch: usize,
    threshold: f32,
    test_report: Option<Report>,
}

/// Everything `fit` needs besides the starting network.
struct Run<'a> {
    options: &'a TrainOptions,
    root: &'a Rng,
    splits: (&'a Split, &'a Split, &'a Split),
    classes: &'a Classes,
    fingerprint: &'a str,
    progress: &'a dyn Progress,
}

/// The epochs (with early stopping on validation AUC, or accuracy for a multiclass model),
/// the threshold for `--target-fpr`, and the held-out report, for any architecture on any
/// backend: the steps run in a `Session`, whose weights come back once per epoch.
fn fit<N: Trainable>(net: N, run: &Run) -> Result<Fitted, TrainError> {
    let Run {
        options,
        root,
        splits: (train_split, val_split, test_split),
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
            )
            .map_err(TrainError::Invalid)?;
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
    let threshold = match options.target_fpr {
        Some(target) => threshold_for(&net, val_split, target, progress),
        None => 0.5,
    };
    let test_report =
        (!test_split.is_empty()).then(|| test_split.evaluate(&net, threshold, classes));
    Ok(Fitted {
        net: net.into_net(),
        history,
        best_epoch,
        threshold,
        test_report,
    })
}

/// The lowest threshold that keeps the validation split's false-positive rate at or below
/// `target` (0.5 when the split lacks a class).
fn threshold_for<N: Trainable>(
    net: &N,
    val_split: &Split,
    target: f64,
    progress: &dyn Progress,
) -> f32 {
    let positive: Vec<bool> = val_split.labels.iter().map(|&l| l > 0.5).collect();
    let scores =
        crate::model::head::dga_scores(&net.cpu_probabilities(&val_split.indices), net.outputs());
    match metrics::tpr_at_fpr(&scores, &positive, target) {
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
