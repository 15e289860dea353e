// Continuation scoring for XL3M on NVIDIA GPUs: for each row of logits over
// the vocabulary, the log-probability of one target token and the entropy of
// the distribution, in one read of the row.
//
// candle computes the same as log_softmax, exp, a product, a sum and a gather,
// each a pass over [rows, vocab] in fp32 (with broadcasting kernels for the
// subtractions); at 2048 scored rows of a 151,936-token vocabulary that was
// most of a short-segment pass. Here each block keeps an online
// (max, Σ e^(x−max), Σ e^(x−max)·x) per thread and merges them:
//   log Z = max + log Σ e^(x−max),   log p(target) = x_target − log Z,
//   entropy = log Z − Σ p·x.

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <math_constants.h>
#include <stdint.h>

namespace {

constexpr int THREADS = 512;

struct Partial {
  float max;
  float sum;           // Σ e^(x − max)
  float weighted_sum;  // Σ e^(x − max) · x
};

__device__ __forceinline__ Partial merge(Partial a, Partial b) {
  if (b.max == -CUDART_INF_F) return a;
  if (a.max == -CUDART_INF_F) return b;
  const float max = fmaxf(a.max, b.max);
  const float ea = __expf(a.max - max);
  const float eb = __expf(b.max - max);
  return {max, a.sum * ea + b.sum * eb, a.weighted_sum * ea + b.weighted_sum * eb};
}

__device__ __forceinline__ void add(Partial& p, float x) {
  if (x > p.max) {
    const float scale = p.max == -CUDART_INF_F ? 0.0f : __expf(p.max - x);
    p.sum = p.sum * scale + 1.0f;
    p.weighted_sum = p.weighted_sum * scale + x;
    p.max = x;
  } else {
    const float e = __expf(x - p.max);
    p.sum += e;
    p.weighted_sum += e * x;
  }
}

template <typename T>
__device__ void continuation_scores(const T* __restrict__ logits, const uint32_t* __restrict__ targets,
                                    float* __restrict__ out, int vocab) {
  const int row = blockIdx.x;
  const T* x = logits + (size_t)row * vocab;
  Partial p = {-CUDART_INF_F, 0.0f, 0.0f};
  for (int i = threadIdx.x; i < vocab; i += THREADS) add(p, static_cast<float>(x[i]));

  for (int offset = 16; offset > 0; offset /= 2) {
    Partial other = {__shfl_xor_sync(0xffffffff, p.max, offset),
                     __shfl_xor_sync(0xffffffff, p.sum, offset),
                     __shfl_xor_sync(0xffffffff, p.weighted_sum, offset)};
    p = merge(p, other);
  }
  __shared__ Partial warps[THREADS / 32];
  const int warp = threadIdx.x / 32;
  if (threadIdx.x % 32 == 0) warps[warp] = p;
  __syncthreads();
  if (threadIdx.x == 0) {
    Partial total = warps[0];
    for (int w = 1; w < THREADS / 32; ++w) total = merge(total, warps[w]);
    const float log_z = total.max + logf(total.sum);
    const uint32_t target = targets[row];
    const float chosen = target < (uint32_t)vocab ? static_cast<float>(x[target]) - log_z : -CUDART_INF_F;
    out[2 * row] = chosen;
    out[2 * row + 1] = log_z - total.weighted_sum / total.sum;
  }
}

}  // namespace

#define SCORES(SUFFIX, T)                                                                    \
  extern "C" __global__ void __launch_bounds__(THREADS) continuation_scores_##SUFFIX(        \
      const T* logits, const uint32_t* targets, float* out, int vocab) {                     \
    continuation_scores<T>(logits, targets, out, vocab);                                     \
  }

SCORES(bf16, __nv_bfloat16)
SCORES(f16, __half)
SCORES(f32, float)
