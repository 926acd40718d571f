//! `dga-lite bench`: training and scoring speed of our engine beside a PyTorch peer
//! (`benches/peer_pytorch.py`) on the same names, batch sizes and thread counts, in one run.

use crate::backend::cpu::endgame_lstm as fast;
use crate::backend::cpu::snowman_cnn as fast_cnn;
use crate::encode::{MAXLEN, Vocab};
use crate::model::{EndgameConfig, EndgameLstm, Network, SnowmanCnn, SnowmanConfig};
use crate::nn::{Optimizer, OptimizerConfig};
use crate::rng::Rng;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// What one engine measured at one thread count.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Measurement {
    pub train_names_per_s: f64,
    pub score_names_per_s: f64,
    pub latency_us: f64,
    pub peak_rss_mb: f64,
}

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

/// The models `bench` measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BenchModel {
    EndgameLstm,
    SnowmanCnn,
}

impl BenchModel {
    pub fn name(self) -> &'static str {
        match self {
            BenchModel::EndgameLstm => "endgame-lstm",
            BenchModel::SnowmanCnn => "snowman-cnn",
        }
    }
}

/// Times `count` training names in batches of 128 (after a warm-up of 256), `repeats` times;
/// the best rate.
fn time_training(
    n: usize,
    count: usize,
    repeats: usize,
    mut step: impl FnMut(usize, usize, u64),
) -> f64 {
    let mut run = |count: usize| {
        let (mut done, mut k) = (0, 0u64);
        while done < count {
            let start = done % n;
            let rows = 128.min(n - start);
            step(start, rows, k);
            done += rows;
            k += 1;
        }
        done
    };
    run(256);
    (0..repeats.max(1))
        .map(|_| {
            let started = Instant::now();
            let trained = run(count);
            trained as f64 / started.elapsed().as_secs_f64()
        })
        .fold(0.0, f64::max)
}

/// Times scoring `count` names in batches of 1024, and the median latency of one name, each
/// `repeats` times; the best rate and the lowest median.
fn time_scoring(
    n: usize,
    count: usize,
    (latency_runs, repeats): (usize, usize),
    score: impl Fn(usize, usize) -> usize,
) -> (f64, f64) {
    score(0, 1024.min(n));
    let (mut best_rate, mut best_latency) = (0.0f64, f64::INFINITY);
    for _ in 0..repeats.max(1) {
        let started = Instant::now();
        let mut scored = 0;
        while scored < count {
            let start = scored % n;
            scored += score(start, 1024.min(n - start));
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

/// A fast path's batch step: loss and gradients, as `model::batch_loss_and_grads` computes them.
type BatchStep<N> = fn(&N, &[u8], &[f32], &[f32], &Rng) -> (f64, N);

/// Training names/s of `net` on `indices`, RMSprop steps through the fast path `batch`.
fn time_model_training<N: Network>(
    mut net: N,
    batch: BatchStep<N>,
    indices: &[u8],
    options: &BenchOptions,
) -> (f64, N) {
    let n = indices.len() / MAXLEN;
    let labels: Vec<f32> = (0..n).map(|i| (i % 2) as f32).collect();
    let weights = vec![1.0f32; n];
    let mut optimizer = Optimizer::new(OptimizerConfig::rmsprop());
    let dropout = Rng::new(2);
    let rate = time_training(
        n,
        options.train_names,
        options.repeats,
        |start, count, k| {
            let (_, grad) = batch(
                &net,
                &indices[start * MAXLEN..(start + count) * MAXLEN],
                &labels[start..start + count],
                &weights[start..start + count],
                &dropout.fork(k),
            );
            let grads: Vec<&[f32]> = grad.tensors().into_iter().map(|(_, t)| t).collect();
            optimizer.step(&mut net.tensors_mut(), &grads);
        },
    );
    (rate, net)
}

/// Measures one of our models on `names` with the current rayon pool, on the fast engines.
pub fn measure_ours(model: BenchModel, names: &[String], options: &BenchOptions) -> Measurement {
    let vocab = Vocab::from_names(names.iter().map(String::as_str));
    let indices = vocab.encode_batch(names);
    let n = names.len();
    let rows = |start: usize, count: usize| &indices[start * MAXLEN..(start + count) * MAXLEN];
    let scoring = (options.latency_runs, options.repeats);
    let (train_names_per_s, (score_names_per_s, latency_us)) = match model {
        BenchModel::EndgameLstm => {
            let net = EndgameLstm::new(EndgameConfig::default(), vocab.size(), &mut Rng::new(1));
            let (train, net) =
                time_model_training(net, fast::batch_loss_and_grads, &indices, options);
            // Scoring as `predict` does it: the model's table and padding prefix built once.
            let scorer = fast::Scorer::new(&net);
            let score = |start, count| scorer.scores(&net, rows(start, count)).len();
            (train, time_scoring(n, options.score_names, scoring, score))
        }
        BenchModel::SnowmanCnn => {
            let net = SnowmanCnn::new(SnowmanConfig::default(), vocab.size(), &mut Rng::new(1));
            let (train, net) =
                time_model_training(net, fast_cnn::batch_loss_and_grads, &indices, options);
            // Scoring as `predict` does it: the model's tables built once.
            let scorer = fast_cnn::CnnScorer::new(&net);
            let score = |start, count| scorer.scores(rows(start, count)).len();
            (train, time_scoring(n, options.score_names, scoring, score))
        }
    };
    Measurement {
        train_names_per_s,
        score_names_per_s,
        latency_us,
        peak_rss_mb: peak_rss_mb(),
    }
}

/// What the GPU measured for one model at one batch size.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct GpuMeasurement {
    pub device: String,
    pub train_names_per_s: f64,
    pub score_names_per_s: f64,
    pub latency_us: f64,
}

/// Measures one of our models on the GPU: training at `batch` names per step (`train_names`
/// names, after a warm-up), scoring at `batch` names per launch, and one name's latency. Every
/// timing ends with a read back from the device, so queued work is included.
#[cfg(feature = "cuda")]
pub fn measure_gpu(
    model: BenchModel,
    names: &[String],
    batch: usize,
    options: &BenchOptions,
) -> Result<GpuMeasurement, String> {
    use crate::backend::cuda::{Gpu, endgame_lstm::GpuEndgame, snowman_cnn::GpuSnowman};
    let err = |e: crate::backend::cuda::CudaError| e.to_string();
    let gpu = Gpu::open(0).map_err(err)?;
    let device = gpu.describe();
    let vocab = Vocab::from_names(names.iter().map(String::as_str));
    let indices = vocab.encode_batch(names);
    let n = names.len();
    let labels: Vec<f32> = (0..n).map(|i| (i % 2) as f32).collect();
    let weights = vec![1.0f32; n];
    let optimizer = Optimizer::new(OptimizerConfig::rmsprop());
    let rows = |start: usize, count: usize| &indices[start * MAXLEN..(start + count) * MAXLEN];
    // Both GPU models have the same shape of interface; a small macro times either.
    macro_rules! time_model {
        ($m:expr) => {{
            let mut m = $m.map_err(err)?;
            let mut train = |count: usize| -> Result<usize, String> {
                let (mut done, mut k) = (0, 0u64);
                while done < count {
                    let start = done % n;
                    let take = batch.min(n - start);
                    let rng = Rng::new(k);
                    m.train_step(
                        rows(start, take),
                        &labels[start..start + take],
                        &weights[start..start + take],
                        &rng,
                    )
                    .map_err(err)?;
                    done += take;
                    k += 1;
                }
                m.take_loss().map_err(err)?;
                Ok(done)
            };
            train(2 * batch)?;
            let started = Instant::now();
            let trained = train(options.train_names.max(20 * batch))?;
            let train_rate = trained as f64 / started.elapsed().as_secs_f64();
            m.probabilities(rows(0, batch.min(n)), batch).map_err(err)?;
            let started = Instant::now();
            let mut scored = 0;
            while scored < options.score_names.max(20 * batch) {
                let start = scored % n;
                let take = batch.min(n - start);
                m.probabilities(rows(start, take), batch).map_err(err)?;
                scored += take;
            }
            let score_rate = scored as f64 / started.elapsed().as_secs_f64();
            let mut times = Vec::with_capacity(options.latency_runs);
            for _ in 0..options.latency_runs {
                let t = Instant::now();
                std::hint::black_box(m.probabilities(rows(0, 1), 1).map_err(err)?);
                times.push(t.elapsed().as_secs_f64() * 1e6);
            }
            times.sort_by(f64::total_cmp);
            (
                train_rate,
                score_rate,
                times.get(times.len() / 2).copied().unwrap_or(0.0),
            )
        }};
    }
    let (train_names_per_s, score_names_per_s, latency_us) = match model {
        BenchModel::EndgameLstm => {
            let net = EndgameLstm::new(EndgameConfig::default(), vocab.size(), &mut Rng::new(1));
            time_model!(GpuEndgame::new(gpu, &net, &optimizer))
        }
        BenchModel::SnowmanCnn => {
            let net = SnowmanCnn::new(SnowmanConfig::default(), vocab.size(), &mut Rng::new(1));
            time_model!(GpuSnowman::new(gpu, &net, &optimizer))
        }
    };
    Ok(GpuMeasurement {
        device,
        train_names_per_s,
        score_names_per_s,
        latency_us,
    })
}
