//! `dga-lite audit`: k-fold out-of-fold scores, and the names whose score contradicts their
//! label, ranked, to a CSV.

use super::args::{AuditArgs, ModelType};
use super::output::out;
use super::progress::Terminal;
use anyhow::Context;
use dga_lite::data::Class;
use dga_lite::model::{Architecture, EndgameConfig, SnowmanConfig};
use dga_lite::train::{TrainOptions, audit};
use dga_lite::words::count;

pub fn run(args: AuditArgs) -> anyhow::Result<()> {
    super::set_threads(&args.common)?;
    let options = TrainOptions {
        benign: args.data.benign,
        dga: args.data.dga,
        format: args.data.format.map(|f| f.format()),
        architecture: match args.model_type {
            ModelType::SnowmanCnn => Architecture::SnowmanCnn(SnowmanConfig::default()),
            ModelType::EndgameLstm => Architecture::EndgameLstm(EndgameConfig::default()),
            ModelType::LstmCnnEnsemble => {
                Architecture::LstmCnnEnsemble(EndgameConfig::default(), SnowmanConfig::default())
            }
            ModelType::EndgameLstmMulticlass => {
                Architecture::EndgameLstmMulticlass(EndgameConfig::default())
            }
        },
        epochs: args.epochs,
        batch_size: args.batch_size,
        seed: args.seed,
        max_per_class: args.data.max_per_class,
        test_split: 0.0,
        val_split: 0.0,
        backend: args.common.backend.backend(),
        ..TrainOptions::default()
    };
    let started = std::time::Instant::now();
    let outcome = audit::audit(&options, args.folds, &Terminal::new(!args.quiet))?;
    let mut csv = Vec::new();
    audit::write_suspects(&outcome.suspects, &mut csv)?;
    dga_lite::atomic_file::write_atomically(&args.out, &csv)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    let of = |class: Class| outcome.suspects.iter().filter(|s| s.label == class).count();
    eprintln!(
        "audited in {:.1} s; suspects written to {}",
        started.elapsed().as_secs_f64(),
        args.out.display()
    );
    out!(
        "audited {} benign and {} DGA with {} folds",
        count(outcome.audited[0] as u64, "name"),
        outcome.audited[1],
        args.folds
    );
    out!(
        "class thresholds (mean out-of-fold probability of the own class): benign {:.4}, dga {:.4}",
        outcome.thresholds[0],
        outcome.thresholds[1]
    );
    out!(
        "suspects: {} labelled benign that look DGA, {} labelled DGA that look benign",
        of(Class::Benign),
        of(Class::Dga)
    );
    for s in outcome.suspects.iter().take(10) {
        let label = if s.label == Class::Dga {
            "dga"
        } else {
            "benign"
        };
        out!(
            "  {:<40} labelled {label:<6} out-of-fold score {:.4}",
            s.name,
            s.score
        );
    }
    Ok(())
}
