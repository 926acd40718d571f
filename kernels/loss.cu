// The output losses fused with their activations (src/nn/loss.rs), one thread per example:
// the weighted loss goes to loss[r] (summed on the host once per epoch, not per batch) and
// dL/dlogits, already divided by the batch size, to d_logits.

extern "C" __global__ void sigmoid_bce(const float* logits, const float* labels,
                                       const float* weights, int n, float denominator,
                                       float* d_logits, float* loss) {
    int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= n) {
        return;
    }
    float z = logits[r];
    float y = labels[r];
    float w = weights[r];
    loss[r] = w * (fmaxf(z, 0.0f) - z * y + log1pf(expf(-fabsf(z))));
    d_logits[r] = w * (stable_sigmoid(z) - y) / denominator;
}

// logits [n, classes]; labels hold the class index as a float.
extern "C" __global__ void softmax_cross_entropy(const float* logits, const float* labels,
                                                 const float* weights, int n, int classes,
                                                 float denominator, float* d_logits,
                                                 float* loss) {
    int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= n) {
        return;
    }
    const float* z = logits + (long)r * classes;
    float* d = d_logits + (long)r * classes;
    int y = (int)labels[r];
    float w = weights[r];
    float m = -INFINITY;
    for (int k = 0; k < classes; ++k) {
        m = fmaxf(m, z[k]);
    }
    float sum = 0.0f;
    for (int k = 0; k < classes; ++k) {
        sum += expf(z[k] - m);
    }
    loss[r] = w * (logf(sum) + m - z[y]);
    for (int k = 0; k < classes; ++k) {
        float p = expf(z[k] - m) / sum;
        d[k] = w * (p - (k == y ? 1.0f : 0.0f)) / denominator;
    }
}

// Scoring: logits [n, classes] to probabilities in place (sigmoid for one output, softmax
// per row otherwise).
extern "C" __global__ void probabilities(float* logits, int n, int classes) {
    int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= n) {
        return;
    }
    float* z = logits + (long)r * classes;
    if (classes == 1) {
        z[0] = stable_sigmoid(z[0]);
        return;
    }
    float m = -INFINITY;
    for (int k = 0; k < classes; ++k) {
        m = fmaxf(m, z[k]);
    }
    float sum = 0.0f;
    for (int k = 0; k < classes; ++k) {
        z[k] = expf(z[k] - m);
        sum += z[k];
    }
    for (int k = 0; k < classes; ++k) {
        z[k] /= sum;
    }
}

// Inverted dropout, forward and backward alike: x *= mask (mask values are 0 or 1 / (1 - p),
// drawn on the host by the same generator as the CPU path, so both train on the same masks).
extern "C" __global__ void multiply(float* x, const float* mask, long n) {
    long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        x[i] *= mask[i];
    }
}

// acc[0] += x[0] + ... + x[n - 1], in order, on one thread: the epoch's loss stays on the
// device until the epoch ends.
extern "C" __global__ void accumulate_sum(const float* x, int n, double* acc) {
    if (blockIdx.x == 0 && threadIdx.x == 0) {
        double s = 0.0;
        for (int i = 0; i < n; ++i) {
            s += x[i];
        }
        acc[0] += s;
    }
}
