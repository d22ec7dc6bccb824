// Replacements for tfjs-node kernels that are slow or crash on libtensorflow.
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
import type { KernelConfig, KernelFunc, Tensor, TensorInfo } from '@tensorflow/tfjs-node';
import type { Tf } from './tensorflow.ts';

/** The slice of tfjs-node's NodeJSKernelBackend this module calls. */
interface NativeBackend {
  binding: { TF_ATTR_TYPE: number; TF_FLOAT: number };
  executeSingleOutput(name: string, attrs: unknown[], inputs: TensorInfo[]): TensorInfo & { dispose(): void };
}

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

  override(tf, 'Conv2DBackpropFilter', (original) => (args) => {
    const attrs = args.attrs as unknown as BackpropFilterAttrs;
    const [sh, sw] = typeof attrs.strides === 'number' ? [attrs.strides, attrs.strides] : attrs.strides;
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
