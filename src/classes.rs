//! The classes a model tells apart and their names: benign and DGA for a binary model; benign,
//! each DGA family and `other_dga` for a multiclass one. Shared by training (which builds them
//! from the data), evaluation and the per-class metrics.

use crate::data::{Class, Sample};

/// The class a DGA family merges into when it has too few training names (or none).
pub const OTHER_DGA: &str = "other_dga";
/// Class 0 of every multiclass model.
pub const BENIGN: &str = "benign";

/// The classes a model is trained on: binary (benign, DGA), or benign and the DGA families.
pub struct Classes {
    /// Multiclass: class names, benign first. Empty for a binary model.
    pub names: Vec<String>,
    /// Loss weight of each class (1 unless `--class-weight balanced`).
    pub weights: Vec<f32>,
}

impl Classes {
    pub fn binary() -> Classes {
        Classes {
            names: Vec::new(),
            weights: vec![1.0, 1.0],
        }
    }

    /// Benign, then every family with at least `min_size` names among `train` (by name),
    /// then `other_dga` if any family merges into it. `held_out` (validation and test) only
    /// adds families: one with no training names at all merges into `other_dga` too.
    pub fn from_families(train: &[Sample], held_out: &[&[Sample]], min_size: usize) -> Classes {
        let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
        for s in train.iter().filter(|s| s.class == Class::Dga) {
            *counts.entry(family_name(s)).or_default() += 1;
        }
        for s in held_out.iter().flat_map(|part| part.iter()) {
            if s.class == Class::Dga {
                counts.entry(family_name(s)).or_default();
            }
        }
        let mut names = vec![BENIGN.to_string()];
        names.extend(
            counts
                .iter()
                .filter(|&(f, &n)| n >= min_size && *f != OTHER_DGA)
                .map(|(f, _)| f.to_string()),
        );
        if counts.iter().any(|(f, &n)| n < min_size || *f == OTHER_DGA) {
            names.push(OTHER_DGA.to_string());
        }
        let k = names.len();
        Classes {
            names,
            weights: vec![1.0; k],
        }
    }

    /// A parent's classes (fine-tuning keeps them).
    pub fn from_names(names: Vec<String>) -> Classes {
        let k = names.len().max(2);
        Classes {
            names,
            weights: vec![1.0; k],
        }
    }

    pub fn is_multiclass(&self) -> bool {
        !self.names.is_empty()
    }

    /// The class index of a sample.
    pub fn of(&self, s: &Sample) -> usize {
        if !self.is_multiclass() {
            return usize::from(s.class == Class::Dga);
        }
        if s.class == Class::Benign {
            return 0;
        }
        let family = family_name(s);
        self.names[1..]
            .iter()
            .position(|n| n == family)
            .or_else(|| self.names[1..].iter().position(|n| n == OTHER_DGA))
            .map_or(self.names.len() - 1, |i| i + 1)
    }

    /// `balanced` weights from the training split's class counts.
    pub fn balance(&mut self, train: &[Sample]) {
        let mut counts = vec![0usize; self.weights.len()];
        for s in train {
            counts[self.of(s)] += 1;
        }
        let present = counts.iter().filter(|&&n| n > 0).count().max(1);
        for (w, &n) in self.weights.iter_mut().zip(&counts) {
            *w = if n == 0 {
                1.0
            } else {
                (train.len() as f64 / (present as f64 * n as f64)) as f32
            };
        }
    }
}

/// A DGA sample's family as a class name (`other_dga` when the feed gave none).
pub fn family_name(s: &Sample) -> &str {
    s.family.as_deref().unwrap_or(OTHER_DGA)
}

/// The class a multiclass model should give a sample: benign, its family, or `other_dga`.
pub fn true_class(classes: &[String], sample: &Sample) -> Option<usize> {
    if sample.class == Class::Benign {
        return classes.iter().position(|c| c == BENIGN);
    }
    let family = sample.family.as_deref().unwrap_or(OTHER_DGA);
    classes
        .iter()
        .position(|c| c == family)
        .or_else(|| classes.iter().position(|c| c == OTHER_DGA))
}
