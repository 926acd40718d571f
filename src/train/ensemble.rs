//! Training the LSTM + CNN ensemble (`--model-type lstm-cnn-ensemble`): each member is fitted
//! on the same split as it would be alone (the LSTM bit for bit as `--model-type
//! endgame-lstm` with the same seed), then the weight of the LSTM's vote is chosen on the
//! validation split, and the ensemble gets its own operating points and held-out report.

use super::fit::{Fitted, Run, fit, scores_of, thresholds};
use super::{STREAM_ENSEMBLE_CNN, STREAM_INIT, TrainError};
use crate::metrics;
use crate::model::ensemble::{self, LstmCnnEnsemble};
use crate::model::file::{MemberInfo, Net};
use crate::model::{EndgameConfig, EndgameLstm, SnowmanCnn, SnowmanConfig};

/// The fitted ensemble, and what the model card records about its members.
pub fn fit_ensemble(
    lstm_config: EndgameConfig,
    cnn_config: &SnowmanConfig,
    vocab_size: usize,
    run: &Run,
) -> Result<(Fitted, Vec<MemberInfo>), TrainError> {
    let progress = run.progress;
    let (_, val_split, test_split) = run.splits;
    progress.line("ensemble member 1 of 2: the Endgame LSTM");
    let lstm_init = &mut run.root.fork(STREAM_INIT);
    let lstm = fit(EndgameLstm::new(lstm_config, vocab_size, lstm_init), run)?;
    progress.line("ensemble member 2 of 2: the Snowman CNN");
    // The CNN draws from streams of its own, so the LSTM's are those of a run without it.
    let cnn_root = run.root.fork(STREAM_ENSEMBLE_CNN);
    let cnn_run = Run {
        root: &cnn_root,
        ..*run
    };
    let cnn_init = &mut cnn_root.fork(STREAM_INIT);
    let cnn = fit(
        SnowmanCnn::new(cnn_config.clone(), vocab_size, cnn_init),
        &cnn_run,
    )?;
    let members = vec![member("endgame-lstm", &lstm), member("snowman-cnn", &cnn)];
    let (Net::EndgameLstm(lstm_net), Net::SnowmanCnn(cnn_net)) = (lstm.net, cnn.net) else {
        unreachable!("fit returns the architecture it was given");
    };

    // The LSTM's weight: the best validation AUC over 0, 0.05, ..., 1; among equals, the one
    // nearest an even average (a small validation split ties often, and should not hand the
    // whole vote to one member on a tie).
    let positive = val_split.positives();
    let lstm_val = scores_of(&lstm_net, val_split);
    let cnn_val = scores_of(&cnn_net, val_split);
    let mut best: Option<(f64, f32)> = None;
    for weight in ensemble::candidate_weights() {
        let auc = metrics::roc_auc(&ensemble::combine(weight, &lstm_val, &cnn_val), &positive);
        if let Some(auc) = auc
            && best.is_none_or(|(b, w)| {
                auc > b || (auc == b && (weight - 0.5).abs() < (w - 0.5).abs())
            })
        {
            best = Some((auc, weight));
        }
    }
    let Some((val_auc, weight)) = best else {
        return Err(TrainError::Invalid(
            "the ensemble chooses its weight on the validation split, which needs names of both classes: pass a larger --val-split".into(),
        ));
    };
    progress.line(&format!(
        "ensemble: LSTM weight {weight:.2}, validation AUC {val_auc:.5} (LSTM alone {:.5}, CNN alone {:.5})",
        metrics::roc_auc(&lstm_val, &positive).unwrap_or(f64::NAN),
        metrics::roc_auc(&cnn_val, &positive).unwrap_or(f64::NAN),
    ));
    let both = LstmCnnEnsemble::new(lstm_net, cnn_net, weight).map_err(TrainError::Invalid)?;
    let val_scores = both.combine(&lstm_val, &cnn_val);
    let (threshold, operating_points) =
        thresholds(&val_scores, val_split, run.options.target_fpr, progress);
    let report = |split: &super::Split| {
        let lstm = scores_of(&both.lstm, split);
        let cnn = scores_of(&both.cnn, split);
        split.evaluate_scores(&both.combine(&lstm, &cnn), threshold)
    };
    let test_report = (!test_split.is_empty()).then(|| report(test_split));
    let audited_test_report = run
        .audited_test
        .filter(|split| !split.is_empty())
        .map(report);
    let mut history = lstm.history;
    history.extend(cnn.history);
    Ok((
        Fitted {
            net: Net::LstmCnnEnsemble(Box::new(both)),
            history,
            best_epoch: lstm.best_epoch,
            threshold,
            operating_points,
            test_report,
            audited_test_report,
        },
        members,
    ))
}

/// A member's line in the model card.
fn member(architecture: &str, fitted: &Fitted) -> MemberInfo {
    MemberInfo {
        architecture: architecture.to_string(),
        epochs_run: fitted.history.len(),
        best_epoch: fitted.best_epoch,
        test_metrics: serde_json::to_value(&fitted.test_report).expect("report serialises"),
    }
}
