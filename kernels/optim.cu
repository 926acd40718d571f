// Optimiser steps over one parameter tensor, with Keras' update rules (src/nn/optim.rs).

// ms = rho ms + (1 - rho) g^2;  w -= lr g / sqrt(ms + eps)
extern "C" __global__ void rmsprop_step(float* w, const float* g, float* ms, long n, float lr,
                                        float rho, float eps) {
    long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        float gi = g[i];
        float m = rho * ms[i] + (1.0f - rho) * gi * gi;
        ms[i] = m;
        w[i] -= lr * gi / sqrtf(m + eps);
    }
}

// m += (g - m)(1 - b1);  v += (g^2 - v)(1 - b2);  w -= alpha m / (sqrt(v) + eps), where
// alpha = lr sqrt(1 - b2^t) / (1 - b1^t) is computed on the host.
extern "C" __global__ void adam_step(float* w, const float* g, float* m, float* v, long n,
                                     float alpha, float beta1, float beta2, float eps) {
    long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        float gi = g[i];
        float mi = m[i] + (gi - m[i]) * (1.0f - beta1);
        float vi = v[i] + (gi * gi - v[i]) * (1.0f - beta2);
        m[i] = mi;
        v[i] = vi;
        w[i] -= alpha * mi / (sqrtf(vi) + eps);
    }
}
