"""The seed recipe in Pillow + PyTorch on a run-exp run's own split, for comparison.

Usage: torch_baseline.py RUN_DIR THREADS EPOCHS -> progress on stderr, one JSON line on stdout.
Decodes the run's split.json files with Pillow (EXIF transpose, RGB, bilinear
resize to 64x64, like run-exp's fill), scales to [0, 1], and trains the same
network with the same optimizer, batch size and epochs.
"""
import json
import sys
import time
from pathlib import Path

import numpy as np
import PIL
import torch
from PIL import Image, ImageOps
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from seed_cnn_torch import seed_cnn  # noqa: E402

run_dir, threads, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)
torch.manual_seed(42)
split = json.load(open(f"{run_dir}/split.json"))
classes = split["classes"]


def label(path):
    return classes.index(path.split("/")[-2])


def load(files):
    out = np.empty((len(files), 64, 64, 3), dtype=np.uint8)
    for i, f in enumerate(files):
        with Image.open(f) as im:
            out[i] = np.asarray(ImageOps.exif_transpose(im).convert("RGB").resize((64, 64), Image.BILINEAR))
    return torch.from_numpy(out), torch.tensor([label(f) for f in files])


t0 = time.perf_counter()
xtr, ytr = load(split["train"])
xva, yva = load(split["validation"])
decode_s = time.perf_counter() - t0

model = seed_cnn()
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
loss_fn = nn.CrossEntropyLoss()


def prep(x):
    return x.permute(0, 3, 1, 2).float().div_(255)


history = []
t_train = time.perf_counter()
for epoch in range(epochs):
    model.train()
    t = time.perf_counter()
    perm = torch.randperm(len(ytr))
    for i in range(0, len(ytr), 64):
        idx = perm[i:i + 64]
        opt.zero_grad()
        loss = loss_fn(model(prep(xtr[idx])), ytr[idx])
        loss.backward()
        opt.step()
    seconds = time.perf_counter() - t
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(prep(xva[i:i + 256])).argmax(1) for i in range(0, len(yva), 256)])
    acc = float((pred == yva).float().mean())
    history.append({"epoch": epoch + 1, "val_accuracy": acc, "seconds": seconds, "images_per_s": len(ytr) / seconds})
    print(json.dumps(history[-1]), file=sys.stderr, flush=True)
print(json.dumps({"framework": f"Pillow {PIL.__version__} + PyTorch {torch.__version__}", "threads": threads,
                  "train": len(ytr), "validation": len(yva), "decode_seconds": decode_s,
                  "wall_seconds": time.perf_counter() - t0, "train_seconds": time.perf_counter() - t_train,
                  "final_val_accuracy": history[-1]["val_accuracy"], "epochs": history}))
