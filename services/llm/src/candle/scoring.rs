//! Continuation scores on CUDA devices (`kernels/scoring.cu`): the
//! log-probability of each row's target token and the entropy of each row's
//! distribution, straight from the logits, in one kernel. Elsewhere the same
//! numbers come from candle's log-softmax.

use candle_core::{DType, Tensor, D};

/// Per row of `logits` `[rows, vocab]`: (log p(target), entropy in nats).
/// `fused` allows the CUDA kernel where it applies.
pub(crate) fn continuation_scores(
    logits: &Tensor,
    targets: &[u32],
    fused: bool,
) -> candle_core::Result<(Vec<f32>, Vec<f32>)> {
    let device = logits.device();
    let target_ids = Tensor::new(targets, device)?;
    if fused && cfg!(feature = "cuda") && device.is_cuda() && logits.rank() == 2 {
        let pairs = logits
            .contiguous()?
            .apply_op2_no_bwd(&target_ids, &ContinuationScores)?
            .to_vec2::<f32>()?;
        return Ok(pairs.into_iter().map(|pair| (pair[0], pair[1])).unzip());
    }
    let log_probs = candle_nn::ops::log_softmax(&logits.to_dtype(DType::F32)?, D::Minus1)?;
    let entropy = (log_probs.exp()? * &log_probs)?
        .sum(D::Minus1)?
        .neg()?
        .to_vec1::<f32>()?;
    let chosen = log_probs
        .gather(&target_ids.reshape((targets.len(), 1))?, 1)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    Ok((chosen, entropy))
}

struct ContinuationScores;

impl candle_core::CustomOp2 for ContinuationScores {
    fn name(&self) -> &'static str {
        "continuation-scores"
    }

    fn cpu_fwd(
        &self,
        _: &candle_core::CpuStorage,
        _: &candle_core::Layout,
        _: &candle_core::CpuStorage,
        _: &candle_core::Layout,
    ) -> candle_core::Result<(candle_core::CpuStorage, candle_core::Shape)> {
        candle_core::bail!("continuation-scores runs on CUDA devices only")
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        logits: &candle_core::CudaStorage,
        logits_layout: &candle_core::Layout,
        targets: &candle_core::CudaStorage,
        targets_layout: &candle_core::Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, candle_core::Shape)> {
        cuda::forward((logits, logits_layout), (targets, targets_layout))
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
        super::super::cuda_view::contiguous(slice, layout, "continuation scores")
    }

    const PTX: &str = include_str!(concat!(env!("OUT_DIR"), "/scoring.ptx"));
    const MODULE: &str = "folio_scoring";
    const THREADS: u32 = 512;

    pub(super) fn forward(
        (logits, logits_layout): (&CudaStorage, &Layout),
        (targets, targets_layout): (&CudaStorage, &Layout),
    ) -> candle_core::Result<(CudaStorage, Shape)> {
        let (rows, vocab) = logits_layout.shape().dims2()?;
        if targets_layout.shape().elem_count() != rows {
            candle_core::bail!(
                "continuation scores: {rows} rows, {:?} targets",
                targets_layout.shape()
            );
        }
        let CudaStorageSlice::U32(targets) = &targets.slice else {
            candle_core::bail!("continuation scores: targets must be u32");
        };
        let targets = view(targets, targets_layout)?;
        let device = logits.device.clone();
        let out = match &logits.slice {
            CudaStorageSlice::BF16(x) => run(
                &device,
                "continuation_scores_bf16",
                view(x, logits_layout)?,
                &targets,
                rows,
                vocab,
            )?,
            CudaStorageSlice::F16(x) => run(
                &device,
                "continuation_scores_f16",
                view(x, logits_layout)?,
                &targets,
                rows,
                vocab,
            )?,
            CudaStorageSlice::F32(x) => run(
                &device,
                "continuation_scores_f32",
                view(x, logits_layout)?,
                &targets,
                rows,
                vocab,
            )?,
            _ => candle_core::bail!("continuation scores: logits must be bf16, f16 or f32"),
        };
        Ok((
            CudaStorage {
                slice: CudaStorageSlice::F32(out),
                device,
            },
            Shape::from((rows, 2)),
        ))
    }

    fn run<T: DeviceRepr>(
        device: &CudaDevice,
        kernel: &str,
        logits: CudaView<'_, T>,
        targets: &CudaView<'_, u32>,
        rows: usize,
        vocab: usize,
    ) -> candle_core::Result<CudaSlice<f32>> {
        let func = device.get_or_load_custom_func(kernel, MODULE, PTX)?;
        // SAFETY: one block per row writes both of the row's outputs.
        let out = unsafe { device.alloc::<f32>(rows * 2)? };
        let config = LaunchConfig {
            grid_dim: (u32::try_from(rows).map_err(candle_core::Error::wrap)?, 1, 1),
            block_dim: (THREADS, 1, 1),
            shared_mem_bytes: 0,
        };
        let vocab = i32::try_from(vocab).map_err(candle_core::Error::wrap)?;
        let mut builder = func.builder();
        builder.arg(&logits);
        builder.arg(targets);
        builder.arg(&out);
        builder.arg(&vocab);
        // SAFETY: the arguments match the kernel's signature; the grid has one
        // block per row.
        unsafe { builder.launch(config) }.w()?;
        Ok(out)
    }
}
