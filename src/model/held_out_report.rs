//! The report on names held out of every split (`train --hold-out-family`,
//! `--hold-out-benign`) as the model card keeps it: recall of the families the model never
//! saw, false positives on the benign names it never saw, at the model's own points.
//! `train/held_out.rs` computes it.

use crate::model::file::InputInfo;
use crate::words::count;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Rates at each of the model's points, keyed `dga`, `suspicious` (when the model has
/// operating points) and `threshold` (its binary threshold).
pub type AtPoints = BTreeMap<String, f64>;

/// The held-out DGA families.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeldOutDga {
    pub names: u64,
    /// The share of held-out DGA names at or above each point.
    pub recall: AtPoints,
    /// Per family: names and recall at each point.
    pub families: BTreeMap<String, FamilyRecall>,
    /// Held-out DGA names against the test split's benign names (`null` without them).
    pub auc_against_test_benign: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FamilyRecall {
    pub names: u64,
    pub recall: AtPoints,
}

/// The held-out benign names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeldOutBenign {
    pub names: u64,
    pub inputs: Vec<InputInfo>,
    /// The share of held-out benign names at or above each point.
    pub false_positive_rate: AtPoints,
    pub false_positives: BTreeMap<String, u64>,
    /// The test split's DGA names against the held-out benign names (`null` without them).
    pub auc_test_dga_against: Option<f64>,
    /// The held-out benign names that score highest, to review (label noise or real misses).
    pub highest: Vec<(String, f32)>,
}

/// What the model does on the names held out of every split; in the model card.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeldOutReport {
    /// The scores the rates are counted at (a name at or above a point is called there).
    pub points: BTreeMap<String, f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dga: Option<HeldOutDga>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub benign: Option<HeldOutBenign>,
    /// Held-out DGA names against held-out benign names, when both are held out: neither
    /// side seen in training.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auc_both_held_out: Option<f64>,
}

impl fmt::Display for HeldOutReport {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        // The verdict points first, then the binary threshold.
        let order: Vec<&String> = ["dga", "suspicious", "threshold"]
            .iter()
            .filter_map(|k| self.points.get_key_value(*k).map(|(k, _)| k))
            .collect();
        let at = |rates: &AtPoints| -> String {
            order
                .iter()
                .map(|k| format!("{k} {:.4}", rates[k.as_str()]))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let points: Vec<String> = order
            .iter()
            .map(|k| format!("{k} >= {:.6}", self.points[k.as_str()]))
            .collect();
        writeln!(f, "points: {}", points.join(", "))?;
        let auc_text = |a: Option<f64>| a.map_or("n/a".to_string(), |a| format!("{a:.4}"));
        if let Some(dga) = &self.dga {
            writeln!(
                f,
                "DGA families never seen ({}): ROC AUC against the test split's benign names {}",
                count(dga.names, "name"),
                auc_text(dga.auc_against_test_benign)
            )?;
            writeln!(f, "  recall: {}", at(&dga.recall))?;
            for (family, rates) in &dga.families {
                writeln!(
                    f,
                    "  {family:<20} {:>8}  {}",
                    rates.names,
                    at(&rates.recall)
                )?;
            }
        }
        if let Some(benign) = &self.benign {
            writeln!(
                f,
                "benign names never seen ({}): ROC AUC of the test split's DGA names against them {}",
                count(benign.names, "name"),
                auc_text(benign.auc_test_dga_against)
            )?;
            let called: Vec<String> = order
                .iter()
                .map(|k| {
                    format!(
                        "{k} {:.2e} ({})",
                        benign.false_positive_rate[k.as_str()],
                        benign.false_positives[k.as_str()]
                    )
                })
                .collect();
            writeln!(f, "  false-positive rate: {}", called.join(", "))?;
            let highest: Vec<String> = benign
                .highest
                .iter()
                .map(|(n, s)| format!("{n} {s:.6}"))
                .collect();
            writeln!(f, "  highest scores: {}", highest.join(", "))?;
        }
        if let Some(a) = self.auc_both_held_out {
            writeln!(
                f,
                "held-out DGA names against held-out benign names: ROC AUC {a:.4}"
            )?;
        }
        Ok(())
    }
}
