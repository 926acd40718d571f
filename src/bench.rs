//! `dga-lite bench`: training and scoring speed of our engine beside a PyTorch peer
//! (`benches/peer_pytorch.py`) on the same names, batch sizes and thread counts, in one run.

use crate::backend::{Backend, BackendError, Batch, Scorer, Trainable};
use crate::encode::{MAXLEN, Vocab};
use crate::model::file::Net;
use crate::model::{
    Architecture, EndgameConfig, EndgameLstm, LstmCnnEnsemble, ModelFile, SnowmanCnn,
    SnowmanConfig, TrainingInfo,
};
use crate::nn::{Optimizer, OptimizerConfig};
use crate::rng::Rng;
use serde::{Deserialize, Serialize};
use std::time::Instant;

#[derive(Clone, Debug)]
pub struct BenchOptions {
    pub train_names: usize,
    pub score_names: usize,
    pub latency_runs: usize,
    /// Each measurement is repeated this many times and the best kept (on both sides: the
    /// peer gets the same count), so a moment of interference from the host does not decide
    /// a ratio.
    pub repeats: usize,
}

/// Names with a realistic length distribution when no real data is at hand: lengths drawn
/// around 14 characters (the mean of the shared data), letters, digits and a TLD.
pub fn generated_names(n: usize, seed: u64) -> Vec<String> {
    let mut rng = Rng::new(seed);
    let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789-";
    (0..n)
        .map(|_| {
            let len = 4 + rng.below(8) + rng.below(8);
            let label: String = (0..len).map(|_| alphabet[rng.below(36)] as char).collect();
            format!("{label}.{}", ["com", "net", "org", "info"][rng.below(4)])
        })
        .collect()
}

/// Peak resident set size of this process so far, from /proc (0 where unavailable).
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_string)
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The models `bench` measures: the two papers' architectures with their default settings,
/// and the ensemble of both (the shipped default).
pub fn architectures() -> [Architecture; 3] {
    [
        Architecture::EndgameLstm(EndgameConfig::default()),
        Architecture::SnowmanCnn(SnowmanConfig::default()),
        Architecture::LstmCnnEnsemble(EndgameConfig::default(), SnowmanConfig::default()),
    ]
}

/// Times `count` training names in batches of `batch` (after a warm-up of two batches),
/// `repeats` times; the best rate. `step(start, rows, k)` trains on rows `start..start+rows`
/// with dropout stream `k`; `sync` waits for queued work (a GPU's) before the clock stops.
fn time_training<E>(
    (n, batch): (usize, usize),
    count: usize,
    repeats: usize,
    mut step: impl FnMut(usize, usize, u64) -> Result<(), E>,
    mut sync: impl FnMut() -> Result<(), E>,
) -> Result<f64, E> {
    let mut run = |count: usize| -> Result<usize, E> {
        let (mut done, mut k) = (0, 0u64);
        while done < count {
            let start = done % n;
            let rows = batch.min(n - start);
            step(start, rows, k)?;
            done += rows;
            k += 1;
        }
        sync()?;
        Ok(done)
    };
    run(2 * batch)?;
    let mut best = 0.0f64;
    for _ in 0..repeats.max(1) {
        let started = Instant::now();
        let trained = run(count)?;
        best = best.max(trained as f64 / started.elapsed().as_secs_f64());
    }
    Ok(best)
}

/// Times scoring `count` names in batches of `batch`, and the median latency of one name,
/// each `repeats` times; the best rate and the lowest median.
fn time_scoring(
    (n, batch): (usize, usize),
    count: usize,
    (latency_runs, repeats): (usize, usize),
    score: impl Fn(usize, usize) -> usize,
) -> (f64, f64) {
    score(0, batch.min(n));
    let (mut best_rate, mut best_latency) = (0.0f64, f64::INFINITY);
    for _ in 0..repeats.max(1) {
        let started = Instant::now();
        let mut scored = 0;
        while scored < count {
            let start = scored % n;
            scored += score(start, batch.min(n - start));
        }
        best_rate = best_rate.max(scored as f64 / started.elapsed().as_secs_f64());
        let mut times: Vec<f64> = (0..latency_runs)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(score(0, 1));
                t.elapsed().as_secs_f64() * 1e6
            })
            .collect();
        times.sort_by(f64::total_cmp);
        best_latency = best_latency.min(times.get(times.len() / 2).copied().unwrap_or(0.0));
    }
    (best_rate, best_latency)
}

/// What one backend measured for one model.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Measurement {
    pub train_names_per_s: f64,
    pub score_names_per_s: f64,
    pub latency_us: f64,
    pub peak_rss_mb: f64,
    /// Where it ran ("the CPU (avx512 lanes)", "NVIDIA H200 (sm_90)").
    #[serde(default)]
    pub device: String,
}

/// Batch sizes of one measurement.
#[derive(Clone, Copy, Debug)]
pub struct Batches {
    pub train: usize,
    pub score: usize,
}

/// The CPU's batches: 128 to train (the papers'), 1024 to score.
pub const CPU_BATCHES: Batches = Batches {
    train: 128,
    score: 1024,
};

/// Measures `net` on `backend`: training through a backend session, RMSprop, on `indices`;
/// scoring as `predict` does it (a `Scorer` built once, on the trained weights).
fn measure_net<N: Trainable>(
    net: N,
    vocab: &Vocab,
    indices: &[u8],
    backend: Backend,
    batches: Batches,
    options: &BenchOptions,
) -> Result<Measurement, BackendError> {
    let n = indices.len() / MAXLEN;
    let labels: Vec<f32> = (0..n).map(|i| (i % 2) as f32).collect();
    let weights = vec![1.0f32; n];
    let rows = |start: usize, count: usize| &indices[start * MAXLEN..(start + count) * MAXLEN];
    let mut session = backend.session(net, Optimizer::new(OptimizerConfig::rmsprop()))?;
    let device = session.describe();
    let dropout = Rng::new(2);
    let mut batch = Batch::default();
    let count = options.train_names.max(20 * batches.train);
    let cell = std::cell::RefCell::new(&mut session);
    let train_names_per_s = time_training(
        (n, batches.train),
        count,
        options.repeats,
        |start, take, k| {
            batch.clear();
            batch.indices.extend_from_slice(rows(start, take));
            batch.labels.extend_from_slice(&labels[start..start + take]);
            batch
                .weights
                .extend_from_slice(&weights[start..start + take]);
            cell.borrow_mut().train_step(&batch, &dropout.fork(k))
        },
        || cell.borrow_mut().take_loss().map(|_| ()),
    )?;
    let (net, _) = session.download()?;
    let model = ModelFile::new(net.into_net(), vocab.clone(), 0.5, TrainingInfo::default());
    let scorer = Scorer::new(model, backend)?;
    let (score_names_per_s, latency_us) = time_scorer(&scorer, indices, batches, options);
    Ok(Measurement {
        train_names_per_s,
        score_names_per_s,
        latency_us,
        peak_rss_mb: peak_rss_mb(),
        device,
    })
}

/// Measures one of our models on `names` on `backend` (the CPU's within the current rayon
/// pool). Every timing of a GPU ends with a read back from the device, so queued work counts.
pub fn measure(
    model: &Architecture,
    names: &[String],
    backend: Backend,
    batches: Batches,
    options: &BenchOptions,
) -> Result<Measurement, BackendError> {
    let vocab = Vocab::from_names(names.iter().map(String::as_str));
    let indices = vocab.encode_batch(names);
    let init = &mut Rng::new(1);
    match model {
        Architecture::EndgameLstm(config) | Architecture::EndgameLstmMulticlass(config) => {
            let net = EndgameLstm::new(*config, vocab.size(), init);
            measure_net(net, &vocab, &indices, backend, batches, options)
        }
        Architecture::SnowmanCnn(config) => {
            let net = SnowmanCnn::new(config.clone(), vocab.size(), init);
            measure_net(net, &vocab, &indices, backend, batches, options)
        }
        Architecture::LstmCnnEnsemble(lstm, cnn) => {
            // Training: the members train one after the other on the same names, so the
            // ensemble's rate is the harmonic sum of theirs. Scoring is measured as one.
            let alone = |model: Architecture| measure(&model, names, backend, batches, options);
            let lstm_alone = alone(Architecture::EndgameLstm(*lstm))?;
            let cnn_alone = alone(Architecture::SnowmanCnn(cnn.clone()))?;
            let both = LstmCnnEnsemble::new(
                EndgameLstm::new(*lstm, vocab.size(), init),
                SnowmanCnn::new(cnn.clone(), vocab.size(), init),
                0.5,
            )
            .expect("binary members and a weight in [0, 1]");
            let model = ModelFile::new(
                Net::LstmCnnEnsemble(Box::new(both)),
                vocab.clone(),
                0.5,
                TrainingInfo::default(),
            );
            let scorer = Scorer::new(model, backend)?;
            let (score_names_per_s, latency_us) = time_scorer(&scorer, &indices, batches, options);
            Ok(Measurement {
                train_names_per_s: 1.0
                    / (1.0 / lstm_alone.train_names_per_s + 1.0 / cnn_alone.train_names_per_s),
                score_names_per_s,
                latency_us,
                peak_rss_mb: peak_rss_mb(),
                device: lstm_alone.device,
            })
        }
    }
}

/// Scoring rate and one-name latency of `scorer` on `indices`, as `predict` scores.
fn time_scorer(
    scorer: &Scorer,
    indices: &[u8],
    batches: Batches,
    options: &BenchOptions,
) -> (f64, f64) {
    let n = indices.len() / MAXLEN;
    let rows = |start: usize, count: usize| &indices[start * MAXLEN..(start + count) * MAXLEN];
    let score = |start, take| scorer.indices_probabilities(rows(start, take)).len();
    let count = options.score_names.max(20 * batches.score);
    time_scoring(
        (n, batches.score),
        count,
        (options.latency_runs, options.repeats),
        score,
    )
}
