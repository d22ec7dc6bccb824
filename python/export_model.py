"""Converts a run-exp model folder with the official converters and checks the result.

Usage: export_model.py <model.json> <run_exp.json> <format> <out> <check.f32> <expected.f32>
format: keras (a Keras 3 .keras file), savedmodel (a TF SavedModel), onnx (tf2onnx).
check.f32 holds model inputs (float32, [n, h, w, c]) and expected.f32 run-exp's
outputs on them ([n, classes], or with several outputs every output's units back
to back per image, in order); the converted model must give the same to
--tolerance, read back by its own runtime (Keras 3, TensorFlow, onnxruntime).
Prints one JSON line: the files written and the largest difference.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile

import numpy as np


def without_slashes(model_json, tmp):
    """A copy of the TF.js model whose layer names have '.' for '/' (Keras 3 refuses '/', which
    run-exp's backbone layers have: backbone/...), its weights renamed to match; its model.json path."""
    with open(model_json, encoding="utf-8") as f:
        model = json.load(f)
    topology = model["modelTopology"]
    config = topology.get("model_config", topology)["config"]
    names = {layer["config"]["name"] for layer in config["layers"] if "/" in layer["config"]["name"]}
    if not names:
        return model_json
    rename = lambda name: name.replace("/", ".") if name in names else name  # noqa: E731

    def refs(value):
        # inbound_nodes, input_layers and output_layers: nested lists whose strings are layer names.
        if isinstance(value, list):
            return [refs(v) for v in value]
        return rename(value) if isinstance(value, str) else value

    for layer in config["layers"]:
        layer["name"] = rename(layer["name"])
        layer["config"]["name"] = rename(layer["config"]["name"])
        layer["inbound_nodes"] = refs(layer.get("inbound_nodes", []))
    for key in ("input_layers", "output_layers"):
        config[key] = refs(config[key])
    for group in model["weightsManifest"]:
        for weight in group["weights"]:
            layer, _, rest = weight["name"].rpartition("/")
            # A weight is <layer>/<weight>; the layer's own name may hold '/'.
            while layer and layer not in names and "/" in layer:
                head, _, tail = layer.rpartition("/")
                layer, rest = head, f"{tail}/{rest}"
            if layer in names:
                weight["name"] = f"{rename(layer)}/{rest}"
        group["paths"] = [os.path.join(os.path.dirname(os.path.abspath(model_json)), p) for p in group["paths"]]
    target = os.path.join(tmp, "model.json")
    with open(target, "w", encoding="utf-8") as f:
        json.dump(model, f)
    return target


def keras3_config(h5):
    """Drops what tf_keras writes into an h5 model's config that Keras 3 refuses: DepthwiseConv2D's
    `groups` (always 1 there)."""
    import h5py

    with h5py.File(h5, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        for layer in config["config"]["layers"]:
            if layer["class_name"] == "DepthwiseConv2D":
                layer["config"].pop("groups", None)
        f.attrs["model_config"] = json.dumps(config)


def rows(outputs):
    """A model's outputs as one [n, units] array: several outputs side by side, in order."""
    if isinstance(outputs, dict):
        outputs = list(outputs.values())
    if isinstance(outputs, (list, tuple)):
        return np.concatenate([np.asarray(o).reshape(len(o), -1) for o in outputs], axis=1)
    return np.asarray(outputs)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model_json")
    parser.add_argument("meta", help="run_exp.json: classes and preprocessing")
    parser.add_argument("format", choices=["keras", "savedmodel", "onnx"])
    parser.add_argument("out")
    parser.add_argument("check")
    parser.add_argument("expected")
    parser.add_argument("--tolerance", type=float, required=True)
    a = parser.parse_args()

    import tensorflow as tf
    from tensorflowjs.converters import keras_tfjs_loader

    with open(a.meta, encoding="utf-8") as f:
        meta = json.load(f)
    h, w = meta["preprocessing"]["size"]
    c = 3 if meta["preprocessing"]["color"] == "rgb" else 1
    x = np.fromfile(a.check, dtype=np.float32).reshape(-1, h, w, c)
    want = np.fromfile(a.expected, dtype=np.float32).reshape(x.shape[0], -1)
    model = keras_tfjs_loader.load_keras_model(a.model_json)

    os.makedirs(a.out, exist_ok=True)
    if a.format == "keras":
        import keras

        # tf_keras (Keras 2) writes h5, which Keras 3 reads and saves in its own format.
        with tempfile.TemporaryDirectory() as tmp:
            h5 = os.path.join(tmp, "model.h5")
            keras_tfjs_loader.load_keras_model(without_slashes(a.model_json, tmp)).save(h5)
            keras3_config(h5)
            k3 = keras.models.load_model(h5, compile=False)
        target = os.path.join(a.out, "model.keras")
        k3.save(target)
        got = rows(keras.models.load_model(target, compile=False).predict(x, verbose=0))
    elif a.format == "savedmodel":
        target = os.path.join(a.out, "saved_model")
        shutil.rmtree(target, ignore_errors=True)
        spec = tf.TensorSpec([None, h, w, c], tf.float32, name="images")
        names = [o["name"] for o in meta.get("outputs", [])]

        def outputs(images):
            y = model(images, training=False)
            # One class output: its probabilities; several: each by its name (a signature's outputs are unordered).
            return dict(zip(names, y)) if names else {"probabilities": y}

        serve = tf.function(outputs, input_signature=[spec])
        tf.saved_model.save(model, target, signatures={"serving_default": serve})
        loaded = tf.saved_model.load(target)
        result = loaded.signatures["serving_default"](images=tf.constant(x))
        got = rows([result[n].numpy() for n in names] if names else result["probabilities"].numpy())
    else:
        import onnxruntime
        import tf2onnx

        target = os.path.join(a.out, "model.onnx")
        spec = (tf.TensorSpec([None, h, w, c], tf.float32, name="images"),)
        tf2onnx.convert.from_keras(model, input_signature=spec, opset=17, output_path=target)
        session = onnxruntime.InferenceSession(target, providers=["CPUExecutionProvider"])
        got = rows(session.run(None, {session.get_inputs()[0].name: x}))

    diff = float(np.max(np.abs(got - want)))
    print(json.dumps({"path": target, "max_abs_diff": diff, "images": int(x.shape[0])}))
    return 0 if diff <= a.tolerance else 3


if __name__ == "__main__":
    sys.exit(main())
