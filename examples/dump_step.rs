//! Writes the `bench` model's initial weights, one random batch, its loss and every
//! parameter gradient to safetensors files, so `examples/compare_reference.py` can run the
//! same step through the PyTorch reference and compare (a whole-model gradient check).
//!
//! Usage: cargo run --release --example dump_step -- OUT_DIR [--packing]

use std::collections::HashMap;

use anyhow::Context;
use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use lumlab::model::{Lum, LumConfig, RaggedIds, batch_from_sequences};
use lumlab::util::Rng;

fn main() -> anyhow::Result<()> {
    let out = std::path::PathBuf::from(std::env::args().nth(1).context("usage: dump_step OUT_DIR")?);
    std::fs::create_dir_all(&out)?;
    let (items, conds, t, b, k) = (2000usize, 100usize, 12usize, 16usize, 64usize);
    let item_off: Vec<u32> = (0..=items as u32).collect();
    let item_ids: Vec<u32> = (0..items as u32).collect();
    let cond_off: Vec<u32> = (0..=conds as u32).collect();
    let cond_ids: Vec<u32> = (items as u32..(items + conds) as u32).collect();
    let cfg = LumConfig { d_model: 64, n_layers: 2, n_heads: 2, d_ff: 256, max_behaviors: t, dropout: 0.0, ..Default::default() };
    let vm = VarMap::new();
    let dev = Device::Cpu;
    let m = Lum::with_varmap(&vm, &cfg, RaggedIds::new(&item_off, &item_ids), RaggedIds::new(&cond_off, &cond_ids), items + conds, &dev)?;
    let mut rng = Rng::new(5);
    let seqs: Vec<(Vec<u32>, Vec<u32>)> = (0..b)
        .map(|_| ((0..t).map(|_| rng.index(conds) as u32).collect(), (0..t).map(|_| rng.index(items) as u32).collect()))
        .collect();
    let batch = batch_from_sequences(&seqs, t, false, &dev)?;
    let mut negs: Vec<u32> = (0..k).map(|_| rng.index(items) as u32).collect();
    negs[0] = seqs[0].1[0]; // force one masked collision
    let negs = Tensor::new(negs.as_slice(), &dev)?;
    vm.save(out.join("weights.safetensors"))?;
    let loss = m.loss(&batch, &negs, true)?;
    let grads = loss.backward()?;
    let mut dump: HashMap<String, Tensor> = HashMap::new();
    for (name, var) in vm.data().lock().map_err(|_| anyhow::anyhow!("lock"))?.iter() {
        dump.insert(format!("grad.{name}"), grads.get(var).context("missing grad")?.clone());
    }
    dump.insert("cond".into(), batch.cond.clone());
    dump.insert("item".into(), batch.item.clone());
    dump.insert("negs".into(), negs.clone());
    dump.insert("loss".into(), loss.reshape(1)?);
    candle_core::safetensors::save(&dump, out.join("step.safetensors"))?;
    println!("loss {}", loss.to_scalar::<f32>()?);
    // Then 20 AdamW steps (bench settings) on the same batch: the Python side replays them.
    let params = candle_nn::ParamsAdamW { lr: 1e-3, weight_decay: 0.01, ..Default::default() };
    let mut opt = <candle_nn::AdamW as candle_nn::Optimizer>::new(vm.all_vars(), params)?;
    let mut curve = Vec::new();
    for _ in 0..20 {
        let loss = m.loss(&batch, &negs, true)?;
        curve.push(loss.to_scalar::<f32>()?);
        candle_nn::Optimizer::backward_step(&mut opt, &loss)?;
    }
    println!("curve {curve:?}");
    Ok(())
}
