//! `dga-lite model info`: a model's card (architecture, vocabulary, threshold, training data,
//! command, seed, held-out metrics), or its header as JSON.

use super::output::out;
use dga_lite::model::embedded;
use dga_lite::words::count;
use std::path::PathBuf;

pub fn run(model: Option<PathBuf>, json: bool) -> anyhow::Result<()> {
    let loaded = super::load_model(model.as_deref())?;
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
    if let Some(points) = loaded.operating_points {
        out!(
            "verdicts      dga >= {}, suspicious >= {} (validation FPR 1e-3 and 1e-2)",
            points.dga,
            points.suspicious
        );
    }
    if loaded.is_multiclass() {
        out!(
            "classes       {} ({})",
            loaded.classes().len(),
            loaded.classes().join(", ")
        );
    }
    out!("trained with  {}", t.command.join(" "));
    if t.members.is_empty() {
        out!(
            "seed          {}; {} run, best epoch {}",
            t.seed,
            count(t.epochs_run as u64, "epoch"),
            t.best_epoch
        );
    } else {
        out!("seed          {}; the members trained in turn:", t.seed);
        for member in &t.members {
            let auc = member.test_metrics.get("auc").and_then(|v| v.as_f64());
            out!(
                "member        {}: {} run, best epoch {}{}",
                member.architecture,
                count(member.epochs_run as u64, "epoch"),
                member.best_epoch,
                auc.map_or(String::new(), |a| format!(", test AUC alone {a:.5}"))
            );
        }
    }
    if let Some(excluded) = &t.excluded {
        out!(
            "excluded      {} listed in {} (sha256 {}): {} dropped from training and validation, {} in the test split",
            count(excluded.listed, "name"),
            excluded.path,
            excluded.sha256,
            excluded.dropped,
            excluded.in_test
        );
    }
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
    if let Some(audited) = &t.audited_test_metrics {
        if let Some(auc) = audited.get("auc").and_then(|v| v.as_f64()) {
            out!("audited test  AUC {auc:.5} (the test split without the excluded names)");
        }
        if let Some(tpr) = audited.get("tpr_at_fpr") {
            out!("audited TPR   {tpr}");
        }
    }
    if let Some(held_out) = &t.held_out {
        // The whole report, indented under its heading.
        out!("held out      families and lists kept out of every split, scored after training:");
        for line in held_out.to_string().lines() {
            out!("              {line}");
        }
    }
    if model.is_none() {
        out!("\n{}", embedded::CARD);
    }
    Ok(())
}
