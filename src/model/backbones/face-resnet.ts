// The face-recognition ResNet-34 of face-api.js (a port of dlib's face
// descriptor network, trained to tell people apart), rebuilt from tf.layers so
// that it is an ordinary part of a run's LayersModel: saved in its model.json,
// trainable when fine-tuned. The weights come from face-api's files; each conv
// and the per-channel scale after it are folded into one conv2d, and the input
// normalization into the first conv (its padding is valid, so this is exact).
import type { NamedTensorMap, SymbolicTensor, Tensor, Tensor1D, Tensor4D } from '@tensorflow/tfjs-node';
import type { Tf } from '../../platform/tensorflow.ts';

/** The mean RGB (0-255) the network subtracts from its 0-255 input before dividing by 255. */
const MEAN_RGB = [122.782, 117.001, 104.298];

/** How the images reaching the backbone were normalized: x = (unit - mean) / std per channel. */
export interface InputScale {
  mean: number[];
  std: number[];
}

export const FACE_RESNET_FEATURES = 128;

type Layer = ReturnType<Tf['layers']['conv2d']>;

/** Builds the network on `input` and returns its 128-d descriptor plus a function that loads the weights. */
export function faceResnet(
  tf: Tf,
  input: SymbolicTensor,
  prefix: string,
): { output: SymbolicTensor; load: (weights: NamedTensorMap, scale: InputScale) => void; fixed: Layer[] } {
  const convs: { layer: Layer; key: string }[] = [];
  const conv = (x: SymbolicTensor, key: string, filters: number, kernel: number, strides: number, relu: boolean) => {
    const layer = tf.layers.conv2d({
      name: `${prefix}/${key}`,
      filters,
      kernelSize: kernel,
      strides,
      padding: strides === 2 ? 'valid' : 'same',
      activation: relu ? 'relu' : 'linear',
    });
    convs.push({ layer, key });
    return layer.apply(x) as SymbolicTensor;
  };
  const relu = (x: SymbolicTensor, name: string) =>
    tf.layers.activation({ name: `${prefix}/${name}`, activation: 'relu' }).apply(x) as SymbolicTensor;
  const residual = (x: SymbolicTensor, key: string, filters: number) => {
    const main = conv(conv(x, `${key}/conv1`, filters, 3, 1, true), `${key}/conv2`, filters, 3, 1, false);
    return relu(tf.layers.add({ name: `${prefix}/${key}/add` }).apply([main, x]) as SymbolicTensor, `${key}/relu`);
  };
  // The shortcut halves by average pooling and pads channels with zeros (a fixed 1x1 conv here);
  // when the strided conv comes out one smaller, dlib pads it at the bottom and right.
  const shortcuts: { layer: Layer; from: number; to: number }[] = [];
  const residualDown = (x: SymbolicTensor, key: string, filters: number) => {
    let main = conv(conv(x, `${key}/conv1`, filters, 3, 2, true), `${key}/conv2`, filters, 3, 1, false);
    let pooled = tf.layers
      .averagePooling2d({ name: `${prefix}/${key}/pool`, poolSize: 2, strides: 2, padding: 'valid' })
      .apply(x) as SymbolicTensor;
    const from = x.shape[3] as number;
    if (from !== filters) {
      const layer = tf.layers.conv2d({
        name: `${prefix}/${key}/shortcut`,
        filters,
        kernelSize: 1,
        useBias: false,
        trainable: false,
      });
      shortcuts.push({ layer, from, to: filters });
      pooled = layer.apply(pooled) as SymbolicTensor;
    }
    if (main.shape[1] !== pooled.shape[1])
      main = tf.layers
        .zeroPadding2d({
          name: `${prefix}/${key}/pad`,
          padding: [
            [0, 1],
            [0, 1],
          ],
        })
        .apply(main) as SymbolicTensor;
    return relu(tf.layers.add({ name: `${prefix}/${key}/add` }).apply([main, pooled]) as SymbolicTensor, `${key}/relu`);
  };

  let x = conv(input, 'conv32_down', 32, 7, 2, true);
  x = tf.layers
    .maxPooling2d({ name: `${prefix}/pool`, poolSize: 3, strides: 2, padding: 'valid' })
    .apply(x) as SymbolicTensor;
  for (const k of ['conv32_1', 'conv32_2', 'conv32_3']) x = residual(x, k, 32);
  x = residualDown(x, 'conv64_down', 64);
  for (const k of ['conv64_1', 'conv64_2', 'conv64_3']) x = residual(x, k, 64);
  x = residualDown(x, 'conv128_down', 128);
  for (const k of ['conv128_1', 'conv128_2']) x = residual(x, k, 128);
  x = residualDown(x, 'conv256_down', 256);
  for (const k of ['conv256_1', 'conv256_2']) x = residual(x, k, 256);
  x = residualDown(x, 'conv256_down_out', 256);
  x = tf.layers.globalAveragePooling2d({ name: `${prefix}/mean` }).apply(x) as SymbolicTensor;
  const fc = tf.layers.dense({ name: `${prefix}/fc`, units: FACE_RESNET_FEATURES, useBias: false });
  const output = fc.apply(x) as SymbolicTensor;

  const load = (weights: NamedTensorMap, scale: InputScale) => {
    const w = (k: string) => {
      const t = weights[k];
      if (!t) throw new Error(`the face-resnet weights have no '${k}'`);
      return t;
    };
    tf.tidy(() => {
      for (const [i, { layer, key }] of convs.entries()) {
        const s = w(`${key}/scale/weights`) as Tensor1D;
        let kernel = w(`${key}/conv/filters`) as Tensor4D;
        let bias: Tensor = (w(`${key}/conv/bias`) as Tensor1D).mul(s).add(w(`${key}/scale/biases`));
        if (i === 0) {
          // dlib sees (255 * unit - MEAN) / 255 = x * std + (mean - MEAN / 255), with x what reaches the model.
          const std = tf.tensor1d(scale.std).reshape([1, 1, 3, 1]);
          const shift = tf.tensor1d(scale.mean.map((m, c) => m - (MEAN_RGB[c] as number) / 255)).reshape([1, 1, 3, 1]);
          bias = bias.add(kernel.mul(shift).sum([0, 1, 2]).mul(s));
          kernel = kernel.mul(std) as Tensor4D;
        }
        layer.setWeights([kernel.mul(s.reshape([1, 1, 1, -1])), bias]);
      }
      for (const { layer, from, to } of shortcuts) {
        // [1, 1, from, to]: channel c goes to c, the rest are zeros.
        layer.setWeights([tf.eye(from, to).reshape([1, 1, from, to])]);
      }
      fc.setWeights([w('fc')]);
    });
  };
  return { output, load, fixed: shortcuts.map((s) => s.layer) };
}
