"""The seed-like CNN in PyTorch, trained over full epochs of the prepared faces.

Usage: torch_cnn.py DATA.u8 LABELS.u8 THREADS EPOCHS  -> one JSON line on stdout.
"""
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from seed_cnn_torch import seed_cnn  # noqa: E402

data, labels, threads, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
torch.manual_seed(0)
y = torch.from_numpy(np.fromfile(labels, dtype=np.uint8).astype(np.int64))
# Kept as uint8 NHWC like run-exp's cache; each batch is converted on the fly.
x = torch.from_numpy(np.fromfile(data, dtype=np.uint8).reshape(len(y), 64, 64, 3))

model = seed_cnn()
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
loss_fn = nn.CrossEntropyLoss()
batch = 64
times, losses = [], []
for epoch in range(epochs):
    t0 = time.perf_counter()
    perm = torch.randperm(len(y))
    total = 0.0
    for i in range(0, len(y), batch):
        idx = perm[i:i + batch]
        xb = x[idx].permute(0, 3, 1, 2).float().div_(255)
        opt.zero_grad()
        loss = loss_fn(model(xb), y[idx])
        loss.backward()
        opt.step()
        total += loss.item() * len(idx)
    times.append(time.perf_counter() - t0)
    losses.append(total / len(y))
print(json.dumps({"framework": "pytorch", "version": torch.__version__, "threads": threads,
                  "images": len(y), "epoch_seconds": times, "loss": losses}))
