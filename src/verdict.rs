//! What a score means: the verdict a SOC acts on. A model trained with a validation split
//! carries two operating points chosen on it (`model::file::OperatingPoints`): at or above the
//! false-positive rate 1e-3 point a name is `dga`, at or above the 1e-2 point `suspicious`,
//! below it `benign`. The same words mean the same rates for every such model. A model without
//! them, or an explicit `--threshold`, gives the plain binary verdict at one threshold.

use crate::model::ModelFile;
use crate::model::file::OperatingPoints;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Dga,
    Suspicious,
    Benign,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Dga => "dga",
            Verdict::Suspicious => "suspicious",
            Verdict::Benign => "benign",
        }
    }
}

/// How scores become verdicts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Policy {
    /// `dga` at or above the threshold, `benign` below.
    Threshold(f32),
    /// `dga`, `suspicious` or `benign` by the model's operating points.
    Points(OperatingPoints),
}

impl Default for Policy {
    fn default() -> Self {
        Policy::Threshold(0.5)
    }
}

impl Policy {
    /// `threshold` when given; else the model's operating points when it has them; else its
    /// threshold.
    pub fn for_model(model: &ModelFile, threshold: Option<f32>) -> Policy {
        match (threshold, model.operating_points) {
            (Some(t), _) => Policy::Threshold(t),
            (None, Some(points)) => Policy::Points(points),
            (None, None) => Policy::Threshold(model.threshold),
        }
    }

    pub fn judge(&self, score: f32) -> Verdict {
        match *self {
            Policy::Threshold(t) if score >= t => Verdict::Dga,
            Policy::Threshold(_) => Verdict::Benign,
            Policy::Points(p) if score >= p.dga => Verdict::Dga,
            Policy::Points(p) if score >= p.suspicious => Verdict::Suspicious,
            Policy::Points(_) => Verdict::Benign,
        }
    }

    /// The score at or above which a name is called `dga`.
    pub fn dga_threshold(&self) -> f32 {
        match *self {
            Policy::Threshold(t) => t,
            Policy::Points(p) => p.dga,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_levels_by_the_operating_points_two_by_a_threshold() {
        let points = Policy::Points(OperatingPoints {
            dga: 0.99,
            suspicious: 0.9,
        });
        assert_eq!(points.judge(0.995), Verdict::Dga);
        assert_eq!(points.judge(0.99), Verdict::Dga);
        assert_eq!(points.judge(0.95), Verdict::Suspicious);
        assert_eq!(points.judge(0.5), Verdict::Benign);
        let plain = Policy::Threshold(0.5);
        assert_eq!(plain.judge(0.95), Verdict::Dga);
        assert_eq!(plain.judge(0.4), Verdict::Benign);
    }
}
