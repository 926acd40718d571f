//! The LSTM cell of `nn::lstm::cell_forward` / `cell_backward`, over a block of rows, with the
//! vectorisable `fast_math` functions. Same formulas, term for term; tests/fast_cpu.rs checks
//! the whole fast path against the reference.

use super::fast_math::{sigmoid, tanh};
use crate::nn::RecurrentActivation;

/// Applies the recurrent activation to a slice in place.
#[inline(always)]
fn activate(act: RecurrentActivation, values: &mut [f32]) {
    match act {
        RecurrentActivation::Sigmoid => values.iter_mut().for_each(|v| *v = sigmoid(*v)),
        RecurrentActivation::HardSigmoid => values
            .iter_mut()
            .for_each(|v| *v = (0.2 * *v + 0.5).clamp(0.0, 1.0)),
    }
}

/// The activation's derivative from its output `y`.
#[inline(always)]
fn derivative(act: RecurrentActivation, y: f32) -> f32 {
    match act {
        RecurrentActivation::Sigmoid => y * (1.0 - y),
        RecurrentActivation::HardSigmoid => {
            if y > 0.0 && y < 1.0 {
                0.2
            } else {
                0.0
            }
        }
    }
}

/// One step for a block of rows: `z` (`[rows, 4H]` pre-activations) becomes the gates i, f, g, o;
/// writes `c` and `h` (`[rows, H]`) from `c_prev`.
///
/// Runs a copy compiled for AVX2 when the CPU has it. Only the vector width differs (no FMA is
/// enabled and Rust never fuses a multiply and an add by itself), so results are bit-identical.
pub fn forward(
    act: RecurrentActivation,
    units: usize,
    z: &mut [f32],
    c_prev: &[f32],
    c: &mut [f32],
    h: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { forward_avx2(act, units, z, c_prev, c, h) };
    }
    forward_portable(act, units, z, c_prev, c, h)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn forward_avx2(
    act: RecurrentActivation,
    units: usize,
    z: &mut [f32],
    c_prev: &[f32],
    c: &mut [f32],
    h: &mut [f32],
) {
    forward_portable(act, units, z, c_prev, c, h)
}

#[inline(always)]
fn forward_portable(
    act: RecurrentActivation,
    units: usize,
    z: &mut [f32],
    c_prev: &[f32],
    c: &mut [f32],
    h: &mut [f32],
) {
    for (((zr, cp), cr), hr) in z
        .chunks_exact_mut(4 * units)
        .zip(c_prev.chunks_exact(units))
        .zip(c.chunks_exact_mut(units))
        .zip(h.chunks_exact_mut(units))
    {
        let (zi, rest) = zr.split_at_mut(units);
        let (zf, rest) = rest.split_at_mut(units);
        let (zg, zo) = rest.split_at_mut(units);
        activate(act, zi);
        activate(act, zf);
        zg.iter_mut().for_each(|v| *v = tanh(*v));
        activate(act, zo);
        for u in 0..units {
            cr[u] = zf[u] * cp[u] + zi[u] * zg[u];
        }
        for u in 0..units {
            hr[u] = zo[u] * tanh(cr[u]);
        }
    }
}

/// The backward of `forward` for a block of rows: from `dh` and `dc` (dL/dc_t on entry,
/// dL/dc_{t-1} on return) to `dz` (`[rows, 4H]`). AVX2 dispatch as in `forward`.
pub fn backward(
    act: RecurrentActivation,
    units: usize,
    gates: &[f32],
    c_prev: &[f32],
    dh: &[f32],
    dc: &mut [f32],
    dz: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { backward_avx2(act, units, gates, c_prev, dh, dc, dz) };
    }
    backward_portable(act, units, gates, c_prev, dh, dc, dz)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn backward_avx2(
    act: RecurrentActivation,
    units: usize,
    gates: &[f32],
    c_prev: &[f32],
    dh: &[f32],
    dc: &mut [f32],
    dz: &mut [f32],
) {
    backward_portable(act, units, gates, c_prev, dh, dc, dz)
}

#[inline(always)]
fn backward_portable(
    act: RecurrentActivation,
    units: usize,
    gates: &[f32],
    c_prev: &[f32],
    dh: &[f32],
    dc: &mut [f32],
    dz: &mut [f32],
) {
    for ((((g, cp), dhr), dcr), dzr) in gates
        .chunks_exact(4 * units)
        .zip(c_prev.chunks_exact(units))
        .zip(dh.chunks_exact(units))
        .zip(dc.chunks_exact_mut(units))
        .zip(dz.chunks_exact_mut(4 * units))
    {
        let (gi, rest) = g.split_at(units);
        let (gf, rest) = rest.split_at(units);
        let (gg, go) = rest.split_at(units);
        let (di, rest) = dzr.split_at_mut(units);
        let (df, rest) = rest.split_at_mut(units);
        let (dg, d_o) = rest.split_at_mut(units);
        for u in 0..units {
            let (i, f, gv, o) = (gi[u], gf[u], gg[u], go[u]);
            let tanh_c = tanh(f * cp[u] + i * gv);
            let dc_total = dcr[u] + dhr[u] * o * (1.0 - tanh_c * tanh_c);
            di[u] = dc_total * gv * derivative(act, i);
            df[u] = dc_total * cp[u] * derivative(act, f);
            dg[u] = dc_total * i * (1.0 - gv * gv);
            d_o[u] = dhr[u] * tanh_c * derivative(act, o);
            dcr[u] = dc_total * f;
        }
    }
}
