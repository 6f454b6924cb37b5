//! Choosing the candle device at run time (CPU by default; CUDA/Metal when built with them).

use candle_core::Device;

/// Parses `cpu | cuda | cuda:N | metal | metal:N | auto` into a device, with a clear error
/// when this build (or this machine) lacks it. The one device choice for every engine stage.
pub fn pick(name: &str) -> anyhow::Result<Device> {
    use anyhow::Context;
    let name = name.trim().to_ascii_lowercase();
    let ordinal = |s: &str| -> anyhow::Result<usize> { s.parse().with_context(|| format!("device `{name}`: expected a GPU number after `:`")) };
    Ok(match name.as_str() {
        "cpu" => Device::Cpu,
        "auto" => {
            if candle_core::utils::cuda_is_available() {
                Device::new_cuda(0)?
            } else if candle_core::utils::metal_is_available() {
                Device::new_metal(0)?
            } else {
                Device::Cpu
            }
        }
        "cuda" => Device::new_cuda(0).context("device cuda (build with --features cuda, on a machine with a CUDA GPU)")?,
        "metal" => Device::new_metal(0).context("device metal (build with --features metal)")?,
        s if s.starts_with("cuda:") => Device::new_cuda(ordinal(&s[5..])?).context("device cuda (build with --features cuda, on a machine with a CUDA GPU)")?,
        s if s.starts_with("metal:") => Device::new_metal(ordinal(&s[6..])?).context("device metal (build with --features metal)")?,
        other => anyhow::bail!("unknown device `{other}`; use cpu, cuda, cuda:N, metal, metal:N or auto"),
    })
}

/// Whether `name` is a device name [`pick`] understands (checked before any work).
pub fn is_known(name: &str) -> bool {
    let n = name.trim().to_ascii_lowercase();
    let numbered = |p: &str| n.strip_prefix(p).is_some_and(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()));
    matches!(n.as_str(), "cpu" | "cuda" | "metal" | "auto") || numbered("cuda:") || numbered("metal:")
}

/// A short human description, e.g. `CPU · 2 threads` or `CUDA:0`.
pub fn describe(d: &Device) -> String {
    match d {
        Device::Cpu => format!("CPU · {} threads", std::thread::available_parallelism().map_or(1, |n| n.get())),
        Device::Cuda(_) => "CUDA:0".into(),
        Device::Metal(_) => "Metal:0".into(),
    }
}
