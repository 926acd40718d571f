// The Snowman CNN's branches: Conv1D (valid, Keras kernel layout [w * E, F]) -> ReLU -> global
// max over positions, fused, and its backward. The pooled value of filter f goes to column
// offset + f of pooled [B, width]; argmax keeps the position (first on ties, as
// src/nn/pool.rs), for the backward pass.

// Launch: one thread per (row, filter): grid ceil(B * F / 256), block 256.
extern "C" __global__ void conv_relu_max_forward(const float* x, const float* kernel,
                                                 const float* bias, int batch, int steps,
                                                 int dim, int filters, int window, int offset,
                                                 int width, float* pooled, int* argmax) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= batch * filters) {
        return;
    }
    int b = i / filters;
    int f = i % filters;
    float best = -INFINITY;
    int at = 0;
    for (int p = 0; p + window <= steps; ++p) {
        float acc = bias[f];
        for (int k = 0; k < window; ++k) {
            const float* xr = x + ((long)b * steps + p + k) * dim;
            for (int e = 0; e < dim; ++e) {
                acc += xr[e] * kernel[(long)(k * dim + e) * filters + f];
            }
        }
        float y = fmaxf(acc, 0.0f);
        if (y > best) {
            best = y;
            at = p;
        }
    }
    pooled[(long)b * width + offset + f] = best;
    argmax[(long)b * width + offset + f] = at;
}

// Kernel and bias gradients of one branch: one thread per kernel element (k, e, f), plus the
// bias as k = window (rows in order, deterministic). A filter's gradient flows only where its
// pooled value is positive (ReLU).
// Launch: grid ceil((window * E + 1) * F / 256), block 256.
extern "C" __global__ void conv_weight_grads(const float* x, const float* pooled,
                                             const int* argmax, const float* d_pooled,
                                             int batch, int steps, int dim, int filters,
                                             int window, int offset, int width,
                                             float* d_kernel, float* d_bias) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (window * dim + 1) * filters) {
        return;
    }
    int f = i % filters;
    int ke = i / filters;
    float acc = 0.0f;
    for (int b = 0; b < batch; ++b) {
        long col = (long)b * width + offset + f;
        if (pooled[col] <= 0.0f) {
            continue;
        }
        float d = d_pooled[col];
        if (ke == window * dim) {
            acc += d;
        } else {
            int k = ke / dim;
            int e = ke % dim;
            acc += d * x[((long)b * steps + argmax[col] + k) * dim + e];
        }
    }
    if (ke == window * dim) {
        d_bias[f] = acc;
    } else {
        d_kernel[(long)ke * filters + f] = acc;
    }
}

// Adds one branch's dL/dx into d_x [B, T, E]: one thread per (b, t, e), filters in order.
// Launch: grid ceil(B * T * E / 256), block 256.
extern "C" __global__ void conv_input_grads(const float* kernel, const float* pooled,
                                            const int* argmax, const float* d_pooled,
                                            int batch, int steps, int dim, int filters,
                                            int window, int offset, int width, float* d_x) {
    long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (long)batch * steps * dim) {
        return;
    }
    int e = i % dim;
    long bt = i / dim;
    int t = bt % steps;
    int b = bt / steps;
    float acc = 0.0f;
    for (int f = 0; f < filters; ++f) {
        long col = (long)b * width + offset + f;
        int k = t - argmax[col];
        if (pooled[col] > 0.0f && k >= 0 && k < window) {
            acc += d_pooled[col] * kernel[(long)(k * dim + e) * filters + f];
        }
    }
    d_x[i] += acc;
}
