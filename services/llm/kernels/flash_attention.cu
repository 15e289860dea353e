// Fused causal attention for Folio's decoder on NVIDIA GPUs (sm_80 and newer).
//
// One pass computes softmax(scale * Q Kᵀ + causal/window mask) V for a tile of
// 64 query rows without writing the len × total score matrix to memory: the
// unfused path spent more than half of a scoring pass on that matrix (two
// GEMMs, a mask addition and a softmax over [heads, len, total]). The tile
// walks the key blocks it can see with an online softmax (running max and
// sum per row), multiplying on tensor cores through WMMA (16×16×16, fp32
// accumulation).
//
// Layouts (all contiguous):
//   q   [batch, heads, len, 64]
//   k,v [batch, kv_heads, total, 64]       query head h reads kv head h / (heads / kv_heads)
//   out [batch, len, heads, 64]            the layout the output projection wants
// Query row i sits at position offset + i; it sees key j when j <= offset + i
// and, with a window w > 0, when offset + i - j < w.

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <mma.h>
#include <math_constants.h>

using namespace nvcuda;

namespace {

constexpr int HEAD_DIM = 64;
constexpr int ROWS_PER_WARP = 16;
constexpr int WARPS = 4;
constexpr int BLOCK_ROWS = ROWS_PER_WARP * WARPS;  // query rows per block
constexpr int BLOCK_KEYS = 32;                      // keys per step
constexpr int THREADS = WARPS * 32;
constexpr float LOG2E = 1.4426950408889634f;

template <typename T>
__device__ __forceinline__ T from_float(float x);
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float x) {
  return __float2bfloat16(x);
}
template <>
__device__ __forceinline__ __half from_float<__half>(float x) {
  return __float2half(x);
}

// Copies `rows` rows of HEAD_DIM elements starting at global row `first` of a
// [rows_total, HEAD_DIM] matrix into shared memory, zero-filling rows past the
// end (zeros, not garbage: a masked probability of 0 times NaN is still NaN).
template <typename T>
__device__ __forceinline__ void load_rows(T* shared, const T* global, int first, int rows,
                                          int rows_total) {
  constexpr int VEC = 16 / sizeof(T);  // elements per 16-byte load
  constexpr int PER_ROW = HEAD_DIM / VEC;
  for (int index = threadIdx.x; index < rows * PER_ROW; index += THREADS) {
    const int row = index / PER_ROW;
    const int col = (index % PER_ROW) * VEC;
    uint4 value = make_uint4(0, 0, 0, 0);
    if (first + row < rows_total) {
      value = *reinterpret_cast<const uint4*>(global + (size_t)(first + row) * HEAD_DIM + col);
    }
    *reinterpret_cast<uint4*>(shared + row * HEAD_DIM + col) = value;
  }
}

template <typename T>
__device__ void flash_attention(const T* __restrict__ q, const T* __restrict__ k,
                                const T* __restrict__ v, T* __restrict__ out, int heads,
                                int kv_heads, int len, int total, int offset, int window,
                                float scale) {
  __shared__ __align__(32) T q_tile[BLOCK_ROWS * HEAD_DIM];
  __shared__ __align__(32) T k_tile[BLOCK_KEYS * HEAD_DIM];
  __shared__ __align__(32) T v_tile[BLOCK_KEYS * HEAD_DIM];
  __shared__ __align__(32) float scores[WARPS][ROWS_PER_WARP * BLOCK_KEYS];
  __shared__ __align__(32) T probs[WARPS][ROWS_PER_WARP * BLOCK_KEYS];
  __shared__ __align__(32) float acc[WARPS][ROWS_PER_WARP * HEAD_DIM];
  __shared__ float row_max[WARPS][ROWS_PER_WARP];
  __shared__ float row_sum[WARPS][ROWS_PER_WARP];

  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  const int first_row = blockIdx.x * BLOCK_ROWS;
  const int head = blockIdx.y;
  const int batch = blockIdx.z;
  const int kv_head = head / (heads / kv_heads);

  const T* q_head = q + ((size_t)batch * heads + head) * len * HEAD_DIM;
  const T* k_head = k + ((size_t)batch * kv_heads + kv_head) * total * HEAD_DIM;
  const T* v_head = v + ((size_t)batch * kv_heads + kv_head) * total * HEAD_DIM;

  load_rows(q_tile, q_head, first_row, BLOCK_ROWS, len);
  for (int i = lane; i < ROWS_PER_WARP * HEAD_DIM; i += 32) acc[warp][i] = 0.0f;
  if (lane < ROWS_PER_WARP) {
    row_max[warp][lane] = -CUDART_INF_F;
    row_sum[warp][lane] = 0.0f;
  }
  __syncthreads();

  wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> q_frag[HEAD_DIM / 16];
  for (int d = 0; d < HEAD_DIM / 16; ++d) {
    wmma::load_matrix_sync(q_frag[d], q_tile + warp * ROWS_PER_WARP * HEAD_DIM + d * 16,
                           HEAD_DIM);
  }

  // Keys this block can see: up to the last row's position, and from the
  // first row's window start.
  const int last_position = offset + min(first_row + BLOCK_ROWS, len) - 1;
  const int key_end = min(total, last_position + 1);
  int key_begin = 0;
  if (window > 0) key_begin = max(0, offset + first_row - window + 1);
  key_begin = (key_begin / BLOCK_KEYS) * BLOCK_KEYS;

  // Two lanes per row, each holding half of the step's keys.
  const int my_row = lane / 2;
  const int my_half = lane % 2;
  const int my_position = offset + first_row + warp * ROWS_PER_WARP + my_row;
  const float scale_log2 = scale * LOG2E;

  for (int key_start = key_begin; key_start < key_end; key_start += BLOCK_KEYS) {
    __syncthreads();  // the previous step is done with k_tile and v_tile
    load_rows(k_tile, k_head, key_start, BLOCK_KEYS, total);
    load_rows(v_tile, v_head, key_start, BLOCK_KEYS, total);
    __syncthreads();

    // scores = Q Kᵀ for this warp's 16 rows and the step's keys.
    for (int n = 0; n < BLOCK_KEYS / 16; ++n) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> s_frag;
      wmma::fill_fragment(s_frag, 0.0f);
      for (int d = 0; d < HEAD_DIM / 16; ++d) {
        wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> k_frag;
        wmma::load_matrix_sync(k_frag, k_tile + n * 16 * HEAD_DIM + d * 16, HEAD_DIM);
        wmma::mma_sync(s_frag, q_frag[d], k_frag, s_frag);
      }
      wmma::store_matrix_sync(scores[warp] + n * 16, s_frag, BLOCK_KEYS, wmma::mem_row_major);
    }
    __syncwarp();

    // Online softmax: mask, new running max, probabilities, rescale factor.
    float* score_row = scores[warp] + my_row * BLOCK_KEYS;
    constexpr int HALF = BLOCK_KEYS / 2;
    float local_max = -CUDART_INF_F;
    for (int j = my_half * HALF; j < (my_half + 1) * HALF; ++j) {
      const int key = key_start + j;
      const bool visible = key < total && key <= my_position &&
                           (window <= 0 || my_position - key < window);
      const float s = visible ? score_row[j] * scale_log2 : -CUDART_INF_F;
      score_row[j] = s;
      local_max = fmaxf(local_max, s);
    }
    local_max = fmaxf(local_max, __shfl_xor_sync(0xffffffff, local_max, 1));
    const float old_max = row_max[warp][my_row];
    const float new_max = fmaxf(old_max, local_max);
    float local_sum = 0.0f;
    T* prob_row = probs[warp] + my_row * BLOCK_KEYS;
    for (int j = my_half * HALF; j < (my_half + 1) * HALF; ++j) {
      const float s = score_row[j];
      const float p = s == -CUDART_INF_F ? 0.0f : exp2f(s - new_max);
      const T rounded = from_float<T>(p);
      prob_row[j] = rounded;
      // The sum uses the rounded value the PV product multiplies.
      local_sum += static_cast<float>(rounded);
    }
    local_sum += __shfl_xor_sync(0xffffffff, local_sum, 1);
    const float rescale = old_max == -CUDART_INF_F ? 0.0f : exp2f(old_max - new_max);
    float* acc_row = acc[warp] + my_row * HEAD_DIM;
    for (int d = my_half * (HEAD_DIM / 2); d < (my_half + 1) * (HEAD_DIM / 2); ++d) {
      acc_row[d] *= rescale;
    }
    __syncwarp();
    if (my_half == 0) {
      row_max[warp][my_row] = new_max;
      row_sum[warp][my_row] = row_sum[warp][my_row] * rescale + local_sum;
    }

    // acc += P V
    for (int d = 0; d < HEAD_DIM / 16; ++d) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> o_frag;
      wmma::load_matrix_sync(o_frag, acc[warp] + d * 16, HEAD_DIM, wmma::mem_row_major);
      for (int n = 0; n < BLOCK_KEYS / 16; ++n) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> p_frag;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major> v_frag;
        wmma::load_matrix_sync(p_frag, probs[warp] + n * 16, BLOCK_KEYS);
        wmma::load_matrix_sync(v_frag, v_tile + n * 16 * HEAD_DIM + d * 16, HEAD_DIM);
        wmma::mma_sync(o_frag, p_frag, v_frag, o_frag);
      }
      wmma::store_matrix_sync(acc[warp] + d * 16, o_frag, HEAD_DIM, wmma::mem_row_major);
    }
    __syncwarp();
  }

  // out[batch, row, head, :] = acc / sum
  const int row = first_row + warp * ROWS_PER_WARP + my_row;
  if (row < len) {
    const float sum = row_sum[warp][my_row];
    const float inverse = sum > 0.0f ? 1.0f / sum : 0.0f;
    const float* acc_row = acc[warp] + my_row * HEAD_DIM;
    T* out_row = out + (((size_t)batch * len + row) * heads + head) * HEAD_DIM;
    for (int d = my_half * (HEAD_DIM / 2); d < (my_half + 1) * (HEAD_DIM / 2); ++d) {
      out_row[d] = from_float<T>(acc_row[d] * inverse);
    }
  }
}

}  // namespace

#define FLASH_ATTENTION(NAME, T)                                                              \
  extern "C" __global__ void __launch_bounds__(THREADS)                                       \
      NAME(const T* q, const T* k, const T* v, T* out, int heads, int kv_heads, int len,      \
           int total, int offset, int window, float scale) {                                  \
    flash_attention<T>(q, k, v, out, heads, kv_heads, len, total, offset, window, scale);    \
  }

FLASH_ATTENTION(flash_attention_d64_bf16, __nv_bfloat16)
FLASH_ATTENTION(flash_attention_d64_f16, __half)
