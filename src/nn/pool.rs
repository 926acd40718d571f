//! Global max pooling over time: `[T, F]` -> `[F]`, each filter's largest value. The gradient
//! goes to the position that held the maximum (the first one on ties, as argmax picks).

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};

/// Returns the maxima and, per filter, the position they came from. `x` must have a row.
pub fn global_max_forward(x: ArrayView2<f32>) -> (Array1<f32>, Vec<usize>) {
    let filters = x.ncols();
    let mut best = Array1::from_elem(filters, f32::NEG_INFINITY);
    let mut at = vec![0usize; filters];
    for (t, row) in x.rows().into_iter().enumerate() {
        for f in 0..filters {
            if row[f] > best[f] {
                best[f] = row[f];
                at[f] = t;
            }
        }
    }
    (best, at)
}

/// dL/dx (`[steps, F]`) from dL/dmax (`[F]`) and the argmax positions.
pub fn global_max_backward(steps: usize, at: &[usize], d_out: ArrayView1<f32>) -> Array2<f32> {
    let mut d_x = Array2::zeros((steps, at.len()));
    for (f, &t) in at.iter().enumerate() {
        d_x[[t, f]] += d_out[f];
    }
    d_x
}

/// ReLU forward, in place.
pub fn relu_forward(x: &mut Array2<f32>) {
    x.mapv_inplace(|v| v.max(0.0));
}

/// ReLU backward through its output `y`: the gradient passes where `y > 0`.
pub fn relu_backward(y: ArrayView2<f32>, d_out: ArrayView2<f32>) -> Array2<f32> {
    let mut d = d_out.to_owned();
    d.zip_mut_with(&y, |g, &v| {
        if v <= 0.0 {
            *g = 0.0;
        }
    });
    d
}
