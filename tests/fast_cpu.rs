//! The fast CPU path computes what the reference computes: outputs and every gradient agree to
//! about 1e-5 relative over random shapes, names of every length (empty, short, over 75) and
//! batches of any size, including empty ones and ones spanning several chunks.

mod common;

use dga_lite::backend::cpu::endgame_lstm as fast;
use dga_lite::backend::cpu::packed_lstm::Simd;
use dga_lite::backend::reference;
use dga_lite::encode::MAXLEN;
use dga_lite::model::{EndgameConfig, EndgameLstm, Network};
use dga_lite::nn::RecurrentActivation;
use dga_lite::rng::Rng;
use proptest::prelude::*;

/// `[n, MAXLEN]` indices of names with random lengths (0..=90 characters, pre-padded and
/// pre-truncated like real encoded names), never using index 0 inside a name.
fn random_batch(n: usize, vocab: usize, rng: &mut Rng) -> Vec<u8> {
    let mut indices = vec![0u8; n * MAXLEN];
    for row in indices.chunks_exact_mut(MAXLEN) {
        let len = match rng.below(5) {
            0 => 0,
            1 => MAXLEN + rng.below(16),
            _ => 1 + rng.below(30),
        }
        .min(MAXLEN);
        for v in &mut row[MAXLEN - len..] {
            *v = 1 + rng.below(vocab - 1) as u8;
        }
    }
    indices
}

/// Agreement bound at full size, in the sense of `allclose(rtol = atol / max|reference| = 1e-5)`.
const TOLERANCE: f64 = 1e-5;
/// At the tiny random shapes of the proptest, gradients are sums of many terms that nearly
/// cancel (tensors whose largest value is ~1e-4), and float32 rounding of the terms shows up
/// at a few 1e-5 of the result (seen: 1.2e-8 absolute on a tensor of scale 4e-4).
const TOLERANCE_TINY: f64 = 5e-5;

/// Worst `|ours - reference| / (|reference| + max|reference|)` over a tensor. Both paths run in
/// float32 and sum in different orders (the fast path sums per vocabulary row, the reference
/// per step), so sums with cancellation carry rounding relative to the tensor's magnitude,
/// not to the (small) element itself.
///
/// Differences under 1e-6 in absolute terms count as zero: a gradient is a sum of terms of
/// order 1 scaled by 1 / batch, and when a few of them cancel (a 1-element bias over 2
/// names, say) float32 rounding of the terms is all that is left, whatever the tensor's size.
fn worst(ours: &[f32], reference: &[f32]) -> f64 {
    let scale = reference.iter().fold(0.0f32, |m, v| m.max(v.abs())) as f64;
    ours.iter()
        .zip(reference)
        .map(|(&a, &b)| {
            ((a as f64 - b as f64).abs() - 1e-6).max(0.0) / ((b as f64).abs() + scale + 1e-30)
        })
        .fold(0.0, f64::max)
}

/// Loss and gradients of one batch, as `model::batch_loss_and_grads` computes them.
type BatchFn<N> = fn(&N, &[u8], &[f32], &[f32], &Rng) -> (f64, N);

/// A fast path's entry points: batch loss and gradients, output probabilities, and scores.
struct FastPath<N> {
    batch: BatchFn<N>,
    probabilities: fn(&N, &[u8]) -> Vec<f32>,
    scores: fn(&N, &[u8]) -> Vec<f32>,
}

/// Loss, every gradient and the scores of a fast path against the reference.
fn compare<N: Network>(
    fast_path: &FastPath<N>,
    net: &N,
    indices: &[u8],
    labels: &[f32],
    weights: &[f32],
    seed: u64,
    tolerance: f64,
) -> Result<(), TestCaseError> {
    let rng = Rng::new(seed);
    let (loss_ref, grad_ref) = reference::batch_loss_and_grads(net, indices, labels, weights, &rng);
    let (loss_fast, grad_fast) = (fast_path.batch)(net, indices, labels, weights, &rng);
    prop_assert!(
        (loss_ref - loss_fast).abs() <= 1e-5 * loss_ref.abs().max(1e-3),
        "loss {loss_ref} vs {loss_fast}"
    );
    for ((name, r), (_, f)) in grad_ref.tensors().into_iter().zip(grad_fast.tensors()) {
        let w = worst(f, r);
        prop_assert!(
            w < tolerance,
            "grad {name}: worst relative difference {w:.2e}"
        );
    }
    let p_ref = reference::probabilities(net, indices);
    let p_fast = (fast_path.probabilities)(net, indices);
    prop_assert_eq!(p_ref.len(), p_fast.len());
    let w = worst(&p_fast, &p_ref);
    prop_assert!(
        w < tolerance,
        "probabilities: worst relative difference {w:.2e}"
    );
    let s_ref = reference::scores(net, indices);
    let s_fast = (fast_path.scores)(net, indices);
    prop_assert_eq!(s_ref.len(), s_fast.len());
    let w = worst(&s_fast, &s_ref);
    prop_assert!(w < tolerance, "scores: worst relative difference {w:.2e}");
    Ok(())
}

/// The LSTM's fast path on the best lanes this CPU has (AVX-512 where present).
const LSTM: FastPath<EndgameLstm> = FastPath {
    batch: fast::batch_loss_and_grads,
    probabilities: fast::probabilities,
    scores: fast::scores,
};

/// The same on the AVX2 lanes, which machines without AVX-512 run (on a CPU without AVX2
/// these are the portable lanes).
const LSTM_AVX2: FastPath<EndgameLstm> = FastPath {
    batch: |net, indices, labels, weights, rng| {
        fast::batch_loss_and_grads_on(Simd::Avx2, net, indices, labels, weights, rng)
    },
    probabilities: |net, indices| fast::Scorer::on(Simd::Avx2, net).probabilities(net, indices),
    scores: |net, indices| fast::Scorer::on(Simd::Avx2, net).scores(net, indices),
};

/// The same on the portable lanes, which machines without AVX2 run.
const LSTM_PORTABLE: FastPath<EndgameLstm> = FastPath {
    batch: |net, indices, labels, weights, rng| {
        fast::batch_loss_and_grads_on(Simd::Portable, net, indices, labels, weights, rng)
    },
    probabilities: |net, indices| fast::Scorer::on(Simd::Portable, net).probabilities(net, indices),
    scores: |net, indices| fast::Scorer::on(Simd::Portable, net).scores(net, indices),
};

/// Every kind of lanes, each run where the CPU has it (the best below it elsewhere).
const LSTM_ALL: [&FastPath<EndgameLstm>; 3] = [&LSTM, &LSTM_AVX2, &LSTM_PORTABLE];

/// Loss weights as `--class-weight balanced` gives them: around 1, never negative.
fn random_weights(n: usize, rng: &mut Rng) -> Vec<f32> {
    (0..n).map(|_| rng.uniform(0.1, 3.0)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn fast_path_matches_reference(
        n in 0usize..80, vocab in 2usize..12, embedding_dim in 1usize..9, units in 1usize..40,
        dropout in prop_oneof![Just(0.0f32), 0.0f32..0.7], hard in any::<bool>(), seed in any::<u64>(),
        outputs in prop_oneof![Just(1usize), 2usize..7], weighted in any::<bool>(), lanes in 0usize..3
    ) {
        let mut rng = Rng::new(seed);
        let recurrent_activation = if hard { RecurrentActivation::HardSigmoid } else { RecurrentActivation::Sigmoid };
        let config = EndgameConfig { embedding_dim, units, dropout, recurrent_activation, outputs };
        let net = EndgameLstm::new(config, vocab, &mut rng);
        let indices = random_batch(n, vocab, &mut rng);
        let labels: Vec<f32> = (0..n).map(|_| rng.below(outputs.max(2)) as f32).collect();
        let weights = if weighted { random_weights(n, &mut rng) } else { vec![1.0; n] };
        compare(LSTM_ALL[lanes], &net, &indices, &labels, &weights, seed, TOLERANCE_TINY)?;
    }
}

#[test]
fn fast_path_matches_reference_at_full_size() {
    let mut rng = Rng::new(42);
    let net = EndgameLstm::new(EndgameConfig::default(), 40, &mut rng);
    let indices = random_batch(128, 40, &mut rng);
    let labels: Vec<f32> = (0..128).map(|i| (i % 2) as f32).collect();
    for path in LSTM_ALL {
        compare(path, &net, &indices, &labels, &[1.0; 128], 9, TOLERANCE).unwrap();
    }
}

#[test]
fn fast_multiclass_matches_reference_at_full_size() {
    let mut rng = Rng::new(43);
    let config = EndgameConfig {
        outputs: 40,
        ..EndgameConfig::default()
    };
    let net = EndgameLstm::new(config, 40, &mut rng);
    let indices = random_batch(128, 40, &mut rng);
    let labels: Vec<f32> = (0..128).map(|i| (i % 40) as f32).collect();
    let weights = random_weights(128, &mut rng);
    for path in LSTM_ALL {
        compare(path, &net, &indices, &labels, &weights, 9, TOLERANCE).unwrap();
    }
}

mod snowman {
    use super::*;
    use dga_lite::backend::cpu::snowman_cnn as fast_cnn;
    use dga_lite::model::{SnowmanCnn, SnowmanConfig};

    const CNN: FastPath<SnowmanCnn> = FastPath {
        batch: fast_cnn::batch_loss_and_grads,
        probabilities: fast_cnn::scores,
        scores: fast_cnn::scores,
    };

    proptest! {
        #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

        #[test]
        fn fast_cnn_matches_reference(
            n in 0usize..80, vocab in 2usize..12, embedding_dim in 1usize..7, filters in 1usize..6,
            widths in proptest::collection::vec(1usize..8, 1..4),
            dropout in prop_oneof![Just(0.0f32), 0.0f32..0.7], seed in any::<u64>()
        ) {
            let mut rng = Rng::new(seed);
            let config = SnowmanConfig { embedding_dim, filters, widths, dropout };
            let mut net = SnowmanCnn::new(config, vocab, &mut rng);
            // Weights on a scale where ReLU and max are exercised (not all zero).
            net.embedding.weight.mapv_inplace(|v| v * 20.0);
            let indices = random_batch(n, vocab, &mut rng);
            let labels: Vec<f32> = (0..n).map(|_| rng.below(2) as f32).collect();
            let weights = random_weights(n, &mut rng);
            compare(&CNN, &net, &indices, &labels, &weights, seed, TOLERANCE_TINY)?;
        }
    }

    #[test]
    fn fast_cnn_matches_reference_at_full_size() {
        let mut rng = Rng::new(8);
        let net = SnowmanCnn::new(SnowmanConfig::default(), 40, &mut rng);
        let indices = random_batch(128, 40, &mut rng);
        let labels: Vec<f32> = (0..128).map(|i| (i % 2) as f32).collect();
        compare(&CNN, &net, &indices, &labels, &[1.0; 128], 3, TOLERANCE).unwrap();
    }
}

/// A name's score does not depend on what it is scored with: alone (the service's inline
/// path, on the calling thread), in a small batch, or in a large one split across threads.
#[test]
fn scores_do_not_depend_on_batching() {
    let mut names = common::benign_names(700, 5);
    names.extend(common::dga_names(700, 6));
    for file in ["endgame-default", "snowman-default", "endgame-multiclass"] {
        let path = format!("{}/data/{file}.safetensors", env!("CARGO_MANIFEST_DIR"));
        let model = dga_lite::model::ModelFile::load(std::path::Path::new(&path)).unwrap();
        let model = dga_lite::backend::Scorer::cpu(model);
        let together = model.probabilities(&names);
        let outputs = model.net().outputs();
        for (i, name) in names.iter().enumerate().step_by(7) {
            let alone = model.probabilities(&[name]);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(&alone),
                bits(&together[i * outputs..(i + 1) * outputs]),
                "{file}: {name}"
            );
        }
    }
}
