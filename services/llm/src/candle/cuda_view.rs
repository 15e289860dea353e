//! What Folio's CUDA kernels share: the device view of a contiguous operand.

use candle_core::cuda_backend::cudarc::driver::{CudaSlice, CudaView};
use candle_core::Layout;

/// The elements `layout` covers, as one device view; `kernel` names the caller
/// in the error for a strided operand (the kernels index densely).
pub(crate) fn contiguous<'a, T>(
    slice: &'a CudaSlice<T>,
    layout: &Layout,
    kernel: &str,
) -> candle_core::Result<CudaView<'a, T>> {
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(slice.slice(start..end)),
        None => candle_core::bail!("{kernel} needs contiguous inputs"),
    }
}
