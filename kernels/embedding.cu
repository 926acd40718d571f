// Embedding lookups and their gradients. Gradients are gathered per vocabulary row (one
// thread per (row, column) scanning the indices in order) instead of scattered with atomics,
// so they are deterministic.

// out[r, :] = table[indices[r], :] for `rows` indices: the CNN's embedding lookup.
extern "C" __global__ void gather_rows(const u8* indices, const float* table, float* out,
                                       int rows, int dim) {
    long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < (long)rows * dim) {
        long r = i / dim;
        int j = i % dim;
        out[i] = table[(long)indices[r] * dim + j];
    }
}

// grad[v, j] = sum of d_rows[r, j] over the rows r whose index is v (r in order).
// Used for the LSTM's input table (d_rows = dL/dz per step) and the CNN's embedding.
extern "C" __global__ void scatter_rows_by_index(const u8* indices, const float* d_rows,
                                                 float* grad, int rows, int vocab, int dim) {
    long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < (long)vocab * dim) {
        int v = i / dim;
        int j = i % dim;
        float acc = 0.0f;
        for (long r = 0; r < rows; ++r) {
            if (indices[r] == v) {
                acc += d_rows[r * dim + j];
            }
        }
        grad[i] = acc;
    }
}
