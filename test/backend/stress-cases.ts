// The layer shapes the backend stress test drives forward and backward.
export interface StressCase {
  id: string;
  layer: string;
  config: Record<string, unknown>;
  input: number[];
  /** Runs the case this many times: heap corruption does not crash every time. */
  repeat?: number;
}

function conv(kernel: number, stride: number, cin: number, cout: number, size: number, batch = 2): StressCase {
  return {
    id: `conv2d k${kernel} s${stride} ${cin}->${cout} ${size}x${size} b${batch}`,
    layer: 'conv2d',
    config: { filters: cout, kernelSize: kernel, strides: stride, padding: 'same', activation: 'relu' },
    input: [batch, size, size, cin],
  };
}

export function stressCases(): StressCase[] {
  const cases: StressCase[] = [];
  // Channel pairs from the first layer of an RGB net to bottleneck widths; the
  // widest only at small sizes so the whole set runs in well under a minute.
  const channels: [number, number, number[]][] = [
    [3, 32, [1, 7, 19, 64, 128]],
    [32, 64, [1, 7, 32, 64]],
    [64, 128, [1, 19, 32]],
    [256, 256, [1, 7, 19]],
    [512, 1024, [1, 7, 19]],
    [1024, 512, [1, 7, 14]],
  ];
  for (const kernel of [1, 3]) {
    for (const stride of [1, 2]) {
      for (const [cin, cout, sizes] of channels)
        for (const size of sizes) cases.push(conv(kernel, stride, cin, cout, size));
    }
  }
  // The case that killed libtensorflow 2.21 elsewhere: a 1x1 convolution, 512 -> 1024 at 19x19, batch 1 and 32.
  cases.push(conv(1, 1, 512, 1024, 19, 1), conv(1, 1, 512, 1024, 19, 32));
  // oneDNN's 1x1 strided backward-weights kernel corrupts the heap for inputs
  // with few channels (see src/platform/kernel-overrides.ts); repeated, since
  // corruption kills the process only some of the time.
  for (const [cin, size] of [
    [3, 128],
    [3, 64],
    [4, 32],
    [8, 32],
    [3, 19],
  ] as const) {
    for (const stride of [1, 2]) cases.push({ ...conv(1, stride, cin, 32, size), repeat: 30 });
  }
  for (const [layer, extra] of [
    ['depthwiseConv2d', { kernelSize: 3, depthMultiplier: 1 }],
    ['separableConv2d', { kernelSize: 3, filters: 64 }],
  ] as const) {
    for (const stride of [1, 2]) {
      for (const [c, size] of [
        [3, 64],
        [32, 32],
        [512, 7],
      ] as const) {
        cases.push({
          id: `${layer} s${stride} ${c}ch ${size}x${size}`,
          layer,
          config: { ...extra, strides: stride, padding: 'same' },
          input: [2, size, size, c],
        });
      }
    }
  }
  for (const layer of ['maxPooling2d', 'averagePooling2d']) {
    for (const [pool, stride, size, c] of [
      [2, 2, 64, 32],
      [3, 1, 19, 512],
      [2, 2, 2, 1024],
    ]) {
      cases.push({
        id: `${layer} ${pool}x${pool}/${stride} ${c}ch ${size}x${size}`,
        layer,
        config: { poolSize: pool, strides: stride, padding: 'same' },
        input: [2, size as number, size as number, c as number],
      });
    }
  }
  for (const [units, features] of [
    [2, 128],
    [1024, 4096],
    [1, 1],
  ]) {
    cases.push({
      id: `dense ${features}->${units}`,
      layer: 'dense',
      config: { units },
      input: [8, features as number],
    });
  }
  for (const [size, c] of [
    [32, 32],
    [7, 1024],
  ] as const) {
    cases.push({
      id: `batchNormalization ${c}ch ${size}x${size}`,
      layer: 'batchNormalization',
      config: {},
      input: [4, size, size, c],
    });
    cases.push({
      id: `dropout 0.5 ${c}ch ${size}x${size}`,
      layer: 'dropout',
      config: { rate: 0.5 },
      input: [4, size, size, c],
    });
  }
  return cases;
}
