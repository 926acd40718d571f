//! The model file: safetensors, with everything but the weights as JSON in its metadata.
//!
//! The header's `__metadata__` holds one key, `dga_lite`, whose value is the JSON below (one
//! key keeps the file byte-for-byte reproducible: safetensors writes metadata maps in hash
//! order). PyTorch users: `safetensors.safe_open(path, "pt").metadata()["dga_lite"]`.
//! Tensors are f32 in Keras layout (`kernel` is `[in, out]`, gates i, f, c, o).

use super::ensemble::{EnsembleConfig, LstmCnnEnsemble};
use super::snowman_cnn::MAX_BRANCHES;
use super::{EndgameConfig, EndgameLstm, Network, SnowmanCnn, SnowmanConfig};
use crate::encode::{MAXLEN, Vocab};
use crate::nn::OptimizerConfig;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

pub const FORMAT: &str = "dga-lite-model";
/// Bump when a reader of the old version would misread the new one.
pub const FORMAT_VERSION: u32 = 1;
const METADATA_KEY: &str = "dga_lite";
/// No model of ours comes near this (the shipped ones are under 1 MiB); a larger file is
/// refused before it is read, so every tensor a legal file can hold fits in memory.
pub const MAX_FILE_BYTES: u64 = 256 << 20;
/// Largest layer width a model file may declare: with the file cap above, no legal header can
/// ask for a network larger than the tensors the file really holds.
const MAX_WIDTH: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot read model {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write model {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a dga-lite model: {why}")]
    Foreign { path: String, why: String },
    #[error("{path} is damaged (corrupt or inconsistent): {why}")]
    Corrupt { path: String, why: String },
    #[error("{path} is truncated: {why} (copy the model again)")]
    Truncated { path: String, why: String },
    #[error(
        "{path} was written by a newer dga-lite (model format version {found}); this build reads up to version {FORMAT_VERSION}: upgrade dga-lite"
    )]
    FutureVersion { path: String, found: u32 },
}

/// Checks that the file holds exactly the tensors `shapes` names, as F32 of those shapes,
/// before anything is allocated from the header's numbers: a header that asks for a huge
/// network without the bytes to back it is refused here, in time proportional to the file.
/// Returns the tensors in `shapes` order.
fn check_tensors<'a, S: AsRef<str>>(
    shapes: &[(S, Vec<usize>)],
    tensors: &'a SafeTensors,
    corrupt: &dyn Fn(String) -> ModelError,
) -> Result<Vec<TensorView<'a>>, ModelError> {
    if tensors.len() != shapes.len() {
        return Err(corrupt(format!(
            "{} tensors, expected {} for this architecture",
            tensors.len(),
            shapes.len()
        )));
    }
    shapes
        .iter()
        .map(|(name, shape)| {
            let name = name.as_ref();
            let view = tensors
                .tensor(name)
                .map_err(|_| corrupt(format!("tensor {name} is missing")))?;
            if view.dtype() != Dtype::F32 || view.shape() != shape.as_slice() {
                return Err(corrupt(format!(
                    "tensor {name} is {:?} {:?}, expected F32 {shape:?}",
                    view.dtype(),
                    view.shape()
                )));
            }
            Ok(view)
        })
        .collect()
}

/// Copies checked tensors (from `check_tensors`, in the network's order) into `net`, refusing
/// NaN and infinity.
fn fill_tensors<N: Network>(
    net: &mut N,
    views: &[TensorView],
    corrupt: &dyn Fn(String) -> ModelError,
) -> Result<(), ModelError> {
    let names: Vec<&'static str> = net.tensors().iter().map(|(name, _)| *name).collect();
    for ((view, dest), name) in views.iter().zip(net.tensors_mut()).zip(names) {
        for (d, chunk) in dest.iter_mut().zip(view.data().chunks_exact(4)) {
            *d = f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }
        if dest.iter().any(|v| !v.is_finite()) {
            return Err(corrupt(format!("tensor {name} holds NaN or infinity")));
        }
    }
    Ok(())
}

/// An LSTM config a file may hold: layer sizes within `MAX_WIDTH`, a dropout rate in [0, 1).
fn check_endgame_config(
    config: &EndgameConfig,
    corrupt: &dyn Fn(String) -> ModelError,
) -> Result<(), ModelError> {
    if !(1..=MAX_WIDTH).contains(&config.embedding_dim)
        || !(1..=MAX_WIDTH).contains(&config.units)
        || !(1..=MAX_WIDTH).contains(&config.outputs)
    {
        return Err(corrupt(format!(
            "implausible layer sizes (each must be 1 to {MAX_WIDTH})"
        )));
    }
    check_dropout(config.dropout, corrupt)
}

/// A CNN config a file may hold: 1 to `MAX_BRANCHES` widths within the name length, sizes
/// within `MAX_WIDTH`, a dropout rate in [0, 1).
fn check_snowman_config(
    config: &SnowmanConfig,
    corrupt: &dyn Fn(String) -> ModelError,
) -> Result<(), ModelError> {
    let widths_ok = !config.widths.is_empty()
        && config.widths.len() <= MAX_BRANCHES
        && config.widths.iter().all(|&w| (1..=MAXLEN).contains(&w));
    if !widths_ok
        || !(1..=MAX_WIDTH).contains(&config.embedding_dim)
        || !(1..=MAX_WIDTH).contains(&config.filters)
    {
        return Err(corrupt("implausible layer sizes".into()));
    }
    check_dropout(config.dropout, corrupt)
}

/// A config's dropout rate, which must be in [0, 1).
fn check_dropout(dropout: f32, corrupt: &dyn Fn(String) -> ModelError) -> Result<(), ModelError> {
    if (0.0..1.0).contains(&dropout) {
        Ok(())
    } else {
        Err(corrupt(format!("dropout {dropout} is not in [0, 1)")))
    }
}

/// Whether bytes that safetensors could not read are a safetensors file cut short: the
/// 8-byte header length is plausible and the JSON header starts where it should.
fn looks_truncated(bytes: &[u8], error: &safetensors::SafeTensorError) -> Option<String> {
    use safetensors::SafeTensorError as E;
    if bytes.len() < 8 {
        return (!bytes.is_empty()).then(|| format!("only {} bytes", bytes.len()));
    }
    let header_len = u64::from_le_bytes(bytes[..8].try_into().ok()?);
    let starts_like_header = header_len < 100 << 20 && bytes.get(8).is_none_or(|&b| b == b'{');
    match error {
        E::InvalidHeaderLength if starts_like_header => Some(format!(
            "its header says {header_len} bytes but the file ends {} bytes in",
            bytes.len() - 8
        )),
        E::MetadataIncompleteBuffer if starts_like_header => {
            Some("the tensor data ends before the header says it should".into())
        }
        _ => None,
    }
}

/// One input file of a training run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputInfo {
    pub path: String,
    pub sha256: String,
    pub class: crate::data::Class,
    pub format: String,
    pub names: u64,
    pub skipped: u64,
}

/// How a model was trained: enough to reproduce it and to judge it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainingInfo {
    /// The command line, without `--out` and `--threads` (neither changes the model).
    pub command: Vec<String>,
    pub seed: u64,
    pub inputs: Vec<InputInfo>,
    pub optimizer: Option<OptimizerConfig>,
    pub batch_size: usize,
    pub epochs_run: usize,
    pub best_epoch: usize,
    /// Names per split and class: `{"train": {"benign": n, "dga": n}, ...}`.
    pub split_sizes: serde_json::Value,
    /// Held-out metrics on the test split (the `eval --json` object).
    pub test_metrics: serde_json::Value,
    /// The same report on the test split without the `--exclude` names (absent without a
    /// list): labels audited, so label noise weighs less in it. Labelled apart, never merged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audited_test_metrics: Option<serde_json::Value>,
    /// For a fine-tuned model (`train --init`): the models it descends from, oldest first,
    /// each with the SHA-256 of its file, its command, seed, inputs and held-out metrics.
    #[serde(default)]
    pub lineage: Vec<serde_json::Value>,
    /// Names left out of training (`train --exclude`, after an audit): the list's path and
    /// SHA-256, how many names it listed and how many it dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excluded: Option<ExcludedInfo>,
    /// An ensemble's members, each as trained alone (an ensemble's own numbers are above).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<MemberInfo>,
    /// The families and benign lists held out of every split (`train --hold-out-family`,
    /// `--hold-out-benign`), scored after training: how the model does on data it never saw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_out: Option<super::held_out_report::HeldOutReport>,
}

/// One member of an ensemble, as `train` fitted it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemberInfo {
    pub architecture: String,
    pub epochs_run: usize,
    pub best_epoch: usize,
    /// The member alone on the test split, at its own validation threshold.
    pub test_metrics: serde_json::Value,
}

/// Thresholds chosen on a model's validation split for fixed false-positive rates, so the
/// verdicts mean the same rates for every model that has them (see `verdict.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct OperatingPoints {
    /// `dga` at or above this: the validation false-positive rate at most 1e-3.
    pub dga: f32,
    /// `suspicious` at or above this (and below `dga`): at most 1e-2.
    pub suspicious: f32,
}

/// What `train --exclude` dropped. The list applies to the training and validation parts
/// only: the test part is drawn as without it, so models with and without a list are tested
/// on the same names (and `in_test` of them are also reported apart, as the audited split).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExcludedInfo {
    pub path: String,
    pub sha256: String,
    pub listed: u64,
    /// Dropped from the training and validation parts.
    pub dropped: u64,
    /// Listed names in the test part (kept there; left out of the audited test report).
    #[serde(default)]
    pub in_test: u64,
}

/// The architectures a model file can hold.
#[derive(Clone, Debug, PartialEq)]
pub enum Net {
    EndgameLstm(EndgameLstm),
    SnowmanCnn(SnowmanCnn),
    /// Both, averaged (`model/ensemble.rs`).
    LstmCnnEnsemble(Box<LstmCnnEnsemble>),
}

impl Net {
    pub fn architecture(&self) -> &'static str {
        match self {
            Net::EndgameLstm(net) if net.config.outputs > 1 => "endgame-lstm-multiclass",
            Net::EndgameLstm(_) => "endgame-lstm",
            Net::SnowmanCnn(_) => "snowman-cnn",
            Net::LstmCnnEnsemble(_) => "lstm-cnn-ensemble",
        }
    }

    /// Logits per name: 1 (binary) or the number of classes.
    pub fn outputs(&self) -> usize {
        match self {
            Net::EndgameLstm(net) => net.outputs(),
            Net::SnowmanCnn(net) => net.outputs(),
            Net::LstmCnnEnsemble(_) => 1,
        }
    }

    fn config_json(&self) -> serde_json::Value {
        match self {
            Net::EndgameLstm(net) => serde_json::to_value(net.config),
            Net::SnowmanCnn(net) => serde_json::to_value(&net.config),
            Net::LstmCnnEnsemble(net) => serde_json::to_value(net.config()),
        }
        .expect("config serialises")
    }

    /// Tensors with their names and file shapes, in file order.
    fn tensors_with_shapes(&self, vocab_size: usize) -> Vec<(String, Vec<usize>, &[f32])> {
        let owned = |shapes: Vec<(&str, Vec<usize>)>| {
            shapes
                .into_iter()
                .map(|(name, shape)| (name.to_string(), shape))
                .collect::<Vec<_>>()
        };
        let (shapes, tensors) = match self {
            Net::EndgameLstm(net) => (
                owned(EndgameLstm::tensor_shapes(&net.config, vocab_size)),
                net.tensors(),
            ),
            Net::SnowmanCnn(net) => (
                owned(SnowmanCnn::tensor_shapes(&net.config, vocab_size)),
                net.tensors(),
            ),
            Net::LstmCnnEnsemble(net) => (
                LstmCnnEnsemble::tensor_shapes(&net.config(), vocab_size),
                net.lstm
                    .tensors()
                    .into_iter()
                    .chain(net.cnn.tensors())
                    .collect(),
            ),
        };
        shapes
            .into_iter()
            .zip(tensors)
            .map(|((name, shape), (_, data))| (name, shape, data))
            .collect()
    }
}

/// A trained model: architecture and weights, vocabulary, decision threshold, provenance.
/// Plain data: to score with it, hand it to `backend::Scorer`.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelFile {
    /// Read-only (through `net()`), so a model is never changed behind a scorer built from it.
    net: Net,
    pub vocab: Vocab,
    /// Scores at or above this are called DGA (when the model has no operating points).
    pub threshold: f32,
    /// The `dga` and `suspicious` points, for models trained with a validation split.
    pub operating_points: Option<OperatingPoints>,
    pub training: TrainingInfo,
    /// Multiclass models: the name of each output class, benign first. Empty for binary
    /// models. Read-only (through `classes()`), so it always matches the model's outputs.
    classes: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct Header {
    format: String,
    format_version: u32,
    architecture: String,
    config: serde_json::Value,
    vocab: String,
    maxlen: usize,
    threshold: f32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    operating_points: Option<OperatingPoints>,
    training: TrainingInfo,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    classes: Vec<String>,
    /// How to score with this file from another framework (`model::contract`). Files
    /// written before it existed lack it; the rules are the same.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    contract: serde_json::Value,
}

impl ModelFile {
    pub fn new(net: Net, vocab: Vocab, threshold: f32, training: TrainingInfo) -> ModelFile {
        ModelFile {
            net,
            vocab,
            threshold,
            operating_points: None,
            training,
            classes: Vec::new(),
        }
    }

    /// Names the output classes of a multiclass model (benign first); an empty list for a
    /// binary model. Refused when the count does not match the model's outputs.
    pub fn with_classes(mut self, classes: Vec<String>) -> Result<ModelFile, ModelError> {
        let outputs = self.net.outputs();
        let fits = if outputs == 1 {
            classes.is_empty()
        } else {
            classes.len() == outputs
        };
        if !fits {
            return Err(ModelError::Corrupt {
                path: "model".into(),
                why: format!("{} class names for {outputs} outputs", classes.len()),
            });
        }
        self.classes = classes;
        Ok(self)
    }

    pub fn net(&self) -> &Net {
        &self.net
    }

    /// The output classes of a multiclass model, benign first; empty for a binary model.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    pub fn is_multiclass(&self) -> bool {
        !self.classes.is_empty()
    }

    /// For a multiclass model, the most probable DGA family in one row of output
    /// probabilities, with its probability; `None` for a binary model.
    pub fn top_family<'a>(&'a self, row: &[f32]) -> Option<(&'a str, f32)> {
        if !self.is_multiclass() {
            return None;
        }
        let (k, p) =
            row.iter()
                .enumerate()
                .skip(1)
                .fold((1, f32::NEG_INFINITY), |best, (k, &p)| {
                    if p > best.1 { (k, p) } else { best }
                });
        Some((self.classes[k].as_str(), p))
    }

    fn header(&self) -> Header {
        Header {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            architecture: self.net.architecture().into(),
            config: self.net.config_json(),
            vocab: self.vocab.chars().into(),
            maxlen: MAXLEN,
            threshold: self.threshold,
            operating_points: self.operating_points,
            training: self.training.clone(),
            classes: self.classes.clone(),
            contract: super::contract::contract(
                self.net.architecture(),
                match &self.net {
                    Net::EndgameLstm(net) => Some(net.config.recurrent_activation.name()),
                    Net::LstmCnnEnsemble(net) => Some(net.lstm.config.recurrent_activation.name()),
                    Net::SnowmanCnn(_) => None,
                },
            ),
        }
    }

    /// The metadata header as pretty JSON (what `model info --json` prints).
    pub fn header_json(&self) -> String {
        serde_json::to_string_pretty(&self.header()).expect("header serialises")
    }

    /// The file's bytes. Deterministic: the same model always gives the same bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let header = self.header();
        let metadata = HashMap::from([(
            METADATA_KEY.to_string(),
            serde_json::to_string(&header).expect("header serialises"),
        )]);
        let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = self
            .net
            .tensors_with_shapes(self.vocab.size())
            .into_iter()
            .map(|(name, shape, data)| {
                (
                    name,
                    shape,
                    data.iter().flat_map(|v| v.to_le_bytes()).collect(),
                )
            })
            .collect();
        let views = bytes.iter().map(|(name, shape, data)| {
            (
                name.as_str(),
                TensorView::new(Dtype::F32, shape.clone(), data).expect("shape matches data"),
            )
        });
        safetensors::serialize(views, Some(metadata)).expect("tensors serialise")
    }

    /// Writes atomically: a temporary file in the same folder, synced, then renamed over
    /// `path`, so a kill at any moment leaves either the old file or the new one.
    pub fn save(&self, path: &Path) -> Result<(), ModelError> {
        crate::atomic_file::write_atomically(path, &self.to_bytes()).map_err(|e| {
            ModelError::Write {
                path: path.display().to_string(),
                source: e,
            }
        })
    }

    pub fn load(path: &Path) -> Result<ModelFile, ModelError> {
        let shown = path.display().to_string();
        let bytes =
            crate::bounded_read::read_regular_file(path, MAX_FILE_BYTES, "model").map_err(|e| {
                ModelError::Read {
                    path: shown.clone(),
                    source: e,
                }
            })?;
        ModelFile::from_bytes(&bytes, &shown)
    }

    /// Parses a model from bytes; `source` names it in errors.
    pub fn from_bytes(bytes: &[u8], source: &str) -> Result<ModelFile, ModelError> {
        let foreign = |why: String| ModelError::Foreign {
            path: source.to_string(),
            why,
        };
        let corrupt = |why: String| ModelError::Corrupt {
            path: source.to_string(),
            why,
        };
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(foreign(format!(
                "{} bytes is far larger than any dga-lite model",
                bytes.len()
            )));
        }
        if bytes.is_empty() {
            return Err(foreign("the file is empty".into()));
        }
        let (_, metadata) =
            SafeTensors::read_metadata(bytes).map_err(|e| match looks_truncated(bytes, &e) {
                Some(why) => ModelError::Truncated {
                    path: source.to_string(),
                    why,
                },
                None => foreign(format!("not a readable safetensors file ({e})")),
            })?;
        let text = metadata
            .metadata()
            .as_ref()
            .and_then(|m| m.get(METADATA_KEY))
            .ok_or_else(|| foreign("a safetensors file without dga-lite metadata".into()))?;
        let probe: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| corrupt(format!("metadata is not JSON ({e})")))?;
        if probe.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
            return Err(foreign(
                "metadata does not name the dga-lite model format".into(),
            ));
        }
        let version = probe
            .get("format_version")
            .and_then(|v| v.as_u64())
            .unwrap_or(0);
        if version > FORMAT_VERSION as u64 {
            return Err(ModelError::FutureVersion {
                path: source.to_string(),
                found: version.min(u32::MAX as u64) as u32,
            });
        }
        let header: Header =
            serde_json::from_value(probe).map_err(|e| corrupt(format!("metadata: {e}")))?;
        if header.maxlen != MAXLEN {
            return Err(corrupt(format!(
                "maxlen {} (this build uses {MAXLEN})",
                header.maxlen
            )));
        }
        if !(0.0..=1.0).contains(&header.threshold) {
            return Err(corrupt(format!(
                "threshold {} is not a probability",
                header.threshold
            )));
        }
        let vocab =
            Vocab::from_chars(header.vocab.as_bytes()).map_err(|e| corrupt(e.to_string()))?;
        let tensors = SafeTensors::deserialize(bytes).map_err(|e| corrupt(e.to_string()))?;
        let net = match header.architecture.as_str() {
            arch @ ("endgame-lstm" | "endgame-lstm-multiclass") => {
                let config: EndgameConfig = serde_json::from_value(header.config)
                    .map_err(|e| corrupt(format!("config: {e}")))?;
                check_endgame_config(&config, &corrupt)?;
                let multiclass = arch == "endgame-lstm-multiclass";
                if multiclass != (config.outputs > 1) {
                    return Err(corrupt(format!("{arch} with {} outputs", config.outputs)));
                }
                let shapes = EndgameLstm::tensor_shapes(&config, vocab.size());
                let views = check_tensors(&shapes, &tensors, &corrupt)?;
                let mut net = EndgameLstm::zeros(config, vocab.size());
                fill_tensors(&mut net, &views, &corrupt)?;
                Net::EndgameLstm(net)
            }
            "snowman-cnn" => {
                let config: SnowmanConfig = serde_json::from_value(header.config)
                    .map_err(|e| corrupt(format!("config: {e}")))?;
                check_snowman_config(&config, &corrupt)?;
                let shapes = SnowmanCnn::tensor_shapes(&config, vocab.size());
                let views = check_tensors(&shapes, &tensors, &corrupt)?;
                let mut net = SnowmanCnn::zeros(config.clone(), vocab.size());
                fill_tensors(&mut net, &views, &corrupt)?;
                Net::SnowmanCnn(net)
            }
            "lstm-cnn-ensemble" => {
                let config: EnsembleConfig = serde_json::from_value(header.config)
                    .map_err(|e| corrupt(format!("config: {e}")))?;
                check_endgame_config(&config.lstm, &corrupt)?;
                check_snowman_config(&config.cnn, &corrupt)?;
                let shapes = LstmCnnEnsemble::tensor_shapes(&config, vocab.size());
                let views = check_tensors(&shapes, &tensors, &corrupt)?;
                let lstm_count = EndgameLstm::tensor_shapes(&config.lstm, vocab.size()).len();
                let mut lstm = EndgameLstm::zeros(config.lstm, vocab.size());
                fill_tensors(&mut lstm, &views[..lstm_count], &corrupt)?;
                let mut cnn = SnowmanCnn::zeros(config.cnn.clone(), vocab.size());
                fill_tensors(&mut cnn, &views[lstm_count..], &corrupt)?;
                Net::LstmCnnEnsemble(Box::new(
                    LstmCnnEnsemble::new(lstm, cnn, config.lstm_weight).map_err(corrupt)?,
                ))
            }
            other => return Err(foreign(format!("unknown architecture {other:?}"))),
        };
        if let Some(p) = header.operating_points
            && !((0.0..=1.0).contains(&p.dga)
                && (0.0..=1.0).contains(&p.suspicious)
                && p.suspicious <= p.dga)
        {
            return Err(corrupt(format!(
                "operating points dga {} and suspicious {} are not probabilities with suspicious <= dga",
                p.dga, p.suspicious
            )));
        }
        let mut model = ModelFile::new(net, vocab, header.threshold, header.training);
        model.operating_points = header.operating_points;
        model.with_classes(header.classes).map_err(|e| match e {
            ModelError::Corrupt { why, .. } => corrupt(why),
            other => other,
        })
    }
}
