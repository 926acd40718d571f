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
