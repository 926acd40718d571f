//! `dga-lite eval`: one or more models measured on labelled names, with the misclassified
//! names, an HTML report, and a side-by-side table when there are several.

use super::args::EvalArgs;
use super::output::{fit_path, out};
use anyhow::{Context, bail};
use dga_lite::data::{self, Class};
use dga_lite::model::embedded;
use dga_lite::words::count;
use dga_lite::{evaluate, metrics};
use std::io::Write;
use std::path::PathBuf;

pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    super::set_threads(&args.common)?;
    let threshold = super::check_threshold(args.threshold)?;
    if args.benign.is_empty() && args.dga.is_empty() {
        bail!("eval needs labelled names: pass --benign and/or --dga");
    }
    let format = args.format.map(|f| f.format());
    let mut samples = Vec::new();
    for (paths, class) in [(&args.benign, Class::Benign), (&args.dga, Class::Dga)] {
        for path in paths {
            let (read, report) = data::read_samples_from(path, class, format)?;
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
        let model = super::load_scorer(*path, &args.common)?;
        let label = path.map_or(embedded::NAME.to_string(), |p| p.display().to_string());
        let options = evaluate::EvalOptions {
            threshold,
            scope: args.scoring.scope.scope(),
            score_local: args.scoring.score_local,
        };
        let evaluation = evaluate::evaluate(&model, label, &samples, &options);
        if evaluation.local > 0 {
            eprintln!(
                "{}: {} cannot be public (single labels, .local, reverse lookups...): called benign without scoring (--score-local scores them)",
                evaluation.label,
                count(evaluation.local as u64, "name")
            );
        }
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
                .with_context(|| format!("cannot write {}", file.display()))?;
            let written = evaluation
                .write_misclassified(&samples, std::io::BufWriter::new(out))
                .with_context(|| format!("cannot write {}", file.display()))?;
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
            .with_context(|| format!("cannot write {}", file.display()))?;
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
        out!("{}", text?);
    } else if reports.len() == 1 {
        write!(std::io::stdout().lock(), "{}", reports[0].1)
            .context("cannot write to standard output")?;
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
