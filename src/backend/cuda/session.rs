//! The GPU models as backend sessions: `Session` for training, `Infer` for scoring. The
//! training loop and the scorer never name a GPU type; they get these through
//! `Backend::session` and `Scorer::new`.

use super::endgame_lstm::GpuEndgame;
use super::snowman_cnn::GpuSnowman;
use super::{CudaError, Gpu};
use crate::backend::BackendError;
use crate::backend::session::{Batch, Infer, Session};
use crate::model::file::Net;
use crate::model::{EndgameLstm, ModelFile, SnowmanCnn};
use crate::nn::{Optimizer, OptimizerConfig};
use crate::rng::Rng;

/// Names per GPU scoring launch.
const SCORE_BLOCK: usize = 16384;

impl From<CudaError> for BackendError {
    fn from(e: CudaError) -> Self {
        BackendError::Gpu(e.to_string())
    }
}

/// `Infer` and `Session` for a GPU model type; both have the same inherent methods.
macro_rules! gpu_session {
    ($gpu:ty, $net:ty) => {
        impl Infer for $gpu {
            fn probabilities(&mut self, indices: &[u8]) -> Result<Vec<f32>, BackendError> {
                Ok(<$gpu>::probabilities(self, indices, SCORE_BLOCK)?)
            }

            fn describe(&self) -> String {
                self.gpu().describe()
            }
        }

        impl Session<$net> for $gpu {
            fn train_step(&mut self, b: &Batch, rng: &Rng) -> Result<(), BackendError> {
                Ok(<$gpu>::train_step(
                    self, &b.indices, &b.labels, &b.weights, rng,
                )?)
            }

            fn take_loss(&mut self) -> Result<f64, BackendError> {
                Ok(<$gpu>::take_loss(self)?)
            }

            fn download(&self) -> Result<($net, Optimizer), BackendError> {
                Ok(<$gpu>::download(self)?)
            }

            fn last_gradients(&self) -> Result<Option<Vec<Vec<f32>>>, BackendError> {
                Ok(Some(self.gradients()?))
            }
        }
    };
}

gpu_session!(GpuEndgame, EndgameLstm);
gpu_session!(GpuSnowman, SnowmanCnn);

pub fn endgame_session(
    device: usize,
    net: &EndgameLstm,
    optimizer: &Optimizer,
) -> Result<Box<dyn Session<EndgameLstm>>, BackendError> {
    Ok(Box::new(GpuEndgame::new(
        Gpu::open(device)?,
        net,
        optimizer,
    )?))
}

pub fn snowman_session(
    device: usize,
    net: &SnowmanCnn,
    optimizer: &Optimizer,
) -> Result<Box<dyn Session<SnowmanCnn>>, BackendError> {
    Ok(Box::new(GpuSnowman::new(
        Gpu::open(device)?,
        net,
        optimizer,
    )?))
}

/// The LSTM + CNN ensemble on the GPU: each member scores there, the average is taken on
/// the host (`model/ensemble.rs`).
struct EnsembleInfer {
    lstm: Box<dyn Infer>,
    cnn: Box<dyn Infer>,
    lstm_weight: f32,
}

impl Infer for EnsembleInfer {
    fn probabilities(&mut self, indices: &[u8]) -> Result<Vec<f32>, BackendError> {
        let lstm = self.lstm.probabilities(indices)?;
        let cnn = self.cnn.probabilities(indices)?;
        Ok(crate::model::ensemble::combine(
            self.lstm_weight,
            &lstm,
            &cnn,
        ))
    }

    fn describe(&self) -> String {
        self.lstm.describe()
    }
}

/// A model's weights on GPU `device`, for scoring only.
pub fn scoring_session(device: usize, model: &ModelFile) -> Result<Box<dyn Infer>, BackendError> {
    // Scoring needs no optimiser state; an empty one allocates almost nothing.
    let optimizer = Optimizer::new(OptimizerConfig::rmsprop());
    Ok(match model.net() {
        Net::EndgameLstm(net) => endgame_session(device, net, &optimizer)?,
        Net::SnowmanCnn(net) => snowman_session(device, net, &optimizer)?,
        Net::LstmCnnEnsemble(both) => Box::new(EnsembleInfer {
            lstm: endgame_session(device, &both.lstm, &optimizer)?,
            cnn: snowman_session(device, &both.cnn, &optimizer)?,
            lstm_weight: both.lstm_weight,
        }),
    })
}
