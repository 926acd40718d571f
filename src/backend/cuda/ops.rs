//! One typed Rust function per kernel in `kernels/`: launch geometry and argument order live
//! here and nowhere else. Buffers are whole `CudaSlice`s; every size is checked against them
//! before a launch, so a wrong size is an error, never an out-of-bounds write on the device.

use super::{CudaError, Gpu};
use cudarc::driver::{CudaSlice, LaunchArgs, LaunchConfig, PushKernelArg};

const THREADS: u32 = 256;

fn blocks_for(n: usize) -> Result<LaunchConfig, CudaError> {
    Ok(LaunchConfig {
        grid_dim: (u(n.div_ceil(THREADS as usize).max(1))?, 1, 1),
        block_dim: (THREADS, 1, 1),
        shared_mem_bytes: 0,
    })
}

fn check(what: &str, ok: bool) -> Result<(), CudaError> {
    if ok {
        Ok(())
    } else {
        Err(CudaError::Driver(format!("buffer too small for {what}")))
    }
}

/// A size as the kernels' `int`: refused, not wrapped, when it does not fit.
fn i(v: usize) -> Result<i32, CudaError> {
    i32::try_from(v)
        .map_err(|_| CudaError::Driver(format!("size {v} is beyond the kernels' int range")))
}

/// A launch dimension: refused, not wrapped, when it does not fit.
fn u(v: usize) -> Result<u32, CudaError> {
    u32::try_from(v).map_err(|_| CudaError::Driver(format!("launch size {v} is beyond u32")))
}

/// An element count as the kernels' `long long`.
fn l(v: usize) -> Result<i64, CudaError> {
    i64::try_from(v).map_err(|_| CudaError::Driver(format!("size {v} is beyond i64")))
}

/// `c = op(a) op(b) + beta c` (see kernels/matmul.cu): `op(a)` is `[m, k]`, `op(b)` `[k, n]`.
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    gpu: &Gpu,
    a: &CudaSlice<f32>,
    b: &CudaSlice<f32>,
    c: &mut CudaSlice<f32>,
    (m, n, k): (usize, usize, usize),
    trans_a: bool,
    trans_b: bool,
    beta: f32,
) -> Result<(), CudaError> {
    check(
        "matmul",
        a.len() >= m * k && b.len() >= k * n && c.len() >= m * n,
    )?;
    if m == 0 || n == 0 {
        return Ok(());
    }
    let cfg = LaunchConfig {
        grid_dim: (u(n.div_ceil(16))?, u(m.div_ceil(16))?, 1),
        block_dim: (16, 16, 1),
        shared_mem_bytes: 0,
    };
    let (m, n, k, ta, tb) = (i(m)?, i(n)?, i(k)?, i32::from(trans_a), i32::from(trans_b));
    let mut launch = gpu.stream.launch_builder(gpu.function("matmul"));
    launch
        .arg(a)
        .arg(b)
        .arg(c)
        .arg(&m)
        .arg(&n)
        .arg(&k)
        .arg(&ta)
        .arg(&tb)
        .arg(&beta);
    // SAFETY: sizes checked above; the kernel reads a, b and writes c within them.
    unsafe { launch.launch(cfg) }?;
    Ok(())
}

pub fn add_bias_rows(
    gpu: &Gpu,
    x: &mut CudaSlice<f32>,
    bias: &CudaSlice<f32>,
    rows: usize,
    cols: usize,
) -> Result<(), CudaError> {
    check(
        "add_bias_rows",
        x.len() >= rows * cols && bias.len() >= cols,
    )?;
    let (r, c) = (i(rows)?, i(cols)?);
    let mut launch = gpu.stream.launch_builder(gpu.function("add_bias_rows"));
    launch.arg(x).arg(bias).arg(&r).arg(&c);
    // SAFETY: sizes checked above.
    unsafe { launch.launch(blocks_for(rows * cols)?) }?;
    Ok(())
}

pub fn column_sums(
    gpu: &Gpu,
    x: &CudaSlice<f32>,
    out: &mut CudaSlice<f32>,
    rows: usize,
    cols: usize,
) -> Result<(), CudaError> {
    check("column_sums", x.len() >= rows * cols && out.len() >= cols)?;
    let (r, c) = (i(rows)?, i(cols)?);
    let mut launch = gpu.stream.launch_builder(gpu.function("column_sums"));
    launch.arg(x).arg(out).arg(&r).arg(&c);
    // SAFETY: sizes checked above.
    unsafe { launch.launch(blocks_for(cols)?) }?;
    Ok(())
}

pub fn transpose(
    gpu: &Gpu,
    x: &CudaSlice<f32>,
    out: &mut CudaSlice<f32>,
    rows: usize,
    cols: usize,
) -> Result<(), CudaError> {
    check(
        "transpose",
        x.len() >= rows * cols && out.len() >= rows * cols,
    )?;
    let (r, c) = (i(rows)?, i(cols)?);
    let mut launch = gpu.stream.launch_builder(gpu.function("transpose"));
    launch.arg(x).arg(out).arg(&r).arg(&c);
    // SAFETY: sizes checked above.
    unsafe { launch.launch(blocks_for(rows * cols)?) }?;
    Ok(())
}

/// Checks, on the host, that every index of a batch names a row of a `rows`-row table: the
/// one check that makes the kernels indexing by data (`gather_rows`, `scatter_rows_by_index`,
/// `lstm_forward`) safe to call on that batch.
pub fn check_indices(indices: &[u8], rows: usize) -> Result<(), CudaError> {
    match indices.iter().map(|&v| v as usize).max() {
        Some(largest) if largest >= rows => Err(CudaError::Driver(format!(
            "index {largest} is beyond the table's {rows} rows"
        ))),
        _ => Ok(()),
    }
}

/// `out[r] = table[indices[r]]` for `rows` rows of `dim` values.
///
/// # Safety
/// Every value in `indices[..rows]` must be below `table`'s row count (`check_indices` on
/// the host data uploaded into `indices`).
pub unsafe fn gather_rows(
    gpu: &Gpu,
    indices: &CudaSlice<u8>,
    table: &CudaSlice<f32>,
    out: &mut CudaSlice<f32>,
    rows: usize,
    dim: usize,
) -> Result<(), CudaError> {
    check(
        "gather_rows",
        indices.len() >= rows && out.len() >= rows * dim,
    )?;
    let (r, d) = (i(rows)?, i(dim)?);
    let mut launch = gpu.stream.launch_builder(gpu.function("gather_rows"));
    launch.arg(indices).arg(table).arg(out).arg(&r).arg(&d);
    // SAFETY: sizes checked above; indices are below the table's rows (the caller's contract).
    unsafe { launch.launch(blocks_for(rows * dim)?) }?;
    Ok(())
}

/// `grad[indices[r]] += d_rows[r]` for `rows` rows of `dim` values, into a `[vocab, dim]`
/// gradient.
///
/// # Safety
/// Every value in `indices[..rows]` must be below `vocab` (`check_indices`).
pub unsafe fn scatter_rows_by_index(
    gpu: &Gpu,
    indices: &CudaSlice<u8>,
    d_rows: &CudaSlice<f32>,
    grad: &mut CudaSlice<f32>,
    (rows, vocab, dim): (usize, usize, usize),
) -> Result<(), CudaError> {
    check(
        "scatter_rows_by_index",
        indices.len() >= rows && d_rows.len() >= rows * dim && grad.len() >= vocab * dim,
    )?;
    let (r, v, d) = (i(rows)?, i(vocab)?, i(dim)?);
    let mut launch = gpu
        .stream
        .launch_builder(gpu.function("scatter_rows_by_index"));
    launch
        .arg(indices)
        .arg(d_rows)
        .arg(grad)
        .arg(&r)
        .arg(&v)
        .arg(&d);
    // SAFETY: sizes checked above; indices are below `vocab` (the caller's contract).
    unsafe { launch.launch(blocks_for(vocab * dim)?) }?;
    Ok(())
}

/// The state the LSTM's forward pass keeps for the backward pass.
pub struct LstmTrace<'a> {
    pub gates: &'a mut CudaSlice<f32>,
    pub c_prev: &'a mut CudaSlice<f32>,
    pub h_prev: &'a mut CudaSlice<f32>,
}

fn lstm_launch(batch: usize, units: usize) -> Result<LaunchConfig, CudaError> {
    Ok(LaunchConfig {
        grid_dim: (u(batch)?, 1, 1),
        block_dim: (u((4 * units).min(1024))?, 1, 1),
        shared_mem_bytes: u(6 * units * 4)?,
    })
}

/// The whole forward recurrence of `batch` names (kernels/lstm.cu), reading each step's
/// gate inputs from `table` (`[vocab, 4 units]`) by index.
///
/// # Safety
/// Every value in `indices[..batch * steps]` must be below `table`'s row count
/// (`check_indices`).
#[allow(clippy::too_many_arguments)]
pub unsafe fn lstm_forward(
    gpu: &Gpu,
    indices: &CudaSlice<u8>,
    table: &CudaSlice<f32>,
    recurrent: &CudaSlice<f32>,
    (batch, steps, units): (usize, usize, usize),
    hard: bool,
    h_last: &mut CudaSlice<f32>,
    trace: Option<LstmTrace>,
) -> Result<(), CudaError> {
    check(
        "lstm_forward",
        indices.len() >= batch * steps
            && recurrent.len() >= units * 4 * units
            && h_last.len() >= batch * units,
    )?;
    if batch == 0 {
        return Ok(());
    }
    let (s, u, h) = (i(steps)?, i(units)?, i32::from(hard));
    let null = 0u64;
    let mut launch = gpu.stream.launch_builder(gpu.function("lstm_forward"));
    launch
        .arg(indices)
        .arg(table)
        .arg(recurrent)
        .arg(&s)
        .arg(&u)
        .arg(&h)
        .arg(h_last);
    match trace {
        Some(t) => {
            check(
                "lstm_forward trace",
                t.gates.len() >= batch * steps * 4 * units
                    && t.c_prev.len() >= batch * steps * units
                    && t.h_prev.len() >= batch * steps * units,
            )?;
            launch.arg(t.gates).arg(t.c_prev).arg(t.h_prev);
            // SAFETY: sizes checked above.
            unsafe { launch.launch(lstm_launch(batch, units)?) }?;
        }
        None => {
            launch.arg(&null).arg(&null).arg(&null);
            // SAFETY: sizes checked above; null trace pointers are never written.
            unsafe { launch.launch(lstm_launch(batch, units)?) }?;
        }
    }
    Ok(())
}

/// The backward recurrence: dL/dz for every row and step into `dz` `[batch, steps, 4H]`.
#[allow(clippy::too_many_arguments)]
pub fn lstm_backward(
    gpu: &Gpu,
    recurrent_t: &CudaSlice<f32>,
    gates: &CudaSlice<f32>,
    c_prev: &CudaSlice<f32>,
    d_h_last: &CudaSlice<f32>,
    (batch, steps, units): (usize, usize, usize),
    hard: bool,
    dz: &mut CudaSlice<f32>,
) -> Result<(), CudaError> {
    check(
        "lstm_backward",
        recurrent_t.len() >= units * 4 * units
            && gates.len() >= batch * steps * 4 * units
            && c_prev.len() >= batch * steps * units
            && d_h_last.len() >= batch * units
            && dz.len() >= batch * steps * 4 * units,
    )?;
    if batch == 0 {
        return Ok(());
    }
    let (s, u, h) = (i(steps)?, i(units)?, i32::from(hard));
    let mut launch = gpu.stream.launch_builder(gpu.function("lstm_backward"));
    launch
        .arg(recurrent_t)
        .arg(gates)
        .arg(c_prev)
        .arg(d_h_last)
        .arg(&s)
        .arg(&u)
        .arg(&h)
        .arg(dz);
    // SAFETY: sizes checked above.
    unsafe { launch.launch(lstm_launch(batch, units)?) }?;
    Ok(())
}

/// Loss of one batch: `sigmoid_bce` for one output, `softmax_cross_entropy` for more.
#[allow(clippy::too_many_arguments)]
pub fn loss(
    gpu: &Gpu,
    logits: &CudaSlice<f32>,
    labels: &CudaSlice<f32>,
    weights: &CudaSlice<f32>,
    (rows, classes): (usize, usize),
    denominator: f32,
    d_logits: &mut CudaSlice<f32>,
    loss_rows: &mut CudaSlice<f32>,
) -> Result<(), CudaError> {
    check(
        "loss",
        logits.len() >= rows * classes
            && labels.len() >= rows
            && weights.len() >= rows
            && d_logits.len() >= rows * classes
            && loss_rows.len() >= rows,
    )?;
    let (n, k) = (i(rows)?, i(classes)?);
    let name = if classes == 1 {
        "sigmoid_bce"
    } else {
        "softmax_cross_entropy"
    };
    let mut launch = gpu.stream.launch_builder(gpu.function(name));
    launch.arg(logits).arg(labels).arg(weights).arg(&n);
    if classes > 1 {
        launch.arg(&k);
    }
    launch.arg(&denominator).arg(d_logits).arg(loss_rows);
    // SAFETY: sizes checked above.
    unsafe { launch.launch(blocks_for(rows)?) }?;
    Ok(())
}

pub fn probabilities(
    gpu: &Gpu,
    logits: &mut CudaSlice<f32>,
    rows: usize,
    classes: usize,
) -> Result<(), CudaError> {
    check("probabilities", logits.len() >= rows * classes)?;
    let (n, k) = (i(rows)?, i(classes)?);
    let mut launch = gpu.stream.launch_builder(gpu.function("probabilities"));
    launch.arg(logits).arg(&n).arg(&k);
    // SAFETY: sizes checked above.
    unsafe { launch.launch(blocks_for(rows)?) }?;
    Ok(())
}

/// `x *= mask`, element by element, over the first `n` values.
pub fn multiply(
    gpu: &Gpu,
    x: &mut CudaSlice<f32>,
    mask: &CudaSlice<f32>,
    n: usize,
) -> Result<(), CudaError> {
    check("multiply", x.len() >= n && mask.len() >= n)?;
    let n64 = l(n)?;
    let mut launch = gpu.stream.launch_builder(gpu.function("multiply"));
    launch.arg(x).arg(mask).arg(&n64);
    // SAFETY: sizes checked above.
    unsafe { launch.launch(blocks_for(n)?) }?;
    Ok(())
}

pub fn accumulate_sum(
    gpu: &Gpu,
    x: &CudaSlice<f32>,
    n: usize,
    acc: &mut CudaSlice<f64>,
) -> Result<(), CudaError> {
    check("accumulate_sum", x.len() >= n && !acc.is_empty())?;
    let n = i(n)?;
    let mut launch = gpu.stream.launch_builder(gpu.function("accumulate_sum"));
    launch.arg(x).arg(&n).arg(acc);
    // SAFETY: sizes checked above.
    unsafe { launch.launch(blocks_for(1)?) }?;
    Ok(())
}

pub fn rmsprop_step(
    gpu: &Gpu,
    w: &mut CudaSlice<f32>,
    g: &CudaSlice<f32>,
    ms: &mut CudaSlice<f32>,
    (lr, rho, eps): (f32, f32, f32),
) -> Result<(), CudaError> {
    check("rmsprop_step", g.len() >= w.len() && ms.len() >= w.len())?;
    let n = w.len();
    let n64 = l(n)?;
    let mut launch = gpu.stream.launch_builder(gpu.function("rmsprop_step"));
    launch
        .arg(w)
        .arg(g)
        .arg(ms)
        .arg(&n64)
        .arg(&lr)
        .arg(&rho)
        .arg(&eps);
    // SAFETY: sizes checked above.
    unsafe { launch.launch(blocks_for(n)?) }?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub fn adam_step(
    gpu: &Gpu,
    w: &mut CudaSlice<f32>,
    g: &CudaSlice<f32>,
    m: &mut CudaSlice<f32>,
    v: &mut CudaSlice<f32>,
    (alpha, beta1, beta2, eps): (f32, f32, f32, f32),
) -> Result<(), CudaError> {
    check(
        "adam_step",
        g.len() >= w.len() && m.len() >= w.len() && v.len() >= w.len(),
    )?;
    let n = w.len();
    let n64 = l(n)?;
    let mut launch = gpu.stream.launch_builder(gpu.function("adam_step"));
    launch
        .arg(w)
        .arg(g)
        .arg(m)
        .arg(v)
        .arg(&n64)
        .arg(&alpha)
        .arg(&beta1)
        .arg(&beta2)
        .arg(&eps);
    // SAFETY: sizes checked above.
    unsafe { launch.launch(blocks_for(n)?) }?;
    Ok(())
}

/// The geometry of one convolution branch (kernels/conv1d.cu).
#[derive(Clone, Copy)]
pub struct ConvBranch {
    pub batch: usize,
    pub steps: usize,
    pub dim: usize,
    pub filters: usize,
    pub window: usize,
    /// Column of this branch's first filter in `pooled` `[batch, width]`.
    pub offset: usize,
    pub width: usize,
}

/// Pushes a branch's geometry (batch, steps, dim, filters, window, offset, width), the
/// arguments every conv kernel takes in that order.
fn push_ints<'a>(launch: &mut LaunchArgs<'a>, ints: &'a [i32; 7]) {
    for v in ints {
        launch.arg(v);
    }
}

impl ConvBranch {
    fn ints(&self) -> Result<[i32; 7], CudaError> {
        Ok([
            i(self.batch)?,
            i(self.steps)?,
            i(self.dim)?,
            i(self.filters)?,
            i(self.window)?,
            i(self.offset)?,
            i(self.width)?,
        ])
    }

    fn fits(&self, x: usize, kernel: usize, pooled: usize) -> bool {
        self.window >= 1
            && self.window <= self.steps
            && self.offset + self.filters <= self.width
            && x >= self.batch * self.steps * self.dim
            && kernel >= self.window * self.dim * self.filters
            && pooled >= self.batch * self.width
    }
}

/// Conv1D -> ReLU -> global max of one branch into `pooled` (and the argmax positions).
pub fn conv_relu_max_forward(
    gpu: &Gpu,
    x: &CudaSlice<f32>,
    kernel: &CudaSlice<f32>,
    bias: &CudaSlice<f32>,
    geometry: ConvBranch,
    pooled: &mut CudaSlice<f32>,
    argmax: &mut CudaSlice<i32>,
) -> Result<(), CudaError> {
    check(
        "conv_relu_max_forward",
        geometry.fits(x.len(), kernel.len(), pooled.len())
            && argmax.len() >= geometry.batch * geometry.width
            && bias.len() >= geometry.filters,
    )?;
    let ints = geometry.ints()?;
    let mut launch = gpu
        .stream
        .launch_builder(gpu.function("conv_relu_max_forward"));
    launch.arg(x).arg(kernel).arg(bias);
    push_ints(&mut launch, &ints);
    launch.arg(pooled).arg(argmax);
    // SAFETY: sizes checked above.
    unsafe { launch.launch(blocks_for(geometry.batch * geometry.filters)?) }?;
    Ok(())
}

/// Kernel and bias gradients of one branch from dL/dpooled.
#[allow(clippy::too_many_arguments)]
pub fn conv_weight_grads(
    gpu: &Gpu,
    x: &CudaSlice<f32>,
    pooled: &CudaSlice<f32>,
    argmax: &CudaSlice<i32>,
    d_pooled: &CudaSlice<f32>,
    geometry: ConvBranch,
    d_kernel: &mut CudaSlice<f32>,
    d_bias: &mut CudaSlice<f32>,
) -> Result<(), CudaError> {
    check(
        "conv_weight_grads",
        geometry.fits(x.len(), d_kernel.len(), pooled.len())
            && argmax.len() >= geometry.batch * geometry.width
            && d_pooled.len() >= geometry.batch * geometry.width
            && d_bias.len() >= geometry.filters,
    )?;
    let ints = geometry.ints()?;
    let mut launch = gpu.stream.launch_builder(gpu.function("conv_weight_grads"));
    launch.arg(x).arg(pooled).arg(argmax).arg(d_pooled);
    push_ints(&mut launch, &ints);
    launch.arg(d_kernel).arg(d_bias);
    let threads = (geometry.window * geometry.dim + 1) * geometry.filters;
    // SAFETY: sizes checked above.
    unsafe { launch.launch(blocks_for(threads)?) }?;
    Ok(())
}

/// Adds one branch's dL/dx into `d_x` `[batch, steps, dim]`.
pub fn conv_input_grads(
    gpu: &Gpu,
    kernel: &CudaSlice<f32>,
    pooled: &CudaSlice<f32>,
    argmax: &CudaSlice<i32>,
    d_pooled: &CudaSlice<f32>,
    geometry: ConvBranch,
    d_x: &mut CudaSlice<f32>,
) -> Result<(), CudaError> {
    check(
        "conv_input_grads",
        geometry.fits(d_x.len(), kernel.len(), pooled.len())
            && argmax.len() >= geometry.batch * geometry.width
            && d_pooled.len() >= geometry.batch * geometry.width,
    )?;
    let ints = geometry.ints()?;
    let mut launch = gpu.stream.launch_builder(gpu.function("conv_input_grads"));
    launch.arg(kernel).arg(pooled).arg(argmax).arg(d_pooled);
    push_ints(&mut launch, &ints);
    launch.arg(d_x);
    // SAFETY: sizes checked above.
    unsafe { launch.launch(blocks_for(geometry.batch * geometry.steps * geometry.dim)?) }?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_beyond_the_table_is_refused_before_any_launch() {
        assert!(check_indices(&[0, 3, 39], 40).is_ok());
        assert!(check_indices(&[], 40).is_ok());
        let error = check_indices(&[0, 40, 2], 40).unwrap_err().to_string();
        assert!(error.contains("index 40"), "{error}");
    }

    #[test]
    fn sizes_beyond_the_kernels_int_are_refused_not_wrapped() {
        assert_eq!(i(7).unwrap(), 7);
        assert!(i(1 << 31).is_err());
        assert!(u(1 << 32).is_err());
        assert!(blocks_for(usize::MAX).is_err());
    }
}
