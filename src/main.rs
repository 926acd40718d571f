//! The `dga-lite` command line: parses flags and calls the library. Nothing else lives here.

use clap::{Args, Parser, Subcommand, ValueEnum};
use dga_lite::data::{self, Class, Format};
use dga_lite::model::{EndgameConfig, ModelFile, SnowmanConfig, embedded};
use dga_lite::nn::{OptimizerConfig, RecurrentActivation};
use dga_lite::predict::{self, PredictOptions, PredictSummary, Query};
use dga_lite::scope::{AllowList, Scope};
#[cfg(feature = "server")]
use dga_lite::serve;
use dga_lite::train::{self, Architecture, TrainOptions};
use dga_lite::words::count;
use dga_lite::{bench, evaluate, metrics};
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// Writes one line to standard output. A closed pipe or a full disk ends the command with a
/// clear error (a closed pipe quietly, as `head` expects), never a panic.
macro_rules! out {
    ($($arg:tt)*) => {
        writeln!(io::stdout().lock(), $($arg)*).map_err(stdout_error)?
    };
}

fn stdout_error(e: io::Error) -> String {
    format!("cannot write to standard output: {e}")
}

/// A label in at most `width` characters: whole, or `…` and its end from a folder boundary,
/// so a path keeps its file name rather than being cut mid-name.
fn fit_path(label: &str, width: usize) -> String {
    let chars: Vec<char> = label.chars().collect();
    if chars.len() <= width {
        return label.to_string();
    }
    let tail_start = chars.len() - (width - 1);
    let from = (tail_start..chars.len())
        .find(|&i| chars[i] == '/')
        .unwrap_or(tail_start);
    format!("…{}", chars[from..].iter().collect::<String>())
}

/// A clap parser for an integer flag in `LO..=HI`; the message names the allowed range.
fn int_in<const LO: usize, const HI: usize>(text: &str) -> Result<usize, String> {
    let value: usize = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a whole number from {LO} to {HI}"))?;
    if (LO..=HI).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{value} is out of range: give {LO} to {HI}"))
    }
}

/// A number parsed from a flag and checked with `fits`; `range` says the allowed values.
fn number_in<T: std::str::FromStr>(
    text: &str,
    fits: impl Fn(&T) -> bool,
    range: &str,
) -> Result<T, String> {
    match text.trim().parse::<T>() {
        Ok(v) if fits(&v) => Ok(v),
        _ => Err(format!("{text:?} is not a number in {range}")),
    }
}

/// A clap parser for a fraction in [0, 1).
fn fraction(text: &str) -> Result<f64, String> {
    number_in(text, |v| (0.0..1.0).contains(v), "[0, 1)")
}

/// A clap parser for a probability in [0, 1].
fn probability(text: &str) -> Result<f32, String> {
    number_in(text, |v| (0.0..=1.0).contains(v), "[0, 1]")
}

/// A clap parser for a dropout rate in [0, 1).
fn dropout_rate(text: &str) -> Result<f32, String> {
    number_in(text, |v| (0.0..1.0).contains(v), "[0, 1)")
}

/// A clap parser for a false-positive rate in (0, 1).
fn open_fraction(text: &str) -> Result<f64, String> {
    number_in(text, |&v| v > 0.0 && v < 1.0, "(0, 1)")
}

/// Most worker threads a flag may ask for.
const MAX_THREADS: usize = 1024;

#[derive(Parser)]
#[command(
    name = "dga-lite",
    version,
    about = "Tell machine-generated (DGA) domain names from real ones.",
    long_about = "Tell machine-generated (DGA) domain names from real ones.\n\n\
        Train the Endgame LSTM (binary or multiclass) or the Snowman CNN on benign and DGA \
        feeds, evaluate models on held-out names, score names from the command line, a file \
        or standard input, and serve scores over HTTP.\n\n\
        Inputs may be plain lists (one name per line), top-site lists (rank,domain), the \
        Bambenek DGA feed, the 360 Netlab DGA feed, CSV with a `domain` header column (and \
        optionally `family` or `label`), JSON lines (Zeek's JSON dns.log among them) or a \
        Zeek dns.log (TSV with a #fields header); gzip is detected. The format is detected \
        per file, or set with --format.",
    after_help = "Examples:\n  \
        dga-lite train --benign top-1m.csv --dga dga.csv --max-per-class 100000 --epochs 10 --out model.safetensors\n  \
        dga-lite eval --model model.safetensors --benign more-benign.csv --dga more-dga.csv\n  \
        dga-lite predict google.com xjwqkdpqoe.net          (the embedded default model)\n  \
        dga-lite predict --model model.safetensors google.com xjwqkdpqoe.net\n  \
        zcat names.gz | dga-lite predict --model model.safetensors --input - --json"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model from benign and DGA feeds and write it to --out.
    Train(TrainArgs),
    /// Measure a model on labelled names: AUC, TPR at fixed FPR, per-family detection.
    Eval(EvalArgs),
    /// Score names given as arguments or read from --input (a file, or - for stdin).
    Predict(PredictArgs),
    /// Serve scores over HTTP (Snowman-compatible /model, JSON /v1/score, /metrics).
    #[cfg(feature = "server")]
    Serve(ServeArgs),
    /// (Not in this build: it was built without the HTTP server.)
    #[cfg(not(feature = "server"))]
    #[command(hide = true)]
    Serve {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
        args: Vec<String>,
    },
    /// Measure training and scoring speed beside a PyTorch peer on the same names.
    Bench(BenchArgs),
    /// Inspect a model: `dga-lite model info [--model M]` prints its card.
    #[command(subcommand)]
    Model(ModelCommand),
}

#[derive(Subcommand)]
enum ModelCommand {
    /// Architecture, vocabulary, threshold, training data, command, seed and held-out metrics.
    Info {
        /// Model file (default: the embedded default model).
        #[arg(long, value_name = "MODEL")]
        model: Option<PathBuf>,
        /// Print the model's header as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
struct Common {
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long, global = true, value_parser = int_in::<1, MAX_THREADS>)]
    threads: Option<usize>,
    /// Where the model runs: `cpu` (default), or `cuda`: the first NVIDIA GPU, with our own
    /// kernels compiled at start-up (needs the NVIDIA driver and libnvrtc; nothing else).
    #[arg(long, global = true, value_enum, default_value = "cpu")]
    device: DeviceArg,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum DeviceArg {
    Cpu,
    Cuda,
}

impl Common {
    fn device(&self) -> dga_lite::backend::Device {
        match self.device {
            DeviceArg::Cpu => dga_lite::backend::Device::Cpu,
            DeviceArg::Cuda => dga_lite::backend::Device::Cuda,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    Plain,
    Toplist,
    Bambenek,
    Netlab360,
    Csv,
    /// JSON lines (Zeek's JSON dns.log among them); see --field.
    Jsonl,
    /// Zeek dns.log, TSV with a #fields header; the `query` column unless --column.
    Zeek,
}

impl FormatArg {
    fn format(self) -> Format {
        match self {
            FormatArg::Plain => Format::Plain,
            FormatArg::Toplist => Format::TopList,
            FormatArg::Bambenek => Format::Bambenek,
            FormatArg::Netlab360 => Format::Netlab360,
            FormatArg::Csv => Format::LabelledCsv,
            FormatArg::Jsonl => Format::Jsonl,
            FormatArg::Zeek => Format::Zeek,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum ModelType {
    /// Woodbridge et al. 2016: Embedding(128) -> LSTM(128) -> Dropout(0.5) -> Dense(1).
    EndgameLstm,
    /// The paper's multiclass form: the same trunk -> Dense(K) -> softmax over benign and the
    /// DGA families found in the --dga inputs (their family column or feed description).
    EndgameLstmMulticlass,
    /// Hines' Snowman: Embedding(15) -> Conv1D widths 2, 4, 6 x 15 filters -> ReLU ->
    /// global max pool -> concat(45) -> Dropout(0.2) -> Dense(1).
    SnowmanCnn,
}

#[derive(Clone, Copy, ValueEnum)]
enum ClassWeightArg {
    None,
    Balanced,
}

#[derive(Clone, Copy, ValueEnum)]
enum OptimizerArg {
    /// Keras RMSprop (lr 1e-3, rho 0.9, eps 1e-7), as in the Endgame paper.
    Rmsprop,
    /// Keras Adam (lr 1e-3, beta1 0.9, beta2 0.999, eps 1e-7).
    Adam,
}

#[derive(Clone, Copy, ValueEnum)]
enum ScopeArg {
    Fqdn,
    Registrable,
}

#[derive(Clone, Copy, ValueEnum)]
enum EngineArg {
    Fast,
    Reference,
}

#[derive(Clone, Copy, ValueEnum)]
enum ActivationArg {
    Sigmoid,
    /// Keras 2.x hard_sigmoid, clip(0.2x + 0.5, 0, 1), as in the original notebook.
    HardSigmoid,
}

#[derive(Args)]
struct TrainArgs {
    /// Benign name files (any supported format; - for stdin).
    #[arg(long, num_args = 1.., required = true, value_name = "PATH")]
    benign: Vec<String>,
    /// DGA name files (any supported format).
    #[arg(long, num_args = 1.., required = true, value_name = "PATH")]
    dga: Vec<String>,
    /// Where to write the model (safetensors; written atomically).
    #[arg(long, value_name = "MODEL")]
    out: PathBuf,
    #[arg(long, value_enum, default_value = "endgame-lstm")]
    model_type: ModelType,
    #[arg(long, default_value_t = 10, value_parser = int_in::<1, 100_000>)]
    epochs: usize,
    #[arg(long, default_value_t = 128, value_parser = int_in::<1, 65_536>)]
    batch_size: usize,
    /// Seed of every random choice: same seed + same data = the same model, bit for bit.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Keep at most N names per class (a seeded random sample; the classes are very
    /// imbalanced). For a multiclass model every DGA family is a class, so this caps each
    /// family: capped per-class sampling, one way to balance the data.
    #[arg(long, value_name = "N", value_parser = int_in::<1, { usize::MAX }>)]
    max_per_class: Option<usize>,
    /// Multiclass: DGA families with fewer than N training names (and names without a
    /// family) merge into one class, other_dga.
    #[arg(long, value_name = "N", default_value_t = 100)]
    min_family_size: usize,
    /// Write every name with its class and split (train/val/test) to this CSV, to train and
    /// test another framework on exactly the same split.
    #[arg(long, value_name = "FILE")]
    split_out: Option<PathBuf>,
    /// `none` (default) or `balanced`: weight each name's loss by n / (classes x n_class),
    /// so every class (benign, DGA, or each family) counts alike in training.
    #[arg(long, value_enum, default_value = "none")]
    class_weight: ClassWeightArg,
    /// Fraction of each class held out for the final test report.
    #[arg(long, default_value_t = 0.2, value_parser = fraction)]
    test_split: f64,
    /// Fraction of each class used for validation after every epoch.
    #[arg(long, default_value_t = 0.0, value_parser = fraction)]
    val_split: f64,
    /// Stop after N epochs without a better validation AUC and keep the best epoch.
    #[arg(long, value_name = "N", value_parser = int_in::<1, 100_000>)]
    patience: Option<usize>,
    /// Write a training checkpoint here (atomically) every --checkpoint-every epochs, so an
    /// interrupted run can continue with --resume.
    #[arg(long, value_name = "PATH")]
    checkpoint: Option<PathBuf>,
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = int_in::<1, 100_000>)]
    checkpoint_every: usize,
    /// Fine-tune this model on the new inputs: its architecture, vocabulary (characters it
    /// never saw map to "unknown") and weights are the start; the lineage goes in the card.
    #[arg(long, value_name = "MODEL")]
    init: Option<PathBuf>,
    /// With --init: mix N names of each class from the parent's own training files in,
    /// against forgetting (the files must be where the parent's card says, unchanged).
    #[arg(long, value_name = "N", default_value_t = 0)]
    replay: usize,
    /// Continue the run saved in this checkpoint (same inputs and settings; --epochs may grow).
    /// The result is bit-identical to an uninterrupted run.
    #[arg(long, value_name = "PATH")]
    resume: Option<PathBuf>,
    /// Set the model's threshold for this false-positive rate on the validation split
    /// (for example 0.001); without it the threshold is 0.5.
    #[arg(long, value_name = "FPR", value_parser = open_fraction)]
    target_fpr: Option<f64>,
    /// Input format for every file (default: detect per file).
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    #[arg(long, value_enum, default_value = "rmsprop")]
    optimizer: OptimizerArg,
    /// Learning rate (default 1e-3).
    #[arg(long)]
    lr: Option<f32>,
    #[arg(long, value_enum, default_value = "sigmoid")]
    recurrent_activation: ActivationArg,
    /// Dropout rate before the last layer (default: 0.5 for the LSTM, 0.2 for the CNN, as
    /// the papers' models had).
    #[arg(long, value_parser = dropout_rate)]
    dropout: Option<f32>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// `fast` (default) or `reference`: the plain layers every fast path is tested against.
    /// Both compute the same model; the reference is several times slower.
    #[arg(long, value_enum, default_value = "fast")]
    engine: EngineArg,
    #[command(flatten)]
    common: Common,
}

#[derive(Args)]
struct EvalArgs {
    /// Model file (default: the model embedded in this binary; see `dga-lite model info`).
    /// Repeat to compare models side by side (before and after fine-tuning, say).
    #[arg(long, value_name = "MODEL")]
    model: Vec<PathBuf>,
    #[arg(long, num_args = 1.., value_name = "PATH")]
    benign: Vec<String>,
    #[arg(long, num_args = 1.., value_name = "PATH")]
    dga: Vec<String>,
    /// Call DGA at or above this score (default: the model's threshold).
    #[arg(long, value_parser = probability)]
    threshold: Option<f32>,
    /// Print the metrics as one JSON object (a stable interface).
    #[arg(long)]
    json: bool,
    /// Write every wrongly called name as CSV (name, family, true and predicted class,
    /// score, probability), to see what a model misses. With several --model, one file per
    /// model: FILE, then FILE.2, FILE.3, ...
    #[arg(long, value_name = "FILE")]
    misclassified: Option<PathBuf>,
    /// Write a self-contained HTML report (ROC on a log FPR axis, score histograms,
    /// per-family detection, confusion matrices; every --model side by side).
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    #[command(flatten)]
    common: Common,
}

#[cfg(feature = "server")]
#[derive(Args)]
struct ServeArgs {
    /// Model file (default: the embedded default model).
    #[arg(long, value_name = "MODEL")]
    model: Option<PathBuf>,
    /// Address to listen on (loopback by default; use 0.0.0.0:8080 to serve a network).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// Most names in one /v1/score request.
    #[arg(long, default_value_t = 10_000, value_parser = int_in::<1, { serve::MAX_NAMES }>)]
    max_names: usize,
    /// Largest request body, in bytes.
    #[arg(long, default_value_t = 1 << 20, value_parser = int_in::<1, { serve::MAX_BODY_BYTES }>)]
    max_body: usize,
    /// Most simultaneous connections; more get 503 at once.
    #[arg(long, default_value_t = 512, value_parser = int_in::<1, { serve::MAX_CONNECTIONS }>)]
    max_connections: usize,
    /// Most simultaneous connections from one client address, so a few slow or hostile
    /// clients cannot take every connection; more get 503 at once.
    #[arg(long, default_value_t = 128, value_parser = int_in::<1, { serve::MAX_CONNECTIONS }>)]
    max_connections_per_client: usize,
    /// Seconds a client has to send its request headers, and again its body.
    #[arg(long, default_value_t = 5, value_parser = int_in::<1, { serve::MAX_TIMEOUT_S }>)]
    client_timeout: usize,
    /// Seconds a connection may sit with no byte moving either way (an idle keep-alive
    /// connection, or a client that stopped reading its answers) before it is closed.
    #[arg(long, default_value_t = 30, value_parser = int_in::<1, { serve::MAX_TIMEOUT_S }>)]
    idle_timeout: usize,
    /// Milliseconds a request may wait for the scorer before it is answered 503 with
    /// Retry-After (so a burst cannot queue work without limit).
    #[arg(long, default_value_t = 2000, value_parser = int_in::<1, { serve::MAX_TIMEOUT_S * 1000 }>)]
    queue_timeout_ms: usize,
    #[command(flatten)]
    common: Common,
}

#[derive(Args)]
struct BenchArgs {
    /// Thread counts to measure, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2", value_parser = int_in::<1, MAX_THREADS>)]
    threads: Vec<usize>,
    /// Folder with benign.csv and dga.csv to sample real names from (5,000 of each);
    /// generated names of realistic length are used when it is absent.
    #[arg(long, default_value = "../shared/data")]
    data: PathBuf,
    /// Training names to time per measurement (batch 128).
    #[arg(long, default_value_t = 6400, value_parser = int_in::<1, 10_000_000>)]
    train_names: usize,
    /// Names to score per measurement (batch 1024).
    #[arg(long, default_value_t = 20480, value_parser = int_in::<1, 100_000_000>)]
    score_names: usize,
    /// Times to repeat each measurement, on both sides, keeping the best: a shared or virtual
    /// machine's neighbours slow some runs down, and best-of-N filters that out.
    #[arg(long, default_value_t = 3, value_parser = int_in::<1, 1000>)]
    repeat: usize,
    /// Python with torch installed, for the peer.
    #[arg(long, default_value = "python3")]
    python: String,
    /// The peer script (run from the repository root, or give its path).
    #[arg(long, default_value = "benches/peer_pytorch.py")]
    peer_script: PathBuf,
    /// Measure only dga-lite.
    #[arg(long)]
    no_peer: bool,
    /// Devices to measure, comma separated: `cpu`, `cuda` (training and scoring at batch 128
    /// and 4096 on the GPU, beside the CPU and PyTorch on the same GPU), or `cpu,cuda`.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "cpu")]
    device: Vec<DeviceArg>,
}

#[derive(Args)]
struct PredictArgs {
    /// Model file (default: the model embedded in this binary; see `dga-lite model info`).
    #[arg(long, value_name = "MODEL")]
    model: Option<PathBuf>,
    /// Names to score.
    names: Vec<String>,
    /// Read names from a file, or - for standard input (gzip is detected).
    #[arg(long, value_name = "FILE|-")]
    input: Option<String>,
    /// The column holding the name in CSV or Zeek input: a header name or a number from 1.
    #[arg(long, value_name = "NAME|N")]
    column: Option<String>,
    /// The field holding the name in JSON-lines input, dotted for nesting (`dns.rrname`).
    /// Default: the first of domain, query, qname, name, hostname, host.
    #[arg(long, value_name = "PATH")]
    field: Option<String>,
    /// Write only the names called DGA (invalid lines are counted on stderr).
    #[arg(long)]
    only_dga: bool,
    /// Score the whole name (`fqdn`, as models are trained) or its registrable domain under
    /// the Public Suffix List's ICANN section (`registrable`: d3ag4hukkh62yn.cloudfront.net
    /// is judged as cloudfront.net).
    #[arg(long, value_enum, default_value = "fqdn")]
    scope: ScopeArg,
    /// Suffix allow list, one per line (`cloudfront.net` allows every name under it);
    /// allowed names are reported as `allowed`, not scored. May be repeated.
    #[arg(long, value_name = "FILE")]
    allow: Vec<PathBuf>,
    /// One JSON object per line: {"domain", "score", "dga"} or {"domain", "error"}.
    #[arg(long)]
    json: bool,
    /// Call DGA at or above this score (default: the model's threshold).
    #[arg(long, value_parser = probability)]
    threshold: Option<f32>,
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    #[command(flatten)]
    common: Common,
}

fn set_threads(common: &Common) -> Result<(), String> {
    if let Some(n) = common.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn check_threshold(t: Option<f32>) -> Result<Option<f32>, String> {
    match t {
        Some(t) if !(0.0..=1.0).contains(&t) => Err(format!("--threshold {t} is not in [0, 1]")),
        other => Ok(other),
    }
}

/// The command line as recorded in a model: everything but the flags that do not change the
/// model (`--out`, `--threads`, checkpointing and resuming), so the file stays a pure function
/// of seed, data and settings, and a resumed run records what an uninterrupted one does.
fn recorded_command() -> Vec<String> {
    let mut args = std::env::args().skip(1);
    let mut kept = vec!["dga-lite".to_string()];
    // Flags that take a value and do not change the model.
    const LEFT_OUT: [&str; 6] = [
        "--out",
        "--split-out",
        "--threads",
        "--checkpoint",
        "--checkpoint-every",
        "--resume",
    ];
    while let Some(arg) = args.next() {
        if LEFT_OUT.contains(&arg.as_str()) {
            args.next();
        } else if !LEFT_OUT
            .iter()
            .any(|flag| arg.starts_with(&format!("{flag}=")))
        {
            kept.push(arg);
        }
    }
    kept
}

fn run_train(args: TrainArgs) -> Result<(), String> {
    set_threads(&args.common)?;
    let optimizer = match args.optimizer {
        OptimizerArg::Rmsprop => OptimizerConfig::rmsprop(),
        OptimizerArg::Adam => OptimizerConfig::adam(),
    };
    let optimizer = match args.lr {
        Some(lr) if !(lr > 0.0 && lr.is_finite()) => {
            return Err(format!("--lr {lr} must be a positive number"));
        }
        Some(lr) => optimizer.with_lr(lr),
        None => optimizer,
    };
    let recurrent_activation = match args.recurrent_activation {
        ActivationArg::Sigmoid => RecurrentActivation::Sigmoid,
        ActivationArg::HardSigmoid => RecurrentActivation::HardSigmoid,
    };
    let options = TrainOptions {
        benign: args.benign,
        dga: args.dga,
        format: args.format.map(FormatArg::format),
        architecture: match args.model_type {
            ModelType::EndgameLstm => Architecture::EndgameLstm(EndgameConfig {
                dropout: args.dropout.unwrap_or(0.5),
                recurrent_activation,
                ..EndgameConfig::default()
            }),
            ModelType::EndgameLstmMulticlass => {
                Architecture::EndgameLstmMulticlass(EndgameConfig {
                    dropout: args.dropout.unwrap_or(0.5),
                    recurrent_activation,
                    ..EndgameConfig::default()
                })
            }
            ModelType::SnowmanCnn => Architecture::SnowmanCnn(SnowmanConfig {
                dropout: args.dropout.unwrap_or(0.2),
                ..SnowmanConfig::default()
            }),
        },
        optimizer,
        epochs: args.epochs,
        batch_size: args.batch_size,
        seed: args.seed,
        max_per_class: args.max_per_class,
        min_family_size: args.min_family_size,
        class_weight: match args.class_weight {
            ClassWeightArg::None => train::ClassWeight::None,
            ClassWeightArg::Balanced => train::ClassWeight::Balanced,
        },
        test_split: args.test_split,
        val_split: args.val_split,
        patience: args.patience,
        target_fpr: args.target_fpr,
        checkpoint: args.checkpoint,
        checkpoint_every: args.checkpoint_every,
        resume: args.resume,
        init: args.init,
        replay: args.replay,
        split_out: args.split_out,
        command: recorded_command(),
        progress: !args.quiet,
        engine: match args.engine {
            EngineArg::Fast => train::Engine::Fast,
            EngineArg::Reference => train::Engine::Reference,
        },
        device: args.common.device(),
    };
    let started = std::time::Instant::now();
    let outcome = train::train(&options).map_err(|e| e.to_string())?;
    outcome.model.save(&args.out).map_err(|e| e.to_string())?;
    eprintln!(
        "trained in {:.1} s; model written to {}",
        started.elapsed().as_secs_f64(),
        args.out.display()
    );
    match &outcome.test_report {
        Some(report) => out!("held-out test split:\n{report}"),
        None => out!("no test split (--test-split 0): no held-out report"),
    }
    Ok(())
}

/// The model at `path`, or the embedded default when no path is given.
fn load_model(path: Option<&std::path::Path>) -> Result<ModelFile, String> {
    match path {
        Some(path) => ModelFile::load(path),
        None => embedded::default_model(),
    }
    .map_err(|e| e.to_string())
}

fn run_model_info(model: Option<PathBuf>, json: bool) -> Result<(), String> {
    let loaded = load_model(model.as_deref())?;
    if json {
        out!("{}", loaded.header_json());
        return Ok(());
    }
    let t = &loaded.training;
    let source = model
        .as_ref()
        .map_or(embedded::NAME.to_string(), |p| p.display().to_string());
    out!("model         {source}");
    out!("architecture  {}", loaded.net().architecture());
    out!(
        "vocabulary    {} characters: {}",
        loaded.vocab.chars().len(),
        loaded.vocab.chars()
    );
    out!("threshold     {}", loaded.threshold);
    if loaded.is_multiclass() {
        out!(
            "classes       {} ({})",
            loaded.classes().len(),
            loaded.classes().join(", ")
        );
    }
    out!("trained with  {}", t.command.join(" "));
    out!(
        "seed          {}; {} run, best epoch {}",
        t.seed,
        count(t.epochs_run as u64, "epoch"),
        t.best_epoch
    );
    for input in &t.inputs {
        out!(
            "input         {} ({:?}, {}, sha256 {})",
            input.path,
            input.class,
            count(input.names, "name"),
            input.sha256
        );
    }
    out!("split sizes   {}", t.split_sizes);
    if let Some(auc) = t.test_metrics.get("auc").and_then(|v| v.as_f64()) {
        out!("test AUC      {auc:.5}");
    }
    if let Some(tpr) = t.test_metrics.get("tpr_at_fpr") {
        out!("test TPR@FPR  {tpr}");
    }
    if model.is_none() {
        out!("\n{}", embedded::CARD);
    }
    Ok(())
}

fn run_eval(args: EvalArgs) -> Result<(), String> {
    set_threads(&args.common)?;
    let threshold = check_threshold(args.threshold)?;
    if args.benign.is_empty() && args.dga.is_empty() {
        return Err("eval needs labelled names: pass --benign and/or --dga".into());
    }
    let format = args.format.map(FormatArg::format);
    let mut samples = Vec::new();
    for (paths, class) in [(&args.benign, Class::Benign), (&args.dga, Class::Dga)] {
        for path in paths {
            let (read, report) =
                data::read_samples_from(path, class, format).map_err(|e| e.to_string())?;
            eprintln!("{report}");
            samples.extend(read);
        }
    }
    let paths: Vec<Option<&std::path::Path>> = if args.model.is_empty() {
        vec![None]
    } else {
        args.model.iter().map(|p| Some(p.as_path())).collect()
    };
    let mut evaluations = Vec::new();
    for (i, path) in paths.iter().enumerate() {
        let mut model = load_model(*path)?;
        model.use_device(args.common.device())?;
        let label = path.map_or(embedded::NAME.to_string(), |p| p.display().to_string());
        let evaluation = evaluate::evaluate(&model, label, &samples, threshold);
        if evaluation.unclassifiable() > 0 {
            eprintln!(
                "{}: {} DGA names belong to families this model has no class for; they count in the binary metrics only",
                evaluation.label,
                evaluation.unclassifiable()
            );
        }
        if let Some(file) = &args.misclassified {
            let file = if i == 0 {
                file.clone()
            } else {
                PathBuf::from(format!("{}.{}", file.display(), i + 1))
            };
            let out = std::fs::File::create(&file)
                .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
            let written = evaluation
                .write_misclassified(&samples, std::io::BufWriter::new(out))
                .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
            eprintln!(
                "{}: {written} misclassified names written to {}",
                evaluation.label,
                file.display()
            );
        }
        evaluations.push(evaluation);
    }
    if let Some(file) = &args.report {
        let title = format!(
            "dga-lite evaluation of {}",
            count(samples.len() as u64, "name")
        );
        let html = dga_lite::report::render(&title, &samples, &evaluations);
        dga_lite::atomic_file::write_atomically(file, html.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
        eprintln!("report written to {}", file.display());
    }
    let reports: Vec<(String, metrics::Report)> = evaluations
        .into_iter()
        .map(|e| (e.label, e.report))
        .collect();
    if args.json {
        let text = if reports.len() == 1 {
            serde_json::to_string_pretty(&reports[0].1)
        } else {
            let all: Vec<serde_json::Value> = reports
                .iter()
                .map(|(label, r)| serde_json::json!({"model": label, "report": r}))
                .collect();
            serde_json::to_string_pretty(&all)
        };
        out!("{}", text.map_err(|e| e.to_string())?);
    } else if reports.len() == 1 {
        write!(io::stdout().lock(), "{}", reports[0].1).map_err(stdout_error)?;
    } else {
        for (label, report) in &reports {
            out!("== {label}\n{report}");
        }
        out!("side by side:");
        out!(
            "{:<40} {:>8} {:>10} {:>10} {:>10} {:>9} {:>9} {:>9} {:>9}",
            "model",
            "AUC",
            "TPR@1e-2",
            "TPR@1e-3",
            "TPR@1e-4",
            "accuracy",
            "F1",
            "microF1",
            "macroF1"
        );
        for (label, r) in &reports {
            let [t2, t3, t4] = metrics::FPR_POINTS.map(|(fpr, key)| r.tpr_text(fpr, key));
            let auc = r.auc.map_or("n/a".to_string(), |v| format!("{v:.4}"));
            let shown = fit_path(label, 40);
            let (micro, macro_) = r.multiclass.as_ref().map_or(("-".into(), "-".into()), |m| {
                (format!("{:.4}", m.micro_f1), format!("{:.4}", m.macro_f1))
            });
            out!(
                "{shown:<40} {auc:>8} {:>10} {:>10} {:>10} {:>9.4} {:>9.4} {micro:>9} {macro_:>9}",
                t2,
                t3,
                t4,
                r.accuracy,
                r.f1
            );
        }
    }
    Ok(())
}

fn run_predict(args: PredictArgs) -> Result<(), String> {
    set_threads(&args.common)?;
    let threshold = check_threshold(args.threshold)?;
    if args.names.is_empty() && args.input.is_none() {
        return Err(
            "nothing to score: give names as arguments or --input FILE (- for stdin)".into(),
        );
    }
    let mut model = load_model(args.model.as_deref())?;
    model.use_device(args.common.device())?;
    let mut allow_text = String::new();
    for path in &args.allow {
        let cannot =
            |e: &dyn std::fmt::Display| format!("cannot read allow list {}: {e}", path.display());
        let bytes = dga_lite::bounded_read::read_regular_file(path, 64 << 20, "allow list")
            .map_err(|e| cannot(&e))?;
        let text = String::from_utf8(bytes).map_err(|e| cannot(&e))?;
        // A byte-order mark is not part of the first entry.
        allow_text.push_str(text.strip_prefix('\u{feff}').unwrap_or(&text));
        allow_text.push('\n');
    }
    let (allow, bad) = AllowList::parse(&allow_text);
    for (line, why) in bad.iter().take(5) {
        eprintln!("allow list: skipped entry {line}: {why}");
    }
    let options = PredictOptions {
        threshold: threshold.unwrap_or(model.threshold),
        json: args.json,
        only_dga: args.only_dga,
        scope: match args.scope {
            ScopeArg::Fqdn => Scope::Fqdn,
            ScopeArg::Registrable => Scope::Registrable,
        },
        allow,
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut summary = PredictSummary::default();
    if !args.names.is_empty() {
        let queries: Vec<Query> = args
            .names
            .into_iter()
            .map(|n| Query::new(None, n))
            .collect();
        predict::write_block(&model, &queries, &options, &mut out, &mut summary)
            .map_err(stdout_error)?;
    }
    if let Some(input) = &args.input {
        let reader = data::open_input(input).map_err(|e| e.to_string())?;
        let read = data::ReadOptions {
            format: args.format.map(FormatArg::format),
            column: args.column.as_deref().map(data::ColumnSpec::parse),
            field: args.field.clone(),
        };
        let s = predict::predict_stream(&model, reader, input, &read, &options, &mut out)
            .map_err(|e| e.to_string())?;
        summary.add(s);
    }
    out.flush().map_err(stdout_error)?;
    if summary.invalid > 0 || summary.allowed > 0 || summary.empty > 0 {
        eprintln!(
            "{} scored, {} flagged as DGA, {} allowed, {} invalid, {} empty",
            count(summary.scored, "name"),
            summary.flagged,
            summary.allowed,
            summary.invalid,
            summary.empty
        );
    }
    Ok(())
}

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

#[cfg(feature = "server")]
fn run_serve(args: ServeArgs) -> Result<(), String> {
    set_threads(&args.common)?;
    if args.max_connections_per_client > args.max_connections {
        return Err(format!(
            "--max-connections-per-client {} is above --max-connections {}",
            args.max_connections_per_client, args.max_connections
        ));
    }
    let mut model = load_model(args.model.as_deref())?;
    model.use_device(args.common.device())?;
    let model = std::sync::Arc::new(model);
    let seconds = |s: usize| std::time::Duration::from_secs(s as u64);
    let config = dga_lite::serve::ServeConfig {
        max_names: args.max_names,
        max_body_bytes: args.max_body,
        max_connections: args.max_connections,
        max_connections_per_client: args.max_connections_per_client,
        header_timeout: seconds(args.client_timeout),
        body_timeout: seconds(args.client_timeout),
        idle_timeout: seconds(args.idle_timeout),
        queue_timeout: std::time::Duration::from_millis(args.queue_timeout_ms as u64),
        ..Default::default()
    };
    config.check()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
        let address = listener.local_addr().map_err(|e| e.to_string())?;
        eprintln!("dga-lite: serving {} on http://{address}", model.net().architecture());
        let shutdown = async {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {}
            }
            eprintln!("dga-lite: shutting down; finishing requests in flight");
        };
        dga_lite::serve::serve(model, listener, config, shutdown).await.map_err(|e| e.to_string())
    })?;
    eprintln!("dga-lite: stopped");
    Ok(())
}

/// The PyTorch peer on the CPU, or with `gpu_batch` on the GPU at that batch size.
fn run_peer(
    args: &BenchArgs,
    model: bench::BenchModel,
    names_file: &std::path::Path,
    threads: usize,
    gpu_batch: Option<usize>,
) -> Result<bench::Measurement, String> {
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
        .map_err(|e| format!("cannot run {}: {e}", args.python))?;
    if !output.status.success() {
        let err = String::from_utf8_lossy(&output.stderr);
        return Err(err.lines().last().unwrap_or("failed").to_string());
    }
    serde_json::from_slice(&output.stdout).map_err(|e| format!("peer output: {e}"))
}

fn run_bench(args: BenchArgs) -> Result<(), String> {
    if args.threads.is_empty() || args.threads.contains(&0) {
        return Err("--threads takes counts of at least 1, for example 1,2".into());
    }
    let (names, from) = bench_names(&args.data);
    let mean = names.iter().map(|n| n.len()).sum::<usize>() as f64 / names.len() as f64;
    out!("{from}, mean length {mean:.1}");
    out!(
        "LSTM lanes: {} (DGA_LITE_LANES=avx2 or =portable runs lower ones)",
        dga_lite::backend::cpu::packed_lstm::Simd::detect().name()
    );
    let names_file =
        std::env::temp_dir().join(format!("dga-lite-bench-{}.txt", std::process::id()));
    std::fs::write(&names_file, names.join("\n")).map_err(|e| e.to_string())?;
    let options = bench::BenchOptions {
        train_names: args.train_names,
        score_names: args.score_names,
        latency_runs: 200,
        repeats: args.repeat,
    };
    let models = [
        bench::BenchModel::EndgameLstm,
        bench::BenchModel::SnowmanCnn,
    ];
    let on = |d: DeviceArg| args.device.contains(&d);
    // CPU training and scoring rates at the largest thread count, per model, for the GPU table.
    let mut cpu_rates: Vec<(bench::BenchModel, f64, f64)> = Vec::new();
    if on(DeviceArg::Cpu) {
        out!(
            "{:<14} {:<8} {:<32} {:>12} {:>12} {:>8}",
            "model",
            "threads",
            "metric",
            "dga-lite",
            "PyTorch",
            "ratio"
        );
    }
    let cpu_runs = if on(DeviceArg::Cpu) {
        args.threads.clone()
    } else {
        Vec::new()
    };
    for (model, threads) in models
        .iter()
        .flat_map(|&m| cpu_runs.iter().map(move |&t| (m, t)))
    {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| e.to_string())?;
        let ours = pool.install(|| bench::measure_ours(model, &names, &options));
        cpu_rates.retain(|(m, _, _)| *m != model);
        cpu_rates.push((model, ours.train_names_per_s, ours.score_names_per_s));
        let peer = if args.no_peer {
            Err("not run (--no-peer)".to_string())
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
            out!("{name:<14} {threads:<8} {metric:<32} {mine:>12.1} {theirs_text:>12} {ratio:>8}");
        }
        if let Err(why) = &peer {
            out!("{:<14} {threads:<8} (PyTorch peer: {why})", model.name());
        }
    }
    if on(DeviceArg::Cpu) {
        out!("ratio: how many times better dga-lite is (speed, or lower latency and memory).");
    }
    let outcome = if on(DeviceArg::Cuda) {
        gpu_bench(&args, &names, &names_file, &options, &cpu_rates)
    } else {
        Ok(())
    };
    let _ = std::fs::remove_file(&names_file);
    outcome
}

/// The GPU table of `bench --device cuda`: our kernels and PyTorch (cuDNN) on the same GPU,
/// and the CPU beside them when it was measured in the same run.
#[cfg(feature = "cuda")]
fn gpu_bench(
    args: &BenchArgs,
    names: &[String],
    names_file: &std::path::Path,
    options: &bench::BenchOptions,
    cpu_rates: &[(bench::BenchModel, f64, f64)],
) -> Result<(), String> {
    const EPOCH_NAMES: f64 = 1.1e6;
    out!(
        "\n{:<14} {:<6} {:<30} {:>12} {:>12} {:>8} {:>12} {:>8}",
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
    for model in [
        bench::BenchModel::EndgameLstm,
        bench::BenchModel::SnowmanCnn,
    ] {
        let cpu = cpu_rates.iter().find(|(m, _, _)| *m == model);
        for batch in [128usize, 4096] {
            let ours = bench::measure_gpu(model, names, batch, options)?;
            let peer = if args.no_peer {
                Err("not run (--no-peer)".to_string())
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
                    "{:<14} {batch:<6} {metric:<30} {gpu:>12.1} {:>12} {:>8} {:>12} {:>8}",
                    model.name(),
                    text(cpu),
                    ratio(cpu),
                    text(peer),
                    ratio(peer)
                );
            }
            if let Err(why) = &peer {
                out!("{:<14} {batch:<6} (PyTorch GPU peer: {why})", model.name());
            }
            out!("{:<14} {batch:<6} on {}", model.name(), ours.device);
        }
    }
    out!(
        "CPU column: the CPU run above at {threads} threads, batch 128 (training) and 1024 (scoring)."
    );
    Ok(())
}

#[cfg(not(feature = "cuda"))]
fn gpu_bench(
    _: &BenchArgs,
    _: &[String],
    _: &std::path::Path,
    _: &bench::BenchOptions,
    _: &[(bench::BenchModel, f64, f64)],
) -> Result<(), String> {
    Err("this build has no CUDA backend (built without the `cuda` feature)".into())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(args) => run_train(args),
        Command::Eval(args) => run_eval(args),
        Command::Predict(args) => run_predict(args),
        Command::Model(ModelCommand::Info { model, json }) => run_model_info(model, json),
        Command::Bench(args) => run_bench(args),
        #[cfg(feature = "server")]
        Command::Serve(args) => run_serve(args),
        #[cfg(not(feature = "server"))]
        Command::Serve { .. } => Err(
            "this build has no HTTP server (it was built with --no-default-features, the lean \
             sensor build); build with the default features for `serve`: cargo build --release"
                .into(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) if message.contains("Broken pipe") => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
