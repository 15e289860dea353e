//! With the `cuda` feature, compiles the CUDA kernels in `kernels/` (fused
//! attention, elementwise fusions, continuation scoring) to PTX with nvcc; CPU builds do nothing.
//!
//! nvcc comes from `NVCC`, else `$CUDA_HOME/bin/nvcc`, else `PATH`; the target
//! is `CUDA_COMPUTE_CAP` (default 80: the kernel needs bf16 tensor cores).

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=kernels");
    for var in ["NVCC", "CUDA_HOME", "CUDA_COMPUTE_CAP"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    if std::env::var_os("CARGO_FEATURE_CUDA").is_none() {
        return;
    }
    let nvcc = std::env::var_os("NVCC")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("CUDA_HOME").map(|home| PathBuf::from(home).join("bin/nvcc")))
        .unwrap_or_else(|| PathBuf::from("nvcc"));
    let cap = std::env::var("CUDA_COMPUTE_CAP").unwrap_or_else(|_| "80".to_owned());
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    for kernel in ["flash_attention", "elementwise", "scoring"] {
        let source = format!("kernels/{kernel}.cu");
        let status = Command::new(&nvcc)
            .args(["--ptx", "-O3", "-std=c++17"])
            .arg(format!("-arch=sm_{cap}"))
            .arg(&source)
            .arg("-o")
            .arg(out.join(format!("{kernel}.ptx")))
            .status()
            .unwrap_or_else(|e| panic!("cannot run nvcc ({}): {e}", nvcc.display()));
        assert!(status.success(), "nvcc failed on {source}");
    }
}
