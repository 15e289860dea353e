//! Elementwise fusions on CUDA devices (`kernels/elementwise.cu`): SwiGLU's
//! `silu(gate) · up` in one kernel, a bias added to every row without
//! candle's strided broadcast kernel, and the residual addition with the RMS
//! norm that follows it. Where no kernel applies (CPU, f32,
//! builds without `cuda`, `fused` off) the same values come from candle's ops.

use candle_core::{DType, Tensor};

fn has_kernel(t: &Tensor) -> bool {
    cfg!(feature = "cuda")
        && t.device().is_cuda()
        && matches!(t.dtype(), DType::BF16 | DType::F16)
        && t.is_contiguous()
        && t.layout().start_offset().is_multiple_of(8)
}

/// `silu(gate) · up`.
pub(crate) fn silu_mul(gate: &Tensor, up: &Tensor, fused: bool) -> candle_core::Result<Tensor> {
    if fused && has_kernel(gate) && has_kernel(up) && gate.shape() == up.shape() {
        gate.apply_op2_no_bwd(up, &SiluMul)
    } else {
        candle_nn::ops::silu(gate)? * up
    }
}

/// `x + bias` for `x` `[rows, cols]` and `bias` `[cols]`.
pub(crate) fn add_bias(x: &Tensor, bias: &Tensor, fused: bool) -> candle_core::Result<Tensor> {
    if fused && has_kernel(x) && has_kernel(bias) && x.rank() == 2 && bias.dims() == [x.dim(1)?] {
        x.apply_op2_no_bwd(bias, &AddBias)
    } else {
        x.broadcast_add(bias)
    }
}

/// `(x + delta, rms_norm(x + delta) · weight)` for `x`, `delta` `[.., cols]`
/// and `weight` `[cols]`; without `delta`, `(x, rms_norm(x) · weight)`.
pub(crate) fn add_rms_norm(
    x: &Tensor,
    delta: Option<&Tensor>,
    weight: &Tensor,
    eps: f32,
    fused: bool,
) -> candle_core::Result<(Tensor, Tensor)> {
    let Some(delta) = delta else {
        return Ok((x.clone(), candle_nn::ops::rms_norm(x, weight, eps)?));
    };
    let cols = x.dim(candle_core::D::Minus1)?;
    if fused
        && has_kernel(x)
        && has_kernel(delta)
        && has_kernel(weight)
        && x.shape() == delta.shape()
        && weight.dims() == [cols]
    {
        let rows = x.elem_count() / cols.max(1);
        let both = x.reshape((rows, cols))?.apply_op3_no_bwd(
            &delta.reshape((rows, cols))?,
            weight,
            &AddRmsNorm { eps },
        )?;
        let sum = both.narrow(0, 0, 1)?.reshape(x.shape())?;
        let normed = both.narrow(0, 1, 1)?.reshape(x.shape())?;
        return Ok((sum, normed));
    }
    let sum = (x + delta)?;
    let normed = candle_nn::ops::rms_norm(&sum, weight, eps)?;
    Ok((sum, normed))
}

struct SiluMul;
struct AddBias;
struct AddRmsNorm {
    #[cfg_attr(not(feature = "cuda"), allow(dead_code))]
    eps: f32,
}

impl candle_core::CustomOp3 for AddRmsNorm {
    fn name(&self) -> &'static str {
        "fused-add-rms-norm"
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
        candle_core::bail!("{} runs on CUDA devices only", self.name())
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        x: &candle_core::CudaStorage,
        x_layout: &candle_core::Layout,
        delta: &candle_core::CudaStorage,
        delta_layout: &candle_core::Layout,
        weight: &candle_core::CudaStorage,
        weight_layout: &candle_core::Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, candle_core::Shape)> {
        cuda::add_rms_norm(
            (x, x_layout),
            (delta, delta_layout),
            (weight, weight_layout),
            self.eps,
        )
    }
}

macro_rules! cpu_unsupported {
    () => {
        fn cpu_fwd(
            &self,
            _: &candle_core::CpuStorage,
            _: &candle_core::Layout,
            _: &candle_core::CpuStorage,
            _: &candle_core::Layout,
        ) -> candle_core::Result<(candle_core::CpuStorage, candle_core::Shape)> {
            candle_core::bail!("{} runs on CUDA devices only", self.name())
        }
    };
}

impl candle_core::CustomOp2 for SiluMul {
    fn name(&self) -> &'static str {
        "fused-silu-mul"
    }

    cpu_unsupported!();

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        gate: &candle_core::CudaStorage,
        gate_layout: &candle_core::Layout,
        up: &candle_core::CudaStorage,
        up_layout: &candle_core::Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, candle_core::Shape)> {
        cuda::launch("silu_mul", (gate, gate_layout), (up, up_layout), None)
    }
}

impl candle_core::CustomOp2 for AddBias {
    fn name(&self) -> &'static str {
        "fused-add-bias"
    }

    cpu_unsupported!();

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        x: &candle_core::CudaStorage,
        x_layout: &candle_core::Layout,
        bias: &candle_core::CudaStorage,
        bias_layout: &candle_core::Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, candle_core::Shape)> {
        let cols = x_layout.shape().dims2()?.1;
        cuda::launch("add_bias", (x, x_layout), (bias, bias_layout), Some(cols))
    }
}

#[cfg(feature = "cuda")]
mod cuda {
    use candle_core::cuda_backend::cudarc::driver::{
        CudaSlice, CudaView, DeviceRepr, LaunchConfig, PushKernelArg,
    };
    use candle_core::cuda_backend::{CudaStorageSlice, WrapErr};
    use candle_core::{CudaDevice, CudaStorage, Layout, Shape};

    /// The device view of a contiguous operand.
    fn view<'a, T>(
        slice: &'a CudaSlice<T>,
        layout: &Layout,
    ) -> candle_core::Result<CudaView<'a, T>> {
        super::super::cuda_view::contiguous(slice, layout, "elementwise kernels")
    }

    const PTX: &str = include_str!(concat!(env!("OUT_DIR"), "/elementwise.ptx"));
    const MODULE: &str = "folio_elementwise";
    const THREADS: u32 = 256;

    /// Runs `{kernel}_{bf16,f16}` over `a` (the output's shape) and `b`;
    /// `cols` is passed on when given (the bias kernel).
    pub(super) fn launch(
        kernel: &str,
        (a, a_layout): (&CudaStorage, &Layout),
        (b, b_layout): (&CudaStorage, &Layout),
        cols: Option<usize>,
    ) -> candle_core::Result<(CudaStorage, Shape)> {
        let device = a.device.clone();
        let n = a_layout.shape().elem_count();
        let slice = match (&a.slice, &b.slice) {
            (CudaStorageSlice::BF16(a), CudaStorageSlice::BF16(b)) => CudaStorageSlice::BF16(run(
                &device,
                &format!("{kernel}_bf16"),
                view(a, a_layout)?,
                view(b, b_layout)?,
                n,
                cols,
            )?),
            (CudaStorageSlice::F16(a), CudaStorageSlice::F16(b)) => CudaStorageSlice::F16(run(
                &device,
                &format!("{kernel}_f16"),
                view(a, a_layout)?,
                view(b, b_layout)?,
                n,
                cols,
            )?),
            _ => candle_core::bail!("{kernel}: both operands must be bf16 or both f16"),
        };
        Ok((CudaStorage { slice, device }, a_layout.shape().clone()))
    }

    /// Rows per block of the add-and-norm kernel (one warp each).
    const NORM_ROWS_PER_BLOCK: usize = 8;

    /// `[2, rows, cols]`: the sums, then the normed rows.
    pub(super) fn add_rms_norm(
        (x, x_layout): (&CudaStorage, &Layout),
        (delta, delta_layout): (&CudaStorage, &Layout),
        (weight, weight_layout): (&CudaStorage, &Layout),
        eps: f32,
    ) -> candle_core::Result<(CudaStorage, Shape)> {
        let (rows, cols) = x_layout.shape().dims2()?;
        let device = x.device.clone();
        let slice = match (&x.slice, &delta.slice, &weight.slice) {
            (CudaStorageSlice::BF16(x), CudaStorageSlice::BF16(d), CudaStorageSlice::BF16(w)) => {
                CudaStorageSlice::BF16(run_norm(
                    &device,
                    "add_rms_norm_bf16",
                    [
                        view(x, x_layout)?,
                        view(d, delta_layout)?,
                        view(w, weight_layout)?,
                    ],
                    rows,
                    cols,
                    eps,
                )?)
            }
            (CudaStorageSlice::F16(x), CudaStorageSlice::F16(d), CudaStorageSlice::F16(w)) => {
                CudaStorageSlice::F16(run_norm(
                    &device,
                    "add_rms_norm_f16",
                    [
                        view(x, x_layout)?,
                        view(d, delta_layout)?,
                        view(w, weight_layout)?,
                    ],
                    rows,
                    cols,
                    eps,
                )?)
            }
            _ => candle_core::bail!("add_rms_norm: all operands must be bf16 or all f16"),
        };
        Ok((CudaStorage { slice, device }, Shape::from((2, rows, cols))))
    }

    fn run_norm<T: DeviceRepr>(
        device: &CudaDevice,
        kernel: &str,
        [x, delta, weight]: [CudaView<'_, T>; 3],
        rows: usize,
        cols: usize,
        eps: f32,
    ) -> candle_core::Result<CudaSlice<T>> {
        let func = device.get_or_load_custom_func(kernel, MODULE, PTX)?;
        // SAFETY: one warp per row writes the row's sum and normed values.
        let out = unsafe { device.alloc::<T>(2 * rows * cols)? };
        let config = LaunchConfig {
            grid_dim: (
                u32::try_from(rows.div_ceil(NORM_ROWS_PER_BLOCK))
                    .map_err(candle_core::Error::wrap)?,
                1,
                1,
            ),
            block_dim: (32 * NORM_ROWS_PER_BLOCK as u32, 1, 1),
            shared_mem_bytes: 0,
        };
        let rows = i32::try_from(rows).map_err(candle_core::Error::wrap)?;
        let cols = i32::try_from(cols).map_err(candle_core::Error::wrap)?;
        let mut builder = func.builder();
        builder.arg(&x);
        builder.arg(&delta);
        builder.arg(&weight);
        builder.arg(&out);
        builder.arg(&rows);
        builder.arg(&cols);
        builder.arg(&eps);
        // SAFETY: the arguments match the kernel's signature; the grid covers
        // every row.
        unsafe { builder.launch(config) }.w()?;
        Ok(out)
    }

    fn run<T: DeviceRepr>(
        device: &CudaDevice,
        kernel: &str,
        a: CudaView<'_, T>,
        b: CudaView<'_, T>,
        n: usize,
        cols: Option<usize>,
    ) -> candle_core::Result<CudaSlice<T>> {
        let func = device.get_or_load_custom_func(kernel, MODULE, PTX)?;
        // SAFETY: the kernel writes all `n` elements.
        let out = unsafe { device.alloc::<T>(n)? };
        // Enough blocks to fill the GPU; the kernels loop over the rest.
        let blocks = n.div_ceil(8 * THREADS as usize).clamp(1, 4096);
        let config = LaunchConfig {
            grid_dim: (
                u32::try_from(blocks).map_err(candle_core::Error::wrap)?,
                1,
                1,
            ),
            block_dim: (THREADS, 1, 1),
            shared_mem_bytes: 0,
        };
        let mut builder = func.builder();
        builder.arg(&a);
        builder.arg(&b);
        builder.arg(&out);
        builder.arg(&n);
        let cols = match cols {
            Some(cols) => Some(i32::try_from(cols).map_err(candle_core::Error::wrap)?),
            None => None,
        };
        if let Some(cols) = &cols {
            builder.arg(cols);
        }
        // SAFETY: the arguments match the kernel's signature (`size_t n`, then
        // `int cols` for the bias kernel).
        unsafe { builder.launch(config) }.w()?;
        Ok(out)
    }
}
