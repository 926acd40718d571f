//! `dga-lite eval --report`: one self-contained HTML file (inline SVG and CSS, no scripts, no
//! network) with the headline table, ROC curves on a log FPR axis, score histograms,
//! per-family detection rates and confusion matrices, for one model or several side by side.

pub mod charts;
pub mod svg;

use crate::data::{Class, Sample};
use crate::evaluate::Evaluation;
use crate::metrics::{self, FPR_POINTS};
use std::fmt::Write;
use svg::escape;

fn cell(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |v| format!("{v:.4}"))
}

/// A label escaped for HTML, with line-break opportunities after `/`, `-`, `_` and `.`, so a
/// long path wraps at its folders instead of running out of the table.
fn breakable(label: &str) -> String {
    let mut out = String::new();
    for c in label.chars() {
        out.push_str(&escape(&c.to_string()));
        if matches!(c, '/' | '-' | '_' | '.') {
            out.push_str("<wbr>");
        }
    }
    out
}

/// The headline table: one row per model.
fn headline(evals: &[Evaluation]) -> String {
    let mut t =
        String::from("<table><tr><th>model</th><th>names (benign / DGA)</th><th>ROC AUC</th>");
    for (_, key) in FPR_POINTS {
        let _ = write!(t, "<th>TPR @ FPR {key}</th>");
    }
    t.push_str("<th>threshold</th><th>accuracy</th><th>precision</th><th>recall</th><th>F1</th><th>micro F1</th><th>macro F1</th></tr>\n");
    for e in evals {
        let r = &e.report;
        let _ = write!(
            t,
            "<tr><td>{}</td><td>{} ({} / {})</td><td>{}</td>",
            breakable(&e.label),
            r.n,
            r.n_benign,
            r.n_dga,
            cell(r.auc)
        );
        for (fpr, key) in FPR_POINTS {
            // With n benign names the finest false-positive rate is 1/n: a finer point is not
            // measured, whatever the curve says there.
            if !r.resolves_fpr(fpr) {
                let _ = write!(
                    t,
                    "<td title=\"{} benign names resolve FPR down to 1/{} only\">below 1/{}</td>",
                    r.n_benign, r.n_benign, r.n_benign
                );
            } else {
                let _ = write!(
                    t,
                    "<td>{}</td>",
                    cell(r.tpr_at_fpr.get(key).copied().flatten())
                );
            }
        }
        let (micro, macro_) = r
            .multiclass
            .as_ref()
            .map_or((None, None), |m| (Some(m.micro_f1), Some(m.macro_f1)));
        let _ = writeln!(
            t,
            "<td>{}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{}</td><td>{}</td></tr>",
            r.threshold,
            r.accuracy,
            r.precision,
            r.recall,
            r.f1,
            cell(micro),
            cell(macro_)
        );
    }
    t.push_str("</table>\n");
    t
}

/// The per-class table of a multiclass report.
fn class_table(report: &crate::class_metrics::ClassReport) -> String {
    let mut t = format!(
        "<p>micro F1 {:.4}, macro F1 {:.4}; without other_dga: micro {:.4}, macro {:.4}</p>\n<table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>\n",
        report.micro_f1, report.macro_f1, report.micro_f1_named, report.macro_f1_named
    );
    for s in &report.per_class {
        let _ = writeln!(
            t,
            "<tr><td>{}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{}</td></tr>",
            escape(&s.class),
            s.precision,
            s.recall,
            s.f1,
            s.support
        );
    }
    t.push_str("</table>\n<p>Most frequent confusions (true &rarr; predicted): ");
    let top: Vec<String> = report
        .top_confusions(12)
        .into_iter()
        .map(|(a, b, n)| format!("{} &rarr; {} ({n})", escape(a), escape(b)))
        .collect();
    t.push_str(&top.join("; "));
    t.push_str("</p>\n");
    t
}

/// The whole page for `evals` (one per model, all on the same `samples`).
pub fn render(title: &str, samples: &[Sample], evals: &[Evaluation]) -> String {
    let positive: Vec<bool> = samples.iter().map(|s| s.class == Class::Dga).collect();
    let n_benign = positive.iter().filter(|&&p| !p).count() as u64;
    let mut body = String::new();
    let _ = writeln!(body, "<h1>{}</h1>", escape(title));
    let _ = writeln!(
        body,
        "<section id=\"headline\"><h2>Headline</h2>{}</section>",
        headline(evals)
    );
    let curves: Vec<Vec<(f64, f64)>> = evals
        .iter()
        .map(|e| metrics::roc_curve(&e.scores, &positive))
        .collect();
    let series: Vec<charts::RocSeries> = evals
        .iter()
        .zip(&curves)
        .map(|(e, c)| charts::RocSeries {
            label: &e.label,
            curve: c,
            report: &e.report,
        })
        .collect();
    let _ = writeln!(
        body,
        "<section id=\"roc\"><h2>ROC curve</h2>{}</section>",
        if curves.iter().all(|c| c.is_empty()) {
            "<p>Needs both benign and DGA names.</p>".to_string()
        } else {
            charts::roc(&series, n_benign)
        }
    );
    for e in evals {
        let label = escape(&e.label);
        let (benign, dga): (Vec<f32>, Vec<f32>) = {
            let (mut b, mut d) = (Vec::new(), Vec::new());
            for (&s, &p) in e.scores.iter().zip(&positive) {
                if p { d.push(s) } else { b.push(s) }
            }
            (b, d)
        };
        let _ = writeln!(
            body,
            "<section class=\"histogram\"><h2>Scores: {label}</h2>{}</section>",
            charts::histogram(&benign, &dga, e.report.threshold)
        );
        if !e.report.per_family.is_empty() {
            let _ = writeln!(
                body,
                "<section class=\"families\"><h2>Detection by family: {label}</h2>{}</section>",
                charts::family_bars(&e.report)
            );
        }
        let (classes, confusion) = charts::confusion_of(&e.report);
        let _ = writeln!(
            body,
            "<section class=\"confusion\"><h2>Confusion matrix: {label}</h2>{}{}</section>",
            charts::confusion_heatmap(&classes, &confusion),
            e.report
                .multiclass
                .as_ref()
                .map(class_table)
                .unwrap_or_default()
        );
    }
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>{}</title>
<style>
body {{ font-family: sans-serif; margin: 24px; color: #222; }}
table {{ border-collapse: collapse; font-size: 13px; margin: 8px 0; }}
th, td {{ border: 1px solid #ccc; padding: 3px 8px; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; max-width: 320px; overflow-wrap: anywhere; }}
section {{ margin-bottom: 28px; }}
h2 {{ font-size: 17px; }}
</style></head>
<body>
{body}<p style="font-size:11px;color:#666">dga-lite {} &middot; self-contained: no scripts, no network</p>
</body></html>
"#,
        escape(title),
        env!("CARGO_PKG_VERSION")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fpr_points_the_sample_cannot_resolve_are_not_reported_as_measured() {
        // 3,000 benign names: FPR 1e-3 is measured (3 false positives), 1e-4 is not.
        let n = 3000;
        let mut scores: Vec<f32> = (0..n).map(|i| i as f32 / n as f32 * 0.5).collect();
        let mut positive = vec![false; n];
        scores.extend((0..500).map(|i| 0.5 + i as f32 / 1000.0));
        positive.extend(std::iter::repeat_n(true, 500));
        let families = vec![None; scores.len()];
        let report = metrics::evaluate(&scores, &positive, &families, 0.5);
        let evaluation = Evaluation {
            label: "m".into(),
            local: 0,
            report,
            scores: scores.clone(),
            classes: vec![],
            truth: vec![],
            predicted: vec![],
        };
        let table = headline(std::slice::from_ref(&evaluation));
        assert_eq!(table.matches("below 1/3000").count(), 1, "{table}");
        let curve = metrics::roc_curve(&scores, &positive);
        let svg = charts::roc(
            &[charts::RocSeries {
                label: "m",
                curve: &curve,
                report: &evaluation.report,
            }],
            n as u64,
        );
        assert!(svg.contains("at FPR 0.001"), "{svg}");
        assert!(!svg.contains("at FPR 0.0001"), "{svg}");
    }
}
