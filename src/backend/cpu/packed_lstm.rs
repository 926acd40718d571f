//! The LSTM's recurrent step on packed weights: the product `h_prev W` and the cell fused in
//! one pass, and the backward step (the cell's backward, then `dz W^T`).
//!
//! **Layout.** Units are padded to whole tiles of 16 (padded units have zero weights, so their
//! state stays exactly 0 and changes nothing), and the `4H` gate columns are permuted so that
//! each tile's four gates lie side by side: packed column `64 t + 16 g + l` is gate `g` of unit
//! `16 t + l`. A block of rows then holds a tile's i, f, g, o for 16 units in four registers
//! per row, and the cell runs on them before they ever reach memory. The recurrent kernel is
//! packed once per batch (per model when scoring) as column tiles of 16, each a stream over
//! the 128 inputs, which is the order the product reads them.
//!
//! **Blocks.** Every product here is `acc[r][j] += a[r][k] * b[j][k]` over `MR` rows and `NT`
//! column tiles held in registers (`product_block`), with the sizes each kind of lanes can
//! afford (`Lanes::ROWS`, `Lanes::COLS`, and `Lanes::DEPTH` for the inner dimension). Blocking
//! never changes the order of a sum, so a row's result does not depend on which rows share
//! its block.
//!
//! Generic over `Lanes`: AVX-512, AVX2 or portable, whichever the CPU has (`on_lanes!`).
//! tests/fast_cpu.rs checks all three against the reference.

use super::lanes::{self, Lanes, Portable};
use super::scratch;
use crate::nn::RecurrentActivation;
use ndarray::ArrayView2;

/// Units per tile: one register of lanes.
pub const TILE: usize = 16;

/// Which lanes the kernels run on. Asking for lanes the CPU lacks gets the best it has below
/// them, so any value is safe to pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Simd {
    /// One AVX-512F register per 16 lanes (six register rows per block).
    Avx512,
    /// Two AVX2 registers with FMA per 16 lanes (one register row, depth-blocked).
    Avx2,
    /// Arrays the compiler vectorises as it can (any CPU).
    Portable,
}

impl Simd {
    /// The best this CPU runs, or lower if the environment variable `DGA_LITE_LANES` says
    /// `avx2` or `portable` (to compare them, or to get the bits another machine gets: each
    /// kind of lanes does the same operations in the same order on every CPU that runs it).
    pub fn detect() -> Simd {
        static CHOICE: std::sync::OnceLock<Simd> = std::sync::OnceLock::new();
        *CHOICE.get_or_init(|| {
            let asked = match std::env::var("DGA_LITE_LANES").as_deref() {
                Ok("avx2") => Simd::Avx2,
                Ok("portable") => Simd::Portable,
                _ => Simd::Avx512,
            };
            asked.supported()
        })
    }

    /// These lanes if the CPU runs them, else the best below.
    pub fn supported(self) -> Simd {
        match self {
            Simd::Avx512 if avx512() => Simd::Avx512,
            Simd::Avx512 | Simd::Avx2 if avx2_fma() => Simd::Avx2,
            _ => Simd::Portable,
        }
    }

    /// What `bench` prints.
    pub fn name(self) -> &'static str {
        match self.supported() {
            Simd::Avx512 => "avx512",
            Simd::Avx2 => "avx2",
            Simd::Portable => "portable",
        }
    }
}

fn avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

fn avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Sizes of the packed layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The model's units.
    pub units: usize,
    /// Units padded to whole tiles.
    pub padded: usize,
}

impl Layout {
    pub fn new(units: usize) -> Layout {
        Layout {
            units,
            padded: units.div_ceil(TILE) * TILE,
        }
    }

    pub fn tiles(&self) -> usize {
        self.padded / TILE
    }

    /// Packed gate columns: `4 * padded`.
    pub fn gates(&self) -> usize {
        4 * self.padded
    }

    /// The packed column of gate `g` (0..4: i, f, g, o) of unit `u`.
    pub fn column(&self, g: usize, u: usize) -> usize {
        (u / TILE) * 4 * TILE + g * TILE + u % TILE
    }

    /// Copies the `[rows, 4H]` matrix `m` into the packed `[rows, 4 padded]` column order.
    pub fn pack_columns(&self, m: ArrayView2<f32>) -> Vec<f32> {
        let (rows, cols) = m.dim();
        assert_eq!(cols, 4 * self.units);
        let g_cols = self.gates();
        let mut out = scratch::zeros(rows * g_cols);
        for (r, row) in m.rows().into_iter().enumerate() {
            for g in 0..4 {
                for u in 0..self.units {
                    out[r * g_cols + self.column(g, u)] = row[g * self.units + u];
                }
            }
        }
        out
    }

    /// The inverse of `pack_columns` for `rows` rows (padding dropped).
    pub fn unpack_columns(&self, packed: &[f32], rows: usize) -> Vec<f32> {
        let g_cols = self.gates();
        let mut out = vec![0.0f32; rows * 4 * self.units];
        for r in 0..rows {
            for g in 0..4 {
                for u in 0..self.units {
                    out[r * 4 * self.units + g * self.units + u] =
                        packed[r * g_cols + self.column(g, u)];
                }
            }
        }
        out
    }
}

/// The recurrent kernel `[H, 4H]` packed for the step kernels.
#[derive(Clone, Debug)]
pub struct PackedRecurrent {
    pub layout: Layout,
    /// Forward: column tile `ct` (tile `ct / 4`, gate `ct % 4`) is `padded` rows of 16 floats
    /// from `16 ct padded`, row `k` holding `W[k, that gate of those 16 units]`.
    forward: Vec<f32>,
    /// Backward (`dz W^T`): output tile `ot` is `4 padded` rows of 16 floats from
    /// `16 ot 4 padded`, row `q` holding `W[16 ot .. 16 ot + 16, packed column q]`. Empty when
    /// built for scoring.
    backward: Vec<f32>,
}

impl Drop for PackedRecurrent {
    fn drop(&mut self) {
        scratch::recycle(std::mem::take(&mut self.forward));
        scratch::recycle(std::mem::take(&mut self.backward));
    }
}

impl PackedRecurrent {
    pub fn new(recurrent: ArrayView2<f32>, with_backward: bool) -> PackedRecurrent {
        let (units, cols) = recurrent.dim();
        assert_eq!(cols, 4 * units);
        let layout = Layout::new(units);
        let (hp, g_cols) = (layout.padded, layout.gates());
        let packed = layout.pack_columns(recurrent);
        let pack_forward = || {
            let mut forward = scratch::zeros(g_cols * hp);
            for k in 0..units {
                for ct in 0..g_cols / TILE {
                    forward[(ct * hp + k) * TILE..][..TILE]
                        .copy_from_slice(&packed[k * g_cols + ct * TILE..][..TILE]);
                }
            }
            forward
        };
        let pack_backward = || {
            if !with_backward {
                return Vec::new();
            }
            let mut backward = scratch::zeros(hp * g_cols);
            for k in 0..units {
                let tile = &mut backward[(k / TILE) * g_cols * TILE..][..g_cols * TILE];
                for (q, &v) in packed[k * g_cols..(k + 1) * g_cols].iter().enumerate() {
                    tile[q * TILE + k % TILE] = v;
                }
            }
            backward
        };
        let (forward, backward) = rayon::join(pack_forward, pack_backward);
        scratch::recycle(packed);
        PackedRecurrent {
            layout,
            forward,
            backward,
        }
    }
}

/// Runs `$call` with the const `$mr` set to `$rows` (1 to 6): the row count of a register
/// block is a compile-time constant, so the accumulators stay in registers.
macro_rules! with_rows {
    ($rows:expr, |$mr:ident| $call:expr) => {
        match $rows {
            6 => {
                const $mr: usize = 6;
                $call
            }
            5 => {
                const $mr: usize = 5;
                $call
            }
            4 => {
                const $mr: usize = 4;
                $call
            }
            3 => {
                const $mr: usize = 3;
                $call
            }
            2 => {
                const $mr: usize = 2;
                $call
            }
            _ => {
                const $mr: usize = 1;
                $call
            }
        }
    };
}

/// Runs `$call` with the const `$nt` set to `$cols` (4, 2 or 1 column tiles per block).
macro_rules! with_cols {
    ($cols:expr, |$nt:ident| $call:expr) => {
        match $cols {
            4 => {
                const $nt: usize = 4;
                $call
            }
            2 => {
                const $nt: usize = 2;
                $call
            }
            _ => {
                const $nt: usize = 1;
                $call
            }
        }
    };
}

/// Defines `fn $name(simd: Simd, args)`, which runs `$generic::<lanes>(args)` on the lanes
/// `simd` asks for, or the best below them this CPU has, each copy compiled with its lanes'
/// target features (so the intrinsics inline and the compiler vectorises for them).
macro_rules! on_lanes {
    ($(#[$doc:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),*) => $generic:ident) => {
        $(#[$doc])*
        $vis fn $name(simd: Simd, $($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                unsafe fn avx512($($arg: $ty),*) {
                    $generic::<lanes::Avx512>($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) {
                    $generic::<lanes::Avx2>($($arg),*)
                }
                match simd.supported() {
                    // SAFETY: `supported` checked that the CPU has these features.
                    Simd::Avx512 => return unsafe { avx512($($arg),*) },
                    Simd::Avx2 => return unsafe { avx2($($arg),*) },
                    Simd::Portable => {}
                }
            }
            let _ = simd;
            $generic::<Portable>($($arg),*)
        }
    };
}

/// `acc[r][j] += sum over k < depth of a[r][k] * b[j][k * stride .. + 16]`: `MR` rows of `a`
/// against `NT` column tiles of 16, each read with `stride` floats between its rows.
#[inline(always)]
fn product_block<L: Lanes, const MR: usize, const NT: usize>(
    a: [&[f32]; MR],
    b: [&[f32]; NT],
    stride: usize,
    depth: usize,
    acc: &mut [[L; NT]; MR],
) {
    if depth == 0 {
        return;
    }
    assert!(a.iter().all(|row| row.len() >= depth));
    assert!(
        b.iter()
            .all(|tile| tile.len() >= (depth - 1) * stride + TILE)
    );
    for k in 0..depth {
        // SAFETY: k < depth, so k * stride + 16 <= every tile's length and k < every row's
        // length, asserted above.
        let mut bk = [L::splat(0.0); NT];
        for (v, tile) in bk.iter_mut().zip(&b) {
            *v = L::load(unsafe { &*(tile.as_ptr().add(k * stride) as *const [f32; TILE]) });
        }
        for r in 0..MR {
            let s = L::splat(unsafe { *a[r].get_unchecked(k) });
            for j in 0..NT {
                acc[r][j] = s.mul_add(bk[j], acc[r][j]);
            }
        }
    }
}

#[inline(always)]
fn lanes16(s: &[f32]) -> &[f32; TILE] {
    s[..TILE].try_into().expect("16 lanes")
}

#[inline(always)]
fn lanes16_mut(s: &mut [f32]) -> &mut [f32; TILE] {
    (&mut s[..TILE]).try_into().expect("16 lanes")
}

#[inline(always)]
fn activate<L: Lanes>(act: RecurrentActivation, z: L) -> L {
    match act {
        RecurrentActivation::Sigmoid => lanes::sigmoid(z),
        RecurrentActivation::HardSigmoid => L::splat(0.2)
            .mul(z)
            .add(L::splat(0.5))
            .max(L::splat(0.0))
            .min(L::splat(1.0)),
    }
}

/// The activation's derivative from its output `y`.
#[inline(always)]
fn derivative<L: Lanes>(act: RecurrentActivation, y: L) -> L {
    let one = L::splat(1.0);
    match act {
        RecurrentActivation::Sigmoid => y.mul(one.sub(y)),
        RecurrentActivation::HardSigmoid => {
            let zero = L::splat(0.0);
            L::select_lt(zero, y, L::select_lt(y, one, L::splat(0.2), zero), zero)
        }
    }
}

/// One forward step's inputs and outputs for `rows` rows (all `[rows, padded]` unless said).
pub struct ForwardStep<'a> {
    pub act: RecurrentActivation,
    /// The input table in packed columns, `[vocab, 4 padded]`.
    pub table: &'a [f32],
    /// Each row's input index at this step.
    pub inputs: &'a [u8],
    pub h_prev: &'a [f32],
    pub c_prev: &'a [f32],
    pub h: &'a mut [f32],
    pub c: &'a mut [f32],
    /// Where to keep the gates i, f, g, o (`[rows, 4 padded]`), for training.
    pub gates: Option<&'a mut [f32]>,
}

on_lanes! {
    /// `z = table[input] + h_prev W`, then the cell: `c = f c_prev + i g`, `h = o tanh(c)`.
    pub fn forward_step(w: &PackedRecurrent, step: ForwardStep) => forward_generic
}

#[inline(always)]
fn forward_generic<L: Lanes>(w: &PackedRecurrent, mut step: ForwardStep) {
    let rows = step.inputs.len();
    let hp = w.layout.padded;
    // A tile's gate sums between passes, `[rows, 4 * 16]`: lanes with few registers take a
    // tile's gates `L::COLS` at a time and its inputs `L::DEPTH` at a time.
    let mut partial = Vec::new();
    if L::DEPTH < hp || L::COLS < 4 {
        partial = scratch::zeros(rows * 4 * TILE);
    }
    // Tile by tile, every row block over each block of the tile's weights, so the weights are
    // read from cache once per block of rows rather than from memory.
    for t in 0..w.layout.tiles() {
        for g0 in (0..4).step_by(L::COLS) {
            let mut k0 = 0;
            while k0 < hp {
                let pass = Pass {
                    tile: t,
                    gate: g0,
                    inputs: (k0, k0.saturating_add(L::DEPTH).min(hp)),
                };
                let mut r = 0;
                while r < rows {
                    let take = (rows - r).min(L::ROWS).min(6);
                    let (s, p) = (&mut step, &mut partial[..]);
                    with_cols!(L::COLS, |NT| with_rows!(take, |MR| forward_block::<
                        L,
                        MR,
                        NT,
                    >(
                        w, s, p, r, pass
                    )));
                    r += take;
                }
                k0 = pass.inputs.1;
            }
        }
    }
    scratch::recycle(partial);
}

/// One pass of the forward product: gates `gate ..` of tile `tile`, over `inputs`.
#[derive(Clone, Copy)]
struct Pass {
    tile: usize,
    gate: usize,
    inputs: (usize, usize),
}

/// Rows `r0 .. r0 + MR` of one pass (`NT` gates); the cell once the last pass is in.
#[inline(always)]
fn forward_block<L: Lanes, const MR: usize, const NT: usize>(
    w: &PackedRecurrent,
    s: &mut ForwardStep,
    partial: &mut [f32],
    r0: usize,
    Pass {
        tile: t,
        gate: g0,
        inputs: (k0, k1),
    }: Pass,
) {
    let (hp, g_cols) = (w.layout.padded, w.layout.gates());
    let h_prev: [&[f32]; MR] = std::array::from_fn(|r| &s.h_prev[(r0 + r) * hp + k0..][..k1 - k0]);
    let b: [&[f32]; NT] = std::array::from_fn(|j| {
        let column = 4 * t + g0 + j;
        &w.forward[(column * hp + k0) * TILE..(column * hp + k1) * TILE]
    });
    // Plain loops, not closures, wherever lanes are made: a closure is a function of its own,
    // compiled without the caller's target features, so its intrinsics would not inline.
    let mut acc = [[L::splat(0.0); NT]; MR];
    for (r, row) in acc.iter_mut().enumerate() {
        let from = if k0 == 0 {
            &s.table[s.inputs[r0 + r] as usize * g_cols + 4 * t * TILE..][..4 * TILE]
        } else {
            &partial[(r0 + r) * 4 * TILE..][..4 * TILE]
        };
        for (j, v) in row.iter_mut().enumerate() {
            *v = L::load(lanes16(&from[(g0 + j) * TILE..]));
        }
    }
    product_block(h_prev, b, TILE, k1 - k0, &mut acc);
    if g0 + NT < 4 || k1 < hp {
        for (r, row) in acc.iter().enumerate() {
            for (j, v) in row.iter().enumerate() {
                v.store(lanes16_mut(
                    &mut partial[(r0 + r) * 4 * TILE + (g0 + j) * TILE..],
                ));
            }
        }
        return;
    }
    for (r, sums) in acc.iter().enumerate() {
        let row = r0 + r;
        // The gates of earlier passes wait in `partial`.
        let mut z = [L::splat(0.0); 4];
        for (gate, v) in z.iter_mut().enumerate() {
            *v = if gate >= g0 {
                sums[gate - g0]
            } else {
                L::load(lanes16(&partial[row * 4 * TILE + gate * TILE..]))
            };
        }
        let i = activate(s.act, z[0]);
        let f = activate(s.act, z[1]);
        let g = lanes::tanh(z[2]);
        let o = activate(s.act, z[3]);
        let at = row * hp + t * TILE;
        let c_prev = L::load(lanes16(&s.c_prev[at..]));
        let c = f.mul(c_prev).add(i.mul(g));
        let h = o.mul(lanes::tanh(c));
        c.store(lanes16_mut(&mut s.c[at..]));
        h.store(lanes16_mut(&mut s.h[at..]));
        if let Some(gates) = s.gates.as_deref_mut() {
            let base = row * g_cols + 4 * t * TILE;
            for (k, v) in [i, f, g, o].into_iter().enumerate() {
                v.store(lanes16_mut(&mut gates[base + k * TILE..]));
            }
        }
    }
}

/// One backward step for `rows` rows.
pub struct BackwardStep<'a> {
    pub act: RecurrentActivation,
    /// The step's gates on entry, dL/dz on return: `[rows, 4 padded]`.
    pub gates_to_dz: &'a mut [f32],
    pub c_prev: &'a [f32],
    /// dL/dh_t on entry, dL/dh_{t-1} on return.
    pub dh: &'a mut [f32],
    /// dL/dc_t on entry, dL/dc_{t-1} on return.
    pub dc: &'a mut [f32],
}

/// The cell's backward (gates to dz, in place), then `dh_prev = dz W^T`.
pub fn backward_step(simd: Simd, w: &PackedRecurrent, step: BackwardStep) {
    assert!(!w.backward.is_empty(), "packed without the backward kernel");
    backward_on(simd, w, step)
}

on_lanes! {
    fn backward_on(w: &PackedRecurrent, step: BackwardStep) => backward_generic
}

#[inline(always)]
fn backward_generic<L: Lanes>(w: &PackedRecurrent, s: BackwardStep) {
    let (hp, g_cols) = (w.layout.padded, w.layout.gates());
    let rows = s.c_prev.len() / hp;
    // The cell, as `nn::lstm::cell_backward` computes it, term for term.
    for row in 0..rows {
        for t in 0..w.layout.tiles() {
            let at = row * hp + t * TILE;
            let base = row * g_cols + 4 * t * TILE;
            // A plain loop, not a closure (see `forward_block`).
            let mut gates = [L::splat(0.0); 4];
            for (k, v) in gates.iter_mut().enumerate() {
                *v = L::load(lanes16(&s.gates_to_dz[base + k * TILE..]));
            }
            let [i, f, g, o] = gates;
            let c_prev = L::load(lanes16(&s.c_prev[at..]));
            let dh = L::load(lanes16(&s.dh[at..]));
            let dc = L::load(lanes16(&s.dc[at..]));
            let one = L::splat(1.0);
            let tanh_c = lanes::tanh(f.mul(c_prev).add(i.mul(g)));
            let dc_total = dc.add(dh.mul(o).mul(one.sub(tanh_c.mul(tanh_c))));
            let di = dc_total.mul(g).mul(derivative(s.act, i));
            let df = dc_total.mul(c_prev).mul(derivative(s.act, f));
            let dg = dc_total.mul(i).mul(one.sub(g.mul(g)));
            let d_o = dh.mul(tanh_c).mul(derivative(s.act, o));
            for (k, v) in [di, df, dg, d_o].into_iter().enumerate() {
                v.store(lanes16_mut(&mut s.gates_to_dz[base + k * TILE..]));
            }
            dc_total.mul(f).store(lanes16_mut(&mut s.dc[at..]));
        }
    }
    // dh_prev = dz W^T.
    let dz: &[f32] = s.gates_to_dz;
    // `L::COLS` output tiles at a time where they divide evenly; each over depth blocks of dz.
    let tiles = w.layout.tiles();
    let cols = if tiles.is_multiple_of(L::COLS) {
        L::COLS
    } else {
        1
    };
    let g_cols = w.layout.gates();
    for ot in (0..tiles).step_by(cols) {
        let mut q0 = 0;
        while q0 < g_cols {
            let q1 = q0.saturating_add(L::DEPTH).min(g_cols);
            let mut r = 0;
            while r < rows {
                let take = (rows - r).min(L::ROWS).min(6);
                let (at, depth) = ((r, ot), (q0, q1));
                with_cols!(cols, |NT| with_rows!(take, |MR| dh_block::<L, MR, NT>(
                    w, dz, s.dh, at, depth
                )));
                r += take;
            }
            q0 = q1;
        }
    }
}

/// `dh[r0 .. r0 + MR, tiles ot .. ot + NT]` (`= dz W^T`) over dz's columns `q0 .. q1`: the
/// first block overwrites dh, later ones add to it.
#[inline(always)]
fn dh_block<L: Lanes, const MR: usize, const NT: usize>(
    w: &PackedRecurrent,
    dz: &[f32],
    dh: &mut [f32],
    (r0, ot): (usize, usize),
    (q0, q1): (usize, usize),
) {
    let (hp, g_cols) = (w.layout.padded, w.layout.gates());
    let a: [&[f32]; MR] = std::array::from_fn(|r| &dz[(r0 + r) * g_cols + q0..][..q1 - q0]);
    let b: [&[f32]; NT] = std::array::from_fn(|j| {
        &w.backward[((ot + j) * g_cols + q0) * TILE..((ot + j) * g_cols + q1) * TILE]
    });
    let mut acc = [[L::splat(0.0); NT]; MR];
    if q0 > 0 {
        for (r, row) in acc.iter_mut().enumerate() {
            for (j, v) in row.iter_mut().enumerate() {
                *v = L::load(lanes16(&dh[(r0 + r) * hp + (ot + j) * TILE..]));
            }
        }
    }
    product_block(a, b, TILE, q1 - q0, &mut acc);
    for (r, row) in acc.iter().enumerate() {
        for (j, v) in row.iter().enumerate() {
            v.store(lanes16_mut(&mut dh[(r0 + r) * hp + (ot + j) * TILE..]));
        }
    }
}

/// `c += a^T b` for row-major `a` `[m, k]`, `b` `[m, n]` and `c` `[k, n]`, `n` a multiple of
/// 16: the recurrent kernel's gradient `h_prev^T dz` over every stored step.
pub fn add_transposed_product(
    simd: Simd,
    a: &[f32],
    b: &[f32],
    m: usize,
    c: &mut [f32],
    (k, n): (usize, usize),
) {
    assert!(n.is_multiple_of(TILE) && a.len() >= m * k && b.len() >= m * n);
    assert_eq!(c.len(), k * n);
    if m == 0 {
        return;
    }
    // a^T, so that each output row reads one contiguous row.
    let mut a_t = scratch::zeros(k * m);
    for (r, row) in a.chunks_exact(k).take(m).enumerate() {
        for (kk, &v) in row.iter().enumerate() {
            a_t[kk * m + r] = v;
        }
    }
    let product = TransposedProduct {
        a_t: &a_t,
        b,
        m,
        c,
        k,
        n,
    };
    transposed(simd, product);
    scratch::recycle(a_t);
}

on_lanes! {
    fn transposed(product: TransposedProduct) => transposed_generic
}

struct TransposedProduct<'a> {
    a_t: &'a [f32],
    b: &'a [f32],
    m: usize,
    c: &'a mut [f32],
    k: usize,
    n: usize,
}

#[inline(always)]
fn transposed_generic<L: Lanes>(mut p: TransposedProduct) {
    let tiles = p.n / TILE;
    // `L::COLS` column tiles at a time (a strip of b that stays in cache while every block of
    // output rows passes over it), then one at a time for the rest; b's rows in depth blocks.
    let mut j0 = 0;
    while j0 < tiles {
        let cols = if tiles - j0 >= L::COLS { L::COLS } else { 1 };
        let mut m0 = 0;
        while m0 < p.m {
            let m1 = m0.saturating_add(L::DEPTH).min(p.m);
            let mut r = 0;
            while r < p.k {
                let take = (p.k - r).min(L::ROWS).min(6);
                let (q, at, depth) = (&mut p, (r, j0), (m0, m1));
                with_cols!(cols, |NT| with_rows!(take, |MR| transposed_block::<
                    L,
                    MR,
                    NT,
                >(
                    q, at, depth
                )));
                r += take;
            }
            m0 = m1;
        }
        j0 += cols;
    }
}

/// Output rows `r0 .. r0 + MR`, column tiles `j0 .. j0 + NT` of `c += a^T b`, over the rows
/// `m0 .. m1` of `a` and `b`.
#[inline(always)]
fn transposed_block<L: Lanes, const MR: usize, const NT: usize>(
    p: &mut TransposedProduct,
    (r0, j0): (usize, usize),
    (m0, m1): (usize, usize),
) {
    let (m, n) = (p.m, p.n);
    let a: [&[f32]; MR] = std::array::from_fn(|r| &p.a_t[(r0 + r) * m + m0..][..m1 - m0]);
    let b: [&[f32]; NT] = std::array::from_fn(|j| &p.b[m0 * n + (j0 + j) * TILE..]);
    let mut acc = [[L::splat(0.0); NT]; MR];
    for (r, row) in acc.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = L::load(lanes16(&p.c[(r0 + r) * n + (j0 + j) * TILE..]));
        }
    }
    product_block(a, b, n, m1 - m0, &mut acc);
    for (r, row) in acc.iter().enumerate() {
        for (j, v) in row.iter().enumerate() {
            v.store(lanes16_mut(&mut p.c[(r0 + r) * n + (j0 + j) * TILE..]));
        }
    }
}
