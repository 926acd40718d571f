//! From names as a caller holds them to what a SOC reads, for callers that score lists of
//! names (the Python package, and any program built on the library): each name is checked,
//! then allowed, `local` (cannot be public), or scored on its scope and given a verdict.
//! The same rules as `predict` and `serve`, and the same scores bit for bit: scores do not
//! depend on what a name is scored with, and the optional cache holds the model's own rows.

use crate::backend::Scorer;
use crate::model::ModelFile;
use crate::model::head::dga_score;
use crate::public_name::{NotPublic, not_public};
use crate::scope::{AllowList, Scope};
use crate::score_cache::ScoreCache;
use crate::verdict::{Policy, Verdict};

/// What one name got.
#[derive(Clone, Debug, PartialEq)]
pub enum Judged<'m> {
    /// No name: a missing value, an empty or blank string.
    Empty,
    /// Not a host name, and why.
    Invalid(String),
    /// Under a suffix of the allow list: not scored.
    Allowed,
    /// Cannot be a public name (`public_name`): not scored.
    Local(NotPublic),
    /// Scored: the probability of DGA, its verdict, and for a multiclass model the most
    /// probable family and its probability when the verdict is not benign.
    Scored {
        score: f32,
        verdict: Verdict,
        family: Option<(&'m str, f32)>,
    },
}

impl Judged<'_> {
    /// The score, NaN for a name that was not scored.
    pub fn score(&self) -> f32 {
        match self {
            Judged::Scored { score, .. } => *score,
            _ => f32::NAN,
        }
    }

    /// The one word the CLI prints for it (`invalid` for a name that is not a host name).
    pub fn word(&self) -> &'static str {
        match self {
            Judged::Empty => "empty",
            Judged::Invalid(_) => "invalid",
            Judged::Allowed => "allowed",
            Judged::Local(_) => "local",
            Judged::Scored { verdict, .. } => verdict.name(),
        }
    }
}

/// How names are judged: the same choices as `predict`'s flags.
#[derive(Clone, Debug, Default)]
pub struct Judge {
    pub policy: Policy,
    pub scope: Scope,
    /// Score names that cannot be public instead of calling them `local`.
    pub score_local: bool,
    pub allow: AllowList,
}

impl Judge {
    /// The model's own verdict policy (its operating points, or its threshold), default scope.
    pub fn for_model(scorer: &Scorer) -> Judge {
        Judge {
            policy: Policy::for_model(scorer, None),
            ..Judge::default()
        }
    }

    /// What a normalised name gets before the model: `Ok` with the part of it to score, or
    /// its outcome (allowed, local) when it is not scored.
    pub fn before_scoring<'n>(&self, name: &'n str) -> Result<&'n str, Judged<'static>> {
        if !self.allow.is_empty() && self.allow.allows(name) {
            return Err(Judged::Allowed);
        }
        if !self.score_local
            && let Some(why) = not_public(name)
        {
            return Err(Judged::Local(why));
        }
        Ok(self.scope.apply(name))
    }

    /// The outcome of a scored name from its output row (one probability per output).
    pub fn scored<'m>(&self, model: &'m ModelFile, row: &[f32]) -> Judged<'m> {
        let score = dga_score(row);
        let verdict = self.policy.judge(score);
        // A family is named only for a name that is not called benign.
        let family = model.top_family(row).filter(|_| verdict != Verdict::Benign);
        Judged::Scored {
            score,
            verdict,
            family,
        }
    }

    /// Judges `names` (`None`: a missing value) in order; `cache` remembers scored rows.
    pub fn judge<'m>(
        &self,
        scorer: &'m Scorer,
        cache: Option<&ScoreCache>,
        names: &[Option<&str>],
    ) -> Vec<Judged<'m>> {
        let mut judged: Vec<Judged<'m>> = Vec::with_capacity(names.len());
        // The scope of each name to score, and where its result goes.
        let mut to_score: Vec<String> = Vec::new();
        let mut slots: Vec<usize> = Vec::new();
        for raw in names {
            let raw = match raw {
                Some(raw) if !raw.trim().is_empty() => raw,
                _ => {
                    judged.push(Judged::Empty);
                    continue;
                }
            };
            let name = match crate::data::normalize_name(raw) {
                Ok(name) => name,
                Err(e) => {
                    judged.push(Judged::Invalid(e.to_string()));
                    continue;
                }
            };
            match self.before_scoring(&name) {
                Err(outcome) => judged.push(outcome),
                Ok(scoped) => {
                    // The scope is a suffix of the name: keep it in the name's own buffer.
                    let prefix = name.len() - scoped.len();
                    let mut name = name;
                    name.drain(..prefix);
                    slots.push(judged.len());
                    judged.push(Judged::Empty);
                    to_score.push(name);
                }
            }
        }
        let outputs = scorer.net().outputs();
        let rows = match cache {
            Some(cache) => {
                cache.probabilities(&to_score, outputs, |names| scorer.probabilities(names))
            }
            None => scorer.probabilities(&to_score),
        };
        for (slot, row) in slots.into_iter().zip(rows.chunks_exact(outputs)) {
            judged[slot] = self.scored(scorer.model(), row);
        }
        judged
    }
}
