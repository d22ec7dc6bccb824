// Requests scored together: while the model runs one batch, the requests that
// arrive queue up, and the next batch takes all of them (up to `maxImages`),
// so concurrency turns into batch size without a timer adding latency.
import type { Scorer } from '../report/predict.ts';

interface Waiting {
  x: Float32Array;
  n: number;
  resolve: (probs: { probs: Float32Array; requests: number }) => void;
  reject: (err: unknown) => void;
}

/** Scores like `score`, batching concurrent calls; each answer also says how many calls shared its batch. */
export function batchingScorer(
  score: Scorer,
  imageFloats: number,
  maxImages: number,
): (x: Float32Array, n: number) => Promise<{ probs: Float32Array; requests: number }> {
  const queue: Waiting[] = [];
  let running = false;
  const run = async () => {
    while (queue.length) {
      const batch: Waiting[] = [];
      let images = 0;
      while (queue.length && (batch.length === 0 || images + (queue[0] as Waiting).n <= maxImages)) {
        const w = queue.shift() as Waiting;
        batch.push(w);
        images += w.n;
      }
      const x = new Float32Array(images * imageFloats);
      let at = 0;
      for (const w of batch) {
        x.set(w.x.subarray(0, w.n * imageFloats), at);
        at += w.n * imageFloats;
      }
      try {
        const probs = await score(x, images);
        const k = probs.length / images;
        let row = 0;
        for (const w of batch) {
          w.resolve({ probs: probs.slice(row * k, (row + w.n) * k), requests: batch.length });
          row += w.n;
        }
      } catch (err) {
        for (const w of batch) w.reject(err);
      }
    }
    running = false;
  };
  return (x, n) =>
    new Promise((resolve, reject) => {
      queue.push({ x, n, resolve, reject });
      // Started on the next turn of the event loop, so that requests whose images finished decoding in
      // the same turn share the first batch too.
      if (!running) {
        running = true;
        setImmediate(() => void run());
      }
    });
}
