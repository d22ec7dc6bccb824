// Grad-CAM looks where the label is: a small CNN trained on images whose class
// only the top-left quadrant's brightness tells puts most of its map there.
import { describe, expect, it } from 'vitest';
import { loadTensorflow } from '../../src/platform/tensorflow.ts';
import { gradCam, overlay } from '../../src/report/saliency.ts';

describe('saliency (Grad-CAM)', () => {
  for (const head of ['globalAveragePooling2d', 'flatten'] as const)
    it(`puts most of the map's mass on the quadrant that decides the label (${head} before the dense layer)`, async () => {
      const { tf } = await loadTensorflow();
      const [n, s] = [128, 16];
      let seed = 3;
      const noise = () => {
        seed = (seed * 16807) % 2147483647;
        return (seed % 1000) / 1000;
      };
      // Dim noise; class 1 has a bright 3x3 square somewhere in the top-left quadrant.
      const x = new Float32Array(n * s * s);
      const labels: number[] = [];
      const at = (i: number, y: number, c: number) => (i * s + y) * s + c;
      for (let i = 0; i < n; i++) {
        const label = i % 2;
        labels.push(label);
        for (let p = 0; p < s * s; p++) x[i * s * s + p] = 0.2 * noise();
        if (!label) continue;
        const [oy, ox] = [Math.floor(noise() * 6), Math.floor(noise() * 6)];
        for (let y = 0; y < 3; y++) for (let c = 0; c < 3; c++) x[at(i, oy + y, ox + c)] = 1;
      }
      const model = tf.sequential({
        layers: [
          tf.layers.conv2d({
            inputShape: [s, s, 1],
            filters: 8,
            kernelSize: 3,
            padding: 'same',
            activation: 'relu',
            kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
          }),
          tf.layers.conv2d({
            filters: 8,
            kernelSize: 3,
            padding: 'same',
            activation: 'relu',
            kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }),
          }),
          head === 'flatten' ? tf.layers.flatten() : tf.layers.globalAveragePooling2d({}),
          tf.layers.dense({
            units: 2,
            activation: 'softmax',
            kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }),
          }),
        ],
      });
      model.compile({ optimizer: tf.train.adam(0.01), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
      const xs = tf.tensor4d(x, [n, s, s, 1]);
      const ys = tf.oneHot(tf.tensor1d(labels, 'int32'), 2).toFloat();
      const fit = await model.fit(xs, ys, { epochs: 15, batchSize: 16, shuffle: false, verbose: 0 });
      expect(fit.history.acc?.at(-1)).toBeGreaterThan(0.95);
      const cam = gradCam(tf, model, xs.slice([0, 0, 0, 0], [16, s, s, 1]) as never, labels.slice(0, 16));
      expect(cam?.layer).toBe(model.layers[1]?.name);
      expect([cam?.height, cam?.width]).toEqual([s, s]);
      let inside = 0;
      let total = 0;
      // The images of class 1, whose evidence is in the quadrant (class 0's is the square's absence there).
      for (const [i, map] of (cam?.maps ?? []).entries()) {
        if (labels[i] !== 1) continue;
        // Each map scaled to a peak of 1, or all zero (no positive evidence for the class at this layer).
        const peak = Math.max(...map);
        expect(peak === 0 || Math.abs(peak - 1) < 1e-5, `image ${i} peak ${peak}`).toBe(true);
        for (let y = 0; y < s; y++)
          for (let c = 0; c < s; c++) {
            const v = map[y * s + c] as number;
            total += v;
            if (y < s / 2 && c < s / 2) inside += v;
          }
      }
      // A quarter of the image; most of the mass.
      expect(inside / total).toBeGreaterThan(0.6);
    }, 60_000);

  it('lays a map over an image: red where the map is high, the image where it is zero', () => {
    const grey = new Uint8Array([100, 100, 100, 100]);
    const lit = overlay(grey, 2, 2, 1, Float32Array.from([1, 0, 0, 0]), 2, 2);
    expect(Array.from(lit.subarray(0, 3))).toEqual([193, 40, 40]);
    expect(Array.from(lit.subarray(9, 12))).toEqual([100, 100, 100]);
  });
});
