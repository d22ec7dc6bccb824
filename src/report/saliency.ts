// Where the model looked: Grad-CAM on the last spatial feature map of a model
// (its last convolutional block, or the backbone's last stage), in its HiResCAM
// form: the map times the gradient of the class's log-probability, position by
// position, summed over channels, the negative part dropped, scaled to [0, 1]
// per image. Over an average-pooled map this is Grad-CAM itself.
import type { LayersModel, SymbolicTensor, Tensor, Tensor4D } from '@tensorflow/tfjs-node';
import { modelAfter } from '../model/cut.ts';
import type { Tf } from '../platform/tensorflow.ts';

export interface Saliency {
  /** The layer whose output the maps are of. */
  layer: string;
  /** Per image, the map (height x width of that layer's output, row-major) in [0, 1]. */
  maps: Float32Array[];
  height: number;
  width: number;
}

/** The model split at its last spatial feature map that alone leads to the output; null when it has none. */
function splitAtLastMap(tf: Tf, model: LayersModel): { cut: SymbolicTensor; head: LayersModel } | null {
  for (const layer of [...model.layers].reverse()) {
    const out = layer.inboundNodes[0]?.outputTensors[0] as SymbolicTensor | undefined;
    const shape = out?.shape ?? [];
    if (!out || shape.length !== 4 || ((shape[1] as number) <= 1 && (shape[2] as number) <= 1)) continue;
    try {
      return { cut: out, head: modelAfter(tf, model, out) };
    } catch {
      // Inside a residual block: other paths reach the output around it; an earlier map may separate.
    }
  }
  return null;
}

/** Grad-CAM of `classes[i]` for each image of `x` (the model's input, already normalized). */
export function gradCam(tf: Tf, model: LayersModel, x: Tensor4D, classes: number[]): Saliency | null {
  const split = splitAtLastMap(tf, model);
  if (!split) return null;
  const extractor = tf.model({ inputs: model.inputs, outputs: split.cut });
  const [, height, width] = split.cut.shape as number[];
  const maps = tf.tidy(() => {
    const features = extractor.predict(x) as Tensor4D;
    const k = model.outputs[0]?.shape.at(-1) as number;
    const target = tf.oneHot(tf.tensor1d(classes, 'int32'), k).toFloat();
    // The class's log-probability: for softmax outputs, its score against the others' (a class's score alone
    // is ambiguous: a model may tell class 1 by lowering class 0's), and not flattened by a confident softmax.
    const grads = tf.grad((f: Tensor) =>
      tf
        .log(tf.maximum(split.head.apply(f) as Tensor, 1e-30))
        .mul(target)
        .sum(),
    )(features);
    // Each position's own gradient (HiResCAM): Grad-CAM's channel means of it when the map is average-pooled
    // (a backbone's head), and still where the model looked when a flatten gives each position its own weights.
    const cam = tf.relu(features.mul(grads).sum(-1));
    // Confident predictions have tiny gradients: scaled by the peak however small (never by 0).
    const peak = tf.maximum(cam.max([1, 2], true), 1e-30);
    return cam.div(peak).dataSync() as Float32Array;
  });
  const size = (height as number) * (width as number);
  return {
    layer: split.cut.sourceLayer.name,
    maps: classes.map((_, i) => maps.slice(i * size, (i + 1) * size)),
    height: height as number,
    width: width as number,
  };
}

/**
 * `map` (h x w in [0, 1]) over an RGB or grey image of `width` x `height`
 * pixels: bilinear upsampling, red with an opacity rising with the map.
 */
export function overlay(
  pixels: Uint8Array,
  width: number,
  height: number,
  channels: number,
  map: Float32Array,
  mw: number,
  mh: number,
): Uint8Array {
  const out = new Uint8Array(width * height * 3);
  const at = (x: number, y: number) => map[Math.min(mh - 1, y) * mw + Math.min(mw - 1, x)] as number;
  for (let y = 0; y < height; y++) {
    // Pixel centres mapped onto the map's cell centres.
    const fy = Math.max(0, ((y + 0.5) * mh) / height - 0.5);
    const y0 = Math.floor(fy);
    const dy = fy - y0;
    for (let x = 0; x < width; x++) {
      const fx = Math.max(0, ((x + 0.5) * mw) / width - 0.5);
      const x0 = Math.floor(fx);
      const dx = fx - x0;
      const v =
        at(x0, y0) * (1 - dx) * (1 - dy) +
        at(x0 + 1, y0) * dx * (1 - dy) +
        at(x0, y0 + 1) * (1 - dx) * dy +
        at(x0 + 1, y0 + 1) * dx * dy;
      const a = 0.6 * v;
      const i = y * width + x;
      for (let c = 0; c < 3; c++) {
        const base = pixels[i * channels + (channels === 1 ? 0 : c)] as number;
        out[i * 3 + c] = Math.round(base * (1 - a) + (c === 0 ? 255 : 0) * a);
      }
    }
  }
  return out;
}
