//! Choosing the candle device at run time (CPU by default; CUDA/Metal when built with them).

use candle_core::Device;

/// Parses `cpu|cuda|metal|auto` into a device, with a clear error when this build lacks it.
pub fn pick(name: &str) -> anyhow::Result<Device> {
    match name {
        "cpu" => Ok(Device::Cpu),
        "auto" => {
            if candle_core::utils::cuda_is_available() {
                Ok(Device::new_cuda(0)?)
            } else if candle_core::utils::metal_is_available() {
                Ok(Device::new_metal(0)?)
            } else {
                Ok(Device::Cpu)
            }
        }
        "cuda" => {
            anyhow::ensure!(candle_core::utils::cuda_is_available(), "device cuda: this lumlab was built without the `cuda` feature or no CUDA device is present");
            Ok(Device::new_cuda(0)?)
        }
        "metal" => {
            anyhow::ensure!(candle_core::utils::metal_is_available(), "device metal: this lumlab was built without the `metal` feature or no Metal device is present");
            Ok(Device::new_metal(0)?)
        }
        other => anyhow::bail!("unknown device `{other}`; use cpu, cuda, metal or auto"),
    }
}

/// A short human description, e.g. `CPU · 2 threads` or `CUDA:0`.
pub fn describe(d: &Device) -> String {
    match d {
        Device::Cpu => format!("CPU · {} threads", std::thread::available_parallelism().map_or(1, |n| n.get())),
        Device::Cuda(_) => "CUDA:0".into(),
        Device::Metal(_) => "Metal:0".into(),
    }
}
