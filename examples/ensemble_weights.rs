//! How an LSTM + CNN ensemble's score depends on the LSTM's weight, on labelled names you
//! give (a validation split written by `train --split-out`, never the test split): ROC AUC and
//! TPR at FPR 1e-2 and 1e-3 for each weight from 0 (the CNN alone) to 1 (the LSTM alone).
//! `train` picks the weight with the best validation AUC; this shows what the others give
//! (BENCHMARKS.md, "A better shipped model").
//!
//! cargo run --release --example ensemble_weights -- MODEL.safetensors BENIGN.txt DGA.txt

use dga_lite::backend::Scorer;
use dga_lite::data::{self, Class};
use dga_lite::metrics::{roc_auc, tpr_at_fpr};
use dga_lite::model::file::Net;
use dga_lite::model::{ModelFile, TrainingInfo, ensemble};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model_path, benign_path, dga_path] = args.as_slice() else {
        return Err("give the ensemble model, a benign file and a DGA file".into());
    };
    let model = ModelFile::load(std::path::Path::new(model_path))?;
    let Net::LstmCnnEnsemble(both) = model.net() else {
        return Err(format!("{model_path} is not an lstm-cnn-ensemble").into());
    };
    let mut names = Vec::new();
    let mut positive = Vec::new();
    for (path, class) in [(benign_path, Class::Benign), (dga_path, Class::Dga)] {
        let (samples, _) = data::read_samples_from(path, class, None)?;
        positive.extend(samples.iter().map(|_| class == Class::Dga));
        names.extend(samples.into_iter().map(|s| s.name));
    }
    let alone = |net: Net| {
        Scorer::cpu(ModelFile::new(
            net,
            model.vocab.clone(),
            0.5,
            TrainingInfo::default(),
        ))
        .score_names(&names)
    };
    let lstm = alone(Net::EndgameLstm(both.lstm.clone()));
    let cnn = alone(Net::SnowmanCnn(both.cnn.clone()));
    println!(
        "{} names ({} DGA); the model's weight: {}",
        names.len(),
        positive.iter().filter(|&&p| p).count(),
        both.lstm_weight
    );
    println!("lstm_weight   AUC       TPR@1e-2  TPR@1e-3");
    for weight in ensemble::candidate_weights() {
        let scores = ensemble::combine(weight, &lstm, &cnn);
        let tpr = |fpr| tpr_at_fpr(&scores, &positive, fpr).map_or(f64::NAN, |p| p.tpr);
        println!(
            "{weight:<13.2} {:<9.5} {:<9.4} {:.4}",
            roc_auc(&scores, &positive).unwrap_or(f64::NAN),
            tpr(1e-2),
            tpr(1e-3)
        );
    }
    Ok(())
}
