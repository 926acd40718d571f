//! The commands of `dga-lite`, one file each, over the library. `args.rs` defines every flag;
//! each command turns its flags into the library's options, calls it, and prints the result.
//! (This folder belongs to the binary, not to the library: `src/lib.rs` does not name it.)

pub mod args;
mod audit;
mod bench;
mod eval;
mod model_info;
mod output;
mod predict;
mod progress;
#[cfg(feature = "server")]
mod serve;
mod train;

use anyhow::{Context, bail};
use args::{Cli, Command, Common, ModelCommand};
use clap::FromArgMatches;
use dga_lite::backend::Scorer;
use dga_lite::model::{ModelFile, embedded};

/// Runs the command `matches` holds (parsed from `Cli`).
pub fn run(matches: &clap::ArgMatches) -> anyhow::Result<()> {
    let cli = Cli::from_arg_matches(matches)?;
    match cli.command {
        Command::Train(args) => {
            let train_matches = matches
                .subcommand_matches("train")
                .context("train's arguments")?;
            train::run(*args, train_matches)
        }
        Command::Eval(args) => eval::run(args),
        Command::Audit(args) => audit::run(args),
        Command::Predict(args) => predict::run(args),
        Command::Model(ModelCommand::Info { model, json }) => model_info::run(model, json),
        Command::Bench(args) => bench::run(args),
        #[cfg(feature = "server")]
        Command::Serve(args) => serve::run(args),
        #[cfg(not(feature = "server"))]
        Command::Serve { .. } => bail!(
            "this build has no HTTP server (it was built with --no-default-features, the lean \
             sensor build); build with the default features for `serve`: cargo build --release"
        ),
    }
}

fn set_threads(common: &Common) -> anyhow::Result<()> {
    if let Some(n) = common.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()?;
    }
    Ok(())
}

fn check_threshold(t: Option<f32>) -> anyhow::Result<Option<f32>> {
    match t {
        Some(t) if !(0.0..=1.0).contains(&t) => bail!("--threshold {t} is not in [0, 1]"),
        other => Ok(other),
    }
}

/// The model at `path`, or the embedded default when no path is given.
fn load_model(path: Option<&std::path::Path>) -> anyhow::Result<ModelFile> {
    Ok(match path {
        Some(path) => ModelFile::load(path)?,
        None => embedded::default_model()?,
    })
}

/// The model at `path` (or the embedded default), ready to score on the chosen backend; a
/// GPU that fails later says so on standard error and scoring moves to the CPU.
fn load_scorer(path: Option<&std::path::Path>, common: &Common) -> anyhow::Result<Scorer> {
    let scorer = Scorer::new(load_model(path)?, common.backend.backend())?;
    Ok(scorer.with_notice(|line| eprintln!("{line}")))
}
