// A TF.js graph model run as one TensorFlow session (the face detector's path):
// the outputs of stock TF.js's graph executor, and an image's outputs the same
// whatever batch it runs in.
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Tensor } from '@tensorflow/tfjs-node';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { DETECT_BATCH } from '../../src/data/faces/locate.ts';
import { graphModelSession } from '../../src/platform/graph-model-session.ts';
import { loadTensorflow } from '../../src/platform/tensorflow.ts';
import type { HostTensor } from '../../src/platform/tf-graph.ts';
import { DETECTORS, type DetectorEntry } from '../../src/spec/detectors.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const demo = path.join(root, 'node_modules', '@vladmandic', 'face-api', 'demo');

/** Six demo photos as side x side RGB bytes. */
async function photos(side: number): Promise<Uint8Array> {
  const size = side * side * 3;
  const x = new Uint8Array(6 * size);
  for (let i = 0; i < 6; i++)
    x.set(
      await sharp(path.join(demo, `sample${i + 1}.jpg`))
        .resize(side, side, { fit: 'fill' })
        .removeAlpha()
        .raw()
        .toBuffer(),
      i * size,
    );
  return x;
}

/** Six demo photos as a detector's input: side x side RGB, scaled to [-1, 1]. */
async function inputs(side: number): Promise<Float32Array> {
  return Float32Array.from(await photos(side), (v) => v / 127.5 - 1);
}

describe('graph model session', () => {
  for (const [name, entry] of Object.entries(DETECTORS) as [string, DetectorEntry][])
    it(`${name} as one session: stock TF.js's outputs to 1e-4 (relative), and an image's outputs the same alone or in a batch`, async () => {
      const { tf } = await loadTensorflow();
      const file = path.join(root, 'node_modules', entry.package, entry.model);
      const session = await graphModelSession(tf, file, { freeBatch: true, threads: 2 });
      expect(session.outputs).toHaveLength(4);
      const side = entry.inputSize;
      const x = await inputs(side);
      const size = side * side * 3;
      // Stock TF.js: the model as converted (batch 1), one image at a time.
      const stock = await tf.loadGraphModel(tf.io.fileSystem(file));
      const batch = await session.run(x, 6);
      // The batch detection runs in (locateFaces): the six images over and over.
      const many = new Float32Array(DETECT_BATCH * size).map((_, j) => x[j % (6 * size)] as number);
      const full = await session.run(many, DETECT_BATCH);
      for (let i = 0; i < 6; i++) {
        const image = x.subarray(i * size, (i + 1) * size);
        const expected = tf.tidy(() =>
          (stock.execute(tf.tensor4d(image, [1, side, side, 3]), session.outputs) as Tensor[]).map(
            (t) => t.dataSync() as Float32Array,
          ),
        );
        const alone = await session.run(image, 1);
        for (const [k, want] of expected.entries()) {
          const got = alone[k]?.data as Float32Array;
          expect(alone[k]?.shape).toEqual([1, ...(batch[k]?.shape.slice(1) ?? [])]);
          let worst = 0;
          for (let j = 0; j < want.length; j++)
            worst = Math.max(
              worst,
              Math.abs((got[j] as number) - (want[j] as number)) / (1 + Math.abs(want[j] as number)),
            );
          expect(worst).toBeLessThan(1e-4);
          // Batch-invariant: the image's rows of the batch of six, and of detection's batch, are its rows alone, bit for bit.
          const rowsOf = (t: HostTensor | undefined, at: number) =>
            ((t as HostTensor).data as Float32Array).slice(at * want.length, (at + 1) * want.length);
          for (const rows of [rowsOf(batch[k], i), rowsOf(full[k], i), rowsOf(full[k], i + 24)])
            expect(Buffer.from(rows.buffer).equals(Buffer.from(got.slice().buffer))).toBe(true);
        }
      }
    });

  it('fed bytes (byteInput), the outputs of float32 input scaled in JS (byte / 127.5 - 1, each step in float32), bit for bit', async () => {
    const { tf } = await loadTensorflow();
    const entry = DETECTORS.blazeface_short;
    const file = path.join(root, 'node_modules', entry.package, entry.model);
    const bytes = await photos(entry.inputSize);
    const floats = await graphModelSession(tf, file, { freeBatch: true, threads: 2 });
    const scaled = Float32Array.from(bytes, (v) => Math.fround(Math.fround(v / 127.5) - 1));
    const fed = await graphModelSession(tf, file, {
      freeBatch: true,
      threads: 2,
      byteInput: { divide: 127.5, subtract: 1 },
    });
    const want = await floats.run(scaled, 6);
    const got = await fed.run(bytes, 6);
    for (const [k, w] of want.entries())
      expect(Buffer.from(((got[k] as HostTensor).data as Float32Array).buffer).equals(Buffer.from(w.data.buffer))).toBe(
        true,
      );
    await expect(fed.run(scaled, 6)).rejects.toThrow(/feed bytes/);
  });
});
