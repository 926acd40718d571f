//! Fine-tuning (`train --init`): the parent model, the lineage its child records, and the
//! parent's own training names mixed back in against forgetting (`--replay`).

use super::TrainError;
use super::inputs::read_input;
use crate::data::{Format, Sample};
use crate::model::ModelFile;
use crate::rng::Rng;
use sha2::{Digest, Sha256};

/// The model a fine-tuning run starts from.
pub struct Parent {
    pub model: ModelFile,
    /// SHA-256 of the parent's file, recorded in the child's lineage.
    pub sha256: String,
}

impl Parent {
    pub fn load(path: &std::path::Path) -> Result<Parent, TrainError> {
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
    pub fn lineage(&self) -> Vec<serde_json::Value> {
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
    pub fn replay(&self, per_class: usize, rng: &mut Rng) -> Result<[Vec<Sample>; 2], TrainError> {
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
