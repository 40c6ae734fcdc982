#!/usr/bin/python3
"""Builds the example model repository and the "sensor shift" data shipped with the service.

    /usr/bin/python3 deploy/examples/make_examples.py

Writes
  repository/digits/model.onnx   small BN CNN trained on scikit-learn's bundled 8x8 digits, input [N,1,8,8]
  repository/mlp/model.onnx      untrained 8-16-BN-ReLU-3 MLP with randomized BN state, input [N,8]
  data/digits_test.npy, data/digits_test_labels.npy                     clean held-out images
  data/digits_shifted_calib.npy                                         "other sensor", unlabeled
  data/digits_shifted_test.npy, data/digits_shifted_test_labels.npy     "other sensor", disjoint images
  data/digits_expected.json      the accuracies below and the BN statistics after update_bn on the
                                 calibration set, for end-to-end tests of the service
and prints the accuracies recorded in README.md. Both models are exported from eval mode with
TrainingMode.PRESERVE (tools/bn_export.py), so their BN nodes and running statistics stay in the graph.
Deterministic: fixed seeds and one CPU thread; re-runs are byte-identical.
"""
import copy
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch.optim.swa_utils import update_bn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "python"))
from bn_export import bn_modules, randomize_bn, write_checked  # noqa: E402
from bn_models import DigitsCnn, SmallMlp  # noqa: E402

REPO = os.path.join(HERE, "repository")
DATA = os.path.join(HERE, "data")
SEED = 20240
TEST_SIZE = 600          # held out from training; the shifted sets are made from these images only
CALIB_SIZE = 300         # first half of the shifted test images: unlabeled calibration set
RECALIB_BATCH = 32
EPOCHS = 40
# The "other sensor": per image, contrast ~ U(0.5, 0.6), offset +0.3, Gaussian noise sigma 0.05,
# then clipped to the sensor range [0, 1]. Each image uses its own generator seeded with
# SHIFT_SEED + its index in the test set.
SHIFT_SEED = 777
CONTRAST = (0.5, 0.6)
OFFSET = 0.3
NOISE_SIGMA = 0.05

torch.set_num_threads(1)


def load_split():
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    y = digits.target.astype(np.int64)
    return train_test_split(x, y, test_size=TEST_SIZE, random_state=SEED, stratify=y)


def sensor_shift(images):
    out = np.empty_like(images)
    for i, img in enumerate(images):
        rng = np.random.default_rng(SHIFT_SEED + i)
        contrast = rng.uniform(*CONTRAST)
        noise = rng.normal(0.0, NOISE_SIGMA, size=img.shape)
        out[i] = np.clip(contrast * img + OFFSET + noise, 0.0, 1.0).astype(np.float32)
    return out


def train(x, y):
    torch.manual_seed(SEED)
    model = DigitsCnn()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, EPOCHS)
    shuffle = torch.Generator().manual_seed(SEED)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    model.train()
    for _ in range(EPOCHS):
        order = torch.randperm(len(xt), generator=shuffle)
        for start in range(0, len(order), 32):
            idx = order[start:start + 32]
            if len(idx) < 2:  # train-mode BN needs more than one value per channel
                continue
            opt.zero_grad()
            nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
        sched.step()
    model.eval()
    return model


@torch.no_grad()
def accuracy(model, x, y):
    assert not model.training
    return float((model(torch.from_numpy(x)).argmax(1).numpy() == y).mean())


def batches(x, size):
    return [torch.from_numpy(x[i:i + size]) for i in range(0, len(x), size)]


@torch.no_grad()
def recalibrate_update_bn(model, calib):
    """PyTorch's recipe: reset, momentum=None (equal-weight average over batches), train-mode passes."""
    model = copy.deepcopy(model)
    update_bn(batches(calib, RECALIB_BATCH), model)
    return model


@torch.no_grad()
def recalibrate_pooled(model, calib):
    """The "exact pooled" variant: the same train-mode passes (each BN normalizes with its batch
    statistics), but every BN's statistics are pooled over all calibration samples with Chan's merge in
    float64, and running_var = M2/(count-1)."""
    model = copy.deepcopy(model)
    state = {}

    def hook(name):
        def fn(module, inputs):
            z = inputs[0].detach().to(torch.float64)
            axes = [0] + list(range(2, z.dim()))
            n = z.numel() // z.shape[1]
            mean = z.mean(dim=axes)
            m2 = ((z - mean.reshape([1, -1] + [1] * (z.dim() - 2))) ** 2).sum(dim=axes)
            if name not in state:
                state[name] = (n, mean, m2)
                return
            na, ma, m2a = state[name]
            total = na + n
            delta = mean - ma
            state[name] = (total, ma + delta * n / total, m2a + m2 + delta ** 2 * na * n / total)
        return fn

    handles = [m.register_forward_pre_hook(hook(name)) for name, m in bn_modules(model)]
    model.train()
    for b in batches(calib, RECALIB_BATCH):
        model(b)
    model.eval()
    for h in handles:
        h.remove()
    for name, m in bn_modules(model):
        count, mean, m2 = state[name]
        m.running_mean.copy_(mean.to(torch.float32))
        m.running_var.copy_((m2 / (count - 1)).to(torch.float32))
        m.num_batches_tracked.fill_(len(batches(calib, RECALIB_BATCH)))
    return model


def save_npy(name, array):
    np.save(os.path.join(DATA, name), array, allow_pickle=False)


def main():
    os.makedirs(DATA, exist_ok=True)
    x_train, x_test, y_train, y_test = load_split()
    shifted = sensor_shift(x_test)
    calib, shifted_test, shifted_labels = shifted[:CALIB_SIZE], shifted[CALIB_SIZE:], y_test[CALIB_SIZE:]
    save_npy("digits_test.npy", x_test)
    save_npy("digits_test_labels.npy", y_test)
    save_npy("digits_shifted_calib.npy", calib)
    save_npy("digits_shifted_test.npy", shifted_test)
    save_npy("digits_shifted_test_labels.npy", shifted_labels)

    digits = train(x_train, y_train)
    os.makedirs(os.path.join(REPO, "digits"), exist_ok=True)
    write_checked(os.path.join(REPO, "digits", "model.onnx"), digits, torch.from_numpy(x_test[:2]))

    recal = recalibrate_update_bn(digits, calib)
    pooled = recalibrate_pooled(digits, calib)
    acc = {
        "train_frozen": accuracy(digits, x_train, y_train),
        "clean_test_frozen": accuracy(digits, x_test, y_test),
        "clean_shifted_test_images_frozen": accuracy(digits, x_test[CALIB_SIZE:], shifted_labels),
        "shifted_test_frozen": accuracy(digits, shifted_test, shifted_labels),
        "shifted_test_update_bn": accuracy(recal, shifted_test, shifted_labels),
        "shifted_test_pooled": accuracy(pooled, shifted_test, shifted_labels),
    }
    print(f"digits: train {len(x_train)}, test {len(x_test)}, shifted calib {len(calib)}, "
          f"shifted test {len(shifted_test)}")
    for key, value in acc.items():
        print(f"  accuracy {key:34s} {value:.4f}")
    expected = {
        "accuracy": acc,
        "recalibration": {"calib_file": "digits_shifted_calib.npy", "batch_size": RECALIB_BATCH,
                          "method": "torch.optim.swa_utils.update_bn: reset, momentum=None, train-mode passes "
                                    "over consecutive batches in file order (last batch smaller)"},
        "update_bn": [{"module": name, "running_mean": [float(v) for v in m.running_mean.tolist()],
                       "running_var": [float(v) for v in m.running_var.tolist()],
                       "num_batches_tracked": int(m.num_batches_tracked)} for name, m in bn_modules(recal)],
    }
    with open(os.path.join(DATA, "digits_expected.json"), "w", encoding="utf-8", newline="\n") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")

    torch.manual_seed(SEED + 1)
    mlp = SmallMlp()
    randomize_bn(mlp, torch.Generator().manual_seed(SEED + 1))
    mlp.eval()
    os.makedirs(os.path.join(REPO, "mlp"), exist_ok=True)
    write_checked(os.path.join(REPO, "mlp", "model.onnx"), mlp, torch.zeros(2, 8))
    print("mlp: untrained 8-16-BN-ReLU-3 with randomized BN state")


if __name__ == "__main__":
    main()
