// A convolution kernel's gradient as a forward convolution, where that beats
// TensorFlow's Conv2DBackpropFilter: in bfloat16 on a CPU without AMX (AMD Zen
// 4's AVX512_BF16), oneDNN runs bfloat16 backward-weights on an older JIT
// kernel, 2-4x slower than its forward convolution (brgconv) of the same size.
// dW[i, j, c, o] = sum over n, y, x of input[n, y*s + i, x*s + j, c] * dy[n, y, x, o]
// is a convolution of the input with the image's channels as the batch and the
// batch as channels, by dy as the filter (dilated by the stride). It pays while
// dy's map is small: batch 64, 2 threads on Zen 4, backprop-filter against this
// in ms: 4x4 maps 10.4 / 4.7, 8x8 5.6 / 4.0, 16x16 11.6 / 10.8, 32x32 1.4 / 4.7,
// 64x64 2.1 / 9.8. faces.yaml's fine-tuned stages (8x8 and smaller): 102 -> 54
// ms of kernel gradients a step; the seed CNN's maps (64 to 16) keep TensorFlow's.
import type { ConvRecord } from '../../layers/emit-layers.ts';
import type { Bf16Support } from '../../platform/cpu-features.ts';
import { DT, type Output, type TfGraph } from '../../platform/tf-graph.ts';

/** The largest output map (pixels per image) whose kernel gradient is formed here. */
const SMALL_MAP = 64;

/** The convolution's output height and width, as TensorFlow sizes them. */
const outSize = (conv: ConvRecord) =>
  conv.inSize.map((n, a) => {
    const [k, s] = [conv.kernelSize[a] as number, conv.strides[a] as number];
    return conv.padding === 'SAME' ? Math.ceil(n / s) : Math.floor((n - k) / s) + 1;
  });

/** Whether `conv`'s kernel gradient is formed here: computing in bfloat16 on a CPU without AMX, a small output map. */
export function kernelGradientAsConvolution(conv: ConvRecord, support: Bf16Support): boolean {
  const [h, w] = outSize(conv);
  return (
    conv.T.value === DT.bfloat16 && !support.units.includes('AMX-BF16') && (h as number) * (w as number) <= SMALL_MAP
  );
}

/** dL/dkernel (float32, the kernel's shape) from dL/dy, the gradient of the convolution's output. */
export function kernelGradient(g: TfGraph, conv: ConvRecord, dy: Output): Output {
  const { T, kernelSize, strides } = conv;
  const i32 = { kind: 'type' as const, value: DT.int32 };
  const ints = (value: number[]) => ({ kind: 'ints' as const, value });
  const transpose = (x: Output, perm: number[]) =>
    g.op('Transpose', [x, g.constant(perm, [4], DT.int32)], { T, Tperm: i32 });
  // SAME's padding as TensorFlow splits it (the odd pixel after).
  const out = outSize(conv);
  const pads = conv.inSize.flatMap((n, a) => {
    const [k, s] = [kernelSize[a] as number, strides[a] as number];
    const total = conv.padding === 'SAME' ? Math.max(((out[a] as number) - 1) * s + k - n, 0) : 0;
    return [Math.floor(total / 2), total - Math.floor(total / 2)];
  });
  const x = pads.some((p) => p > 0)
    ? g.op('Pad', [conv.x, g.constant([0, 0, ...pads, 0, 0], [4, 2], DT.int32)], { T, Tpaddings: i32 })
    : conv.x;
  // [in, h, w, batch] by [dy's h, dy's w, batch, out] -> [in, >= kh, >= kw, out]: past the kernel, windows the stride skips.
  const product = g.op('Conv2D', [transpose(x, [3, 1, 2, 0]), transpose(dy, [1, 2, 0, 3])], {
    T,
    strides: ints([1, 1, 1, 1]),
    padding: { kind: 'string', value: 'VALID' },
    data_format: { kind: 'string', value: 'NHWC' },
    dilations: ints([1, strides[0], strides[1], 1]),
  });
  const kernel = g.op(
    'Slice',
    [
      product,
      g.constant([0, 0, 0, 0], [4], DT.int32),
      g.constant([-1, kernelSize[0], kernelSize[1], -1], [4], DT.int32),
    ],
    { T, Index: i32 },
  );
  return g.op('Cast', [transpose(kernel, [1, 2, 0, 3])], { SrcT: T, DstT: { kind: 'type', value: DT.float32 } });
}
