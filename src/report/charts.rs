//! The report's charts, each a function from results to an SVG string.

use super::svg::{Scale, Svg};
use crate::class_metrics::ClassReport;
use crate::metrics::{FPR_POINTS, Report};

/// Line colours for models drawn together (colour-blind safe, Okabe-Ito).
pub const COLOURS: [&str; 7] = [
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
];
const BENIGN_COLOUR: &str = "#0072B2";
const DGA_COLOUR: &str = "#D55E00";

/// One model's curve and operating points for the ROC chart.
pub struct RocSeries<'a> {
    pub label: &'a str,
    pub curve: &'a [(f64, f64)],
    pub report: &'a Report,
}

/// Keeps at most a few hundred points of a curve, evenly spread on the log FPR axis (the
/// highest TPR in each bucket), so a million-name curve stays a small drawing.
fn thin(curve: &[(f64, f64)], min_fpr: f64) -> Vec<(f64, f64)> {
    const BUCKETS: f64 = 400.0;
    let span = -min_fpr.log10();
    let mut out: Vec<(f64, f64)> = Vec::new();
    let mut last_bucket = i64::MIN;
    for &(fpr, tpr) in curve {
        let fpr = fpr.max(min_fpr);
        let bucket = ((fpr.log10() + span) / span * BUCKETS) as i64;
        match out.last_mut() {
            Some(p) if bucket == last_bucket => *p = (fpr, tpr.max(p.1)),
            _ => out.push((fpr, tpr)),
        }
        last_bucket = bucket;
    }
    out
}

/// ROC curves on a log FPR axis, with each model's threshold (circle) and the fixed-FPR
/// operating points (small dots) marked.
pub fn roc(series: &[RocSeries], n_benign: u64) -> String {
    let (w, h) = (760.0, 480.0);
    let (left, right, top, bottom) = (70.0, 200.0, 20.0, 50.0);
    // The axis starts one decade below the smallest FPR the data can show.
    let min_fpr = (0.1 / n_benign.max(1) as f64).clamp(1e-7, 1e-2);
    let x = Scale::log((min_fpr, 1.0), (left, w - right));
    let y = Scale::linear((0.0, 1.0), (h - bottom, top));
    let mut svg = Svg::new(w, h);
    let mut decade = min_fpr.log10().ceil() as i32;
    while decade <= 0 {
        let px = x.at(10f64.powi(decade));
        svg.line((px, top), (px, h - bottom), "#dddddd", 1.0);
        svg.text(
            (px, h - bottom + 16.0),
            &format!("1e{decade}"),
            11.0,
            "middle",
        );
        decade += 1;
    }
    for tick in 0..=10 {
        let v = tick as f64 / 10.0;
        let py = y.at(v);
        svg.line((left, py), (w - right, py), "#eeeeee", 1.0);
        svg.text((left - 6.0, py + 4.0), &format!("{v:.1}"), 11.0, "end");
    }
    svg.line((left, h - bottom), (w - right, h - bottom), "black", 1.0);
    svg.line((left, top), (left, h - bottom), "black", 1.0);
    svg.text(
        ((left + w - right) / 2.0, h - 12.0),
        "false-positive rate (log scale)",
        13.0,
        "middle",
    );
    svg.vertical_text(
        (18.0, (top + h - bottom) / 2.0),
        "true-positive rate",
        13.0,
        "middle",
    );
    let mut legend_y = top + 16.0;
    // A fixed-FPR point is only measured when the benign sample can show that rate: with n
    // benign names the finest false-positive rate is 1/n.
    let finest_fpr = 1.0 / n_benign.max(1) as f64;
    for (i, s) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let points: Vec<(f64, f64)> = thin(s.curve, min_fpr)
            .into_iter()
            .map(|(f, t)| (x.at(f), y.at(t)))
            .collect();
        svg.polyline(&points, colour, 2.0);
        for (fpr, key) in FPR_POINTS {
            if !s.report.resolves_fpr(fpr) {
                continue;
            }
            if let Some(Some(tpr)) = s.report.tpr_at_fpr.get(key) {
                svg.circle(
                    (x.at(fpr), y.at(*tpr)),
                    3.0,
                    colour,
                    &format!("{}: TPR {tpr:.4} at FPR {key}", s.label),
                );
            }
        }
        // The model's own operating point.
        let c = &s.report.confusion;
        let fpr = c.fp as f64 / (c.fp + c.tn).max(1) as f64;
        svg.circle(
            (x.at(fpr.max(min_fpr)), y.at(s.report.recall)),
            6.0,
            colour,
            &format!(
                "{}: threshold {}: TPR {:.4}, FPR {:.5}",
                s.label, s.report.threshold, s.report.recall, fpr
            ),
        );
        let ly = legend_y;
        svg.line((w - right + 12.0, ly), (w - right + 36.0, ly), colour, 3.0);
        let lines = wrap(s.label, LEGEND_CHARS, LEGEND_LINES);
        for (k, line) in lines.iter().enumerate() {
            svg.text(
                (w - right + 42.0, ly + 4.0 + 13.0 * k as f64),
                line,
                11.0,
                "start",
            );
        }
        let auc = s.report.auc.map_or("n/a".into(), |a| format!("{a:.4}"));
        svg.text(
            (w - right + 42.0, ly + 4.0 + 13.0 * lines.len() as f64),
            &format!("AUC {auc}"),
            11.0,
            "start",
        );
        legend_y += 21.0 + 13.0 * lines.len() as f64;
    }
    let ly = legend_y;
    svg.text(
        (w - right + 12.0, ly + 4.0),
        "big dot: model threshold",
        10.0,
        "start",
    );
    let resolved: Vec<&str> = FPR_POINTS
        .iter()
        .filter(|(fpr, _)| *fpr >= finest_fpr)
        .map(|(_, key)| *key)
        .collect();
    svg.text(
        (w - right + 12.0, ly + 18.0),
        &format!("small dots: FPR {}", resolved.join(", ")),
        10.0,
        "start",
    );
    if resolved.len() < FPR_POINTS.len() {
        svg.text(
            (w - right + 12.0, ly + 32.0),
            &format!("(finest FPR here: 1/{n_benign})"),
            10.0,
            "start",
        );
    }
    svg.finish()
}

/// The last `n` characters of a short name (a family or class name).
fn short(label: &str, n: usize) -> String {
    let count = label.chars().count();
    if count <= n {
        return label.to_string();
    }
    let tail: String = label.chars().skip(count - (n - 1)).collect();
    format!("…{tail}")
}

/// Characters per legend line, and lines per label.
const LEGEND_CHARS: usize = 24;
const LEGEND_LINES: usize = 3;

/// A label in lines of at most `width` characters, broken after `/`, `-`, `_`, `.` or a
/// space where it can be, at most `lines` lines; a label that still does not fit loses its
/// middle (`…`), so both the start and the file name stay readable.
pub fn wrap(label: &str, width: usize, lines: usize) -> Vec<String> {
    let chars: Vec<char> = label.chars().collect();
    let mut out: Vec<String> = Vec::new();
    let mut start = 0;
    while start < chars.len() {
        let end = (start + width).min(chars.len());
        let cut = if end == chars.len() {
            end
        } else {
            (start + 1..end)
                .rev()
                .find(|&i| matches!(chars[i - 1], '/' | '-' | '_' | '.' | ' '))
                .unwrap_or(end)
        };
        out.push(
            chars[start..cut]
                .iter()
                .collect::<String>()
                .trim()
                .to_string(),
        );
        start = cut;
    }
    if out.len() > lines {
        // Keep the first lines and the end of the label.
        let tail: String = chars[chars.len().saturating_sub(width - 1)..]
            .iter()
            .collect();
        out.truncate(lines - 1);
        out.push(format!("…{tail}"));
    }
    out
}

/// The log-odds axis of the score histogram: ln(p / (1 - p)) from -LOGIT_SPAN to +LOGIT_SPAN
/// (p from 4.5e-5 to 0.999955); scores beyond fall in the end bins. On a probability axis the
/// operating thresholds (0.99 and up) all sit in the last bar.
const LOGIT_SPAN: f64 = 10.0;

fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    (p / (1.0 - p)).ln().clamp(-LOGIT_SPAN, LOGIT_SPAN)
}

fn from_logit(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Score histograms of benign and DGA names (share of each class per bin, log scale) on a
/// log-odds score axis, with the threshold marked.
pub fn histogram(benign: &[f32], dga: &[f32], threshold: f32) -> String {
    const BINS: usize = 50;
    let (w, h) = (760.0, 300.0);
    let (left, right, top, bottom) = (70.0, 130.0, 20.0, 50.0);
    let bin_of = |s: f32| {
        let z = logit(s as f64);
        (((z + LOGIT_SPAN) / (2.0 * LOGIT_SPAN) * BINS as f64) as usize).min(BINS - 1)
    };
    let shares = |scores: &[f32]| {
        let mut bins = [0u64; BINS];
        for &s in scores {
            bins[bin_of(s)] += 1;
        }
        bins.map(|n| n as f64 / scores.len().max(1) as f64)
    };
    let x = Scale::linear((-LOGIT_SPAN, LOGIT_SPAN), (left, w - right));
    let y = Scale::log((1e-5, 1.0), (h - bottom, top));
    let mut svg = Svg::new(w, h);
    for decade in -5..=0 {
        let py = y.at(10f64.powi(decade));
        svg.line((left, py), (w - right, py), "#eeeeee", 1.0);
        svg.text((left - 6.0, py + 4.0), &format!("1e{decade}"), 11.0, "end");
    }
    for p in [
        "0.0001", "0.001", "0.01", "0.1", "0.5", "0.9", "0.99", "0.999", "0.9999",
    ] {
        let px = x.at(logit(p.parse().expect("a number")));
        svg.line((px, top), (px, h - bottom), "#f2f2f2", 1.0);
        svg.text((px, h - bottom + 16.0), p, 11.0, "middle");
    }
    let bin_w = (w - right - left) / BINS as f64;
    let edge = |b: usize| from_logit(-LOGIT_SPAN + 2.0 * LOGIT_SPAN * b as f64 / BINS as f64);
    for (class, scores, colour, offset) in [
        ("benign", benign, BENIGN_COLOUR, 0.0),
        ("DGA", dga, DGA_COLOUR, 0.5),
    ] {
        for (b, share) in shares(scores).into_iter().enumerate() {
            if share == 0.0 {
                continue;
            }
            let x0 = left + b as f64 * bin_w + offset * bin_w;
            let top_y = y.at(share.max(1e-5));
            let (lo, hi) = match b {
                0 => (0.0, edge(1)),
                _ if b == BINS - 1 => (edge(b), 1.0),
                _ => (edge(b), edge(b + 1)),
            };
            svg.rect(
                x0,
                top_y,
                bin_w / 2.0,
                h - bottom - top_y,
                colour,
                Some(&format!(
                    "{class}: {:.1}% of names score in [{lo:.6}, {hi:.6})",
                    share * 100.0,
                )),
            );
        }
    }
    let tx = x.at(logit(threshold as f64));
    svg.dashed_line((tx, top), (tx, h - bottom), "black");
    svg.text(
        (tx, top - 4.0),
        &format!("threshold {threshold}"),
        10.0,
        "middle",
    );
    svg.line((left, h - bottom), (w - right, h - bottom), "black", 1.0);
    svg.line((left, top), (left, h - bottom), "black", 1.0);
    svg.text(
        ((left + w - right) / 2.0, h - 12.0),
        "score (probability of DGA), on a log-odds axis",
        13.0,
        "middle",
    );
    svg.vertical_text(
        (18.0, (top + h - bottom) / 2.0),
        "share of class",
        13.0,
        "middle",
    );
    for (i, (label, colour, n)) in [
        ("benign", BENIGN_COLOUR, benign.len()),
        ("DGA", DGA_COLOUR, dga.len()),
    ]
    .into_iter()
    .enumerate()
    {
        let ly = top + 16.0 + 20.0 * i as f64;
        svg.rect(w - right + 12.0, ly - 9.0, 12.0, 12.0, colour, None);
        svg.text(
            (w - right + 30.0, ly + 2.0),
            &format!("{label} ({n})"),
            11.0,
            "start",
        );
    }
    svg.finish()
}

/// Horizontal bars: the detection rate of each family, worst first.
pub fn family_bars(report: &Report) -> String {
    let mut families: Vec<_> = report.per_family.iter().collect();
    families.sort_by(|a, b| a.1.recall.total_cmp(&b.1.recall).then(a.0.cmp(b.0)));
    let row = 14.0;
    let (left, right, top, bottom) = (170.0, 130.0, 24.0, 40.0);
    let (w, h) = (760.0, top + bottom + row * families.len().max(1) as f64);
    let x = Scale::linear((0.0, 1.0), (left, w - right));
    let mut svg = Svg::new(w, h);
    for tick in 0..=10 {
        let v = tick as f64 / 10.0;
        let px = x.at(v);
        svg.line((px, top), (px, h - bottom), "#eeeeee", 1.0);
        svg.text((px, h - bottom + 14.0), &format!("{v:.1}"), 10.0, "middle");
    }
    for (i, (name, rate)) in families.iter().enumerate() {
        let y0 = top + i as f64 * row;
        let colour = if rate.recall < 0.5 {
            DGA_COLOUR
        } else {
            BENIGN_COLOUR
        };
        svg.rect(
            left,
            y0 + 2.0,
            x.at(rate.recall) - left,
            row - 4.0,
            colour,
            Some(&format!(
                "{name}: {} of {} detected ({:.2}%)",
                rate.detected,
                rate.n,
                rate.recall * 100.0
            )),
        );
        svg.text((left - 6.0, y0 + row - 3.0), &short(name, 26), 10.0, "end");
        svg.text(
            (w - right + 6.0, y0 + row - 3.0),
            &format!("{:.3} (n={})", rate.recall, rate.n),
            10.0,
            "start",
        );
    }
    svg.line((left, top), (left, h - bottom), "black", 1.0);
    svg.text(
        ((left + w - right) / 2.0, h - 10.0),
        &format!("detection rate at threshold {}", report.threshold),
        12.0,
        "middle",
    );
    svg.finish()
}

/// A confusion matrix as a heat map: cell colour is the share of the true class (row) given
/// each predicted class; counts on hover and, where they fit, in the cell.
pub fn confusion_heatmap(classes: &[String], confusion: &[Vec<u64>]) -> String {
    let k = classes.len();
    let cell = if k <= 6 {
        60.0
    } else {
        (720.0 / k as f64).clamp(12.0, 22.0)
    };
    // Room for the longest class name, as row labels (left) and column labels (top).
    let longest = classes
        .iter()
        .map(|c| c.chars().count().min(22))
        .max()
        .unwrap_or(1);
    let margin = (longest as f64 * 6.5 + 14.0).clamp(50.0, 160.0);
    let (w, h) = (
        (margin + cell * k as f64 + 20.0).max(560.0),
        margin + cell * k as f64 + 40.0,
    );
    let mut svg = Svg::new(w, h);
    for (t, row) in confusion.iter().enumerate() {
        let total: u64 = row.iter().sum();
        svg.text(
            (margin - 6.0, margin + (t as f64 + 0.7) * cell),
            &short(&classes[t], 22),
            10.0,
            "end",
        );
        for (p, &n) in row.iter().enumerate() {
            let share = if total == 0 {
                0.0
            } else {
                n as f64 / total as f64
            };
            // White (0) to dark blue (1), perceptually even enough for a share.
            let shade = |full: f64| (255.0 - (255.0 - full) * share.sqrt()).round() as u8;
            let fill = format!("#{:02x}{:02x}{:02x}", shade(8.0), shade(48.0), shade(107.0));
            svg.rect(
                margin + p as f64 * cell,
                margin + t as f64 * cell,
                cell - 1.0,
                cell - 1.0,
                &fill,
                Some(&format!(
                    "true {} -> predicted {}: {n} ({:.1}% of {})",
                    classes[t],
                    classes[p],
                    share * 100.0,
                    classes[t]
                )),
            );
            if cell >= 40.0 {
                let ink = if share > 0.5 { "white" } else { "black" };
                svg.text_coloured(
                    (
                        margin + (p as f64 + 0.5) * cell,
                        margin + (t as f64 + 0.6) * cell,
                    ),
                    &n.to_string(),
                    11.0,
                    "middle",
                    ink,
                );
            }
        }
    }
    for (p, name) in classes.iter().enumerate() {
        svg.vertical_text(
            (margin + (p as f64 + 0.7) * cell, margin - 6.0),
            &short(name, 22),
            10.0,
            "start",
        );
    }
    svg.text(
        (10.0, h - 14.0),
        "predicted class (columns) for each true class (rows); shade = share of the row",
        11.0,
        "start",
    );
    svg.finish()
}

/// The binary confusion matrix of a report, as class names and counts for `confusion_heatmap`.
pub fn binary_confusion(report: &Report) -> (Vec<String>, Vec<Vec<u64>>) {
    let c = &report.confusion;
    (
        vec!["benign".into(), "dga".into()],
        vec![vec![c.tn, c.fp], vec![c.fn_, c.tp]],
    )
}

/// The classes and matrix to draw for a report: the multiclass one when there is one.
pub fn confusion_of(report: &Report) -> (Vec<String>, Vec<Vec<u64>>) {
    match &report.multiclass {
        Some(ClassReport {
            classes, confusion, ..
        }) => (classes.clone(), confusion.clone()),
        None => binary_confusion(report),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_wrap_at_path_separators_and_lose_only_their_middle() {
        assert_eq!(
            wrap("the embedded default model", 24, 3),
            ["the embedded default", "model"]
        );
        assert_eq!(
            wrap("/data/models/endgame-v2.safetensors", 24, 3),
            ["/data/models/endgame-", "v2.safetensors"]
        );
        let long = "/a/very/long/folder/name/that/keeps/going/and/going/model.safetensors";
        let lines = wrap(long, 24, 3);
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("/a/very/"));
        assert!(lines[2].starts_with('…') && lines[2].ends_with("model.safetensors"));
        assert!(lines.iter().all(|l| l.chars().count() <= 24));
    }

    #[test]
    fn histogram_bins_separate_scores_near_one() {
        // 0.995 and 0.99999 fell in one bar on a probability axis; on log odds they do not.
        let svg = histogram(&[0.995], &[0.99999], 0.999);
        let bars: Vec<&str> = svg.matches("score in [").collect();
        assert_eq!(bars.len(), 2);
        assert!(
            svg.contains("benign: 100.0% of names score in [0.99"),
            "{svg}"
        );
        assert!(!svg.contains("score in [0.980000, 1.000000)"), "{svg}");
    }
}
