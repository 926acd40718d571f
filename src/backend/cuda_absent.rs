//! Stands in for the CUDA backend (`cuda/`) in a build without the `cuda` feature: the same
//! entry points, each answering that this build cannot use a GPU. So no module outside
//! `backend/` needs `cfg(feature = "cuda")`.

use super::BackendError;
use super::session::{Infer, Session};
use crate::model::{EndgameLstm, ModelFile, SnowmanCnn};
use crate::nn::Optimizer;

pub fn endgame_session(
    _device: usize,
    _net: &EndgameLstm,
    _optimizer: &Optimizer,
) -> Result<Box<dyn Session<EndgameLstm>>, BackendError> {
    Err(BackendError::NotBuilt)
}

pub fn snowman_session(
    _device: usize,
    _net: &SnowmanCnn,
    _optimizer: &Optimizer,
) -> Result<Box<dyn Session<SnowmanCnn>>, BackendError> {
    Err(BackendError::NotBuilt)
}

pub fn scoring_session(_device: usize, _model: &ModelFile) -> Result<Box<dyn Infer>, BackendError> {
    Err(BackendError::NotBuilt)
}
