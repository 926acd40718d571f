//! Binary detection metrics: exact tie-aware ROC AUC, TPR at fixed FPR, confusion matrix, and
//! per-family detection rates.

use serde::Serialize;
use std::collections::BTreeMap;

/// The false-positive rates at which TPR is reported.
pub const FPR_POINTS: [(f64, &str); 3] = [(1e-2, "0.01"), (1e-3, "0.001"), (1e-4, "0.0001")];

/// ROC AUC as the Mann-Whitney statistic: the probability that a random positive scores above
/// a random negative, ties counting one half. Exact (average ranks), O(n log n).
/// `None` when either class is absent.
pub fn roc_auc(scores: &[f32], positive: &[bool]) -> Option<f64> {
    let n_pos = positive.iter().filter(|&&p| p).count();
    let n_neg = positive.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum_pos = 0.0f64;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let average_rank = (i + j) as f64 / 2.0 + 1.0;
        let tied_pos = order[i..=j].iter().filter(|&&k| positive[k]).count();
        rank_sum_pos += average_rank * tied_pos as f64;
        i = j + 1;
    }
    let u = rank_sum_pos - (n_pos as f64) * (n_pos as f64 + 1.0) / 2.0;
    Some(u / (n_pos as f64 * n_neg as f64))
}

/// An operating point: call DGA when `score >= threshold`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct OperatingPoint {
    pub threshold: f32,
    pub tpr: f64,
    pub fpr: f64,
}

/// Every operating point, from the highest threshold down: first "nothing called DGA"
/// (threshold above every score), then one point per distinct score (ties never split).
/// Empty when either class is absent.
pub fn operating_points(scores: &[f32], positive: &[bool]) -> Vec<OperatingPoint> {
    let n_pos = positive.iter().filter(|&&p| p).count();
    let n_neg = positive.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return Vec::new();
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut points = vec![OperatingPoint {
        threshold: next_up(scores[order[0]]),
        tpr: 0.0,
        fpr: 0.0,
    }];
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut i = 0;
    while i < order.len() {
        let score = scores[order[i]];
        while i < order.len() && scores[order[i]] == score {
            if positive[order[i]] {
                tp += 1
            } else {
                fp += 1
            }
            i += 1;
        }
        points.push(OperatingPoint {
            threshold: score,
            tpr: tp as f64 / n_pos as f64,
            fpr: fp as f64 / n_neg as f64,
        });
    }
    points
}

/// The highest TPR reachable with FPR at most `max_fpr`, and the threshold that gives it.
/// Thresholds are the distinct scores, so tied scores are never split.
pub fn tpr_at_fpr(scores: &[f32], positive: &[bool], max_fpr: f64) -> Option<OperatingPoint> {
    operating_points(scores, positive)
        .into_iter()
        .take_while(|p| p.fpr <= max_fpr)
        .last()
}

/// The ROC curve: `(fpr, tpr)` after each distinct score, from the highest score down (ties
/// never split), starting at (0, 0). Empty when either class is absent.
pub fn roc_curve(scores: &[f32], positive: &[bool]) -> Vec<(f64, f64)> {
    operating_points(scores, positive)
        .into_iter()
        .map(|p| (p.fpr, p.tpr))
        .collect()
}

fn next_up(x: f32) -> f32 {
    if x.is_nan() || x == f32::INFINITY {
        return x;
    }
    let bits = x.to_bits();
    let next = if x == 0.0 {
        1
    } else if x > 0.0 {
        bits + 1
    } else {
        bits - 1
    };
    f32::from_bits(next)
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Confusion {
    pub tp: u64,
    pub fp: u64,
    pub tn: u64,
    #[serde(rename = "fn")]
    pub fn_: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FamilyRate {
    pub n: u64,
    pub detected: u64,
    pub recall: f64,
}

/// The `eval --json` object. Keys are a stable interface: add, never rename.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub n: u64,
    pub n_benign: u64,
    pub n_dga: u64,
    pub threshold: f32,
    pub accuracy: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// `null` when one class is absent.
    pub auc: Option<f64>,
    /// TPR at FPR 1e-2, 1e-3, 1e-4, keyed "0.01", "0.001", "0.0001".
    pub tpr_at_fpr: BTreeMap<String, Option<f64>>,
    /// The threshold that reaches each of those points.
    pub threshold_at_fpr: BTreeMap<String, Option<f32>>,
    pub confusion: Confusion,
    /// Detection rate of each DGA family (at `threshold`), when families are known.
    pub per_family: BTreeMap<String, FamilyRate>,
    /// Multiclass models only: which class each name was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multiclass: Option<crate::class_metrics::ClassReport>,
}

/// `a / b`, 0 when `b` is 0.
pub fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// All metrics for scores of names whose truth is `positive` (DGA) and, for DGA names, an
/// optional family.
pub fn evaluate(
    scores: &[f32],
    positive: &[bool],
    families: &[Option<&str>],
    threshold: f32,
) -> Report {
    assert_eq!(scores.len(), positive.len());
    assert_eq!(scores.len(), families.len());
    let mut confusion = Confusion::default();
    let mut per_family: BTreeMap<String, FamilyRate> = BTreeMap::new();
    for ((&score, &is_dga), family) in scores.iter().zip(positive).zip(families) {
        let called = score >= threshold;
        match (is_dga, called) {
            (true, true) => confusion.tp += 1,
            (true, false) => confusion.fn_ += 1,
            (false, true) => confusion.fp += 1,
            (false, false) => confusion.tn += 1,
        }
        if let (true, Some(family)) = (is_dga, family) {
            let entry = per_family.entry(family.to_string()).or_insert(FamilyRate {
                n: 0,
                detected: 0,
                recall: 0.0,
            });
            entry.n += 1;
            entry.detected += u64::from(called);
        }
    }
    for rate in per_family.values_mut() {
        rate.recall = ratio(rate.detected, rate.n);
    }
    let c = &confusion;
    let precision = ratio(c.tp, c.tp + c.fp);
    let recall = ratio(c.tp, c.tp + c.fn_);
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    let mut tpr_map = BTreeMap::new();
    let mut thr_map = BTreeMap::new();
    for (fpr, key) in FPR_POINTS {
        let point = tpr_at_fpr(scores, positive, fpr);
        tpr_map.insert(key.to_string(), point.map(|p| p.tpr));
        thr_map.insert(key.to_string(), point.map(|p| p.threshold));
    }
    Report {
        n: scores.len() as u64,
        n_benign: c.tn + c.fp,
        n_dga: c.tp + c.fn_,
        threshold,
        accuracy: ratio(c.tp + c.tn, scores.len() as u64),
        precision,
        recall,
        f1,
        auc: roc_auc(scores, positive),
        tpr_at_fpr: tpr_map,
        threshold_at_fpr: thr_map,
        confusion,
        per_family,
        multiclass: None,
    }
}

impl Report {
    /// Whether the benign names can measure a false-positive rate this fine: with n of them
    /// the finest rate is 1/n, and a TPR "at" a finer FPR is only the TPR at no false positive.
    pub fn resolves_fpr(&self, fpr: f64) -> bool {
        fpr * self.n_benign as f64 >= 1.0
    }

    /// The TPR at a fixed FPR as text: four decimals, `n/a`, or `<1/N` when the sample does
    /// not resolve that FPR.
    pub fn tpr_text(&self, fpr: f64, key: &str) -> String {
        if !self.resolves_fpr(fpr) {
            return format!("<1/{}", self.n_benign);
        }
        self.tpr_at_fpr
            .get(key)
            .copied()
            .flatten()
            .map_or("n/a".to_string(), |v| format!("{v:.4}"))
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let opt = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.4}"));
        writeln!(
            f,
            "names        {} ({} benign, {} DGA)",
            self.n, self.n_benign, self.n_dga
        )?;
        writeln!(f, "ROC AUC      {}", opt(self.auc))?;
        for (fpr, key) in FPR_POINTS {
            if !self.resolves_fpr(fpr) {
                writeln!(
                    f,
                    "TPR @ FPR {key:<7}not measured: {} benign names resolve FPR down to 1/{} only",
                    self.n_benign, self.n_benign
                )?;
                continue;
            }
            let tpr = self.tpr_at_fpr.get(key).copied().flatten();
            let thr = self.threshold_at_fpr.get(key).copied().flatten();
            let thr = thr.map_or(String::new(), |t| format!("  (threshold {t:.6})"));
            writeln!(f, "TPR @ FPR {key:<7}{}{thr}", opt(tpr))?;
        }
        writeln!(f, "at threshold {}:", self.threshold)?;
        writeln!(f, "  accuracy   {:.4}", self.accuracy)?;
        writeln!(f, "  precision  {:.4}", self.precision)?;
        writeln!(f, "  recall     {:.4}", self.recall)?;
        writeln!(f, "  F1         {:.4}", self.f1)?;
        let c = &self.confusion;
        writeln!(f, "  confusion  {:>10} {:>10}", "called DGA", "called ok")?;
        writeln!(f, "    DGA      {:>10} {:>10}", c.tp, c.fn_)?;
        writeln!(f, "    benign   {:>10} {:>10}", c.fp, c.tn)?;
        if !self.per_family.is_empty() {
            writeln!(f, "detection by family (worst first):")?;
            let mut families: Vec<_> = self.per_family.iter().collect();
            families.sort_by(|a, b| a.1.recall.total_cmp(&b.1.recall).then(a.0.cmp(b.0)));
            for (name, rate) in families {
                writeln!(
                    f,
                    "  {name:<24} {:>8}/{:<8} {:.4}",
                    rate.detected, rate.n, rate.recall
                )?;
            }
        }
        if let Some(m) = &self.multiclass {
            write!(f, "{m}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_counts_ties_as_half() {
        // One positive tied with one negative, one positive above everything.
        let scores = [0.5, 0.5, 0.9, 0.1];
        let positive = [true, false, true, false];
        // pairs: (0.5 vs 0.5) = 0.5, (0.5 vs 0.1) = 1, (0.9 vs 0.5) = 1, (0.9 vs 0.1) = 1
        assert_eq!(roc_auc(&scores, &positive), Some(3.5 / 4.0));
        assert_eq!(roc_auc(&[0.1, 0.2], &[true, true]), None);
    }

    #[test]
    fn tpr_at_fpr_never_splits_ties() {
        let scores = [0.9, 0.8, 0.8, 0.3, 0.2];
        let positive = [true, true, false, true, false];
        let p = tpr_at_fpr(&scores, &positive, 0.0).unwrap();
        assert_eq!((p.threshold, p.tpr, p.fpr), (0.9, 1.0 / 3.0, 0.0));
        let p = tpr_at_fpr(&scores, &positive, 0.5).unwrap();
        assert_eq!((p.threshold, p.tpr, p.fpr), (0.3, 1.0, 0.5));
    }

    #[test]
    fn roc_curve_walks_distinct_scores() {
        let scores = [0.9, 0.8, 0.8, 0.3, 0.2];
        let positive = [true, true, false, true, false];
        let c = roc_curve(&scores, &positive);
        assert_eq!(
            c,
            vec![
                (0.0, 0.0),
                (0.0, 1.0 / 3.0),
                (0.5, 2.0 / 3.0),
                (0.5, 1.0),
                (1.0, 1.0)
            ]
        );
        assert!(roc_curve(&[0.1], &[true]).is_empty());
    }

    #[test]
    fn confusion_and_families() {
        let scores = [0.9, 0.2, 0.7, 0.1];
        let positive = [true, true, false, false];
        let families = [Some("a"), Some("b"), None, None];
        let r = evaluate(&scores, &positive, &families, 0.5);
        assert_eq!(
            r.confusion,
            Confusion {
                tp: 1,
                fp: 1,
                tn: 1,
                fn_: 1
            }
        );
        assert_eq!(r.accuracy, 0.5);
        assert_eq!(r.per_family["a"].recall, 1.0);
        assert_eq!(r.per_family["b"].recall, 0.0);
    }
}
