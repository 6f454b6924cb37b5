//! AdamW with explicit, saveable state and global-norm gradient clipping.
//!
//! candle-nn's AdamW keeps its moments private, so a stopped run could not
//! resume bit-for-bit; this one stores (m, v, t) next to the checkpoint.
//! Update (Loshchilov & Hutter, decoupled weight decay), as PyTorch's AdamW:
//! θ ← θ(1 − lr·wd) − lr · m̂ / (√v̂ + ε).

use candle_core::{Result, Tensor, Var, backprop::GradStore};
use std::collections::HashMap;
use std::path::Path;

const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPS: f64 = 1e-8;

/// AdamW over named variables.
pub struct AdamW {
    vars: Vec<(String, Var)>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    /// Steps taken.
    pub t: u64,
    pub weight_decay: f64,
}

impl AdamW {
    /// Optimises every variable of `named` (sorted by name for a stable order).
    pub fn new(mut named: Vec<(String, Var)>, weight_decay: f64) -> Result<Self> {
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let m = named.iter().map(|(_, v)| v.as_tensor().zeros_like()).collect::<Result<Vec<_>>>()?;
        let v = named.iter().map(|(_, v)| v.as_tensor().zeros_like()).collect::<Result<Vec<_>>>()?;
        Ok(Self { vars: named, m, v, t: 0, weight_decay })
    }

    /// Global L2 norm of all gradients.
    pub fn grad_norm(&self, grads: &GradStore) -> Result<f64> {
        let mut sq = 0f64;
        for (_, var) in &self.vars {
            if let Some(g) = grads.get(var.as_tensor()) {
                sq += g.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
            }
        }
        Ok(sq.sqrt())
    }

    /// One update with learning rate `lr`; gradients are scaled by `grad_scale` (clipping).
    pub fn step(&mut self, grads: &GradStore, lr: f64, grad_scale: f64) -> Result<()> {
        self.t += 1;
        let bc1 = 1.0 - BETA1.powi(self.t as i32);
        let bc2 = 1.0 - BETA2.powi(self.t as i32);
        for (i, (_, var)) in self.vars.iter().enumerate() {
            let Some(g) = grads.get(var.as_tensor()) else { continue };
            let g = if grad_scale != 1.0 { (g * grad_scale)? } else { g.clone() };
            let m = ((&self.m[i] * BETA1)? + (&g * (1.0 - BETA1))?)?;
            let v = ((&self.v[i] * BETA2)? + (g.sqr()? * (1.0 - BETA2))?)?;
            let update = ((&m / bc1)? / ((&v / bc2)?.sqrt()? + EPS)?)?;
            let theta = var.as_tensor();
            let next = ((theta * (1.0 - lr * self.weight_decay))? - (update * lr)?)?;
            var.set(&next)?;
            self.m[i] = m;
            self.v[i] = v;
        }
        Ok(())
    }

    /// Saves the moments (safetensors) at `path`; the step count goes in the trainer state.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut map: HashMap<String, Tensor> = HashMap::new();
        for (i, (name, _)) in self.vars.iter().enumerate() {
            map.insert(format!("m.{name}"), self.m[i].clone());
            map.insert(format!("v.{name}"), self.v[i].clone());
        }
        candle_core::safetensors::save(&map, path)
    }

    /// Restores moments saved by [`AdamW::save`]; a missing or misshapen entry is an error.
    pub fn load(&mut self, path: &Path, t: u64) -> Result<()> {
        let dev = self.vars.first().map(|(_, v)| v.device().clone()).unwrap_or(candle_core::Device::Cpu);
        let map = candle_core::safetensors::load(path, &dev)?;
        for (i, (name, var)) in self.vars.iter().enumerate() {
            for (prefix, slot) in [("m", &mut self.m[i]), ("v", &mut self.v[i])] {
                let t = map.get(&format!("{prefix}.{name}")).ok_or_else(|| candle_core::Error::Msg(format!("optimizer state has no {prefix}.{name}")))?;
                if t.shape() != var.shape() {
                    return Err(candle_core::Error::Msg(format!("optimizer state {prefix}.{name} has shape {:?}, expected {:?}", t.shape(), var.shape())));
                }
                *slot = t.clone();
            }
        }
        self.t = t;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn matches_hand_computed_adamw_step() {
        // One parameter x = 1, loss = x^2 -> g = 2. Step 1: m = 0.2, v = 0.004,
        // m̂ = 2, v̂ = 4, update = 2 / (2 + 1e-8) ≈ 1. With lr 0.1, wd 0.5:
        // x = 1 * (1 - 0.05) - 0.1 * 1 = 0.85.
        let x = Var::new(&[1f32], &Device::Cpu).unwrap();
        let mut opt = AdamW::new(vec![("x".into(), x.clone())], 0.5).unwrap();
        let loss = x.as_tensor().sqr().unwrap().sum_all().unwrap();
        let grads = loss.backward().unwrap();
        assert!((opt.grad_norm(&grads).unwrap() - 2.0).abs() < 1e-6);
        opt.step(&grads, 0.1, 1.0).unwrap();
        let v = x.as_tensor().to_vec1::<f32>().unwrap()[0];
        assert!((v - 0.85).abs() < 1e-6, "{v}");
    }

    #[test]
    fn state_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let x = Var::new(&[1f32, 2.0], &Device::Cpu).unwrap();
        let mut opt = AdamW::new(vec![("x".into(), x.clone())], 0.0).unwrap();
        let grads = x.as_tensor().sqr().unwrap().sum_all().unwrap().backward().unwrap();
        opt.step(&grads, 0.1, 1.0).unwrap();
        opt.save(&dir.path().join("o.safetensors")).unwrap();
        let mut other = AdamW::new(vec![("x".into(), x.clone())], 0.0).unwrap();
        other.load(&dir.path().join("o.safetensors"), opt.t).unwrap();
        assert_eq!(other.m[0].to_vec1::<f32>().unwrap(), opt.m[0].to_vec1::<f32>().unwrap());
        assert_eq!(other.t, 1);
    }
}
