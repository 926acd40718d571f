#!/usr/bin/env python3
"""Writes the golden files: PyTorch reference runs of our two architectures.

tests/reference/golden_endgame.json, the Endgame LSTM:

For small fixed weights and inputs it records the logits, the loss, the gradient of every
parameter, and the weights after 3 optimiser steps (same batch each step), for two cases:
  * sigmoid recurrent activation + RMSprop   (torch.nn.LSTM)
  * hard_sigmoid recurrent activation + Adam (an LSTM cell written with torch ops, because
    nn.LSTM has no hard_sigmoid; autograd still does the backward pass)
  * the multiclass form: Dense(4) + softmax cross-entropy (torch.nn.functional.cross_entropy
    per example), with per-example loss weights as `--class-weight` gives them, averaged over
    the batch like Keras' class_weight (not divided by the weights' sum, as PyTorch's
    `weight=` argument would), with RMSprop
tests/reference/golden_snowman.json, the Snowman CNN (Embedding -> Conv1d widths 2, 4, 6 ->
ReLU -> max over time -> concat -> Linear), with RMSprop.
tests/golden.rs loads both files and checks every tensor of our engine against them.

Run:  python3 -m venv .venv-ref && .venv-ref/bin/pip install torch numpy
      .venv-ref/bin/python tests/reference/make_golden.py

How weights map between the frameworks (our files use the Keras layout):
  embedding.weight       [V, E]   == nn.Embedding.weight                     (same layout)
  lstm.kernel            [E, 4H]  == nn.LSTM.weight_ih_l0.T                  (transpose)
  lstm.recurrent_kernel  [H, 4H]  == nn.LSTM.weight_hh_l0.T                  (transpose)
  lstm.bias              [4H]     == nn.LSTM.bias_ih_l0, with bias_hh_l0 = 0 (Keras has one bias)
  dense.kernel           [H, 1]   == nn.Linear.weight.T                      (transpose)
  dense.bias             [1]      == nn.Linear.bias
Gate order is the same in both: i, f, c (PyTorch calls it g), o.
  conv{i}.kernel         [w, E, F] == nn.Conv1d.weight.permute(2, 1, 0)     (Keras [w, in, out])
  conv{i}.bias           [F]      == nn.Conv1d.bias

The reference runs in float64 (weights and inputs are float32 values): our float32 engine is
then compared with the exact answer, not with another float32 rounding of it.
Dropout is 0 here (the two frameworks draw different masks); inverted dropout is checked by
finite differences in tests/gradcheck.rs. Optimisers follow Keras' rules, written out below:
RMSprop divides by sqrt(ms + eps) (PyTorch's divides by sqrt(ms) + eps), Adam uses Keras'
bias-corrected step size with eps outside the square root.
"""
import json
import pathlib

import numpy as np
import torch

torch.set_default_dtype(torch.float64)
VOCAB, EMBED, UNITS, BATCH, MAXLEN = 7, 5, 4, 3, 75


def f32(a):
    """Values that float32 represents exactly, held as float64."""
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def make_inputs(rng):
    indices = np.zeros((BATCH, MAXLEN), dtype=np.int64)
    for b, length in enumerate([9, 20, 80]):  # pre-padded; the last one fills every step
        kept = min(length, MAXLEN)
        indices[b, MAXLEN - kept:] = rng.integers(1, VOCAB, size=kept)
    labels = np.array([1.0, 0.0, 1.0])
    return indices, labels


def make_weights(rng, outputs=1):
    return {
        "embedding.weight": f32(rng.uniform(-0.5, 0.5, (VOCAB, EMBED))),
        "lstm.kernel": f32(rng.uniform(-0.4, 0.4, (EMBED, 4 * UNITS))),
        "lstm.recurrent_kernel": f32(rng.uniform(-0.4, 0.4, (UNITS, 4 * UNITS))),
        "lstm.bias": f32(rng.uniform(-0.3, 0.3, (4 * UNITS,))),
        "dense.kernel": f32(rng.uniform(-0.8, 0.8, (UNITS, outputs))),
        "dense.bias": f32(rng.uniform(-0.2, 0.2, (outputs,))),
    }


def hard_sigmoid(z):
    return torch.clamp(0.2 * z + 0.5, 0.0, 1.0)  # Keras 2.x


def forward(params, indices, activation):
    """Logits of the Endgame LSTM for Keras-layout parameters (torch tensors)."""
    x = params["embedding.weight"][torch.as_tensor(indices)]  # [B, T, E]
    if activation == "sigmoid":
        lstm = torch.nn.LSTM(EMBED, UNITS, batch_first=True)
        # Bind our parameters into the module so autograd reaches them.
        del lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0
        lstm.weight_ih_l0 = params["lstm.kernel"].T
        lstm.weight_hh_l0 = params["lstm.recurrent_kernel"].T
        lstm.bias_ih_l0 = params["lstm.bias"]
        lstm.bias_hh_l0 = torch.zeros(4 * UNITS)
        lstm._flat_weights = [lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0]
        _, (h, _) = lstm(x)
        h = h[0]
    else:
        act = torch.sigmoid if activation == "sigmoid_by_hand" else hard_sigmoid
        h = torch.zeros(BATCH, UNITS)
        c = torch.zeros(BATCH, UNITS)
        for t in range(MAXLEN):
            z = x[:, t] @ params["lstm.kernel"] + h @ params["lstm.recurrent_kernel"] + params["lstm.bias"]
            i, f, g, o = z.split(UNITS, dim=1)
            c = act(f) * c + act(i) * torch.tanh(g)
            h = act(o) * torch.tanh(c)
    logits = h @ params["dense.kernel"] + params["dense.bias"]
    return logits[:, 0] if logits.shape[1] == 1 else logits


def rmsprop(params, grads, state, lr=1e-3, rho=0.9, eps=1e-7):
    for k in params:
        ms = state.setdefault(k, torch.zeros_like(params[k]))
        ms.mul_(rho).add_((1 - rho) * grads[k] ** 2)
        params[k] -= lr * grads[k] / torch.sqrt(ms + eps)


def adam(params, grads, state, lr=1e-3, b1=0.9, b2=0.999, eps=1e-7):
    state["t"] = state.get("t", 0) + 1
    t = state["t"]
    alpha = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
    for k in params:
        m = state.setdefault("m" + k, torch.zeros_like(params[k]))
        v = state.setdefault("v" + k, torch.zeros_like(params[k]))
        m.add_((grads[k] - m) * (1 - b1))
        v.add_((grads[k] ** 2 - v) * (1 - b2))
        params[k] -= alpha * m / (torch.sqrt(v) + eps)


def tensor_json(t):
    a = t.detach().numpy()
    return {"shape": list(a.shape), "data": [float(v) for v in a.reshape(-1)]}


def run_case(name, activation, optimizer, seed, outputs=1):
    rng = np.random.default_rng(seed)
    indices, labels = make_inputs(rng)
    weights = make_weights(rng, outputs)
    params = {k: torch.tensor(v, requires_grad=True) for k, v in weights.items()}
    if outputs == 1:
        sample_weights = np.ones(BATCH)
        y = torch.tensor(labels)
        loss_fn = torch.nn.BCEWithLogitsLoss()
    else:
        labels = np.array([2.0, 0.0, 3.0])
        sample_weights = np.array([1.5, 0.5, 1.0])
        y = torch.tensor(labels, dtype=torch.int64)
        w = torch.tensor(sample_weights)

        def loss_fn(z, y):
            return (w * torch.nn.functional.cross_entropy(z, y, reduction="none")).mean()

    logits = forward(params, indices, activation)
    loss = loss_fn(logits, y)
    grads = dict(zip(params, torch.autograd.grad(loss, list(params.values()))))
    case = {
        "name": name,
        "recurrent_activation": activation,
        "optimizer": optimizer,
        "vocab_size": VOCAB, "embedding_dim": EMBED, "units": UNITS, "outputs": outputs,
        "indices": indices.tolist(),
        "labels": labels.tolist(),
        "sample_weights": sample_weights.tolist(),
        "weights": {k: tensor_json(torch.tensor(v)) for k, v in weights.items()},
        "logits": [float(v) for v in logits.detach().reshape(-1)],
        "loss": float(loss.detach()),
        "grads": {k: tensor_json(g) for k, g in grads.items()},
    }

    if activation == "sigmoid":
        # The weight mapping into nn.LSTM is right: a cell written out by hand agrees.
        by_hand = forward(params, indices, "sigmoid_by_hand")
        assert torch.allclose(by_hand, logits, rtol=1e-12, atol=1e-12), (by_hand, logits)

    state, losses = {}, []
    for _ in range(3):
        logits = forward(params, indices, activation)
        loss = loss_fn(logits, y)
        losses.append(float(loss.detach()))
        step_grads = dict(zip(params, torch.autograd.grad(loss, list(params.values()))))
        with torch.no_grad():
            (rmsprop if optimizer == "rmsprop" else adam)(params, step_grads, state)
    case["losses_per_step"] = losses
    case["weights_after_3_steps"] = {k: tensor_json(p) for k, p in params.items()}
    return case


SNOW_EMBED, SNOW_FILTERS, SNOW_WIDTHS = 4, 3, [2, 4, 6]


def snowman_weights(rng):
    w = {"embedding.weight": f32(rng.uniform(-0.5, 0.5, (VOCAB, SNOW_EMBED)))}
    for i, width in enumerate(SNOW_WIDTHS):
        w[f"conv{i}.kernel"] = f32(rng.uniform(-0.5, 0.5, (width, SNOW_EMBED, SNOW_FILTERS)))
        w[f"conv{i}.bias"] = f32(rng.uniform(-0.1, 0.1, (SNOW_FILTERS,)))
    w["dense.kernel"] = f32(rng.uniform(-0.8, 0.8, (SNOW_FILTERS * len(SNOW_WIDTHS), 1)))
    w["dense.bias"] = f32(rng.uniform(-0.2, 0.2, (1,)))
    return w


def snowman_forward(params, indices):
    x = params["embedding.weight"][torch.as_tensor(indices)].transpose(1, 2)  # [B, E, T]
    pooled = []
    for i, width in enumerate(SNOW_WIDTHS):
        conv = torch.nn.functional.conv1d(
            x, params[f"conv{i}.kernel"].permute(2, 1, 0), params[f"conv{i}.bias"])
        pooled.append(torch.relu(conv).max(dim=2).values)
    features = torch.cat(pooled, dim=1)
    return (features @ params["dense.kernel"] + params["dense.bias"])[:, 0]


def run_snowman(seed):
    rng = np.random.default_rng(seed)
    indices, labels = make_inputs(rng)
    weights = snowman_weights(rng)
    params = {k: torch.tensor(v, requires_grad=True) for k, v in weights.items()}
    loss_fn = torch.nn.BCEWithLogitsLoss()
    y = torch.tensor(labels)
    logits = snowman_forward(params, indices)
    loss = loss_fn(logits, y)
    grads = dict(zip(params, torch.autograd.grad(loss, list(params.values()))))
    case = {
        "name": "snowman_rmsprop",
        "optimizer": "rmsprop",
        "vocab_size": VOCAB, "embedding_dim": SNOW_EMBED, "filters": SNOW_FILTERS,
        "widths": SNOW_WIDTHS,
        "indices": indices.tolist(),
        "labels": labels.tolist(),
        "weights": {k: tensor_json(torch.tensor(v)) for k, v in weights.items()},
        "logits": [float(v) for v in logits.detach()],
        "loss": float(loss.detach()),
        "grads": {k: tensor_json(g) for k, g in grads.items()},
    }
    state, losses = {}, []
    for _ in range(3):
        loss = loss_fn(snowman_forward(params, indices), y)
        losses.append(float(loss.detach()))
        step_grads = dict(zip(params, torch.autograd.grad(loss, list(params.values()))))
        with torch.no_grad():
            rmsprop(params, step_grads, state)
    case["losses_per_step"] = losses
    case["weights_after_3_steps"] = {k: tensor_json(p) for k, p in params.items()}
    return case


def main():
    golden = {
        "generator": "tests/reference/make_golden.py",
        "torch_version": torch.__version__,
        "cases": [
            run_case("sigmoid_rmsprop", "sigmoid", "rmsprop", seed=1),
            run_case("hard_sigmoid_adam", "hard_sigmoid", "adam", seed=2),
            run_case("multiclass_weighted_rmsprop", "sigmoid", "rmsprop", seed=4, outputs=4),
        ],
    }
    out = pathlib.Path(__file__).with_name("golden_endgame.json")
    out.write_text(json.dumps(golden, separators=(",", ":")) + "\n")
    print(f"wrote {out}")
    snowman = {
        "generator": "tests/reference/make_golden.py",
        "torch_version": torch.__version__,
        "cases": [run_snowman(seed=3)],
    }
    out = pathlib.Path(__file__).with_name("golden_snowman.json")
    out.write_text(json.dumps(snowman, separators=(",", ":")) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
