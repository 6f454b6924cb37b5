#!/usr/bin/env python3
"""Runs the step written by `examples/dump_step.rs` through the PyTorch reference model
(shared/bench/lum_reference.py, same architecture) with the same weights and batch, and
compares the loss and every parameter gradient. Needs torch, numpy, safetensors."""
import math, sys
import numpy as np
import torch
import torch.nn.functional as F
from safetensors.numpy import load_file

d = sys.argv[1]
w = {k: torch.tensor(v) for k, v in load_file(f"{d}/weights.safetensors").items()}
s = load_file(f"{d}/step.safetensors")
params = {k: v.clone().requires_grad_(True) for k, v in w.items()}
P = lambda n: params[n]
cond = torch.tensor(s["cond"].astype(np.int64)); items = torch.tensor(s["item"].astype(np.int64))
negs = torch.tensor(s["negs"].astype(np.int64))
b, n = items.shape
L = 2 * n


def forward():
    dm = P("item_emb").shape[1]
    heads = 2
    x = torch.stack([P("cond_emb")[cond], P("item_emb")[items]], dim=2).reshape(b, L, dm)
    x = x + P("pos_emb")[:L] + P("type_emb")[torch.arange(L) % 2]
    mask = torch.triu(torch.ones(L, L, dtype=torch.bool), 1)
    nl = len({k.split(".")[1] for k in params if k.startswith("blocks.")})
    for i in range(nl):
        g = lambda m: (P(f"blocks.{i}.{m}.weight"), P(f"blocks.{i}.{m}.bias"))
        h = F.layer_norm(x, (dm,), *g("ln1"))
        q, k, v = F.linear(h, *g("qkv")).split(dm, dim=-1)
        q, k, v = (z.view(b, L, heads, dm // heads).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-1, -2)) / math.sqrt(dm // heads)
        att = att.masked_fill(mask, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(b, L, dm)
        x = x + F.linear(y, *g("proj"))
        x = x + F.linear(F.gelu(F.linear(F.layer_norm(x, (dm,), *g("ln2")), *g("fc1"))), *g("fc2"))
    hh = F.layer_norm(x, (dm,), P("ln_f.weight"), P("ln_f.bias"))[:, 0::2].reshape(b * n, -1)
    hh = F.normalize(hh, dim=-1)
    pos = F.normalize(P("item_emb")[items].reshape(b * n, -1), dim=-1)
    neg = F.normalize(P("item_emb")[negs], dim=-1)
    negl = (hh @ neg.t()).masked_fill(negs[None, :] == items.reshape(-1)[:, None], float("-inf"))
    logits = torch.cat([(hh * pos).sum(-1, keepdim=True), negl], dim=1) / 0.05
    loss = F.cross_entropy(logits, torch.zeros(b * n, dtype=torch.long))
    return loss

loss = forward()
loss.backward()
print(f"loss torch {loss.item():.6f} candle {float(s['loss'][0]):.6f}")
worst = 0.0
for name, p in sorted(params.items()):
    ours = torch.tensor(s[f"grad.{name}"])
    rel = ((ours - p.grad).norm() / p.grad.norm().clamp_min(1e-12)).item()
    worst = max(worst, rel)
    print(f"{name:28s} rel.err {rel:.2e}  |grad| {p.grad.norm().item():.3e}")
print(f"worst relative gradient error {worst:.2e}")

opt = torch.optim.AdamW(list(params.values()), lr=1e-3, weight_decay=0.01)
for p in params.values():
    p.grad = None
curve = []
for _ in range(20):
    loss = forward()
    curve.append(round(loss.item(), 4))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
print("torch curve", curve)
