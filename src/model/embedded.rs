//! The default model, compiled into the binary so `predict` works on a host with no files.
//! `data/endgame-default.md` is its model card (how it was trained, on what, how well).

use super::{ModelError, ModelFile};

const BYTES: &[u8] = include_bytes!("../../data/endgame-default.safetensors");
/// The model card of the embedded default.
pub const CARD: &str = include_str!("../../data/endgame-default.md");
/// How errors and `model info` name the embedded model.
pub const NAME: &str = "the embedded default model";

/// The embedded default model.
pub fn default_model() -> Result<ModelFile, ModelError> {
    ModelFile::from_bytes(BYTES, NAME)
}
