// Replacements for tfjs-node kernels that are slow or crash on libtensorflow,
// and kernels tfjs-node lacks.
//
// Transform (tf.image.transform, used for rotation augmentation): tfjs-node has
// no kernel for it; libtensorflow's ImageProjectiveTransformV3 is the same op.
//
// Step: tfjs-core's ReLU gradients (plain and fused conv/dense) call it, and
// tfjs-node builds it from six full-size TensorFlow ops (IsNan, Greater, Fill,
// Fill, Select, Select): a fifth of a training step of the seed CNN. For the
// alpha = 0 case that ReLU uses, Sign(Relu(x)) gives the same values, NaN
// included, in two ops.
//
// Conv2DBackpropFilter: oneDNN's 1x1 backward-weights kernel with stride > 1
// writes past its workspace when the input has few channels (heap corruption,
// then SIGSEGV or SIGABRT; every libtensorflow from 2.12 to 2.21 here). A 1x1
// filter with stride s only ever reads every s-th pixel, and needs no padding,
// so the same gradient comes from the strided input at stride 1.
//
// MaxPoolGrad stays TensorFlow's own: the first maximum in a window takes the
// gradient, as in Keras, PyTorch and the graph engine. A faster broadcast
// compare would give it to every tied maximum, and photos' flat regions tie
// (bench/RESULTS.md has the figures).
//
import type { KernelConfig, KernelFunc, Tensor, TensorInfo } from '@tensorflow/tfjs-node';
import type { Tf } from './tensorflow.ts';

/** The slice of tfjs-node's NodeJSKernelBackend this module calls. */
interface NativeBackend {
  binding: { TF_ATTR_TYPE: number; TF_ATTR_STRING: number; TF_FLOAT: number };
  executeSingleOutput(name: string, attrs: unknown[], inputs: TensorInfo[]): TensorInfo & { dispose(): void };
}

type Pair = number | [number, number];

const pair = (v: Pair): [number, number] => (typeof v === 'number' ? [v, v] : v);

interface BackpropFilterAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | unknown;
  dataFormat: 'NHWC' | 'NCHW';
  dilations?: number | [number, number];
  filterShape: [number, number, number, number];
}

let installed = false;
function override(tf: Tf, kernelName: string, make: (original: KernelFunc) => KernelFunc): void {
  const original = (tf.getKernel(kernelName, 'tensorflow') as KernelConfig).kernelFunc;
  tf.unregisterKernel(kernelName, 'tensorflow');
  tf.registerKernel({ kernelName, backendName: 'tensorflow', kernelFunc: make(original) });
}

export function installKernelOverrides(tf: Tf): void {
  if (installed || tf.getBackend() !== 'tensorflow') return;
  installed = true;

  override(tf, 'Step', (original) => (args) => {
    const alpha = (args.attrs as { alpha?: number } | undefined)?.alpha ?? 0;
    const x = args.inputs.x as TensorInfo;
    if (alpha !== 0 || x.dtype !== 'float32') return original(args);
    const backend = args.backend as unknown as NativeBackend;
    const attrs = [{ name: 'T', type: backend.binding.TF_ATTR_TYPE, value: backend.binding.TF_FLOAT }];
    const relu = backend.executeSingleOutput('Relu', attrs, [x]);
    const out = backend.executeSingleOutput('Sign', attrs, [relu]);
    relu.dispose();
    return out;
  });

  tf.registerKernel({
    kernelName: 'Transform',
    backendName: 'tensorflow',
    kernelFunc: (args) => {
      const backend = args.backend as unknown as NativeBackend;
      const { image, transforms } = args.inputs as { image: Tensor; transforms: Tensor };
      const { interpolation, fillMode, fillValue, outputShape } = args.attrs as unknown as {
        interpolation: string;
        fillMode: string;
        fillValue: number;
        outputShape?: [number, number];
      };
      const shape = tf.tensor1d(outputShape ?? [image.shape[1] as number, image.shape[2] as number], 'int32');
      const fill = tf.scalar(fillValue, 'float32');
      const out = backend.executeSingleOutput(
        'ImageProjectiveTransformV3',
        [
          { name: 'dtype', type: backend.binding.TF_ATTR_TYPE, value: backend.binding.TF_FLOAT },
          { name: 'interpolation', type: backend.binding.TF_ATTR_STRING, value: interpolation.toUpperCase() },
          { name: 'fill_mode', type: backend.binding.TF_ATTR_STRING, value: fillMode.toUpperCase() },
        ],
        [image, transforms, shape, fill],
      );
      shape.dispose();
      fill.dispose();
      return out;
    },
  });

  override(tf, 'Conv2DBackpropFilter', (original) => (args) => {
    const attrs = args.attrs as unknown as BackpropFilterAttrs;
    const [sh, sw] = pair(attrs.strides);
    const dilated = attrs.dilations !== undefined && attrs.dilations !== 1 && `${attrs.dilations}` !== '1,1';
    const oneByOne = attrs.filterShape[0] === 1 && attrs.filterShape[1] === 1;
    const plainPad = attrs.pad === 'same' || attrs.pad === 'valid' || attrs.pad === 0;
    if (!oneByOne || (sh === 1 && sw === 1) || dilated || !plainPad || attrs.dataFormat !== 'NHWC')
      return original(args);
    const x = args.inputs.x as Tensor;
    const strided = tf.stridedSlice(x, [0, 0, 0, 0], x.shape, [1, sh, sw, 1]);
    const out = original({
      ...args,
      inputs: { ...args.inputs, x: strided },
      attrs: { ...attrs, strides: [1, 1], pad: 'valid' },
    });
    strided.dispose();
    return out;
  });
}
