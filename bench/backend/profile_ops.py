"""Where a training step of the seed CNN spends its time, per TensorFlow op type: Keras beside run-exp's graph engine.

Usage: profile_ops.py DATA.u8 LABELS.u8 THREADS RUN_EXP_TRACE_DIR  -> a markdown table on stdout.

Keras is profiled here (tf.profiler over 10 steps of model.fit, after a warm-up epoch); run-exp's steps were
traced by tfjs_cnn.ts (BENCH_TRACE): one RunMetadata per step, its step stats read with TensorFlow's protos.
Times are each op's own kernel time summed over the step (ops on the two threads overlap, so the sum can
exceed the step's wall time).
"""
import collections
import glob
import os
import shutil
import sys
import tempfile
import time

data, labels, threads, trace_dir = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402
from keras_cnn import seed_cnn  # noqa: E402
from tensorflow.core.profiler.protobuf import xplane_pb2  # noqa: E402
from tensorflow.core.protobuf import config_pb2  # noqa: E402

STEPS = 10


def keras_profile():
    model, x, y = seed_cnn(data, labels, threads)
    model.fit(x[:2048], y[:2048], batch_size=64, epochs=1, verbose=0)
    logdir = tempfile.mkdtemp(prefix="keras-profile-")
    tf.profiler.experimental.start(logdir)
    t0 = time.perf_counter()
    model.fit(x[: 64 * STEPS], y[: 64 * STEPS], batch_size=64, epochs=1, verbose=0)
    wall = (time.perf_counter() - t0) / STEPS
    tf.profiler.experimental.stop()
    space = xplane_pb2.XSpace()
    with open(sorted(glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True))[-1], "rb") as f:
        space.ParseFromString(f.read())
    shutil.rmtree(logdir, ignore_errors=True)
    per_op = collections.Counter()
    for plane in space.planes:
        if plane.name != "/host:CPU":
            continue
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                if ":" in name and "::" not in name:  # "node name:op type"; the rest are the executor's own spans
                    per_op[name.rsplit(":", 1)[1]] += event.duration_ps / 1e9
    return {k: v / STEPS for k, v in per_op.items()}, wall * 1000


def run_exp_profile():
    per_op = collections.Counter()
    walls = []
    files = sorted(glob.glob(os.path.join(trace_dir, "step-*.pb")))
    for file in files:
        md = config_pb2.RunMetadata()
        with open(file, "rb") as f:
            md.ParseFromString(f.read())
        start, end = None, 0
        for dev in md.step_stats.dev_stats:
            for ns in dev.node_stats:
                label = ns.timeline_label
                op = label.split(" = ", 1)[1].split("(", 1)[0] if " = " in label else ns.node_name
                per_op[op] += (ns.op_end_rel_micros - ns.op_start_rel_micros) / 1000
                start = ns.all_start_micros if start is None else min(start, ns.all_start_micros)
                end = max(end, ns.all_start_micros + ns.all_end_rel_micros)
        walls.append((end - (start or 0)) / 1000)
    n = max(len(files), 1)
    return {k: v / n for k, v in per_op.items()}, sorted(walls)[len(walls) // 2] if walls else 0


keras_ops, keras_wall = keras_profile()
ours, our_wall = run_exp_profile()
rows = sorted(set(keras_ops) | set(ours), key=lambda k: -max(keras_ops.get(k, 0), ours.get(k, 0)))
print(f"| op type ({threads} thread{'s' if threads > 1 else ''}) | Keras ms/step | run-exp graph ms/step |")
print("| --- | ---: | ---: |")
print(f"| **step wall time** | **{keras_wall:.1f}** | **{our_wall:.1f}** |")
print(f"| sum of op times | {sum(keras_ops.values()):.1f} | {sum(ours.values()):.1f} |")
shown = [k for k in rows if max(keras_ops.get(k, 0), ours.get(k, 0)) >= 0.5]
for k in shown:
    print(f"| {k} | {keras_ops.get(k, 0):.1f} | {ours.get(k, 0):.1f} |")
rest_k = sum(v for k, v in keras_ops.items() if k not in shown)
rest_o = sum(v for k, v in ours.items() if k not in shown)
print(f"| everything else | {rest_k:.1f} | {rest_o:.1f} |")
