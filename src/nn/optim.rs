//! Optimisers with Keras' update rules and defaults.
//!
//! RMSprop (Keras 2.x/TF2 and Keras 3): `ms = rho ms + (1 - rho) g^2; w -= lr g / sqrt(ms + eps)`
//! (note: eps inside the square root, unlike PyTorch's `sqrt(ms) + eps`).
//! Adam (Keras): `m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
//! w -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)`.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "lowercase")]
pub enum OptimizerConfig {
    Rmsprop {
        lr: f32,
        rho: f32,
        eps: f32,
    },
    Adam {
        lr: f32,
        beta1: f32,
        beta2: f32,
        eps: f32,
    },
}

impl OptimizerConfig {
    pub fn rmsprop() -> Self {
        OptimizerConfig::Rmsprop {
            lr: 1e-3,
            rho: 0.9,
            eps: 1e-7,
        }
    }

    pub fn adam() -> Self {
        OptimizerConfig::Adam {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-7,
        }
    }

    pub fn with_lr(self, new_lr: f32) -> Self {
        match self {
            OptimizerConfig::Rmsprop { rho, eps, .. } => OptimizerConfig::Rmsprop {
                lr: new_lr,
                rho,
                eps,
            },
            OptimizerConfig::Adam {
                beta1, beta2, eps, ..
            } => OptimizerConfig::Adam {
                lr: new_lr,
                beta1,
                beta2,
                eps,
            },
        }
    }
}

/// An optimiser and its per-parameter state (`slots[k]` has one vector per tensor).
/// Keras Adam's bias-corrected step size at step `t` (from 1): `lr sqrt(1 - b2^t) / (1 - b1^t)`,
/// in f32 (the GPU path uses the same value).
pub fn adam_step_size(lr: f32, beta1: f32, beta2: f32, t: u64) -> f32 {
    let t = t as i32;
    lr * (1.0 - beta2.powi(t)).sqrt() / (1.0 - beta1.powi(t))
}

#[derive(Clone, Debug, PartialEq)]
pub struct Optimizer {
    pub config: OptimizerConfig,
    /// Number of steps taken.
    pub steps: u64,
    /// RMSprop: [mean square]; Adam: [m, v]. One `Vec<f32>` per parameter tensor.
    pub slots: Vec<Vec<Vec<f32>>>,
}

impl Optimizer {
    pub fn new(config: OptimizerConfig) -> Self {
        Optimizer {
            config,
            steps: 0,
            slots: Vec::new(),
        }
    }

    /// How many state vectors per tensor this optimiser keeps.
    pub fn slot_count(&self) -> usize {
        match self.config {
            OptimizerConfig::Rmsprop { .. } => 1,
            OptimizerConfig::Adam { .. } => 2,
        }
    }

    /// Applies one update. `params[k]` and `grads[k]` are the k-th tensor and its gradient;
    /// the tensor order must be the same on every call.
    pub fn step(&mut self, params: &mut [&mut [f32]], grads: &[&[f32]]) {
        assert_eq!(
            params.len(),
            grads.len(),
            "one gradient per parameter tensor"
        );
        let n_slots = self.slot_count();
        if self.slots.is_empty() {
            self.slots = (0..n_slots)
                .map(|_| params.iter().map(|p| vec![0.0; p.len()]).collect())
                .collect();
        }
        self.steps += 1;
        match self.config {
            OptimizerConfig::Rmsprop { lr, rho, eps } => {
                for (k, (param, grad)) in params.iter_mut().zip(grads).enumerate() {
                    let ms = &mut self.slots[0][k];
                    for ((w, &g), m) in param.iter_mut().zip(grad.iter()).zip(ms.iter_mut()) {
                        *m = rho * *m + (1.0 - rho) * g * g;
                        *w -= lr * g / (*m + eps).sqrt();
                    }
                }
            }
            OptimizerConfig::Adam {
                lr,
                beta1,
                beta2,
                eps,
            } => {
                let alpha = adam_step_size(lr, beta1, beta2, self.steps);
                let (first, second) = self.slots.split_at_mut(1);
                for (k, (param, grad)) in params.iter_mut().zip(grads).enumerate() {
                    let (m, v) = (&mut first[0][k], &mut second[0][k]);
                    for (((w, &g), m), v) in param
                        .iter_mut()
                        .zip(grad.iter())
                        .zip(m.iter_mut())
                        .zip(v.iter_mut())
                    {
                        *m += (g - *m) * (1.0 - beta1);
                        *v += (g * g - *v) * (1.0 - beta2);
                        *w -= alpha * *m / (v.sqrt() + eps);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rmsprop_first_step_matches_hand_computation() {
        let mut opt = Optimizer::new(OptimizerConfig::rmsprop());
        let mut w = vec![1.0f32, -2.0];
        opt.step(&mut [&mut w], &[&[0.5, -1.0]]);
        // ms = 0.1 g^2, step = lr g / sqrt(0.1 g^2 + 1e-7) ~ lr sign(g) / sqrt(0.1)
        let expected0 = 1.0 - 1e-3 * 0.5 / (0.1f32 * 0.25 + 1e-7).sqrt();
        assert!((w[0] - expected0).abs() < 1e-7);
        assert!(w[1] > -2.0);
    }

    #[test]
    fn adam_first_step_is_about_lr() {
        let mut opt = Optimizer::new(OptimizerConfig::adam());
        let mut w = vec![0.0f32; 3];
        opt.step(&mut [&mut w], &[&[0.3, -7.0, 1e-3]]);
        for (v, sign) in w.iter().zip([-1.0, 1.0, -1.0]) {
            assert!((v - sign * 1e-3).abs() < 1e-5, "{v}");
        }
    }
}
