// Fused causal attention for Folio's decoder on NVIDIA GPUs (sm_80 and newer).
//
// One pass computes softmax(scale * Q Kᵀ + causal/window mask) V for a tile of
// 64 query rows without writing the len × total score matrix to memory: the
// unfused path spent more than half of a scoring pass on that matrix (two
// GEMMs, a mask addition and a softmax over [heads, len, total]).
//
// The structure is FlashAttention-2's: each warp owns 16 query rows and walks
// the key blocks its rows can see with an online softmax. Products run on
// tensor cores through mma.sync m16n8k16 (fp32 accumulation), whose register
// layouts are fixed by PTX, so scores, probabilities and the output
// accumulator stay in registers: a lane holds rows g and g+8 (g = lane / 4),
// columns 2t and 2t+1 (t = lane % 4) of every 8-wide tile. The score
// accumulator of two neighbouring key tiles is exactly the A operand of the
// P·V product, so probabilities never touch shared memory. Key and value
// blocks are double-buffered in shared memory with cp.async.
//
// Layouts (contiguous; `positions_first` picks the second of each pair, which
// is what the projections produce, so no transposes are needed):
//   q   [batch, heads, len, 64]    or [batch, len, heads, 64]
//   k,v [batch, kv_heads, total, 64] or [batch, total, kv_heads, 64]
//                                  query head h reads kv head h / (heads / kv_heads)
//   out [batch, len, heads, 64]    the layout the output projection wants
// Query row i sits at position offset + i; it sees key j when j <= offset + i
// and, with a window w > 0, when offset + i - j < w.

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <math_constants.h>
#include <stdint.h>

namespace {

constexpr int HEAD_DIM = 64;
constexpr int WARPS = 4;
constexpr int BLOCK_ROWS = 16 * WARPS;  // query rows per block
constexpr int BLOCK_KEYS = 64;          // keys per step
constexpr int THREADS = WARPS * 32;
// Shared-memory rows are padded by 8 elements (16 bytes) so that the eight
// rows a fragment load touches fall in different banks.
constexpr int STRIDE = HEAD_DIM + 8;
constexpr float LOG2E = 1.4426950408889634f;

template <typename T>
struct Ops;

template <>
struct Ops<__nv_bfloat16> {
  static __device__ __forceinline__ uint32_t pack(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&v);
  }
  static __device__ __forceinline__ void mma(float (&d)[4], const uint32_t (&a)[4],
                                             uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
        "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
};

template <>
struct Ops<__half> {
  static __device__ __forceinline__ uint32_t pack(float lo, float hi) {
    __half2 v = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&v);
  }
  static __device__ __forceinline__ void mma(float (&d)[4], const uint32_t (&a)[4],
                                             uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
        "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
};

// 2^x with the hardware approximation (relative error ~2^-22, far below the
// bf16 rounding the probabilities go through next).
__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

__device__ __forceinline__ uint32_t shared_address(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16-byte asynchronous copy; `bytes` = 0 zero-fills (rows past the end: a
// masked probability of 0 times uninitialised NaN would still be NaN).
__device__ __forceinline__ void copy_async(void* shared, const void* global, int bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(shared_address(shared)),
               "l"(global), "r"(bytes));
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* shared) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(shared_address(shared)));
}

__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* shared) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(shared_address(shared)));
}

// Queues the copy of keys [first, first + BLOCK_KEYS) of one head into a buffer.
template <typename T>
__device__ __forceinline__ void load_block(T* k_buffer, T* v_buffer, const T* k_head,
                                           const T* v_head, int first, int total,
                                           size_t row_stride) {
  constexpr int CHUNKS = HEAD_DIM * (int)sizeof(T) / 16;  // 16-byte chunks per row
  for (int index = threadIdx.x; index < BLOCK_KEYS * CHUNKS; index += THREADS) {
    const int row = index / CHUNKS;
    const int col = (index % CHUNKS) * (16 / (int)sizeof(T));
    const int key = first + row;
    const int bytes = key < total ? 16 : 0;
    const size_t source = (size_t)min(key, total - 1) * row_stride + col;
    copy_async(k_buffer + row * STRIDE + col, k_head + source, bytes);
    copy_async(v_buffer + row * STRIDE + col, v_head + source, bytes);
  }
  asm volatile("cp.async.commit_group;\n" ::);
}

template <typename T>
__device__ void flash_attention(const T* __restrict__ q, const T* __restrict__ k,
                                const T* __restrict__ v, T* __restrict__ out, int heads,
                                int kv_heads, int len, int total, int offset, int window,
                                float scale, int positions_first) {
  __shared__ __align__(128) T k_tile[2][BLOCK_KEYS * STRIDE];
  __shared__ __align__(128) T v_tile[2][BLOCK_KEYS * STRIDE];

  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  const int g = lane / 4;  // fragment row (and row + 8)
  const int t = lane % 4;  // fragment column pair
  // The last row blocks see the most keys under the causal mask: schedule
  // them first so that the short ones fill in at the end.
  const int first_row = (gridDim.x - 1 - blockIdx.x) * BLOCK_ROWS;
  const int head = blockIdx.y;
  const int batch = blockIdx.z;
  const int kv_head = head / (heads / kv_heads);

  // Both layouts keep a batch row contiguous; they differ in the strides
  // between positions and between heads.
  const size_t q_row = positions_first ? (size_t)heads * HEAD_DIM : HEAD_DIM;
  const size_t q_head_stride = positions_first ? HEAD_DIM : (size_t)len * HEAD_DIM;
  const size_t kv_row = positions_first ? (size_t)kv_heads * HEAD_DIM : HEAD_DIM;
  const size_t kv_head_stride = positions_first ? HEAD_DIM : (size_t)total * HEAD_DIM;
  const T* q_head = q + (size_t)batch * heads * len * HEAD_DIM + head * q_head_stride;
  const T* k_head = k + (size_t)batch * kv_heads * total * HEAD_DIM + kv_head * kv_head_stride;
  const T* v_head = v + (size_t)batch * kv_heads * total * HEAD_DIM + kv_head * kv_head_stride;

  // Keys the block can see: up to its last row's position, from its first
  // row's window start.
  const int last_position = offset + min(first_row + BLOCK_ROWS, len) - 1;
  const int key_end = min(total, last_position + 1);
  int key_begin = window > 0 ? max(0, offset + first_row - window + 1) : 0;
  key_begin = (key_begin / BLOCK_KEYS) * BLOCK_KEYS;

  load_block(k_tile[0], v_tile[0], k_head, v_head, key_begin, total, kv_row);

  // Q as A fragments (rows beyond len read as zeros), one per 16 of HEAD_DIM.
  const int row0 = first_row + warp * 16 + g;  // this lane's rows: row0, row0 + 8
  uint32_t q_frag[HEAD_DIM / 16][4];
  for (int kk = 0; kk < HEAD_DIM / 16; ++kk) {
    for (int half = 0; half < 2; ++half) {
      const int row = row0 + half * 8;
      for (int upper = 0; upper < 2; ++upper) {
        const int col = kk * 16 + upper * 8 + 2 * t;
        q_frag[kk][half + 2 * upper] =
            row < len ? *reinterpret_cast<const uint32_t*>(q_head + (size_t)row * q_row + col)
                      : 0u;
      }
    }
  }

  float acc[HEAD_DIM / 8][4];
  for (int n = 0; n < HEAD_DIM / 8; ++n) {
    for (int i = 0; i < 4; ++i) acc[n][i] = 0.0f;
  }
  float row_max[2] = {-CUDART_INF_F, -CUDART_INF_F};
  float row_sum[2] = {0.0f, 0.0f};
  const int position[2] = {offset + row0, offset + row0 + 8};
  // The warp's rows, for skipping blocks none of them can see.
  const int warp_first = offset + first_row + warp * 16;
  const int warp_last = warp_first + 15;
  const float scale_log2 = scale * LOG2E;

  int buffer = 0;
  for (int key_start = key_begin; key_start < key_end; key_start += BLOCK_KEYS) {
    const int next = key_start + BLOCK_KEYS;
    if (next < key_end) {
      load_block(k_tile[buffer ^ 1], v_tile[buffer ^ 1], k_head, v_head, next, total, kv_row);
      asm volatile("cp.async.wait_group 1;\n" ::);
    } else {
      asm volatile("cp.async.wait_group 0;\n" ::);
    }
    __syncthreads();

    const bool visible_to_warp =
        key_start <= warp_last && (window <= 0 || warp_first - (key_start + BLOCK_KEYS - 1) < window);
    if (visible_to_warp) {
      const T* ks = k_tile[buffer];
      const T* vs = v_tile[buffer];

      // S = Q Kᵀ: 8 key tiles of 8. ldmatrix reads K's [key][dim] rows as B
      // fragments: matrices 0/1 are dims 0–7/8–15 of k-step kk, 2/3 of kk + 1.
      const int matrix = lane / 8;
      const int matrix_row = lane % 8;
      float s[BLOCK_KEYS / 8][4];
      for (int n = 0; n < BLOCK_KEYS / 8; ++n) {
        for (int i = 0; i < 4; ++i) s[n][i] = 0.0f;
        const T* key_row = ks + (n * 8 + matrix_row) * STRIDE + (matrix / 2) * 16 + (matrix % 2) * 8;
        for (int kk = 0; kk < HEAD_DIM / 16; kk += 2) {
          uint32_t b[4];
          ldmatrix_x4(b, key_row + kk * 16);
          Ops<T>::mma(s[n], q_frag[kk], b[0], b[1]);
          Ops<T>::mma(s[n], q_frag[kk + 1], b[2], b[3]);
        }
      }

      // Mask, scale (log2 domain) and the running maximum of each row.
      const bool needs_mask = key_start + BLOCK_KEYS - 1 > warp_first ||
                              key_start + BLOCK_KEYS > total ||
                              (window > 0 && warp_last - key_start >= window);
      float block_max[2] = {-CUDART_INF_F, -CUDART_INF_F};
      for (int n = 0; n < BLOCK_KEYS / 8; ++n) {
        for (int i = 0; i < 4; ++i) {
          const int half = i / 2;
          float value = s[n][i] * scale_log2;
          if (needs_mask) {
            const int key = key_start + n * 8 + 2 * t + (i % 2);
            const int p = position[half];
            if (key > p || key >= total || (window > 0 && p - key >= window)) {
              value = -CUDART_INF_F;
            }
          }
          s[n][i] = value;
          block_max[half] = fmaxf(block_max[half], value);
        }
      }
      float rescale[2];
      for (int half = 0; half < 2; ++half) {
        float m = block_max[half];
        m = fmaxf(m, __shfl_xor_sync(0xffffffff, m, 1));
        m = fmaxf(m, __shfl_xor_sync(0xffffffff, m, 2));
        const float new_max = fmaxf(row_max[half], m);
        rescale[half] =
            row_max[half] == -CUDART_INF_F ? 0.0f : fast_exp2(row_max[half] - new_max);
        row_max[half] = new_max;
      }

      // P = exp2(S - max), packed straight into A fragments for P·V; the
      // sums use the rounded values the product multiplies.
      uint32_t p_frag[BLOCK_KEYS / 16][4];
      float block_sum[2] = {0.0f, 0.0f};
      for (int n = 0; n < BLOCK_KEYS / 8; ++n) {
        float p[4];
        for (int i = 0; i < 4; ++i) {
          const float m = row_max[i / 2];
          p[i] = s[n][i] == -CUDART_INF_F ? 0.0f : fast_exp2(s[n][i] - m);
        }
        const uint32_t top = Ops<T>::pack(p[0], p[1]);
        const uint32_t bottom = Ops<T>::pack(p[2], p[3]);
        const T* top_pair = reinterpret_cast<const T*>(&top);
        const T* bottom_pair = reinterpret_cast<const T*>(&bottom);
        block_sum[0] += static_cast<float>(top_pair[0]) + static_cast<float>(top_pair[1]);
        block_sum[1] += static_cast<float>(bottom_pair[0]) + static_cast<float>(bottom_pair[1]);
        // Key tile n is the low (even n) or high (odd n) half of k-step n / 2.
        p_frag[n / 2][(n % 2) * 2] = top;
        p_frag[n / 2][(n % 2) * 2 + 1] = bottom;
      }
      for (int half = 0; half < 2; ++half) {
        float sum = block_sum[half];
        sum += __shfl_xor_sync(0xffffffff, sum, 1);
        sum += __shfl_xor_sync(0xffffffff, sum, 2);
        row_sum[half] = row_sum[half] * rescale[half] + sum;
      }
      for (int n = 0; n < HEAD_DIM / 8; ++n) {
        acc[n][0] *= rescale[0];
        acc[n][1] *= rescale[0];
        acc[n][2] *= rescale[1];
        acc[n][3] *= rescale[1];
      }

      // acc += P V. ldmatrix.trans turns V's [key][dim] rows into B fragments:
      // matrices 0/1 are keys 0–7/8–15 of the k-step at dims 16d..16d+7,
      // matrices 2/3 the same keys at dims 16d+8..16d+15.
      for (int kk = 0; kk < BLOCK_KEYS / 16; ++kk) {
        for (int d = 0; d < HEAD_DIM / 16; ++d) {
          uint32_t b[4];
          const T* address =
              vs + (kk * 16 + (matrix % 2) * 8 + matrix_row) * STRIDE + d * 16 + (matrix / 2) * 8;
          ldmatrix_x4_trans(b, address);
          Ops<T>::mma(acc[2 * d], p_frag[kk], b[0], b[1]);
          Ops<T>::mma(acc[2 * d + 1], p_frag[kk], b[2], b[3]);
        }
      }
    }
    __syncthreads();  // every warp is done with this buffer before it is refilled
    buffer ^= 1;
  }

  // out[batch, row, head, :] = acc / sum
  for (int half = 0; half < 2; ++half) {
    const int row = row0 + half * 8;
    if (row >= len) continue;
    const float inverse = row_sum[half] > 0.0f ? 1.0f / row_sum[half] : 0.0f;
    T* out_row = out + (((size_t)batch * len + row) * heads + head) * HEAD_DIM;
    for (int n = 0; n < HEAD_DIM / 8; ++n) {
      *reinterpret_cast<uint32_t*>(out_row + n * 8 + 2 * t) =
          Ops<T>::pack(acc[n][half * 2] * inverse, acc[n][half * 2 + 1] * inverse);
    }
  }
}

}  // namespace

#define FLASH_ATTENTION(NAME, T)                                                              \
  extern "C" __global__ void __launch_bounds__(THREADS)                                       \
      NAME(const T* q, const T* k, const T* v, T* out, int heads, int kv_heads, int len,      \
           int total, int offset, int window, float scale, int positions_first) {             \
    flash_attention<T>(q, k, v, out, heads, kv_heads, len, total, offset, window, scale,     \
                       positions_first);                                                      \
  }

FLASH_ATTENTION(flash_attention_d64_bf16, __nv_bfloat16)
FLASH_ATTENTION(flash_attention_d64_f16, __half)
