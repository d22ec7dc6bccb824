// BlazeFace (MediaPipe's face detectors, as TF.js graph models): a square RGB
// image in (256x256 for the back-camera model, 128x128 for the short-range
// one), 896 anchor predictions out, each a score, a box and six landmarks
// (eyes, nose, mouth, ears) relative to its anchor.
import type { Tensor } from '@tensorflow/tfjs-node';
import { graphModelSession } from '../../platform/graph-model-session.ts';
import { loadTensorflow, type Tf } from '../../platform/tensorflow.ts';
import { graphMode } from '../../platform/tf-graph.ts';
import type { Face, Point } from '../../spec/detectors.ts';
import type { Detector } from './detectors.ts';

/** Detections kept per image before `min_confidence` applies, so the threshold can change without detecting again. */
const FLOOR = 0.2;
const IOU = 0.3;
const MAX_FACES = 20;
/** The detector's input from bytes: as tf's int -> float, / 127.5, - 1, each step rounded to float32. */
const SCALE = { divide: 127.5, subtract: 1 };

/** Anchor centres in input pixels: 16x16 cells x 2, then 8x8 cells x 6 (strides of a 16th and an 8th of the input). */
function anchors(size: number): Point[] {
  const out: Point[] = [];
  for (const [stride, perCell] of [
    [size / 16, 2],
    [size / 8, 6],
  ] as const) {
    for (let y = 0; y < size / stride; y++)
      for (let x = 0; x < size / stride; x++)
        for (let k = 0; k < perCell; k++) out.push([stride * (x + 0.5), stride * (y + 0.5)]);
  }
  return out;
}

/**
 * The converted graph fixes the batch at 1 (its input and four Reshape targets);
 * freeing that dimension lets a batch of images run as one call, which roughly
 * halves the time per image on two cores. Run as a TensorFlow session (one C API
 * call per batch) where graph mode is available, else by TF.js's graph executor.
 */
async function loadBatched(
  tf: Tf,
  file: string,
  size: number,
): Promise<(pixels: Uint8Array, n: number) => Promise<Float32Array[]>> {
  if (graphMode().available) {
    const session = await graphModelSession(tf, file, {
      freeBatch: true,
      threads: (await loadTensorflow()).threads,
      byteInput: SCALE,
    });
    return async (pixels, n) => (await session.run(pixels, n)).map((t) => t.data as Float32Array);
  }
  const artifacts = await tf.io.fileSystem(file).load();
  const topology = artifacts.modelTopology as { node: { op: string; attr: Record<string, unknown> }[] };
  for (const node of topology.node) {
    if (node.op === 'Placeholder') {
      (node.attr.shape as { shape: { dim: { size: string }[] } }).shape.dim[0] = { size: '-1' };
    }
  }
  const buffer = tf.io.concatenateArrayBuffers(
    Array.isArray(artifacts.weightData) ? artifacts.weightData : [artifacts.weightData as ArrayBuffer],
  );
  let offset = 0;
  for (const spec of artifacts.weightSpecs ?? []) {
    const count = spec.shape.reduce((a, b) => a * b, 1);
    if (spec.name.endsWith('/shape') && spec.dtype === 'int32') new Int32Array(buffer, offset, count)[0] = -1;
    offset += count * 4;
  }
  const model = await tf.loadGraphModel(tf.io.fromMemory({ ...artifacts, weightData: buffer }));
  return async (pixels, n) =>
    tf.tidy(() =>
      (
        model.execute(
          tf.tensor4d(pixels, [n, size, size, 3], 'int32').toFloat().div(SCALE.divide).sub(SCALE.subtract),
        ) as Tensor[]
      ).map((t) => t.dataSync() as Float32Array),
    );
}

/** Intersection over union of two [x, y, w, h] boxes. */
function iou(a: Face['box'], b: Face['box']): number {
  const w = Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0]);
  const h = Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]);
  if (w <= 0 || h <= 0) return 0;
  return (w * h) / (a[2] * a[3] + b[2] * b[3] - w * h);
}

/** Greedy non-maximum suppression: the best-scored box of each overlapping group. */
function suppress(faces: Face[]): Face[] {
  const kept: Face[] = [];
  for (const f of faces.sort((a, b) => b.score - a.score)) {
    if (kept.length === MAX_FACES) break;
    if (kept.every((k) => iou(k.box, f.box) <= IOU)) kept.push(f);
  }
  return kept;
}

export async function loadBlazeFace(tf: Tf, file: string, size: number): Promise<Detector> {
  const run = await loadBatched(tf, file, size);
  const anchor = anchors(size);
  return {
    inputSize: size,
    async detect(pixels: Uint8Array, n: number): Promise<Face[][]> {
      // Four outputs: scores and regressors for the 512 anchors of the finer grid and the 384 of the coarser.
      const [s384, s512, r384, r512] = (await run(pixels, n)).sort((a, b) => a.length - b.length) as Float32Array[];
      // Per anchor: a score, then 16 regressor values; decoded here rather than with tensor ops,
      // as only a handful of anchors per image pass the floor. Indices, not views: a view per
      // anchor made the garbage collector as slow as the detector itself.
      return Array.from({ length: n }, (_, i) => {
        const found: Face[] = [];
        for (let a = 0; a < anchor.length; a++) {
          const fine = a < 512;
          const k = fine ? i * 512 + a : i * 384 + a - 512;
          const logit = ((fine ? s512 : s384) as Float32Array)[k] as number;
          const score = 1 / (1 + Math.exp(-logit));
          if (score < FLOOR) continue;
          const r = (fine ? r512 : r384) as Float32Array;
          const o = k * 16;
          const [ax, ay] = anchor[a] as Point;
          const w = r[o + 2] as number;
          const h = r[o + 3] as number;
          // Landmarks 0 and 1 are the eyes; ordered left to right in the image.
          const e0: Point = [(r[o + 4] as number) + ax, (r[o + 5] as number) + ay];
          const e1: Point = [(r[o + 6] as number) + ax, (r[o + 7] as number) + ay];
          found.push({
            box: [(r[o] as number) + ax - w / 2, (r[o + 1] as number) + ay - h / 2, w, h],
            score,
            eyes: e0[0] <= e1[0] ? [e0, e1] : [e1, e0],
          });
        }
        return suppress(found);
      });
    },
  };
}
