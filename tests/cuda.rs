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

use dga_lite::backend::cuda::endgame_lstm::GpuEndgame;
use dga_lite::backend::cuda::ops;
use dga_lite::backend::cuda::{Gpu, kernels};
use dga_lite::backend::{Backend, Batch, Trainable, reference};
use dga_lite::encode::MAXLEN;
use dga_lite::model::head::batch_dropout_mask;
use dga_lite::model::{EndgameConfig, EndgameLstm, SnowmanCnn, SnowmanConfig};
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

/// One step's gradients, then the weights and optimiser after three steps and the
/// probabilities, GPU against the CPU reference, on a batch of 128 names.
fn parity<N: Trainable>(net: N, optimizer: OptimizerConfig, seed: u64) {
    let mut rng = Rng::new(seed);
    let vocab = 40; // the nets below are built for 40 characters
    let n = 128;
    let indices = random_batch(n, vocab, &mut rng);
    let classes = net.outputs().max(2);
    let labels: Vec<f32> = (0..n).map(|_| rng.below(classes) as f32).collect();
    let weights: Vec<f32> = (0..n).map(|_| rng.uniform(0.5, 2.0)).collect();
    let step_rngs: Vec<Rng> = (0..3).map(|k| Rng::new(seed ^ (7 + k))).collect();

    let mut on_gpu = Backend::Cuda(0)
        .session(net.clone(), Optimizer::new(optimizer))
        .unwrap_or_else(|e| panic!("this test needs a GPU: {e}"));
    eprintln!("GPU: {}", on_gpu.describe());
    let mut batch = Batch::default();
    batch.indices.extend_from_slice(&indices);
    batch.labels.extend_from_slice(&labels);
    batch.weights.extend_from_slice(&weights);
    let mut cpu_net = net.clone();
    let mut cpu_opt = Optimizer::new(optimizer);
    let mut failures = Vec::new();
    for (step, rng) in step_rngs.iter().enumerate() {
        let (_, grad) = reference::batch_loss_and_grads(&cpu_net, &indices, &labels, &weights, rng);
        on_gpu.train_step(&batch, rng).unwrap();
        if step == 0 {
            let gpu_grads = on_gpu.last_gradients().unwrap().expect("a GPU keeps them");
            for ((name, cpu), gpu) in grad.tensors().into_iter().zip(gpu_grads) {
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
    let (gpu_net, gpu_opt) = on_gpu.download().unwrap();
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
    let gpu_p = on_gpu.probabilities(&indices).unwrap();
    let w = worst(&gpu_p, &cpu_p);
    eprintln!("probabilities: worst relative difference {w:.2e}");
    if w > TOLERANCE {
        failures.push(format!("probabilities: {w:.2e}"));
    }
    let loss = on_gpu.take_loss().unwrap();
    assert!(loss.is_finite() && loss > 0.0, "epoch loss {loss}");
    assert!(
        failures.is_empty(),
        "GPU differs from the CPU reference: {failures:#?}"
    );
}

#[test]
#[ignore = "needs an NVIDIA GPU: cargo test --release --test cuda -- --include-ignored"]
fn gpu_lstm_matches_the_cpu_reference() {
    let net = EndgameLstm::new(EndgameConfig::default(), 40, &mut Rng::new(1));
    parity(net, OptimizerConfig::rmsprop(), 1);
}

#[test]
#[ignore = "needs an NVIDIA GPU: cargo test --release --test cuda -- --include-ignored"]
fn gpu_multiclass_hard_sigmoid_adam_matches_the_cpu_reference() {
    let config = EndgameConfig {
        outputs: 12,
        recurrent_activation: RecurrentActivation::HardSigmoid,
        ..EndgameConfig::default()
    };
    let net = EndgameLstm::new(config, 40, &mut Rng::new(2));
    parity(net, OptimizerConfig::adam(), 2);
}

#[test]
#[ignore = "needs an NVIDIA GPU: cargo test --release --test cuda -- --include-ignored"]
fn gpu_cnn_matches_the_cpu_reference() {
    let mut net = SnowmanCnn::new(SnowmanConfig::default(), 40, &mut Rng::new(3));
    // Weights on a scale where ReLU and max are exercised (as tests/fast_cpu.rs).
    net.embedding.weight.mapv_inplace(|v| v * 20.0);
    parity(net, OptimizerConfig::rmsprop(), 3);
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
    let mask = batch_dropout_mask(0.5, 70, 4, &step_rng);
    assert_eq!(mask.len(), 280);
    let dropout = dga_lite::nn::Dropout { rate: 0.5 };
    let second_chunk = dropout.mask(32, 4, &mut step_rng.fork(1));
    assert_eq!(&mask[32 * 4..64 * 4], second_chunk.as_slice().unwrap());
}

// Each kernel against its CPU function, at odd sizes (nothing a multiple of a block or a
// tile), as llm.c's dev/cuda checks each kernel on its own: a failure here names the kernel,
// where the model parity tests above can only name the tensor.

/// `n` values in [-2, 2) from a seeded generator.
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..n).map(|_| rng.uniform(-2.0, 2.0)).collect()
}

/// Fails with the kernel's name when the GPU's values are not the CPU's.
fn same(kernel: &str, gpu: &[f32], cpu: &[f32]) {
    assert!(
        gpu.len() >= cpu.len(),
        "{kernel}: {} values, expected {}",
        gpu.len(),
        cpu.len()
    );
    let w = worst(&gpu[..cpu.len()], cpu);
    assert!(
        w <= TOLERANCE,
        "{kernel}: worst relative difference {w:.2e}"
    );
}

#[test]
#[ignore = "needs an NVIDIA GPU: cargo test --release --test cuda -- --include-ignored"]
fn matmul_matches_the_cpu_at_odd_sizes_with_every_transpose() {
    let gpu = gpu();
    let (m, n, k) = (37, 19, 23);
    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
        let (a, b, c0) = (values(m * k, 1), values(k * n, 2), values(m * n, 3));
        // op(a)[i][p] and op(b)[p][j] from the row-major buffers.
        let at = |i: usize, p: usize| if ta { a[p * m + i] } else { a[i * k + p] };
        let bt = |p: usize, j: usize| if tb { b[j * k + p] } else { b[p * n + j] };
        for beta in [0.0f32, 1.0] {
            let mut cpu = vec![0.0f32; m * n];
            for i in 0..m {
                for j in 0..n {
                    let dot: f32 = (0..k).map(|p| at(i, p) * bt(p, j)).sum();
                    cpu[i * n + j] = dot + beta * c0[i * n + j];
                }
            }
            let (da, db) = (gpu.upload(&a).unwrap(), gpu.upload(&b).unwrap());
            let mut dc = gpu.upload(&c0).unwrap();
            ops::matmul(&gpu, &da, &db, &mut dc, (m, n, k), ta, tb, beta).unwrap();
            same(
                &format!("matmul ta={ta} tb={tb} beta={beta}"),
                &gpu.download(&dc).unwrap(),
                &cpu,
            );
        }
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU: cargo test --release --test cuda -- --include-ignored"]
fn row_and_column_kernels_match_the_cpu() {
    let gpu = gpu();
    let (rows, cols) = (37, 19);
    let x = values(rows * cols, 4);
    let bias = values(cols, 5);
    // add_bias_rows
    let mut dx = gpu.upload(&x).unwrap();
    ops::add_bias_rows(&gpu, &mut dx, &gpu.upload(&bias).unwrap(), rows, cols).unwrap();
    let cpu: Vec<f32> = x
        .iter()
        .enumerate()
        .map(|(i, v)| v + bias[i % cols])
        .collect();
    same("add_bias_rows", &gpu.download(&dx).unwrap(), &cpu);
    // column_sums
    let mut sums = gpu.zeros(cols).unwrap();
    ops::column_sums(&gpu, &gpu.upload(&x).unwrap(), &mut sums, rows, cols).unwrap();
    let cpu: Vec<f32> = (0..cols)
        .map(|c| (0..rows).map(|r| x[r * cols + c]).sum())
        .collect();
    same("column_sums", &gpu.download(&sums).unwrap(), &cpu);
    // transpose
    let mut t = gpu.zeros(rows * cols).unwrap();
    ops::transpose(&gpu, &gpu.upload(&x).unwrap(), &mut t, rows, cols).unwrap();
    let mut cpu = vec![0.0f32; rows * cols];
    for r in 0..rows {
        for c in 0..cols {
            cpu[c * rows + r] = x[r * cols + c];
        }
    }
    same("transpose", &gpu.download(&t).unwrap(), &cpu);
    // multiply (the dropout mask)
    let mask = values(rows * cols, 6);
    let mut dx = gpu.upload(&x).unwrap();
    ops::multiply(&gpu, &mut dx, &gpu.upload(&mask).unwrap(), rows * cols).unwrap();
    let cpu: Vec<f32> = x.iter().zip(&mask).map(|(a, b)| a * b).collect();
    same("multiply", &gpu.download(&dx).unwrap(), &cpu);
}

#[test]
#[ignore = "needs an NVIDIA GPU: cargo test --release --test cuda -- --include-ignored"]
fn gather_and_scatter_by_index_match_the_cpu() {
    let gpu = gpu();
    let (rows, vocab, dim) = (333, 41, 7);
    let mut rng = Rng::new(7);
    let indices: Vec<u8> = (0..rows).map(|_| rng.below(vocab) as u8).collect();
    ops::check_indices(&indices, vocab).unwrap();
    let table = values(vocab * dim, 8);
    let d_rows = values(rows * dim, 9);
    let di = gpu.upload(&indices).unwrap();
    let mut out = gpu.zeros(rows * dim).unwrap();
    // SAFETY: check_indices above.
    unsafe { ops::gather_rows(&gpu, &di, &gpu.upload(&table).unwrap(), &mut out, rows, dim) }
        .unwrap();
    let cpu: Vec<f32> = indices
        .iter()
        .flat_map(|&v| table[v as usize * dim..(v as usize + 1) * dim].to_vec())
        .collect();
    same("gather_rows", &gpu.download(&out).unwrap(), &cpu);
    let mut grad = gpu.zeros(vocab * dim).unwrap();
    let dd = gpu.upload(&d_rows).unwrap();
    // SAFETY: check_indices above.
    unsafe { ops::scatter_rows_by_index(&gpu, &di, &dd, &mut grad, (rows, vocab, dim)) }.unwrap();
    let mut cpu = vec![0.0f32; vocab * dim];
    for (r, &v) in indices.iter().enumerate() {
        for d in 0..dim {
            cpu[v as usize * dim + d] += d_rows[r * dim + d];
        }
    }
    same("scatter_rows_by_index", &gpu.download(&grad).unwrap(), &cpu);
}

#[test]
#[ignore = "needs an NVIDIA GPU: cargo test --release --test cuda -- --include-ignored"]
fn losses_and_probabilities_match_the_cpu() {
    let gpu = gpu();
    let rows = 37;
    let mut rng = Rng::new(10);
    let weights: Vec<f32> = (0..rows).map(|_| rng.uniform(0.5, 2.0)).collect();
    for classes in [1usize, 5] {
        let logits = values(rows * classes, 11);
        let labels: Vec<f32> = (0..rows)
            .map(|_| rng.below(classes.max(2)) as f32)
            .collect();
        let mut cpu_d = vec![0.0f32; rows * classes];
        let cpu_total = if classes == 1 {
            dga_lite::nn::loss::sigmoid_bce(&logits, &labels, &weights, rows as f32, &mut cpu_d)
        } else {
            dga_lite::nn::loss::softmax_cross_entropy(
                &logits,
                classes,
                &labels,
                &weights,
                rows as f32,
                &mut cpu_d,
            )
        };
        let (mut d, mut per_row) = (gpu.zeros(rows * classes).unwrap(), gpu.zeros(rows).unwrap());
        ops::loss(
            &gpu,
            &gpu.upload(&logits).unwrap(),
            &gpu.upload(&labels).unwrap(),
            &gpu.upload(&weights).unwrap(),
            (rows, classes),
            rows as f32,
            &mut d,
            &mut per_row,
        )
        .unwrap();
        same(
            &format!("loss d_logits, {classes} classes"),
            &gpu.download(&d).unwrap(),
            &cpu_d,
        );
        let gpu_total: f64 = gpu
            .download(&per_row)
            .unwrap()
            .iter()
            .map(|&v| v as f64)
            .sum();
        assert!(
            (gpu_total - cpu_total).abs() <= 1e-4 * cpu_total.abs().max(1.0),
            "loss sum, {classes} classes: GPU {gpu_total} vs CPU {cpu_total}"
        );
        let mut cpu_p = logits.clone();
        dga_lite::model::head::probabilities_in_place(&mut cpu_p, classes);
        let mut dp = gpu.upload(&logits).unwrap();
        ops::probabilities(&gpu, &mut dp, rows, classes).unwrap();
        same(
            &format!("probabilities, {classes} classes"),
            &gpu.download(&dp).unwrap(),
            &cpu_p,
        );
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU: cargo test --release --test cuda -- --include-ignored"]
fn scoring_in_partial_blocks_matches_one_launch() {
    let net = EndgameLstm::new(EndgameConfig::default(), 40, &mut Rng::new(12));
    let indices = random_batch(133, 40, &mut Rng::new(13));
    let optimizer = Optimizer::new(OptimizerConfig::rmsprop());
    let mut on_gpu = GpuEndgame::new(gpu(), &net, &optimizer).unwrap();
    // Blocks of 50: three launches, the last one partial.
    let blocks = on_gpu.probabilities(&indices, 50).unwrap();
    let whole = on_gpu.probabilities(&indices, 16384).unwrap();
    same("probabilities in blocks of 50", &blocks, &whole);
    same(
        "probabilities against the reference",
        &whole,
        &reference::probabilities(&net, &indices),
    );
}
