// C = op(A) op(B) + beta C, with op(X) = X or X^T: the products of the dense layer, the input
// table (embedding x kernel) and the weight gradients. Tiled through shared memory; each output
// element sums its k terms in order, so the result does not depend on the launch.
//   A is [M, K] (or [K, M] when trans_a), B is [K, N] (or [N, K] when trans_b), C is [M, N].
// Launch: block (16, 16), grid (ceil(N / 16), ceil(M / 16)).

#define TILE 16

extern "C" __global__ void matmul(const float* a, const float* b, float* c, int m, int n, int k,
                                  int trans_a, int trans_b, float beta) {
    __shared__ float ta[TILE][TILE];
    __shared__ float tb[TILE][TILE];
    int row = blockIdx.y * TILE + threadIdx.y;
    int col = blockIdx.x * TILE + threadIdx.x;
    float acc = 0.0f;
    for (int k0 = 0; k0 < k; k0 += TILE) {
        int ka = k0 + threadIdx.x;
        int kb = k0 + threadIdx.y;
        float va = 0.0f;
        if (row < m && ka < k) {
            va = trans_a ? a[(long)ka * m + row] : a[(long)row * k + ka];
        }
        float vb = 0.0f;
        if (col < n && kb < k) {
            vb = trans_b ? b[(long)col * k + kb] : b[(long)kb * n + col];
        }
        ta[threadIdx.y][threadIdx.x] = va;
        tb[threadIdx.y][threadIdx.x] = vb;
        __syncthreads();
        for (int j = 0; j < TILE; ++j) {
            acc += ta[threadIdx.y][j] * tb[j][threadIdx.x];
        }
        __syncthreads();
    }
    if (row < m && col < n) {
        long at = (long)row * n + col;
        c[at] = beta == 0.0f ? acc : acc + beta * c[at];
    }
}

// x[r, j] += bias[j] for every row: a dense layer's bias, the LSTM bias in the input table.
extern "C" __global__ void add_bias_rows(float* x, const float* bias, int rows, int cols) {
    long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < (long)rows * cols) {
        x[i] += bias[i % cols];
    }
}

// out[j] = sum over rows of x[r, j], rows in order: bias gradients.
extern "C" __global__ void column_sums(const float* x, float* out, int rows, int cols) {
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j < cols) {
        float acc = 0.0f;
        for (int r = 0; r < rows; ++r) {
            acc += x[(long)r * cols + j];
        }
        out[j] = acc;
    }
}

// out = in^T for a [rows, cols] matrix.
extern "C" __global__ void transpose(const float* in, float* out, int rows, int cols) {
    long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < (long)rows * cols) {
        int r = i / cols;
        int c = i % cols;
        out[(long)c * rows + r] = in[i];
    }
}
