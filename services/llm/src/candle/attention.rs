//! Fused causal attention on CUDA devices (`kernels/flash_attention.cu`).
//!
//! The unfused path materializes `[batch, heads, len, total]` scores and runs
//! two GEMMs, a mask addition and a softmax over them; on an H200 that was more
//! than half of a scoring pass at 1024 tokens. The kernel computes the same
//! result tile by tile with an online softmax. It covers what the scoring and
//! generation paths need: bf16/f16, head dimension 64, grouped-query heads, a
//! position offset (KV cache) and an optional sliding window. Anything else
//! (CPU, f32, other head sizes, builds without `cuda`) keeps the unfused path.

use candle_core::{DType, Device, Tensor};

/// Whether [`attend`] has a kernel for this device, compute type and head size.
pub(crate) fn supported(device: &Device, dtype: DType, head_dim: usize) -> bool {
    cfg!(feature = "cuda")
        && device.is_cuda()
        && matches!(dtype, DType::BF16 | DType::F16)
        && head_dim == HEAD_DIM
}

/// Head dimension the kernel is compiled for.
const HEAD_DIM: usize = 64;

/// How `q`, `k` and `v` are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// `[batch, heads, positions, 64]`.
    HeadsFirst,
    /// `[batch, positions, heads, 64]`, as the projections produce them (no
    /// transposes).
    PositionsFirst,
}

/// `softmax(scale · q kᵀ + mask) v` in one kernel, for `q` with `heads` heads of
/// `len` positions and `k`, `v` with `kv_heads` heads of `total` positions, laid
/// out as `layout` says. Query row `i` sits at position `offset + i` and sees key
/// `j` when `j ≤ offset + i` and, with a window `w`, when `offset + i − j < w`.
/// Returns `[batch, len, heads, 64]`, the layout the output projection reads.
/// Callers check [`supported`] first.
pub(crate) fn attend(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    layout: Layout,
    offset: usize,
    window: Option<usize>,
    scale: f32,
) -> candle_core::Result<Tensor> {
    let op = FusedAttention {
        offset,
        window: window.unwrap_or(0),
        scale,
        positions_first: layout == Layout::PositionsFirst,
    };
    aligned(q)?.apply_op3_no_bwd(&aligned(k)?, &aligned(v)?, &op)
}

/// `t`, contiguous and starting on a 16-byte boundary (the kernel copies rows
/// in 16-byte pieces): a view into a larger buffer is copied.
fn aligned(t: &Tensor) -> candle_core::Result<Tensor> {
    let elements_per_16_bytes = 16 / t.dtype().size_in_bytes();
    if t.is_contiguous()
        && t.layout()
            .start_offset()
            .is_multiple_of(elements_per_16_bytes)
    {
        Ok(t.clone())
    } else {
        t.force_contiguous()
    }
}

#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
struct FusedAttention {
    offset: usize,
    /// 0 when the layer attends to every earlier position.
    window: usize,
    scale: f32,
    positions_first: bool,
}

impl candle_core::CustomOp3 for FusedAttention {
    fn name(&self) -> &'static str {
        "fused-causal-attention"
    }

    fn cpu_fwd(
        &self,
        _: &candle_core::CpuStorage,
        _: &candle_core::Layout,
        _: &candle_core::CpuStorage,
        _: &candle_core::Layout,
        _: &candle_core::CpuStorage,
        _: &candle_core::Layout,
    ) -> candle_core::Result<(candle_core::CpuStorage, candle_core::Shape)> {
        candle_core::bail!("fused attention runs on CUDA devices only")
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        q: &candle_core::CudaStorage,
        q_layout: &candle_core::Layout,
        k: &candle_core::CudaStorage,
        k_layout: &candle_core::Layout,
        v: &candle_core::CudaStorage,
        v_layout: &candle_core::Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, candle_core::Shape)> {
        cuda::forward(self, (q, q_layout), (k, k_layout), (v, v_layout))
    }
}

#[cfg(feature = "cuda")]
mod cuda {
    use candle_core::cuda_backend::cudarc::driver::{
        CudaSlice, CudaView, DeviceRepr, LaunchConfig, PushKernelArg,
    };
    use candle_core::cuda_backend::{CudaStorageSlice, WrapErr};
    use candle_core::{CudaDevice, CudaStorage, Layout, Shape};

    use super::{FusedAttention, HEAD_DIM};

    /// The device view of a contiguous operand.
    fn view<'a, T>(
        slice: &'a CudaSlice<T>,
        layout: &Layout,
    ) -> candle_core::Result<CudaView<'a, T>> {
        super::super::cuda_view::contiguous(slice, layout, "fused attention")
    }

    const PTX: &str = include_str!(concat!(env!("OUT_DIR"), "/flash_attention.ptx"));
    const MODULE: &str = "folio_flash_attention";
    /// Query rows per block and threads per block, as the kernel is compiled.
    const BLOCK_ROWS: usize = 64;
    const THREADS: u32 = 128;

    struct Dims {
        batch: usize,
        heads: usize,
        kv_heads: usize,
        len: usize,
        total: usize,
    }

    pub(super) fn forward(
        op: &FusedAttention,
        (q, q_layout): (&CudaStorage, &Layout),
        (k, k_layout): (&CudaStorage, &Layout),
        (v, v_layout): (&CudaStorage, &Layout),
    ) -> candle_core::Result<(CudaStorage, Shape)> {
        let (batch, heads, len, head_dim, k_batch, kv_heads, total, k_dim) = {
            let (b, a1, a2, d) = q_layout.shape().dims4()?;
            let (kb, k1, k2, kd) = k_layout.shape().dims4()?;
            if op.positions_first {
                (b, a2, a1, d, kb, k2, k1, kd)
            } else {
                (b, a1, a2, d, kb, k1, k2, kd)
            }
        };
        if head_dim != HEAD_DIM || k_dim != HEAD_DIM || v_layout.shape() != k_layout.shape() {
            candle_core::bail!(
                "fused attention: q {:?}, k {:?}, v {:?} (head dimension {HEAD_DIM})",
                q_layout.shape(),
                k_layout.shape(),
                v_layout.shape()
            );
        }
        if k_batch != batch || kv_heads == 0 || heads % kv_heads != 0 || op.offset + len > total {
            candle_core::bail!(
                "fused attention: q {:?} does not fit k {:?} at offset {}",
                q_layout.shape(),
                k_layout.shape(),
                op.offset
            );
        }
        let dims = Dims {
            batch,
            heads,
            kv_heads,
            len,
            total,
        };
        let device = q.device.clone();
        let slice = match (&q.slice, &k.slice, &v.slice) {
            (CudaStorageSlice::BF16(q), CudaStorageSlice::BF16(k), CudaStorageSlice::BF16(v)) => {
                CudaStorageSlice::BF16(launch(
                    op,
                    &dims,
                    &device,
                    "flash_attention_d64_bf16",
                    [view(q, q_layout)?, view(k, k_layout)?, view(v, v_layout)?],
                )?)
            }
            (CudaStorageSlice::F16(q), CudaStorageSlice::F16(k), CudaStorageSlice::F16(v)) => {
                CudaStorageSlice::F16(launch(
                    op,
                    &dims,
                    &device,
                    "flash_attention_d64_f16",
                    [view(q, q_layout)?, view(k, k_layout)?, view(v, v_layout)?],
                )?)
            }
            _ => candle_core::bail!("fused attention needs q, k and v all bf16 or all f16"),
        };
        let shape = Shape::from((batch, len, heads, HEAD_DIM));
        Ok((CudaStorage { slice, device }, shape))
    }

    fn launch<T: DeviceRepr>(
        op: &FusedAttention,
        dims: &Dims,
        device: &CudaDevice,
        kernel: &str,
        [q, k, v]: [CudaView<'_, T>; 3],
    ) -> candle_core::Result<CudaSlice<T>> {
        let to_i32 = |n: usize| {
            i32::try_from(n).map_err(|_| candle_core::Error::Msg(format!("{n} exceeds i32")))
        };
        let func = device.get_or_load_custom_func(kernel, MODULE, PTX)?;
        let count = dims.batch * dims.len * dims.heads * HEAD_DIM;
        // SAFETY: the kernel writes every element of the first `len` rows of
        // every (batch, head), which is all of `out`.
        let out = unsafe { device.alloc::<T>(count)? };
        let config = LaunchConfig {
            grid_dim: (
                u32::try_from(dims.len.div_ceil(BLOCK_ROWS)).map_err(candle_core::Error::wrap)?,
                u32::try_from(dims.heads).map_err(candle_core::Error::wrap)?,
                u32::try_from(dims.batch).map_err(candle_core::Error::wrap)?,
            ),
            block_dim: (THREADS, 1, 1),
            shared_mem_bytes: 0,
        };
        let (heads, kv_heads, len, total) = (
            to_i32(dims.heads)?,
            to_i32(dims.kv_heads)?,
            to_i32(dims.len)?,
            to_i32(dims.total)?,
        );
        let (offset, window) = (to_i32(op.offset)?, to_i32(op.window)?);
        let positions_first = i32::from(op.positions_first);
        let mut builder = func.builder();
        builder.arg(&q);
        builder.arg(&k);
        builder.arg(&v);
        builder.arg(&out);
        builder.arg(&heads);
        builder.arg(&kv_heads);
        builder.arg(&len);
        builder.arg(&total);
        builder.arg(&offset);
        builder.arg(&window);
        builder.arg(&op.scale);
        builder.arg(&positions_first);
        // SAFETY: the argument list matches the kernel's signature, and the grid
        // covers every (row block, head, batch) the kernel indexes.
        unsafe { builder.launch(config) }.w()?;
        Ok(out)
    }
}
