//! `dga-lite train`: flags to `TrainOptions`, train, write the model, print the held-out report.

use super::args::{Cli, ModelType, TrainArgs};
use super::output::out;
use super::progress::Terminal;
use anyhow::bail;
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory};
use dga_lite::model::{Architecture, EndgameConfig, SnowmanConfig};
use dga_lite::train::{self, TrainOptions};

/// Flags that do not change the model, left out of the command a model records, so the file
/// stays a pure function of seed, data and settings, and a resumed run records what an
/// uninterrupted one does.
const NOT_RECORDED: [&str; 6] = [
    "out",
    "split_out",
    "threads",
    "checkpoint",
    "checkpoint_every",
    "resume",
];

/// The command line as a model records it, derived from the parsed arguments: `dga-lite
/// train`, then every flag given on the command line (in the order given) except
/// `NOT_RECORDED`, each as `--name value...`.
fn recorded_command(matches: &ArgMatches) -> Vec<String> {
    let command = Cli::command();
    let definition = command
        .find_subcommand("train")
        .expect("the train subcommand is defined");
    let mut given: Vec<(usize, Vec<String>)> = Vec::new();
    for arg in definition.get_arguments() {
        let id = arg.get_id().as_str();
        if NOT_RECORDED.contains(&id) || matches.value_source(id) != Some(ValueSource::CommandLine)
        {
            continue;
        }
        let Some(long) = arg.get_long() else { continue };
        let takes_values = arg.get_action().takes_values();
        let mut indices = matches.indices_of(id).into_iter().flatten();
        let occurrences = matches.get_raw_occurrences(id).into_iter().flatten();
        for occurrence in occurrences {
            let values: Vec<String> = occurrence
                .map(|v| v.to_string_lossy().into_owned())
                .collect();
            // An occurrence sits where its first value (or the flag itself) was given.
            let at = indices.next().unwrap_or(usize::MAX);
            for _ in 1..values.len() {
                indices.next();
            }
            let mut tokens = vec![format!("--{long}")];
            if takes_values {
                tokens.extend(values);
            }
            given.push((at, tokens));
        }
    }
    given.sort_by_key(|(at, _)| *at);
    let mut recorded = vec!["dga-lite".to_string(), "train".to_string()];
    recorded.extend(given.into_iter().flat_map(|(_, tokens)| tokens));
    recorded
}

pub fn run(args: TrainArgs, matches: &ArgMatches) -> anyhow::Result<()> {
    super::set_threads(&args.common)?;
    // Fine-tuning keeps the parent's architecture: a --model-type or --recurrent-activation
    // would be ignored, so each is refused rather than dropped silently.
    for (id, flag) in [
        ("model_type", "--model-type"),
        ("recurrent_activation", "--recurrent-activation"),
    ] {
        if args.init.is_some() && matches.value_source(id) == Some(ValueSource::CommandLine) {
            bail!(
                "--init fine-tunes the parent's architecture; leave out {flag} (to train another architecture, leave out --init)"
            );
        }
    }
    let optimizer = args.optimizer.config();
    let optimizer = match args.lr {
        Some(lr) if !(lr > 0.0 && lr.is_finite()) => {
            bail!("--lr {lr} must be a positive number");
        }
        Some(lr) => optimizer.with_lr(lr),
        None => optimizer,
    };
    let lstm = EndgameConfig {
        dropout: args.dropout.unwrap_or(0.5),
        recurrent_activation: args.recurrent_activation.activation(),
        ..EndgameConfig::default()
    };
    let options = TrainOptions {
        benign: args.data.benign,
        dga: args.data.dga,
        format: args.data.format.map(|f| f.format()),
        architecture: match args.model_type {
            ModelType::EndgameLstm => Architecture::EndgameLstm(lstm),
            ModelType::EndgameLstmMulticlass => Architecture::EndgameLstmMulticlass(lstm),
            ModelType::LstmCnnEnsemble => {
                Architecture::LstmCnnEnsemble(lstm, SnowmanConfig::default())
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
        max_per_class: args.data.max_per_class,
        min_family_size: args.min_family_size,
        class_weight: args.class_weight.class_weight(),
        test_split: args.test_split,
        val_split: args.val_split,
        patience: args.patience,
        target_fpr: args.target_fpr,
        checkpoint: args.checkpoint,
        checkpoint_every: args.checkpoint_every,
        resume: args.resume,
        exclude: args.exclude,
        hold_out_families: args.hold_out_family,
        hold_out_benign: args.hold_out_benign,
        // With --init, --dropout is the rate to fine-tune with (else the parent's).
        init_dropout: args.init.as_ref().and(args.dropout),
        init: args.init,
        replay: args.replay,
        split_out: args.split_out,
        command: recorded_command(matches),
        backend: args.common.backend.backend(),
    };
    let started = std::time::Instant::now();
    let outcome = train::train(&options, &Terminal::new(!args.quiet))?;
    outcome.model.save(&args.out)?;
    eprintln!(
        "trained in {:.1} s; model written to {}",
        started.elapsed().as_secs_f64(),
        args.out.display()
    );
    match &outcome.test_report {
        Some(report) => out!("held-out test split:\n{report}"),
        None => out!("no test split (--test-split 0): no held-out report"),
    }
    if let Some(report) = &outcome.audited_test_report {
        out!("held-out test split without the --exclude names (audited labels):\n{report}");
    }
    if let Some(report) = &outcome.held_out_report {
        out!("held out of every split (never trained, validated or tested on):\n{report}");
    }
    Ok(())
}
