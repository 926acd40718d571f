//! `dga-lite bench`: our training and scoring speed beside the PyTorch peer
//! (`benches/peer_pytorch.py`) on the same names, per thread count, and on the GPU.

use super::args::{BackendArg, BenchArgs};
use super::output::out;
use anyhow::{Context, bail};
use dga_lite::backend::{Backend, Simd};
use dga_lite::bench;
use dga_lite::data::{self, Class};
use dga_lite::model::Architecture;

fn bench_names(data: &std::path::Path) -> (Vec<String>, String) {
    let benign = data.join("benign.csv");
    let dga = data.join("dga.csv");
    let read = |path: &std::path::Path, class| {
        data::read_samples_from(&path.to_string_lossy(), class, None)
    };
    if let (Ok((b, _)), Ok((d, _))) = (read(&benign, Class::Benign), read(&dga, Class::Dga)) {
        let mut rng = dga_lite::rng::Rng::new(1);
        let mut pick = |mut v: Vec<data::Sample>| {
            rng.shuffle(&mut v);
            v.into_iter().take(5000).map(|s| s.name).collect::<Vec<_>>()
        };
        let mut names = pick(b);
        names.extend(pick(d));
        dga_lite::rng::Rng::new(2).shuffle(&mut names);
        let from = format!("{} real names sampled from {}", names.len(), data.display());
        return (names, from);
    }
    let names = bench::generated_names(10_000, 1);
    (
        names,
        format!("{} generated names ({} not found)", 10_000, data.display()),
    )
}

/// The PyTorch peer on the CPU, or with `gpu_batch` on the GPU at that batch size.
fn run_peer(
    args: &BenchArgs,
    model: &Architecture,
    names_file: &std::path::Path,
    threads: usize,
    gpu_batch: Option<usize>,
) -> anyhow::Result<bench::Measurement> {
    let mut command = std::process::Command::new(&args.python);
    command
        .arg(&args.peer_script)
        .args(["--names", &names_file.to_string_lossy()])
        .args(["--threads", &threads.to_string(), "--model", model.name()])
        .args(["--train-names", &args.train_names.to_string()])
        .args(["--score-names", &args.score_names.to_string()])
        .args(["--repeat", &args.repeat.to_string()]);
    if let Some(batch) = gpu_batch {
        let batch = batch.to_string();
        command.args([
            "--device",
            "cuda",
            "--batch",
            &batch,
            "--score-batch",
            &batch,
        ]);
    }
    let output = command
        .output()
        .with_context(|| format!("cannot run {}", args.python))?;
    if !output.status.success() {
        let err = String::from_utf8_lossy(&output.stderr);
        bail!("{}", err.lines().last().unwrap_or("failed"));
    }
    serde_json::from_slice(&output.stdout).context("peer output")
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    if args.threads.is_empty() || args.threads.contains(&0) {
        bail!("--threads takes counts of at least 1, for example 1,2");
    }
    let (names, from) = bench_names(&args.data);
    let mean = names.iter().map(|n| n.len()).sum::<usize>() as f64 / names.len() as f64;
    out!("{from}, mean length {mean:.1}");
    out!(
        "LSTM lanes: {} (DGA_LITE_LANES=avx2 or =portable runs lower ones)",
        Simd::detect().name()
    );
    let names_file =
        std::env::temp_dir().join(format!("dga-lite-bench-{}.txt", std::process::id()));
    std::fs::write(&names_file, names.join("\n"))
        .with_context(|| format!("cannot write {}", names_file.display()))?;
    let options = bench::BenchOptions {
        train_names: args.train_names,
        score_names: args.score_names,
        latency_runs: 200,
        repeats: args.repeat,
    };
    let models = bench::architectures();
    let on = |b: BackendArg| args.backend.contains(&b);
    // CPU training and scoring rates at the largest thread count, per model, for the GPU table.
    let mut cpu_rates: Vec<(&str, f64, f64)> = Vec::new();
    if on(BackendArg::Cpu) {
        out!(
            "{:<18} {:<8} {:<32} {:>12} {:>12} {:>8}",
            "model",
            "threads",
            "metric",
            "dga-lite",
            "PyTorch",
            "ratio"
        );
    }
    let cpu_runs = if on(BackendArg::Cpu) {
        args.threads.clone()
    } else {
        Vec::new()
    };
    for (model, threads) in models
        .iter()
        .flat_map(|m| cpu_runs.iter().map(move |&t| (m, t)))
    {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()?;
        let ours = pool.install(|| {
            bench::measure(model, &names, Backend::cpu(), bench::CPU_BATCHES, &options)
        })?;
        cpu_rates.retain(|(m, _, _)| *m != model.name());
        cpu_rates.push((model.name(), ours.train_names_per_s, ours.score_names_per_s));
        let peer = if args.no_peer {
            Err(anyhow::anyhow!("not run (--no-peer)"))
        } else {
            run_peer(&args, model, &names_file, threads, None)
        };
        let rows = [
            (
                "training names/s (batch 128)",
                ours.train_names_per_s,
                peer.as_ref().ok().map(|p| p.train_names_per_s),
                true,
            ),
            (
                "scoring names/s (batch 1024)",
                ours.score_names_per_s,
                peer.as_ref().ok().map(|p| p.score_names_per_s),
                true,
            ),
            (
                "one-name latency (us, median)",
                ours.latency_us,
                peer.as_ref().ok().map(|p| p.latency_us),
                false,
            ),
            (
                "peak RSS (MB, whole process)",
                ours.peak_rss_mb,
                peer.as_ref().ok().map(|p| p.peak_rss_mb),
                false,
            ),
        ];
        for (metric, mine, theirs, higher_is_better) in rows {
            let (theirs_text, ratio) = match theirs {
                Some(t) if t > 0.0 && mine > 0.0 => {
                    let r = if higher_is_better { mine / t } else { t / mine };
                    (format!("{t:.1}"), format!("{r:.2}x"))
                }
                _ => ("-".to_string(), "-".to_string()),
            };
            let name = model.name();
            out!("{name:<18} {threads:<8} {metric:<32} {mine:>12.1} {theirs_text:>12} {ratio:>8}");
        }
        if let Err(why) = &peer {
            out!("{:<18} {threads:<8} (PyTorch peer: {why})", model.name());
        }
    }
    if on(BackendArg::Cpu) {
        out!("ratio: how many times better dga-lite is (speed, or lower latency and memory).");
    }
    let outcome = if on(BackendArg::Cuda) {
        gpu_bench(&args, &names, &names_file, &options, &cpu_rates)
    } else {
        Ok(())
    };
    let _ = std::fs::remove_file(&names_file);
    outcome
}

/// The GPU table of `bench --backend cuda`: our kernels and PyTorch (cuDNN) on the same GPU,
/// and the CPU beside them when it was measured in the same run.
fn gpu_bench(
    args: &BenchArgs,
    names: &[String],
    names_file: &std::path::Path,
    options: &bench::BenchOptions,
    cpu_rates: &[(&str, f64, f64)],
) -> anyhow::Result<()> {
    const EPOCH_NAMES: f64 = 1.1e6;
    out!(
        "\n{:<18} {:<6} {:<30} {:>12} {:>12} {:>8} {:>12} {:>8}",
        "model",
        "batch",
        "metric",
        "dga-lite GPU",
        "dga-lite CPU",
        "GPU/CPU",
        "PyTorch GPU",
        "ours/PT"
    );
    let threads = args.threads.iter().copied().max().unwrap_or(1);
    for model in &bench::architectures() {
        let cpu = cpu_rates.iter().find(|(m, _, _)| *m == model.name());
        for batch in [128usize, 4096] {
            let batches = bench::Batches {
                train: batch,
                score: batch,
            };
            let ours = bench::measure(model, names, Backend::Cuda(0), batches, options)?;
            let peer = if args.no_peer {
                Err(anyhow::anyhow!("not run (--no-peer)"))
            } else {
                run_peer(args, model, names_file, threads, Some(batch))
            };
            let rows = [
                (
                    "training names/s",
                    ours.train_names_per_s,
                    cpu.map(|c| c.1),
                    peer.as_ref().ok().map(|p| p.train_names_per_s),
                ),
                (
                    "epoch of 1.1M names (s)",
                    EPOCH_NAMES / ours.train_names_per_s,
                    cpu.map(|c| EPOCH_NAMES / c.1),
                    peer.as_ref()
                        .ok()
                        .map(|p| EPOCH_NAMES / p.train_names_per_s),
                ),
                (
                    "scoring names/s",
                    ours.score_names_per_s,
                    cpu.map(|c| c.2),
                    peer.as_ref().ok().map(|p| p.score_names_per_s),
                ),
            ];
            for (k, (metric, gpu, cpu, peer)) in rows.into_iter().enumerate() {
                // Epochs are times (lower is better); the rest are rates.
                let better = |a: f64, b: f64| if k == 1 { b / a } else { a / b };
                let text = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.1}"));
                let ratio = |v: Option<f64>| {
                    v.filter(|v| *v > 0.0)
                        .map_or("-".into(), |v| format!("{:.2}x", better(gpu, v)))
                };
                out!(
                    "{:<18} {batch:<6} {metric:<30} {gpu:>12.1} {:>12} {:>8} {:>12} {:>8}",
                    model.name(),
                    text(cpu),
                    ratio(cpu),
                    text(peer),
                    ratio(peer)
                );
            }
            if let Err(why) = &peer {
                out!("{:<18} {batch:<6} (PyTorch GPU peer: {why})", model.name());
            }
            out!("{:<18} {batch:<6} on {}", model.name(), ours.device);
        }
    }
    out!(
        "CPU column: the CPU run above at {threads} threads, batch 128 (training) and 1024 (scoring)."
    );
    Ok(())
}
