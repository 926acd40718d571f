//! Every flag of `dga-lite`, defined once: the commands, their arguments, the parsers that
//! check ranges, and how each flag's value maps to the library's types.

use clap::{Args, Parser, Subcommand, ValueEnum};
use dga_lite::backend::Backend;
use dga_lite::data::Format;
use dga_lite::nn::{OptimizerConfig, RecurrentActivation};
use dga_lite::scope::Scope;
#[cfg(feature = "server")]
use dga_lite::serve;
use std::path::PathBuf;

/// A clap parser for an integer flag in `LO..=HI`; the message names the allowed range.
pub fn int_in<const LO: usize, const HI: usize>(text: &str) -> Result<usize, String> {
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
pub fn number_in<T: std::str::FromStr>(
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
pub fn fraction(text: &str) -> Result<f64, String> {
    number_in(text, |v| (0.0..1.0).contains(v), "[0, 1)")
}

/// A clap parser for a probability in [0, 1].
pub fn probability(text: &str) -> Result<f32, String> {
    number_in(text, |v| (0.0..=1.0).contains(v), "[0, 1]")
}

/// A clap parser for a dropout rate in [0, 1).
pub fn dropout_rate(text: &str) -> Result<f32, String> {
    number_in(text, |v| (0.0..1.0).contains(v), "[0, 1)")
}

/// A clap parser for a false-positive rate in (0, 1).
pub fn open_fraction(text: &str) -> Result<f64, String> {
    number_in(text, |&v| v > 0.0 && v < 1.0, "(0, 1)")
}

/// Most worker threads a flag may ask for.
pub const MAX_THREADS: usize = 1024;

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
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Train a model from benign and DGA feeds and write it to --out.
    Train(Box<TrainArgs>),
    /// Measure a model on labelled names: AUC, TPR at fixed FPR, per-family detection.
    Eval(EvalArgs),
    /// Find label noise in training data: names whose out-of-fold score contradicts their
    /// label (a DGA name in a top-site list, a real name in a feed), ranked, to a CSV.
    Audit(AuditArgs),
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
pub enum ModelCommand {
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

/// What part of a name is scored, and whether names that cannot be public are: shared by
/// predict, eval and serve, so the three judge a name alike.
#[derive(Args)]
pub struct ScoringArgs {
    /// Score a name's registrable domain (`registrable`, the default: the models were trained
    /// on registrable names, so www.xjwqkdpqoe.net and a long prefix before it are judged as
    /// xjwqkdpqoe.net), under the Public Suffix List's ICANN and private sections (a name
    /// under dyndns.org or cloudfront.net keeps its own label), or the whole name (`fqdn`).
    #[arg(long, value_enum, default_value = "registrable")]
    pub scope: ScopeArg,
    /// Score names that cannot exist on the public internet (single labels, .local, .lan,
    /// .internal, reverse lookups, IP addresses) instead of calling them `local`.
    #[arg(long)]
    pub score_local: bool,
}

#[derive(Args)]
pub struct Common {
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long, global = true, value_parser = int_in::<1, MAX_THREADS>)]
    pub threads: Option<usize>,
    /// Where the model runs: `cpu` (default: the fast paths, on the best SIMD lanes this CPU
    /// has), `reference` (the plain layers every fast path is tested against; several times
    /// slower, the same model), or `cuda`: the first NVIDIA GPU, with our own kernels compiled
    /// at start-up (needs the NVIDIA driver and libnvrtc; nothing else).
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "cpu",
        alias = "device"
    )]
    pub backend: BackendArg,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
pub enum BackendArg {
    Cpu,
    Reference,
    Cuda,
}

impl BackendArg {
    pub fn backend(self) -> Backend {
        match self {
            BackendArg::Cpu => Backend::cpu(),
            BackendArg::Reference => Backend::Reference,
            BackendArg::Cuda => Backend::Cuda(0),
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum FormatArg {
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
    pub fn format(self) -> Format {
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
pub enum ModelType {
    /// Woodbridge et al. 2016: Embedding(128) -> LSTM(128) -> Dropout(0.5) -> Dense(1).
    EndgameLstm,
    /// The paper's multiclass form: the same trunk -> Dense(K) -> softmax over benign and the
    /// DGA families found in the --dga inputs (their family column or feed description).
    EndgameLstmMulticlass,
    /// Hines' Snowman: Embedding(15) -> Conv1D widths 2, 4, 6 x 15 filters -> ReLU ->
    /// global max pool -> concat(45) -> Dropout(0.2) -> Dense(1).
    SnowmanCnn,
    /// Both, trained in turn on the same split, their probabilities averaged with a weight
    /// chosen on the validation split. --dropout sets the LSTM's.
    LstmCnnEnsemble,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ClassWeightArg {
    None,
    Balanced,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum OptimizerArg {
    /// Keras RMSprop (lr 1e-3, rho 0.9, eps 1e-7), as in the Endgame paper.
    Rmsprop,
    /// Keras Adam (lr 1e-3, beta1 0.9, beta2 0.999, eps 1e-7).
    Adam,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ScopeArg {
    Fqdn,
    Registrable,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ActivationArg {
    Sigmoid,
    /// Keras 2.x hard_sigmoid, clip(0.2x + 0.5, 0, 1), as in the original notebook.
    HardSigmoid,
}

#[derive(Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub data: TrainingData,
    /// Where to write the model (safetensors; written atomically).
    #[arg(long, value_name = "MODEL")]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value = "endgame-lstm")]
    pub model_type: ModelType,
    #[arg(long, default_value_t = 10, value_parser = int_in::<1, 100_000>)]
    pub epochs: usize,
    #[arg(long, default_value_t = 128, value_parser = int_in::<1, 65_536>)]
    pub batch_size: usize,
    /// Seed of every random choice: same seed + same data = the same model, bit for bit.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Multiclass: DGA families with fewer than N training names (and names without a
    /// family) merge into one class, other_dga.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub min_family_size: usize,
    /// Write every name with its class and split (train/val/test) to this CSV, to train and
    /// test another framework on exactly the same split.
    #[arg(long, value_name = "FILE")]
    pub split_out: Option<PathBuf>,
    /// `none` (default) or `balanced`: weight each name's loss by n / (classes x n_class),
    /// so every class (benign, DGA, or each family) counts alike in training.
    #[arg(long, value_enum, default_value = "none")]
    pub class_weight: ClassWeightArg,
    /// Fraction of each class held out for the final test report.
    #[arg(long, default_value_t = 0.2, value_parser = fraction)]
    pub test_split: f64,
    /// Fraction of each class used for validation: after every epoch (early stopping), and
    /// to choose the model's operating points, the `dga` (false-positive rate 1e-3) and
    /// `suspicious` (1e-2) thresholds. 0 leaves both out (a plain threshold of 0.5).
    #[arg(long, default_value_t = 0.05, value_parser = fraction)]
    pub val_split: f64,
    /// Stop after N epochs without a better validation AUC and keep the best epoch.
    #[arg(long, value_name = "N", value_parser = int_in::<1, 100_000>)]
    pub patience: Option<usize>,
    /// Write a training checkpoint here (atomically) every --checkpoint-every epochs, so an
    /// interrupted run can continue with --resume.
    #[arg(long, value_name = "PATH")]
    pub checkpoint: Option<PathBuf>,
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = int_in::<1, 100_000>)]
    pub checkpoint_every: usize,
    /// Leave these names out of training: one per line, or the CSV `dga-lite audit` writes
    /// (its `name` column), after review. They leave the training and validation splits
    /// only: the test split is the one a run without the list draws, reported as drawn and
    /// again without the listed names (labelled "audited"). The model card records the
    /// list's SHA-256 and the counts.
    #[arg(long, value_name = "FILE")]
    pub exclude: Option<PathBuf>,
    /// Keep this DGA family out of every split (train, validation and test; repeat the flag
    /// or separate families with commas) and report, after training, how many of its names
    /// the model calls `dga` and `suspicious`: how it does on a family it never saw. The
    /// report goes in the model card.
    #[arg(long, value_name = "FAMILY", value_delimiter = ',')]
    pub hold_out_family: Vec<String>,
    /// Keep the names of this benign file out of every split (they are taken out of the
    /// --benign inputs too) and report, after training, how many the model calls `dga` and
    /// `suspicious`: its false-positive rate on a list it never saw (a different popularity
    /// list, your own DNS logs). May be repeated.
    #[arg(long, value_name = "FILE")]
    pub hold_out_benign: Vec<String>,
    /// Fine-tune this model on the new inputs: its architecture, vocabulary (characters it
    /// never saw map to "unknown") and weights are the start; the lineage goes in the card.
    #[arg(long, value_name = "MODEL")]
    pub init: Option<PathBuf>,
    /// With --init: mix N names of each class from the parent's own training files in,
    /// against forgetting (the files must be where the parent's card says, unchanged).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub replay: usize,
    /// Continue the run saved in this checkpoint (same inputs and settings; --epochs may grow).
    /// The result is bit-identical to an uninterrupted run.
    #[arg(long, value_name = "PATH")]
    pub resume: Option<PathBuf>,
    /// Set the model's threshold for this false-positive rate on the validation split
    /// (for example 0.001); without it the threshold is the `dga` operating point (FPR 1e-3
    /// on the validation split), or 0.5 with --val-split 0.
    #[arg(long, value_name = "FPR", value_parser = open_fraction)]
    pub target_fpr: Option<f64>,
    #[arg(long, value_enum, default_value = "rmsprop")]
    pub optimizer: OptimizerArg,
    /// Learning rate (default 1e-3).
    #[arg(long)]
    pub lr: Option<f32>,
    #[arg(long, value_enum, default_value = "sigmoid")]
    pub recurrent_activation: ActivationArg,
    /// Dropout rate before the last layer (default: 0.5 for the LSTM, 0.2 for the CNN, as
    /// the papers' models had; with --init, the parent's). Dropout acts in training only.
    #[arg(long, value_parser = dropout_rate)]
    pub dropout: Option<f32>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub common: Common,
}

/// The labelled inputs of `train` and `audit`, defined once.
#[derive(Args)]
pub struct TrainingData {
    /// Benign name files (any supported format; - for stdin).
    #[arg(long, num_args = 1.., required = true, value_name = "PATH")]
    pub benign: Vec<String>,
    /// DGA name files (any supported format).
    #[arg(long, num_args = 1.., required = true, value_name = "PATH")]
    pub dga: Vec<String>,
    /// Input format for every file (default: detect per file).
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
    /// Keep at most N names per class (a seeded random sample; the classes are very
    /// imbalanced). For a multiclass model every DGA family is a class, so this caps each
    /// family: capped per-class sampling, one way to balance the data.
    #[arg(long, value_name = "N", value_parser = int_in::<1, { usize::MAX }>)]
    pub max_per_class: Option<usize>,
}

#[derive(Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub data: TrainingData,
    /// Where to write the suspects, most confident first (CSV: rank, name, label, family,
    /// oof_score, confidence, fold; written atomically). Review them, then give the names to
    /// drop to `train --exclude`.
    #[arg(long, value_name = "CSV")]
    pub out: PathBuf,
    /// Folds: each name is scored by a model trained on the other folds.
    #[arg(long, default_value_t = 5, value_parser = int_in::<2, 100>)]
    pub folds: usize,
    /// The models trained (binary). The CNN trains about 20 times faster than the LSTM.
    #[arg(long, value_enum, default_value = "snowman-cnn")]
    pub model_type: ModelType,
    #[arg(long, default_value_t = 3, value_parser = int_in::<1, 100_000>)]
    pub epochs: usize,
    #[arg(long, default_value_t = 128, value_parser = int_in::<1, 65_536>)]
    pub batch_size: usize,
    /// Seed of the folds and of every model: same seed + same data = the same suspects.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args)]
pub struct EvalArgs {
    /// Model file (default: the model embedded in this binary; see `dga-lite model info`).
    /// Repeat to compare models side by side (before and after fine-tuning, say).
    #[arg(long, value_name = "MODEL")]
    pub model: Vec<PathBuf>,
    #[arg(long, num_args = 1.., value_name = "PATH")]
    pub benign: Vec<String>,
    #[arg(long, num_args = 1.., value_name = "PATH")]
    pub dga: Vec<String>,
    /// Call DGA at or above this score (default: the model's threshold).
    #[arg(long, value_parser = probability)]
    pub threshold: Option<f32>,
    /// Print the metrics as one JSON object (a stable interface).
    #[arg(long)]
    pub json: bool,
    /// Write every wrongly called name as CSV (name, family, true and predicted class,
    /// score, probability), to see what a model misses. With several --model, one file per
    /// model: FILE, then FILE.2, FILE.3, ...
    #[arg(long, value_name = "FILE")]
    pub misclassified: Option<PathBuf>,
    /// Write a self-contained HTML report (ROC on a log FPR axis, score histograms,
    /// per-family detection, confusion matrices; every --model side by side).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
    #[command(flatten)]
    pub scoring: ScoringArgs,
    #[command(flatten)]
    pub common: Common,
}

#[cfg(feature = "server")]
#[derive(Args)]
pub struct ServeArgs {
    /// Model file (default: the embedded default model).
    #[arg(long, value_name = "MODEL")]
    pub model: Option<PathBuf>,
    /// Address to listen on (loopback by default; use 0.0.0.0:8080 to serve a network).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Most names in one /v1/score request.
    #[arg(long, default_value_t = 10_000, value_parser = int_in::<1, { serve::MAX_NAMES }>)]
    pub max_names: usize,
    /// Largest request body, in bytes.
    #[arg(long, default_value_t = 1 << 20, value_parser = int_in::<1, { serve::MAX_BODY_BYTES }>)]
    pub max_body: usize,
    /// Most simultaneous connections; more get 503 at once.
    #[arg(long, default_value_t = 512, value_parser = int_in::<1, { serve::MAX_CONNECTIONS }>)]
    pub max_connections: usize,
    /// Most simultaneous connections from one client address, so a few slow or hostile
    /// clients cannot take every connection; more get 503 at once.
    #[arg(long, default_value_t = 128, value_parser = int_in::<1, { serve::MAX_CONNECTIONS }>)]
    pub max_connections_per_client: usize,
    /// Seconds a client has to send its request headers, and again its body.
    #[arg(long, default_value_t = 5, value_parser = int_in::<1, { serve::MAX_TIMEOUT_S }>)]
    pub client_timeout: usize,
    /// Seconds a connection may sit with no byte moving either way (an idle keep-alive
    /// connection, or a client that stopped reading its answers) before it is closed.
    #[arg(long, default_value_t = 30, value_parser = int_in::<1, { serve::MAX_TIMEOUT_S }>)]
    pub idle_timeout: usize,
    /// Milliseconds a request may wait for the scorer before it is answered 503 with
    /// Retry-After (so a burst cannot queue work without limit).
    #[arg(long, default_value_t = 2000, value_parser = int_in::<1, { serve::MAX_TIMEOUT_S * 1000 }>)]
    pub queue_timeout_ms: usize,
    /// Names whose scores the service remembers, so a name asked again (most DNS traffic
    /// repeats) is answered without the model; the same answer either way. 0: no cache.
    /// Memory: about 320 bytes a name at worst (253-byte names, a binary model), so the
    /// default holds at most about 21 MB; real names take a fraction of that.
    #[arg(long, value_name = "N", default_value_t = 65_536, value_parser = int_in::<0, { dga_lite::score_cache::MAX_CAPACITY }>)]
    pub cache_names: usize,
    #[command(flatten)]
    pub scoring: ScoringArgs,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args)]
pub struct BenchArgs {
    /// Thread counts to measure, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2", value_parser = int_in::<1, MAX_THREADS>)]
    pub threads: Vec<usize>,
    /// Folder with benign.csv and dga.csv to sample real names from (5,000 of each);
    /// generated names of realistic length are used when it is absent.
    #[arg(long, default_value = "../shared/data")]
    pub data: PathBuf,
    /// Training names to time per measurement (batch 128).
    #[arg(long, default_value_t = 6400, value_parser = int_in::<1, 10_000_000>)]
    pub train_names: usize,
    /// Names to score per measurement (batch 1024).
    #[arg(long, default_value_t = 20480, value_parser = int_in::<1, 100_000_000>)]
    pub score_names: usize,
    /// Times to repeat each measurement, on both sides, keeping the best: a shared or virtual
    /// machine's neighbours slow some runs down, and best-of-N filters that out.
    #[arg(long, default_value_t = 3, value_parser = int_in::<1, 1000>)]
    pub repeat: usize,
    /// Python with torch installed, for the peer.
    #[arg(long, default_value = "python3")]
    pub python: String,
    /// The peer script (run from the repository root, or give its path).
    #[arg(long, default_value = "benches/peer_pytorch.py")]
    pub peer_script: PathBuf,
    /// Measure only dga-lite.
    #[arg(long)]
    pub no_peer: bool,
    /// Backends to measure, comma separated: `cpu`, `cuda` (training and scoring at batch 128
    /// and 4096 on the GPU, beside the CPU and PyTorch on the same GPU), or `cpu,cuda`.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "cpu",
        alias = "device"
    )]
    pub backend: Vec<BackendArg>,
}

#[derive(Args)]
pub struct PredictArgs {
    /// Model file (default: the model embedded in this binary; see `dga-lite model info`).
    #[arg(long, value_name = "MODEL")]
    pub model: Option<PathBuf>,
    /// Names to score.
    pub names: Vec<String>,
    /// Read names from a file, or - for standard input (gzip is detected).
    #[arg(long, value_name = "FILE|-")]
    pub input: Option<String>,
    /// The column holding the name in CSV or Zeek input: a header name or a number from 1.
    #[arg(long, value_name = "NAME|N")]
    pub column: Option<String>,
    /// The field holding the name in JSON-lines input, dotted for nesting (`dns.rrname`).
    /// Default: the first of domain, query, qname, name, hostname, host.
    #[arg(long, value_name = "PATH")]
    pub field: Option<String>,
    /// Write only the names called DGA (invalid lines are counted on stderr).
    #[arg(long)]
    pub only_dga: bool,
    #[command(flatten)]
    pub scoring: ScoringArgs,
    /// Suffix allow list, one per line (`cloudfront.net` allows every name under it);
    /// allowed names are reported as `allowed`, not scored. May be repeated.
    #[arg(long, value_name = "FILE")]
    pub allow: Vec<PathBuf>,
    /// One JSON object per line: {"domain", "score", "dga"} or {"domain", "error"}.
    #[arg(long)]
    pub json: bool,
    /// Call DGA at or above this score (default: the model's threshold).
    #[arg(long, value_parser = probability)]
    pub threshold: Option<f32>,
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
    /// Remember the scores of this many recent names, so a name a log repeats is scored
    /// once; the same output either way. 0: no cache. Memory: about 320 bytes a name at
    /// worst, so the default holds at most about 21 MB.
    #[arg(long, value_name = "N", default_value_t = 65_536, value_parser = int_in::<0, { dga_lite::score_cache::MAX_CAPACITY }>)]
    pub cache_names: usize,
    #[command(flatten)]
    pub common: Common,
}

impl OptimizerArg {
    pub fn config(self) -> OptimizerConfig {
        match self {
            OptimizerArg::Rmsprop => OptimizerConfig::rmsprop(),
            OptimizerArg::Adam => OptimizerConfig::adam(),
        }
    }
}

impl ActivationArg {
    pub fn activation(self) -> RecurrentActivation {
        match self {
            ActivationArg::Sigmoid => RecurrentActivation::Sigmoid,
            ActivationArg::HardSigmoid => RecurrentActivation::HardSigmoid,
        }
    }
}

impl ScopeArg {
    pub fn scope(self) -> Scope {
        match self {
            ScopeArg::Fqdn => Scope::Fqdn,
            ScopeArg::Registrable => Scope::Registrable,
        }
    }
}

impl ClassWeightArg {
    pub fn class_weight(self) -> dga_lite::train::ClassWeight {
        match self {
            ClassWeightArg::None => dga_lite::train::ClassWeight::None,
            ClassWeightArg::Balanced => dga_lite::train::ClassWeight::Balanced,
        }
    }
}
