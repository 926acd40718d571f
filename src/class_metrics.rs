//! Multiclass metrics: per-class precision, recall, F1 and support, micro and macro F1, and
//! the confusion matrix, from the class probabilities a multiclass model gives.

use serde::Serialize;

/// One class's row of the report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassStats {
    pub class: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Names of this class in the data.
    pub support: u64,
    /// Names predicted as this class.
    pub predicted: u64,
}

/// The multiclass part of the `eval --json` object. Keys are a stable interface.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassReport {
    pub classes: Vec<String>,
    pub per_class: Vec<ClassStats>,
    /// With one label per name, micro-averaged F1 equals accuracy.
    pub micro_f1: f64,
    /// Unweighted mean of the F1 of the classes with support.
    pub macro_f1: f64,
    /// The same two over benign and the named families only (without `other_dga`).
    pub micro_f1_named: f64,
    pub macro_f1_named: f64,
    /// `confusion[true][predicted]`, in `classes` order.
    pub confusion: Vec<Vec<u64>>,
}

impl ClassReport {
    /// The most frequent confusions between different classes, largest first:
    /// `(true class, predicted class, names)`.
    pub fn top_confusions(&self, limit: usize) -> Vec<(&str, &str, u64)> {
        let mut pairs: Vec<(&str, &str, u64)> = Vec::new();
        for (t, row) in self.confusion.iter().enumerate() {
            for (p, &n) in row.iter().enumerate() {
                if t != p && n > 0 {
                    pairs.push((&self.classes[t], &self.classes[p], n));
                }
            }
        }
        pairs.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(b.0)).then(a.1.cmp(b.1)));
        pairs.truncate(limit);
        pairs
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// The predicted class of each row of probabilities `[n, K]`: the most probable, the lower
/// index on a tie.
pub fn predicted_classes(probabilities: &[f32], classes: usize) -> Vec<usize> {
    probabilities
        .chunks_exact(classes)
        .map(|row| {
            row.iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |best, (k, &p)| {
                    if p > best.1 { (k, p) } else { best }
                })
                .0
        })
        .collect()
}

/// Micro and macro F1 over the classes in `keep` (both truth and prediction restricted to
/// names whose true class is kept; a kept name predicted as another class counts against it).
fn averages(confusion: &[Vec<u64>], stats: &[ClassStats], keep: &[bool]) -> (f64, f64) {
    let (mut correct, mut total) = (0u64, 0u64);
    for (t, row) in confusion.iter().enumerate().filter(|(t, _)| keep[*t]) {
        correct += row[t];
        total += row.iter().sum::<u64>();
    }
    let with_support: Vec<f64> = stats
        .iter()
        .zip(keep)
        .filter(|(s, k)| **k && s.support > 0)
        .map(|(s, _)| s.f1)
        .collect();
    let macro_f1 = if with_support.is_empty() {
        0.0
    } else {
        with_support.iter().sum::<f64>() / with_support.len() as f64
    };
    (ratio(correct, total), macro_f1)
}

/// The report for probabilities `[n, K]` of names whose true classes are `truth`.
pub fn evaluate(probabilities: &[f32], truth: &[usize], classes: &[String]) -> ClassReport {
    let k = classes.len();
    assert_eq!(probabilities.len(), truth.len() * k);
    let predicted = predicted_classes(probabilities, k);
    let mut confusion = vec![vec![0u64; k]; k];
    for (&t, &p) in truth.iter().zip(&predicted) {
        confusion[t][p] += 1;
    }
    let per_class: Vec<ClassStats> = (0..k)
        .map(|c| {
            let tp = confusion[c][c];
            let support: u64 = confusion[c].iter().sum();
            let predicted: u64 = confusion.iter().map(|row| row[c]).sum();
            let (precision, recall) = (ratio(tp, predicted), ratio(tp, support));
            let f1 = if precision + recall > 0.0 {
                2.0 * precision * recall / (precision + recall)
            } else {
                0.0
            };
            ClassStats {
                class: classes[c].clone(),
                precision,
                recall,
                f1,
                support,
                predicted,
            }
        })
        .collect();
    let all = vec![true; k];
    let named: Vec<bool> = classes
        .iter()
        .map(|c| c != crate::classes::OTHER_DGA)
        .collect();
    let (micro_f1, macro_f1) = averages(&confusion, &per_class, &all);
    let (micro_f1_named, macro_f1_named) = averages(&confusion, &per_class, &named);
    ClassReport {
        classes: classes.to_vec(),
        per_class,
        micro_f1,
        macro_f1,
        micro_f1_named,
        macro_f1_named,
        confusion,
    }
}

impl std::fmt::Display for ClassReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "multiclass: micro F1 {:.4}, macro F1 {:.4} (without {}: micro {:.4}, macro {:.4})",
            self.micro_f1,
            self.macro_f1,
            crate::classes::OTHER_DGA,
            self.micro_f1_named,
            self.macro_f1_named
        )?;
        writeln!(
            f,
            "  {:<24} {:>9} {:>9} {:>9} {:>9}",
            "class", "precision", "recall", "F1", "support"
        )?;
        for s in &self.per_class {
            writeln!(
                f,
                "  {:<24} {:>9.4} {:>9.4} {:>9.4} {:>9}",
                s.class, s.precision, s.recall, s.f1, s.support
            )?;
        }
        let top = self.top_confusions(10);
        if !top.is_empty() {
            writeln!(f, "most frequent confusions (true -> predicted):")?;
            for (t, p, n) in top {
                writeln!(f, "  {t} -> {p}: {n}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn per_class_scores_and_averages_by_hand() {
        // Truth: benign, benign, a, a, b. Predicted: benign, a, a, a, benign.
        let p = [
            0.9, 0.05, 0.05, //
            0.2, 0.7, 0.1, //
            0.1, 0.8, 0.1, //
            0.3, 0.4, 0.3, //
            0.5, 0.2, 0.3,
        ];
        let r = evaluate(&p, &[0, 0, 1, 1, 2], &names(&["benign", "a", "b"]));
        assert_eq!(
            r.confusion,
            vec![vec![1, 1, 0], vec![0, 2, 0], vec![1, 0, 0]]
        );
        let benign = &r.per_class[0];
        assert_eq!((benign.precision, benign.recall), (0.5, 0.5));
        let a = &r.per_class[1];
        assert!((a.precision - 2.0 / 3.0).abs() < 1e-12 && a.recall == 1.0);
        assert!((a.f1 - 0.8).abs() < 1e-12);
        assert_eq!(r.per_class[2].f1, 0.0);
        assert!((r.micro_f1 - 3.0 / 5.0).abs() < 1e-12);
        assert!((r.macro_f1 - (0.5 + 0.8 + 0.0) / 3.0).abs() < 1e-12);
        assert_eq!(r.top_confusions(1), vec![("b", "benign", 1)]);
    }

    #[test]
    fn named_averages_leave_other_dga_out() {
        let p = [0.9, 0.1, 0.1, 0.9, 0.2, 0.8];
        let r = evaluate(&p, &[0, 1, 0], &names(&["benign", "other_dga"]));
        assert!((r.micro_f1 - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(r.micro_f1_named, 0.5);
    }
}
