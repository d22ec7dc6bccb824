"""MLflow python_function loader for a run-exp model folder.

MLflow copies this file into the model's code/ folder; mlflow.pyfunc.load_model
imports it and calls _load_pyfunc with the model folder. The TF.js layers model
(model.json + weights.bin) is read by the official converter's Keras loader
(tensorflowjs), so the Keras model is the one TF.js trained, weight for weight.

Input: uint8 pixel arrays, [n, height, width, channels] (or one image
[height, width, channels]), the images after decode, face crop and resize as
the model's preprocessing_steps say. This loader applies the rest: the
normalization, and test-time flip when the model was scored with it.
Output: a DataFrame of class probabilities, one column per class; for a
model with several outputs, a column per unit of each output in order:
<output>_<class> (category), <output>_<label> (set: probabilities), <output>
(binary: the positive's probability; number: the value in its own unit).
"""

import json
import os

import numpy as np
import pandas as pd


def _normalization_table(preprocessing, channels):
    """The float32 value of each 0..255 pixel per channel, computed as run-exp does (in float64, then rounded)."""
    mode = preprocessing["normalize"]
    mean = preprocessing.get("mean") or [0.0]
    std = preprocessing.get("std") or [1.0]
    v = np.arange(256, dtype=np.float64)
    rows = []
    for c in range(channels):
        if mode == "unit":
            rows.append(v / 255)
        elif mode == "symmetric":
            rows.append(v / 127.5 - 1)
        else:
            m = mean[c] if c < len(mean) else mean[0]
            s = std[c] if c < len(std) else std[0]
            rows.append((v / 255 - m) / s)
    return np.stack(rows).astype(np.float32)


class RunExpModel:
    def __init__(self, model_dir):
        from tensorflowjs.converters import keras_tfjs_loader

        model_json = os.path.join(model_dir, "model.json")
        with open(model_json, encoding="utf-8") as f:
            meta = json.load(f)["userDefinedMetadata"]["run_exp"]
        self.classes = list(meta["classes"])
        self.outputs = meta.get("outputs")
        p = meta["preprocessing"]
        self.height, self.width = p["size"]
        self.channels = 3 if p["color"] == "rgb" else 1
        self.table = _normalization_table(p, self.channels)
        self.flip = bool(meta.get("test_time_flip"))
        self.model = keras_tfjs_loader.load_keras_model(model_json)

    def _inputs(self, model_input):
        x = np.asarray(model_input)
        if x.ndim == 3:
            x = x[None]
        want = (self.height, self.width, self.channels)
        if x.ndim != 4 or tuple(x.shape[1:]) != want:
            raise ValueError(
                f"expected uint8 images of shape [n, {want[0]}, {want[1]}, {want[2]}] "
                f"(decoded, cropped and resized as the model's preprocessing_steps say), got {list(x.shape)}"
            )
        if x.dtype != np.uint8:
            raise ValueError(f"expected uint8 pixels (0-255), got {x.dtype}")
        return np.stack([self.table[c][x[..., c]] for c in range(self.channels)], axis=-1)

    def _run(self, x):
        y = self.model(x, training=False)
        return [t.numpy() for t in y] if isinstance(y, (list, tuple)) else [y.numpy()]

    def predict(self, model_input, params=None):
        x = self._inputs(model_input)
        outs = self._run(x)
        if self.flip:
            outs = [(a + b) / 2 for a, b in zip(outs, self._run(x[:, :, ::-1]))]
        if not self.outputs:
            return pd.DataFrame(outs[0], columns=self.classes)
        columns = {}
        for o, y in zip(self.outputs, outs):
            if o["type"] in ("category", "set"):
                for k, n in enumerate(o["names"]):
                    columns[f"{o['name']}_{n}"] = y[:, k]
            elif o["type"] == "number":
                scale = o.get("scale") or {"mean": 0.0, "std": 1.0}
                value = y[:, 0] * scale["std"] + scale["mean"]
                # transform log: the model learned log(1 + value).
                columns[o["name"]] = np.expm1(value) if o.get("transform") == "log" else value
            else:
                columns[o["name"]] = y[:, 0]
        return pd.DataFrame(columns)


def _load_pyfunc(path):
    return RunExpModel(path)
