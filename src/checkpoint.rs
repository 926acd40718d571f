//! Training checkpoints: everything a run needs to continue exactly where it stopped, so that
//! an interrupted and resumed run ends with the same model, bit for bit, as an uninterrupted
//! one. A safetensors file: the weights (`net.*`), the best epoch's weights for early stopping
//! (`best.*`), the optimiser's slots (`opt{slot}.{tensor}`), the data order (`order`, u32), and
//! the counters, generator state and history as JSON in the metadata.

use crate::model::Network;
use crate::nn::Optimizer;
use crate::rng::Rng;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// What one epoch did.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochStats {
    pub epoch: usize,
    pub loss: f64,
    pub val_auc: Option<f64>,
    /// Multiclass models: the share of validation names given their true class (micro F1).
    #[serde(default)]
    pub val_accuracy: Option<f64>,
    pub seconds: f64,
    pub names_per_second: f64,
}

/// Why a checkpoint cannot be resumed.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("cannot read checkpoint {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "{path} belongs to a run with other data or settings; resume with the same inputs, seed, splits, batch size, model and optimiser"
    )]
    OtherRun { path: String },
    #[error("{path} is damaged: {why}; start the run again")]
    Damaged { path: String, why: String },
    /// Not a checkpoint this build can read for this run; the message says why.
    #[error("{0}")]
    Unusable(String),
}

const METADATA_KEY: &str = "dga_lite_checkpoint";
const VERSION: u32 = 1;

/// The state of a training run between two epochs.
#[derive(Clone, Debug)]
pub struct Checkpoint<N> {
    pub net: N,
    pub optimizer: Optimizer,
    pub shuffle_rng: Rng,
    pub order: Vec<usize>,
    /// Optimiser steps taken (it seeds each batch's dropout).
    pub step: u64,
    /// Epochs completed.
    pub epoch: usize,
    pub history: Vec<EpochStats>,
    /// Best validation AUC so far, its epoch and weights.
    pub best: Option<(f64, usize, N)>,
    /// Early stopping ended the run.
    pub stopped: bool,
}

#[derive(Serialize, Deserialize)]
struct Header {
    version: u32,
    /// Identifies the data and settings; a resume must match it.
    fingerprint: String,
    epoch: usize,
    step: u64,
    optimizer_steps: u64,
    shuffle_rng: u64,
    stopped: bool,
    best_auc: Option<f64>,
    best_epoch: Option<usize>,
    history: Vec<EpochStats>,
}

fn le_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

impl<N: Network> Checkpoint<N> {
    /// Writes the checkpoint atomically.
    pub fn save(&self, path: &Path, fingerprint: &str) -> std::io::Result<()> {
        let header = Header {
            version: VERSION,
            fingerprint: fingerprint.to_string(),
            epoch: self.epoch,
            step: self.step,
            optimizer_steps: self.optimizer.steps,
            shuffle_rng: self.shuffle_rng.state(),
            stopped: self.stopped,
            best_auc: self.best.as_ref().map(|b| b.0),
            best_epoch: self.best.as_ref().map(|b| b.1),
            history: self.history.clone(),
        };
        let mut tensors: Vec<(String, Dtype, Vec<u8>)> = Vec::new();
        for (name, data) in self.net.tensors() {
            tensors.push((format!("net.{name}"), Dtype::F32, le_bytes(data)));
        }
        if let Some((_, _, best)) = &self.best {
            for (name, data) in best.tensors() {
                tensors.push((format!("best.{name}"), Dtype::F32, le_bytes(data)));
            }
        }
        for (s, slot) in self.optimizer.slots.iter().enumerate() {
            for (k, values) in slot.iter().enumerate() {
                tensors.push((format!("opt{s}.{k}"), Dtype::F32, le_bytes(values)));
            }
        }
        let order: Vec<u8> = self
            .order
            .iter()
            .flat_map(|&i| (i as u32).to_le_bytes())
            .collect();
        tensors.push(("order".to_string(), Dtype::U32, order));
        let views = tensors.iter().map(|(name, dtype, data)| {
            let count = data.len() / 4;
            (
                name.clone(),
                TensorView::new(*dtype, vec![count], data).expect("1-D tensor"),
            )
        });
        let metadata = HashMap::from([(
            METADATA_KEY.to_string(),
            serde_json::to_string(&header).expect("header"),
        )]);
        let bytes = safetensors::serialize(views, Some(metadata)).map_err(std::io::Error::other)?;
        crate::atomic_file::write_atomically(path, &bytes)
    }

    /// Reads a checkpoint into the shape of `template` (a fresh network of the same run),
    /// checking it belongs to a run with this `fingerprint` and `train_names` training names.
    /// Errors say what to do.
    pub fn load(
        path: &Path,
        template: &N,
        optimizer: Optimizer,
        fingerprint: &str,
        train_names: usize,
    ) -> Result<Checkpoint<N>, CheckpointError> {
        let shown = path.display().to_string();
        // The net, the best net and at most two optimiser slots, the order and a header.
        let params: u64 = template.tensors().iter().map(|(_, t)| t.len() as u64).sum();
        let max_bytes = params * 4 * 4 + train_names as u64 * 4 + (16 << 20);
        let bytes = crate::bounded_read::read_regular_file(path, max_bytes, "checkpoint").map_err(
            |source| CheckpointError::Read {
                path: shown.clone(),
                source,
            },
        )?;
        Checkpoint::from_bytes(
            &bytes,
            &shown,
            template,
            optimizer,
            fingerprint,
            train_names,
        )
    }

    /// `load` on bytes already read; `shown` names them in errors. Every number read from
    /// the bytes is checked before it is used: this is a fuzzing entry point.
    pub fn from_bytes(
        bytes: &[u8],
        shown: &str,
        template: &N,
        optimizer: Optimizer,
        fingerprint: &str,
        train_names: usize,
    ) -> Result<Checkpoint<N>, CheckpointError> {
        let st = SafeTensors::deserialize(bytes).map_err(|e| {
            CheckpointError::Unusable(format!("{shown} is not a readable checkpoint: {e}"))
        })?;
        let (_, meta) = SafeTensors::read_metadata(bytes)
            .map_err(|e| CheckpointError::Unusable(format!("{shown}: {e}")))?;
        let text = meta
            .metadata()
            .as_ref()
            .and_then(|m| m.get(METADATA_KEY))
            .ok_or_else(|| {
                CheckpointError::Unusable(format!("{shown} is not a dga-lite checkpoint"))
            })?;
        let header: Header = serde_json::from_str(text)
            .map_err(|e| CheckpointError::Unusable(format!("{shown}: damaged header ({e})")))?;
        if header.version != VERSION {
            return Err(CheckpointError::Unusable(format!(
                "{shown}: checkpoint version {} (this build reads {VERSION})",
                header.version
            )));
        }
        if header.fingerprint != fingerprint {
            return Err(CheckpointError::OtherRun {
                path: shown.to_string(),
            });
        }
        let damaged = |why: &str| CheckpointError::Damaged {
            path: shown.to_string(),
            why: why.to_string(),
        };
        if header.history.len() != header.epoch {
            return Err(damaged(&format!(
                "{} epochs of history for {} epochs run",
                header.history.len(),
                header.epoch
            )));
        }
        if header
            .best_epoch
            .is_some_and(|b| b == 0 || b > header.epoch)
            || header.best_auc.is_some_and(|a| !a.is_finite())
        {
            return Err(damaged("its best epoch is not one of the epochs run"));
        }
        let read_f32 = |name: &str, dest: &mut [f32]| -> Result<(), CheckpointError> {
            let view = st.tensor(name).map_err(|_| {
                CheckpointError::Unusable(format!("{shown}: tensor {name} is missing"))
            })?;
            if view.dtype() != Dtype::F32 || view.data().len() != dest.len() * 4 {
                return Err(CheckpointError::Unusable(format!(
                    "{shown}: tensor {name} has the wrong type or size"
                )));
            }
            for (d, chunk) in dest.iter_mut().zip(view.data().chunks_exact(4)) {
                *d = f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            }
            Ok(())
        };
        let fill = |prefix: &str| -> Result<N, CheckpointError> {
            let mut net = template.clone();
            let names: Vec<&str> = template.tensors().iter().map(|(n, _)| *n).collect();
            for (name, dest) in names.iter().zip(net.tensors_mut()) {
                read_f32(&format!("{prefix}.{name}"), dest)?;
            }
            Ok(net)
        };
        let net = fill("net")?;
        let best = match (header.best_auc, header.best_epoch) {
            (Some(auc), Some(epoch)) => Some((auc, epoch, fill("best")?)),
            _ => None,
        };
        let mut optimizer = optimizer;
        if header.optimizer_steps > 0 {
            let n_slots = optimizer.slot_count();
            let sizes: Vec<usize> = template.tensors().iter().map(|(_, t)| t.len()).collect();
            optimizer.slots = vec![sizes.iter().map(|&n| vec![0.0; n]).collect(); n_slots];
            for (s, slot) in optimizer.slots.iter_mut().enumerate() {
                for (k, values) in slot.iter_mut().enumerate() {
                    read_f32(&format!("opt{s}.{k}"), values)?;
                }
            }
        }
        optimizer.steps = header.optimizer_steps;
        let order_view = st.tensor("order").map_err(|_| {
            CheckpointError::Unusable(format!("{shown}: the data order is missing"))
        })?;
        if order_view.dtype() != Dtype::U32 {
            return Err(CheckpointError::Unusable(format!(
                "{shown}: the data order has the wrong type"
            )));
        }
        if order_view.data().len() != train_names * 4 {
            return Err(CheckpointError::Unusable(format!(
                "{shown} was written for {} training names; this run has {train_names}",
                order_view.data().len() / 4
            )));
        }
        let order: Vec<usize> = order_view
            .data()
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as usize)
            .collect();
        // The order must be a permutation of the training names: each once, none past the end.
        let mut seen = vec![false; train_names];
        for &i in &order {
            match seen.get_mut(i) {
                Some(s) if !*s => *s = true,
                _ => {
                    return Err(damaged(
                        "its data order is not a permutation of the training names",
                    ));
                }
            }
        }
        Ok(Checkpoint {
            net,
            optimizer,
            shuffle_rng: Rng::new(header.shuffle_rng),
            order,
            step: header.step,
            epoch: header.epoch,
            history: header.history,
            best,
            stopped: header.stopped,
        })
    }
}
