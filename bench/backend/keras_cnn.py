"""The seed-like CNN in Keras on the same libtensorflow, over full epochs of the prepared faces.

Usage: keras_cnn.py DATA.u8 LABELS.u8 THREADS EPOCHS  -> one JSON line on stdout.
BENCH_PRECISION=bf16: Keras's mixed_bfloat16 policy (the output layer in float32, as run-exp's bf16).
"""
import json
import os
import sys
import time
from importlib import metadata

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

BF16 = os.environ.get("BENCH_PRECISION") == "bf16"


def seed_cnn(data, labels, threads):
    """The compiled model and the faces (uint8, scaled inside the model), TensorFlow set to `threads`."""
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    tf.random.set_seed(0)
    keras = tf.keras
    if BF16:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    y = np.fromfile(labels, dtype=np.uint8).astype(np.int64)
    x = np.fromfile(data, dtype=np.uint8).reshape(len(y), 64, 64, 3)
    L = keras.layers
    model = keras.Sequential([
        keras.Input((64, 64, 3)),
        L.Rescaling(1 / 255),
        L.Conv2D(32, 3, padding="same", activation="relu"), L.MaxPooling2D(2),
        L.Conv2D(64, 3, padding="same", activation="relu"), L.MaxPooling2D(2),
        L.Conv2D(128, 3, padding="same", activation="relu"), L.MaxPooling2D(2),
        L.Flatten(), L.Dense(128, activation="relu"), L.Dense(2, activation="softmax", dtype="float32"),
    ])
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="sparse_categorical_crossentropy")
    return model, x, y


def main():
    data, labels, threads, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    model, x, y = seed_cnn(data, labels, threads)
    times, losses = [], []

    class Timer(tf.keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.t0)
            losses.append(float(logs["loss"]))

    model.fit(x, y, batch_size=64, epochs=epochs, shuffle=True, verbose=0, callbacks=[Timer()])
    print(json.dumps({"framework": "keras mixed_bfloat16" if BF16 else "keras", "version": f"keras {metadata.version('keras')}, tensorflow {tf.__version__}",
                      "threads": threads, "images": len(y), "epoch_seconds": times, "loss": losses}))


if __name__ == "__main__":
    main()
