//! The CUDA backend. On any machine: every kernel the backend loads is in the sources, the
//! kernels compile with NVRTC where libnvrtc is installed, and `--device cuda` without a GPU is
//! a clear error. On a machine with a GPU: the GPU computes what the CPU reference computes
//! (loss, every gradient, weights after optimiser steps, probabilities) to about 1e-4 relative.
//! Tests that need NVRTC or a GPU are `#[ignore]`d with the reason, so a plain `cargo test`
//! shows them as ignored, never as passed; where the GPU and libnvrtc are, run them with
//! `cargo test --release --test cuda -- --include-ignored` (they fail, saying why, when what
//! they need is missing).
#![cfg(feature = "cuda")]

mod common;

use dga_lite::backend::cuda::endgame_lstm::{GpuEndgame, batch_mask};
use dga_lite::backend::cuda::snowman_cnn::GpuSnowman;
use dga_lite::backend::cuda::{Gpu, kernels};
use dga_lite::backend::reference;
use dga_lite::encode::MAXLEN;
use dga_lite::model::{EndgameConfig, EndgameLstm, Network, SnowmanCnn, SnowmanConfig};
use dga_lite::nn::{Optimizer, OptimizerConfig, RecurrentActivation};
use dga_lite::rng::Rng;

#[test]
fn every_kernel_the_backend_loads_is_in_the_sources() {
    let program = kernels::program();
    for name in kernels::KERNELS {
        assert!(
            program.contains(&format!("__global__ void {name}(")),
            "kernel {name} is not defined in kernels/"
        );
    }
    assert_eq!(
        program.matches("__global__ void").count(),
        kernels::KERNELS.len(),
        "a kernel in kernels/ is not in KERNELS"
    );
}

#[test]
#[ignore = "needs libnvrtc (pip install nvidia-cuda-nvrtc-cu12; its lib folder on LD_LIBRARY_PATH): cargo test --release --test cuda -- --include-ignored"]
fn kernels_compile_with_nvrtc_for_ampere_and_hopper() {
    assert!(
        kernels::nvrtc_present(),
        "libnvrtc not found (pip install nvidia-cuda-nvrtc-cu12, then put its lib folder on LD_LIBRARY_PATH)"
    );
    eprintln!("NVRTC {:?}", kernels::nvrtc_version());
    for capability in [(8, 0), (8, 6), (9, 0)] {
        let cubin = kernels::compile_cubin(capability)
            .unwrap_or_else(|e| panic!("sm_{}{}: {e}", capability.0, capability.1));
        assert_eq!(&cubin[..4], b"\x7fELF", "a CUBIN is an ELF image");
        eprintln!(
            "sm_{}{}: {} bytes of CUBIN",
            capability.0,
            capability.1,
            cubin.len()
        );
    }
}

#[test]
fn asking_for_cuda_without_a_gpu_is_a_clear_error_not_a_panic() {
    if Gpu::open(0).is_ok() {
        eprintln!("SKIPPED: this machine has a GPU");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (benign, dga) = common::write_training_files(dir.path(), 50);
    let out = dir.path().join("m.safetensors");
    let train = [
        "train",
        "--device",
        "cuda",
        "--benign",
        benign.to_str().unwrap(),
        "--dga",
        dga.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    for args in [
        &["predict", "--device", "cuda", "google.com"][..],
        &train[..],
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_dga-lite"))
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains("--backend cpu"), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    assert!(
        !out.exists(),
        "no model is written when training cannot start"
    );
}

/// The GPU (the tests that call this were asked for explicitly, so a missing one fails them).
fn gpu() -> Gpu {
    match Gpu::open(0) {
        Ok(gpu) => {
            eprintln!("GPU: {}", gpu.describe());
            gpu
        }
        Err(e) => panic!("this test needs a GPU: {e}"),
    }
}

/// `[n, MAXLEN]` indices of names with random lengths (as tests/fast_cpu.rs).
fn random_batch(n: usize, vocab: usize, rng: &mut Rng) -> Vec<u8> {
    let mut indices = vec![0u8; n * MAXLEN];
    for row in indices.chunks_exact_mut(MAXLEN) {
        let len = match rng.below(5) {
            0 => 0,
            1 => MAXLEN,
            _ => 1 + rng.below(30),
        };
        for v in &mut row[MAXLEN - len..] {
            *v = 1 + rng.below(vocab - 1) as u8;
        }
    }
    indices
}

/// Worst `|gpu - cpu| / (|cpu| + max|cpu|)` over a tensor, ignoring differences below 1e-6.
fn worst(gpu: &[f32], cpu: &[f32]) -> f64 {
    let scale = cpu.iter().fold(0.0f32, |m, v| m.max(v.abs())) as f64;
    gpu.iter()
        .zip(cpu)
        .map(|(&a, &b)| {
            ((a as f64 - b as f64).abs() - 1e-6).max(0.0) / (b.abs() as f64 + scale + 1e-30)
        })
        .fold(0.0, f64::max)
}

const TOLERANCE: f64 = 1e-4;

/// What the parity check needs from a model on the GPU.
trait OnGpu<N>: Sized {
    fn upload(gpu: Gpu, net: &N, optimizer: &Optimizer) -> Self;
    fn step(&mut self, indices: &[u8], labels: &[f32], weights: &[f32], rng: &Rng);
    fn grads(&self) -> Vec<Vec<f32>>;
    fn back(&self) -> (N, Optimizer);
    fn probabilities(&mut self, indices: &[u8]) -> Vec<f32>;
    fn loss(&mut self) -> f64;
}

macro_rules! on_gpu {
    ($gpu:ty, $net:ty) => {
        impl OnGpu<$net> for $gpu {
            fn upload(gpu: Gpu, net: &$net, optimizer: &Optimizer) -> Self {
                <$gpu>::new(gpu, net, optimizer).unwrap()
            }
            fn step(&mut self, indices: &[u8], labels: &[f32], weights: &[f32], rng: &Rng) {
                self.train_step(indices, labels, weights, rng).unwrap()
            }
            fn grads(&self) -> Vec<Vec<f32>> {
                self.gradients().unwrap()
            }
            fn back(&self) -> ($net, Optimizer) {
                self.download().unwrap()
            }
            fn probabilities(&mut self, indices: &[u8]) -> Vec<f32> {
                // Blocks of 50 names: several launches, the last one partial.
                <$gpu>::probabilities(self, indices, 50).unwrap()
            }
            fn loss(&mut self) -> f64 {
                self.take_loss().unwrap()
            }
        }
    };
}

on_gpu!(GpuEndgame, EndgameLstm);
on_gpu!(GpuSnowman, SnowmanCnn);

/// One step's gradients, then the weights and optimiser after three steps and the
/// probabilities, GPU against the CPU reference, on a batch of 128 names.
fn parity<N: Network, G: OnGpu<N>>(gpu: Gpu, net: N, optimizer: OptimizerConfig, seed: u64) {
    let mut rng = Rng::new(seed);
    let vocab = 40; // the nets below are built for 40 characters
    let n = 128;
    let indices = random_batch(n, vocab, &mut rng);
    let classes = net.outputs().max(2);
    let labels: Vec<f32> = (0..n).map(|_| rng.below(classes) as f32).collect();
    let weights: Vec<f32> = (0..n).map(|_| rng.uniform(0.5, 2.0)).collect();
    let step_rngs: Vec<Rng> = (0..3).map(|k| Rng::new(seed ^ (7 + k))).collect();

    let mut on_gpu = G::upload(gpu, &net, &Optimizer::new(optimizer));
    let mut cpu_net = net.clone();
    let mut cpu_opt = Optimizer::new(optimizer);
    let mut failures = Vec::new();
    for (step, rng) in step_rngs.iter().enumerate() {
        let (_, grad) = reference::batch_loss_and_grads(&cpu_net, &indices, &labels, &weights, rng);
        on_gpu.step(&indices, &labels, &weights, rng);
        if step == 0 {
            for ((name, cpu), gpu) in grad.tensors().into_iter().zip(on_gpu.grads()) {
                let w = worst(&gpu[..cpu.len()], cpu);
                eprintln!("grad {name:<24} worst relative difference {w:.2e}");
                if w > TOLERANCE {
                    failures.push(format!("grad {name}: {w:.2e}"));
                }
            }
        }
        let grads: Vec<&[f32]> = grad.tensors().into_iter().map(|(_, t)| t).collect();
        cpu_opt.step(&mut cpu_net.tensors_mut(), &grads);
    }
    let (gpu_net, gpu_opt) = on_gpu.back();
    for ((name, cpu), (_, gpu)) in cpu_net.tensors().into_iter().zip(gpu_net.tensors()) {
        let w = worst(gpu, cpu);
        eprintln!("{name:<24} after 3 steps: worst relative difference {w:.2e}");
        if w > TOLERANCE {
            failures.push(format!("{name} after 3 steps: {w:.2e}"));
        }
    }
    assert_eq!(gpu_opt.steps, cpu_opt.steps);
    for (slot, (cpu, gpu)) in cpu_opt.slots.iter().zip(&gpu_opt.slots).enumerate() {
        for (k, (c, g)) in cpu.iter().zip(gpu).enumerate() {
            let w = worst(g, c);
            if w > TOLERANCE {
                failures.push(format!("optimiser slot {slot} tensor {k}: {w:.2e}"));
            }
        }
    }
    let cpu_p = reference::probabilities(&cpu_net, &indices);
    let gpu_p = on_gpu.probabilities(&indices);
    let w = worst(&gpu_p, &cpu_p);
    eprintln!("probabilities: worst relative difference {w:.2e}");
    if w > TOLERANCE {
        failures.push(format!("probabilities: {w:.2e}"));
    }
    let loss = on_gpu.loss();
    assert!(loss.is_finite() && loss > 0.0, "epoch loss {loss}");
    assert!(
        failures.is_empty(),
        "GPU differs from the CPU reference: {failures:#?}"
    );
}

#[test]
#[ignore = "needs an NVIDIA GPU: cargo test --release --test cuda -- --include-ignored"]
fn gpu_lstm_matches_the_cpu_reference() {
    let gpu = gpu();
    let net = EndgameLstm::new(EndgameConfig::default(), 40, &mut Rng::new(1));
    parity::<_, GpuEndgame>(gpu, net, OptimizerConfig::rmsprop(), 1);
}

#[test]
#[ignore = "needs an NVIDIA GPU: cargo test --release --test cuda -- --include-ignored"]
fn gpu_multiclass_hard_sigmoid_adam_matches_the_cpu_reference() {
    let gpu = gpu();
    let config = EndgameConfig {
        outputs: 12,
        recurrent_activation: RecurrentActivation::HardSigmoid,
        ..EndgameConfig::default()
    };
    let net = EndgameLstm::new(config, 40, &mut Rng::new(2));
    parity::<_, GpuEndgame>(gpu, net, OptimizerConfig::adam(), 2);
}

#[test]
#[ignore = "needs an NVIDIA GPU: cargo test --release --test cuda -- --include-ignored"]
fn gpu_cnn_matches_the_cpu_reference() {
    let gpu = gpu();
    let mut net = SnowmanCnn::new(SnowmanConfig::default(), 40, &mut Rng::new(3));
    // Weights on a scale where ReLU and max are exercised (as tests/fast_cpu.rs).
    net.embedding.weight.mapv_inplace(|v| v * 20.0);
    parity::<_, GpuSnowman>(gpu, net, OptimizerConfig::rmsprop(), 3);
}

#[test]
#[ignore = "needs an NVIDIA GPU: cargo test --release --test cuda -- --include-ignored"]
fn training_on_the_gpu_reaches_the_cpu_auc() {
    gpu();
    let dir = tempfile::tempdir().unwrap();
    let (benign, dga) = common::write_training_files(dir.path(), 600);
    let mut aucs = Vec::new();
    for device in ["cpu", "cuda"] {
        let out = dir.path().join(format!("{device}.safetensors"));
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_dga-lite"))
            .args([
                "train", "--device", device, "--quiet", "--epochs", "3", "--seed", "4",
            ])
            .args([
                "--benign",
                benign.to_str().unwrap(),
                "--dga",
                dga.to_str().unwrap(),
            ])
            .args(["--out", out.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let model = dga_lite::model::ModelFile::load(&out).unwrap();
        let auc = model.training.test_metrics["auc"].as_f64().unwrap();
        eprintln!("{device}: held-out AUC {auc:.5}");
        aucs.push(auc);
    }
    assert!(
        (aucs[0] - aucs[1]).abs() <= 0.001,
        "CPU {} vs GPU {}",
        aucs[0],
        aucs[1]
    );
}

#[test]
fn the_gpu_dropout_mask_is_the_cpu_one() {
    // Needs no GPU: the mask the GPU path uploads is drawn chunk by chunk like the CPU's.
    let step_rng = Rng::new(3);
    let mask = batch_mask(0.5, 70, 4, &step_rng);
    assert_eq!(mask.len(), 280);
    let dropout = dga_lite::nn::Dropout { rate: 0.5 };
    let second_chunk = dropout.mask(32, 4, &mut step_rng.fork(1));
    assert_eq!(&mask[32 * 4..64 * 4], second_chunk.as_slice().unwrap());
}
