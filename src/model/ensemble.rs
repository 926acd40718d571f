//! The LSTM + CNN ensemble: the Endgame LSTM and the Snowman CNN trained on the same split
//! (so with the same vocabulary), their probabilities of DGA averaged with a weight chosen on
//! the validation split. The two see names differently (a recurrent pass over every character
//! beside n-gram detectors); averaging them ranks the names either one misjudges lower
//! (BENCHMARKS.md, "A better shipped model"). Nothing new is learnt jointly: each member is
//! the paper's model, trained as it would be alone.

use super::{EndgameConfig, EndgameLstm, Network, SnowmanCnn, SnowmanConfig};
use serde::{Deserialize, Serialize};

/// What the model file's header records for an ensemble.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnsembleConfig {
    pub lstm: EndgameConfig,
    pub cnn: SnowmanConfig,
    /// score = lstm_weight * P_lstm(DGA) + (1 - lstm_weight) * P_cnn(DGA).
    pub lstm_weight: f32,
}

/// The two members and the weight of the LSTM's vote. Binary only: each member has one
/// output, the probability of DGA.
#[derive(Clone, Debug, PartialEq)]
pub struct LstmCnnEnsemble {
    pub lstm: EndgameLstm,
    pub cnn: SnowmanCnn,
    pub lstm_weight: f32,
}

/// Tensor names in the file: each member's own, under its prefix.
pub const LSTM_PREFIX: &str = "lstm/";
pub const CNN_PREFIX: &str = "cnn/";

impl LstmCnnEnsemble {
    /// Refuses members that cannot be averaged: a multiclass LSTM, or a weight that is not a
    /// probability.
    pub fn new(
        lstm: EndgameLstm,
        cnn: SnowmanCnn,
        lstm_weight: f32,
    ) -> Result<LstmCnnEnsemble, String> {
        if lstm.outputs() != 1 || cnn.outputs() != 1 {
            return Err("an ensemble averages two binary models (one output each)".into());
        }
        if !(0.0..=1.0).contains(&lstm_weight) {
            return Err(format!("LSTM weight {lstm_weight} is not in [0, 1]"));
        }
        Ok(LstmCnnEnsemble {
            lstm,
            cnn,
            lstm_weight,
        })
    }

    pub fn config(&self) -> EnsembleConfig {
        EnsembleConfig {
            lstm: self.lstm.config,
            cnn: self.cnn.config.clone(),
            lstm_weight: self.lstm_weight,
        }
    }

    /// The ensemble's probabilities from its members', name by name.
    pub fn combine(&self, lstm: &[f32], cnn: &[f32]) -> Vec<f32> {
        combine(self.lstm_weight, lstm, cnn)
    }

    /// Tensor names (prefixed) and shapes, LSTM first.
    pub fn tensor_shapes(config: &EnsembleConfig, vocab_size: usize) -> Vec<(String, Vec<usize>)> {
        let lstm = EndgameLstm::tensor_shapes(&config.lstm, vocab_size)
            .into_iter()
            .map(|(name, shape)| (format!("{LSTM_PREFIX}{name}"), shape));
        let cnn = SnowmanCnn::tensor_shapes(&config.cnn, vocab_size)
            .into_iter()
            .map(|(name, shape)| (format!("{CNN_PREFIX}{name}"), shape));
        lstm.chain(cnn).collect()
    }
}

/// `w * lstm + (1 - w) * cnn`, element by element.
pub fn combine(lstm_weight: f32, lstm: &[f32], cnn: &[f32]) -> Vec<f32> {
    debug_assert_eq!(lstm.len(), cnn.len());
    lstm.iter()
        .zip(cnn)
        .map(|(&a, &b)| lstm_weight * a + (1.0 - lstm_weight) * b)
        .collect()
}

/// The LSTM weights tried on the validation split: 0, 0.05, ..., 1 (the ends are the members
/// alone, so the ensemble is never chosen when it does not help).
pub fn candidate_weights() -> impl Iterator<Item = f32> {
    (0..=20).map(|i| i as f32 / 20.0)
}
