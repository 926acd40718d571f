//! A loaded model ready to score names where the caller asked: what `predict`, `eval` and
//! `serve` hold. The model file itself (`model::ModelFile`) stays plain data.

use super::cpu::endgame_lstm as fast_lstm;
use super::cpu::snowman_cnn as fast_cnn;
use super::session::Infer;
use super::{Backend, BackendError};
use crate::model::ModelFile;
use crate::model::file::Net;
use crate::model::head::dga_scores;
use std::sync::{Mutex, OnceLock};

/// What the CPU derives from the weights once, to score fast (see `cpu/`).
enum CpuScorer {
    Reference,
    Lstm(fast_lstm::Scorer),
    Cnn(fast_cnn::CnnScorer),
    /// The ensemble's members, each on its own fast path.
    Ensemble(fast_lstm::Scorer, fast_cnn::CnnScorer),
}

/// A model and where it scores. Reads as the model it holds (`Deref`), so `scorer.threshold`
/// and `scorer.classes()` are the model's.
pub struct Scorer {
    model: ModelFile,
    backend: Backend,
    /// Built on first use (a GPU scorer builds it only if the GPU fails).
    cpu: OnceLock<CpuScorer>,
    gpu: Option<Mutex<Box<dyn Infer>>>,
    /// Why the GPU stopped scoring, once it has: every later call runs on the CPU.
    gpu_failed: OnceLock<String>,
    /// Told once when the GPU fails (the CLI prints it).
    notice: Box<dyn Fn(&str) + Send + Sync>,
}

impl Scorer {
    /// Readies `model` on `backend`: for CUDA, opens the GPU, compiles the kernels and uploads
    /// the weights.
    pub fn new(model: ModelFile, backend: Backend) -> Result<Scorer, BackendError> {
        let gpu = match backend {
            Backend::Cuda(device) => {
                Some(Mutex::new(super::cuda::scoring_session(device, &model)?))
            }
            _ => None,
        };
        Ok(Scorer {
            model,
            backend,
            cpu: OnceLock::new(),
            gpu,
            gpu_failed: OnceLock::new(),
            notice: Box::new(|_| {}),
        })
    }

    /// The fast CPU path on this CPU's best lanes.
    pub fn cpu(model: ModelFile) -> Scorer {
        Scorer::new(model, Backend::cpu()).expect("the CPU backend always opens")
    }

    /// Calls `notice` with a line if the GPU fails and scoring moves to the CPU.
    pub fn with_notice(mut self, notice: impl Fn(&str) + Send + Sync + 'static) -> Scorer {
        self.notice = Box::new(notice);
        self
    }

    pub fn model(&self) -> &ModelFile {
        &self.model
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Output probabilities of `names` (already normalised), `[n, outputs]` row-major: one
    /// probability of DGA per name for a binary model, one per class for a multiclass model.
    pub fn probabilities<S: AsRef<str>>(&self, names: &[S]) -> Vec<f32> {
        self.indices_probabilities(&self.model.vocab.encode_batch(names))
    }

    /// `probabilities` of names already encoded with the model's vocabulary (`[n, MAXLEN]`).
    pub fn indices_probabilities(&self, indices: &[u8]) -> Vec<f32> {
        if let Some(gpu) = &self.gpu
            && self.gpu_failed.get().is_none()
        {
            let mut gpu = gpu.lock().unwrap_or_else(|e| e.into_inner());
            match gpu.probabilities(indices) {
                Ok(p) => return p,
                // A device that fails mid-run (reset, lost) must not lose names: say so and
                // score on the CPU from now on, which computes the same function.
                Err(e) => {
                    let why = format!("GPU scoring failed ({e}); scoring on the CPU from now on");
                    (self.notice)(&why);
                    let _ = self.gpu_failed.set(why);
                }
            }
        }
        self.cpu_probabilities(indices)
    }

    /// Scores (probability of DGA) of `names` (already normalised) in input order.
    pub fn score_names<S: AsRef<str>>(&self, names: &[S]) -> Vec<f32> {
        dga_scores(&self.probabilities(names), self.model.net().outputs())
    }

    fn cpu_probabilities(&self, indices: &[u8]) -> Vec<f32> {
        let net = self.model.net();
        // Built once, on first use (the lanes are chosen then too).
        let cpu = self.cpu.get_or_init(|| {
            let lanes = match self.backend {
                Backend::Cpu(lanes) => lanes,
                _ => super::Simd::detect(),
            };
            match (self.backend, net) {
                (Backend::Reference, _) => CpuScorer::Reference,
                (_, Net::EndgameLstm(lstm)) => CpuScorer::Lstm(fast_lstm::Scorer::on(lanes, lstm)),
                (_, Net::SnowmanCnn(cnn)) => CpuScorer::Cnn(fast_cnn::CnnScorer::new(cnn)),
                (_, Net::LstmCnnEnsemble(both)) => CpuScorer::Ensemble(
                    fast_lstm::Scorer::on(lanes, &both.lstm),
                    fast_cnn::CnnScorer::new(&both.cnn),
                ),
            }
        });
        match (cpu, net) {
            (CpuScorer::Lstm(scorer), Net::EndgameLstm(lstm)) => {
                scorer.probabilities(lstm, indices)
            }
            (CpuScorer::Cnn(scorer), _) => scorer.scores(indices),
            (CpuScorer::Ensemble(lstm, cnn), Net::LstmCnnEnsemble(both)) => both.combine(
                &lstm.probabilities(&both.lstm, indices),
                &cnn.scores(indices),
            ),
            (_, Net::EndgameLstm(lstm)) => super::reference::probabilities(lstm, indices),
            (_, Net::SnowmanCnn(cnn)) => super::reference::probabilities(cnn, indices),
            (_, Net::LstmCnnEnsemble(both)) => both.combine(
                &super::reference::probabilities(&both.lstm, indices),
                &super::reference::probabilities(&both.cnn, indices),
            ),
        }
    }
}

impl std::ops::Deref for Scorer {
    type Target = ModelFile;

    fn deref(&self) -> &ModelFile {
        &self.model
    }
}
