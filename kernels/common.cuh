// Shared helpers, prepended to every kernel file when the kernels are compiled (NVRTC has no
// include path here). Every tensor is f32, row-major, in the Keras layout the CPU uses.

typedef unsigned char u8;

// NVRTC compiles without the C headers, so the constant math.h would give is spelled here.
#ifndef INFINITY
#define INFINITY __int_as_float(0x7f800000)
#endif

// The recurrent activation of the LSTM's i, f and o gates: 0 = sigmoid, 1 = Keras hard_sigmoid.
__device__ __forceinline__ float stable_sigmoid(float z) {
    if (z >= 0.0f) {
        return 1.0f / (1.0f + expf(-z));
    }
    float e = expf(z);
    return e / (1.0f + e);
}

__device__ __forceinline__ float recurrent_apply(int hard, float z) {
    return hard ? fminf(fmaxf(0.2f * z + 0.5f, 0.0f), 1.0f) : stable_sigmoid(z);
}

// Derivative through the output y = recurrent_apply(z), as src/nn/lstm.rs computes it.
__device__ __forceinline__ float recurrent_derivative(int hard, float y) {
    if (hard) {
        return (y > 0.0f && y < 1.0f) ? 0.2f : 0.0f;
    }
    return y * (1.0f - y);
}
