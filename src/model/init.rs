//! Seeded parameter initialisation for a `VarMap`.
//!
//! candle's `VarMap` draws initial values from the device RNG, which on the CPU cannot be
//! seeded, so two runs with the same config would start from different weights. This
//! backend draws every new variable from our own [`Rng`] instead (same seed -> same
//! weights, in the order the model asks for them) and stores it in the `VarMap`, so the
//! optimiser and checkpointing see ordinary candle `Var`s.

use std::sync::Mutex;

use candle_core::{DType, Device, Result, Shape, Tensor, Var};
use candle_nn::init::NormalOrUniform;
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder, VarMap};

use crate::util::Rng;

struct SeededVarMap {
    varmap: VarMap,
    rng: Mutex<Rng>,
}

fn lock_error() -> candle_core::Error {
    candle_core::Error::Msg("parameter store lock poisoned by an earlier panic".into())
}

/// Values for `init` over `shape`, drawn from `rng`.
fn draw(rng: &mut Rng, shape: &Shape, init: Init) -> Vec<f32> {
    let n = shape.elem_count();
    let uniform = |rng: &mut Rng, lo: f64, up: f64| (0..n).map(|_| (lo + (up - lo) * rng.f64()) as f32).collect();
    let normal = |rng: &mut Rng, mean: f64, std: f64| (0..n).map(|_| (mean + std * rng.normal()) as f32).collect();
    match init {
        Init::Const(c) => vec![c as f32; n],
        Init::Randn { mean, stdev } => normal(rng, mean, stdev),
        Init::Uniform { lo, up } => uniform(rng, lo, up),
        Init::Kaiming { dist, fan, non_linearity } => {
            let fan = fan.for_shape(shape).max(1);
            let std = non_linearity.gain() / (fan as f64).sqrt();
            match dist {
                NormalOrUniform::Uniform => {
                    let bound = 3f64.sqrt() * std;
                    uniform(rng, -bound, bound)
                }
                NormalOrUniform::Normal => normal(rng, 0.0, std),
            }
        }
    }
}

impl SimpleBackend for SeededVarMap {
    fn get(&self, shape: Shape, name: &str, init: Init, dtype: DType, dev: &Device) -> Result<Tensor> {
        let mut data = self.varmap.data().lock().map_err(|_| lock_error())?;
        if let Some(var) = data.get(name) {
            if var.shape() != &shape {
                candle_core::bail!("parameter {name}: shape {shape:?} requested, {:?} stored", var.shape());
            }
            return Ok(var.as_tensor().clone());
        }
        let values = {
            let mut rng = self.rng.lock().map_err(|_| lock_error())?;
            draw(&mut rng, &shape, init)
        };
        let var = Var::from_tensor(&Tensor::from_vec(values, shape, dev)?.to_dtype(dtype)?)?;
        let tensor = var.as_tensor().clone();
        data.insert(name.to_string(), var);
        Ok(tensor)
    }

    fn get_unchecked(&self, name: &str, _dtype: DType, _dev: &Device) -> Result<Tensor> {
        candle_core::bail!("parameter {name}: a seeded VarMap needs a shape to create it")
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.varmap.data().lock().map(|d| d.contains_key(name)).unwrap_or(false)
    }
}

/// A `VarBuilder` that creates missing variables in `varmap` from a generator seeded with
/// `seed` (existing ones, e.g. loaded from a checkpoint, are returned unchanged).
pub fn seeded_var_builder(varmap: &VarMap, seed: u64, dtype: DType, device: &Device) -> VarBuilder<'static> {
    let backend = SeededVarMap { varmap: varmap.clone(), rng: Mutex::new(Rng::new(seed)) };
    VarBuilder::from_backend(Box::new(backend), dtype, device.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_weights_and_pytorch_like_ranges() {
        let make = |seed| {
            let vm = VarMap::new();
            let vb = seeded_var_builder(&vm, seed, DType::F32, &Device::Cpu);
            let w = vb.get_with_hints((64, 16), "w", Init::Uniform { lo: -0.25, up: 0.25 }).unwrap();
            let e = vb.get_with_hints((4000,), "e", Init::Randn { mean: 0.0, stdev: 1.0 }).unwrap();
            (w.flatten_all().unwrap().to_vec1::<f32>().unwrap(), e.to_vec1::<f32>().unwrap(), vm)
        };
        let (w1, e1, vm) = make(7);
        let (w2, e2, _) = make(7);
        let (w3, _, _) = make(8);
        assert_eq!(w1, w2);
        assert_eq!(e1, e2);
        assert_ne!(w1, w3);
        assert!(w1.iter().all(|v| v.abs() <= 0.25));
        let mean = e1.iter().sum::<f32>() / e1.len() as f32;
        let var = e1.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / e1.len() as f32;
        assert!(mean.abs() < 0.05 && (var - 1.0).abs() < 0.08, "{mean} {var}");
        assert_eq!(vm.all_vars().len(), 2);
    }
}
