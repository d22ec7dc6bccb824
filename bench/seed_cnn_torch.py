"""The seed-like CNN in PyTorch, shared by the benchmarks that compare against it."""
from torch import nn


def seed_cnn() -> nn.Sequential:
    """64x64x3 input; three 3x3 conv (32, 64, 128) + ReLU + 2x2 max-pool; dense 128 ReLU; dense 2."""
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(128 * 8 * 8, 128), nn.ReLU(), nn.Linear(128, 2),
    )
