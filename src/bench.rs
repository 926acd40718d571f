//! `dga-lite bench`: training and scoring speed of our engine beside a PyTorch peer
//! (`benches/peer_pytorch.py`) on the same names, batch sizes and thread counts, in one run.

use crate::backend::cpu::endgame_lstm as fast;
use crate::encode::{MAXLEN, Vocab};
use crate::model::{EndgameConfig, EndgameLstm, Network};
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

/// Measures our Endgame LSTM (fast engine) on `names` with the current rayon pool.
pub fn measure_ours(names: &[String], options: &BenchOptions) -> Measurement {
    let vocab = Vocab::from_names(names.iter().map(String::as_str));
    let indices = vocab.encode_batch(names);
    let n = names.len();
    let labels: Vec<f32> = (0..n).map(|i| (i % 2) as f32).collect();
    let mut net = EndgameLstm::new(EndgameConfig::default(), vocab.size(), &mut Rng::new(1));
    let mut optimizer = Optimizer::new(OptimizerConfig::rmsprop());
    let dropout = Rng::new(2);
    let mut train = |count: usize, net: &mut EndgameLstm| {
        let mut done = 0;
        let mut step = 0u64;
        while done < count {
            let start = done % n;
            let rows = 128.min(n - start);
            let (_, grad) = fast::batch_loss_and_grads(
                net,
                &indices[start * MAXLEN..(start + rows) * MAXLEN],
                &labels[start..start + rows],
                &dropout.fork(step),
            );
            let grads: Vec<&[f32]> = grad.tensors().into_iter().map(|(_, t)| t).collect();
            optimizer.step(&mut net.tensors_mut(), &grads);
            done += rows;
            step += 1;
        }
        done
    };
    train(256, &mut net);
    let started = Instant::now();
    let trained = train(options.train_names, &mut net);
    let train_names_per_s = trained as f64 / started.elapsed().as_secs_f64();

    // Scoring as `predict` does it: the model's table and padding prefix built once.
    let scorer = fast::Scorer::new(&net);
    scorer.scores(&net, &indices[..1024.min(n) * MAXLEN]);
    let started = Instant::now();
    let mut scored = 0;
    while scored < options.score_names {
        let start = scored % n;
        let rows = 1024.min(n - start);
        scored += scorer
            .scores(&net, &indices[start * MAXLEN..(start + rows) * MAXLEN])
            .len();
    }
    let score_names_per_s = scored as f64 / started.elapsed().as_secs_f64();

    let one = &indices[..MAXLEN];
    let mut times: Vec<f64> = (0..options.latency_runs)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(scorer.scores(&net, one));
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    times.sort_by(f64::total_cmp);
    Measurement {
        train_names_per_s,
        score_names_per_s,
        latency_us: times.get(times.len() / 2).copied().unwrap_or(0.0),
        peak_rss_mb: peak_rss_mb(),
    }
}
