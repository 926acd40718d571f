// The Endgame LSTM's recurrence as persistent kernels: one thread block per name runs all 75
// steps with h, c and the gate pre-activations in shared memory; the recurrent kernel U
// ([H, 4H], 256 KB at H = 128) is read from L2 at every step. One launch per batch for the
// forward pass and one for the backward pass, instead of one or more per step.
//
// The input part of every step comes from the input table T = E W + b ([V, 4H]), computed once
// per batch: z_t = T[x_t] + h_{t-1} U. Gate order i, f, c, o (Keras), as src/nn/lstm.rs.
//
// Launch: grid (batch), block (min(4H, 1024)), dynamic shared memory (2H + 4H) floats.

// Forward. Writes h_last [B, H]; when training (gates != 0) also, per row b and step t,
// the gate values [B, T, 4H], c_{t-1} [B, T, H] and h_{t-1} [B, T, H] for the backward pass.
extern "C" __global__ void lstm_forward(const u8* indices, const float* table, const float* u,
                                        int steps, int units, int hard, float* h_last,
                                        float* gates, float* c_prev, float* h_prev) {
    extern __shared__ float shared[];
    float* h = shared;
    float* c = shared + units;
    float* z = shared + 2 * units;
    int b = blockIdx.x;
    int g4 = 4 * units;
    for (int j = threadIdx.x; j < units; j += blockDim.x) {
        h[j] = 0.0f;
        c[j] = 0.0f;
    }
    __syncthreads();
    for (int t = 0; t < steps; ++t) {
        long row = (long)b * steps + t;
        int v = indices[row];
        for (int j = threadIdx.x; j < g4; j += blockDim.x) {
            float acc = table[(long)v * g4 + j];
            for (int k = 0; k < units; ++k) {
                acc += h[k] * u[(long)k * g4 + j];
            }
            z[j] = acc;
        }
        if (gates) {
            for (int j = threadIdx.x; j < units; j += blockDim.x) {
                c_prev[row * units + j] = c[j];
                h_prev[row * units + j] = h[j];
            }
        }
        __syncthreads();
        for (int j = threadIdx.x; j < units; j += blockDim.x) {
            float i_g = recurrent_apply(hard, z[j]);
            float f_g = recurrent_apply(hard, z[units + j]);
            float c_g = tanhf(z[2 * units + j]);
            float o_g = recurrent_apply(hard, z[3 * units + j]);
            float cn = f_g * c[j] + i_g * c_g;
            c[j] = cn;
            h[j] = o_g * tanhf(cn);
            if (gates) {
                float* g = gates + row * g4;
                g[j] = i_g;
                g[units + j] = f_g;
                g[2 * units + j] = c_g;
                g[3 * units + j] = o_g;
            }
        }
        __syncthreads();
    }
    for (int j = threadIdx.x; j < units; j += blockDim.x) {
        h_last[(long)b * units + j] = h[j];
    }
}

// Backward from dL/dh_last [B, H]: walks the steps backwards and writes dL/dz for every row
// and step into dz [B, T, 4H]. The weight gradients are products over all rows and steps,
// taken afterwards by the deterministic matmul (dU = h_prev^T dz) and scatter_rows_by_index
// (dT). u_t is U transposed ([4H, H]) so the threads of a block read it coalesced.
// Launch: as lstm_forward, dynamic shared memory (2H + 4H) floats.
extern "C" __global__ void lstm_backward(const float* u_t, const float* gates,
                                         const float* c_prev, const float* d_h_last, int steps,
                                         int units, int hard, float* dz) {
    extern __shared__ float shared[];
    float* dh = shared;
    float* dc = shared + units;
    float* dzs = shared + 2 * units;
    int b = blockIdx.x;
    int g4 = 4 * units;
    for (int j = threadIdx.x; j < units; j += blockDim.x) {
        dh[j] = d_h_last[(long)b * units + j];
        dc[j] = 0.0f;
    }
    __syncthreads();
    for (int t = steps - 1; t >= 0; --t) {
        long row = (long)b * steps + t;
        const float* g = gates + row * g4;
        for (int j = threadIdx.x; j < units; j += blockDim.x) {
            float i_g = g[j];
            float f_g = g[units + j];
            float c_g = g[2 * units + j];
            float o_g = g[3 * units + j];
            float cp = c_prev[row * units + j];
            float tanh_c = tanhf(f_g * cp + i_g * c_g);
            float dc_total = dc[j] + dh[j] * o_g * (1.0f - tanh_c * tanh_c);
            dzs[j] = dc_total * c_g * recurrent_derivative(hard, i_g);
            dzs[units + j] = dc_total * cp * recurrent_derivative(hard, f_g);
            dzs[2 * units + j] = dc_total * i_g * (1.0f - c_g * c_g);
            dzs[3 * units + j] = dh[j] * tanh_c * recurrent_derivative(hard, o_g);
            dc[j] = dc_total * f_g;
        }
        __syncthreads();
        for (int j = threadIdx.x; j < g4; j += blockDim.x) {
            dz[row * g4 + j] = dzs[j];
        }
        for (int j = threadIdx.x; j < units; j += blockDim.x) {
            float acc = 0.0f;
            for (int k = 0; k < g4; ++k) {
                acc += dzs[k] * u_t[(long)k * units + j];
            }
            dh[j] = acc;
        }
        __syncthreads();
    }
}
