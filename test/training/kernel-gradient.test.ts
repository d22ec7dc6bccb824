// The kernel gradient formed as a convolution (engine/graph/kernel-gradient.ts)
// is TensorFlow's Conv2DBackpropFilter, for every padding and stride the Conv2D
// emitter records; and it is used where it pays (bfloat16 without AMX).
import { describe, expect, it } from 'vitest';
import { kernelGradient, kernelGradientAsConvolution } from '../../src/engine/graph/kernel-gradient.ts';
import type { ConvRecord } from '../../src/layers/emit-layers.ts';
import { bf16Support } from '../../src/platform/cpu-features.ts';
import { loadTensorflow } from '../../src/platform/tensorflow.ts';
import { DT, TfGraph } from '../../src/platform/tf-graph.ts';

const f32 = { kind: 'type' as const, value: DT.float32 };
const ints = (value: number[]) => ({ kind: 'ints' as const, value });
const str = (value: string) => ({ kind: 'string' as const, value });

describe('kernel gradient as a convolution', () => {
  const cases = [
    { h: 4, w: 4, c: 5, o: 6, k: [3, 3], s: [1, 1], padding: 'SAME' },
    { h: 8, w: 6, c: 3, o: 4, k: [3, 3], s: [2, 2], padding: 'VALID' },
    // SAME at stride 2 on an odd size pads unevenly (the odd pixel after); a 3x1 kernel, a 1x1 map.
    { h: 7, w: 5, c: 2, o: 3, k: [3, 1], s: [2, 1], padding: 'SAME' },
    { h: 1, w: 1, c: 4, o: 2, k: [3, 3], s: [1, 1], padding: 'SAME' },
    { h: 9, w: 9, c: 2, o: 2, k: [5, 5], s: [3, 3], padding: 'SAME' },
  ] as const;
  for (const t of cases)
    it(`is Conv2DBackpropFilter's: ${t.h}x${t.w}, kernel ${t.k.join('x')}, stride ${t.s.join('x')}, ${t.padding}`, async () => {
      await loadTensorflow();
      const g = new TfGraph();
      const out = (n: number, k: number, s: number) =>
        t.padding === 'SAME' ? Math.ceil(n / s) : Math.floor((n - k) / s) + 1;
      const dyShape = [2, out(t.h, t.k[0], t.s[0]), out(t.w, t.k[1], t.s[1]), t.o];
      const x = g.op('Placeholder', [], { dtype: f32, shape: { kind: 'shape', value: [2, t.h, t.w, t.c] } });
      const dy = g.op('Placeholder', [], { dtype: f32, shape: { kind: 'shape', value: dyShape } });
      const kernelShape = [t.k[0], t.k[1], t.c, t.o];
      const theirs = g.op('Conv2DBackpropFilter', [x, g.constant(kernelShape, [4], DT.int32), dy], {
        T: f32,
        strides: ints([1, t.s[0], t.s[1], 1]),
        padding: str(t.padding),
        data_format: str('NHWC'),
        dilations: ints([1, 1, 1, 1]),
      });
      const conv = {
        x,
        T: f32,
        kernelSize: [...t.k],
        strides: [...t.s],
        padding: t.padding,
        inSize: [t.h, t.w],
      } as unknown as ConvRecord;
      const ours = kernelGradient(g, conv, dy);
      g.startSession(1, 1);
      const random = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898) * 0.5);
      const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
      const [a, b] = g.run(
        [
          [x, { dtype: DT.float32, shape: [2, t.h, t.w, t.c], data: random(size([2, t.h, t.w, t.c])) }],
          [dy, { dtype: DT.float32, shape: dyShape, data: random(size(dyShape)).reverse() }],
        ],
        [theirs, ours],
      );
      expect(b?.shape).toEqual(kernelShape);
      const diff = Array.from(a?.data ?? [], (v, i) => Math.abs(v - (b?.data[i] as number)));
      expect(Math.max(...diff)).toBeLessThan(1e-5);
      expect(Math.max(...Array.from(a?.data ?? [], Math.abs))).toBeGreaterThan(0.1);
    });

  it('is used in bfloat16 on a CPU without AMX (Zen 4) for maps up to 8x8, not with AMX, in float32 or on larger maps', () => {
    const info = (flags: string, vendor: string) =>
      `vendor_id\t: ${vendor}\nmodel name\t: cpu\nflags\t\t: fpu avx2 avx512f ${flags}\n`;
    const zen4 = bf16Support(info('avx512_bf16', 'AuthenticAMD'));
    const amx = bf16Support(info('avx512_bf16 amx_tile amx_bf16', 'GenuineIntel'));
    const conv = (T: number, size = 8, stride = 1) =>
      ({
        T: { kind: 'type', value: T },
        inSize: [size, size],
        kernelSize: [3, 3],
        strides: [stride, stride],
        padding: 'SAME',
      }) as unknown as ConvRecord;
    expect(kernelGradientAsConvolution(conv(DT.bfloat16), zen4)).toBe(true);
    expect(kernelGradientAsConvolution(conv(DT.bfloat16, 16, 2), zen4)).toBe(true);
    expect(kernelGradientAsConvolution(conv(DT.bfloat16, 16), zen4)).toBe(false);
    expect(kernelGradientAsConvolution(conv(DT.bfloat16), amx)).toBe(false);
    expect(kernelGradientAsConvolution(conv(DT.float32), zen4)).toBe(false);
  });
});
