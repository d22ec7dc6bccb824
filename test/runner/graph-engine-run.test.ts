// The runner on the graph engine (`training.engine: graph`, the default): repeatable runs
// close to the eager path's, no tensor growth, and an experiment without a
// graph form trains eagerly, the log saying why. (NaN detection and resume run
// on both engines in run.test.ts, SIGINT in signals.test.ts.)
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveExperiment } from '../../src/config/resolve.ts';
import { loadTensorflow } from '../../src/platform/tensorflow.ts';
import { runExperiment } from '../../src/runner/run.ts';
import { tempDir } from '../data/fixtures.ts';
import { dataset, deterministic, experimentFile } from '../support/toy.ts';

const GRAPH = 'training.engine=graph';

/** The run log's engine line. */
const engineOf = (runDir: string) =>
  readFileSync(path.join(runDir, 'log.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
    .find((e) => e.event === 'engine');

describe('graph engine in the runner', () => {
  it('trains the toy task like the eager path, and repeats itself exactly', async () => {
    const dir = tempDir();
    await dataset(path.join(dir, 'images'), 12);
    const run = (set: string[]) =>
      runExperiment(
        resolveExperiment(experimentFile(dir), { env: {}, set: ['training.epochs=3', ...set] }),
        {},
        path.join(dir, 'cache'),
      );
    const a = await run([]);
    const b = await run([GRAPH]);
    const eager = await run(['training.engine=eager']);
    // The default: graph.
    expect(engineOf(a.run.dir)).toMatchObject({ engine: 'graph', reason: null });
    expect(engineOf(eager.run.dir)).toMatchObject({ engine: 'eager', reason: 'training.engine: eager' });
    expect(deterministic(b.epochs)).toEqual(deterministic(a.epochs));
    // The same steps in another order of float operations: the losses agree closely, not bit for bit.
    for (const [i, m] of a.epochs.entries())
      expect(Math.abs(m.loss - (eager.epochs[i]?.loss as number))).toBeLessThan(1e-3);
    expect(a.epochs.at(-1)?.val_accuracy).toBe(1);
  });

  it('keeps the tensor count flat from epoch 2 on', async () => {
    const { tf } = await loadTensorflow();
    const dir = tempDir();
    await dataset(path.join(dir, 'images'), 8);
    const counts: number[] = [];
    const result = await runExperiment(
      resolveExperiment(experimentFile(dir), {
        env: {},
        set: [GRAPH, 'training.epochs=5', 'data.augmentation=[{type: flip_horizontal}]'],
      }),
      { onEpoch: () => void counts.push(tf.memory().numTensors) },
      path.join(dir, 'cache'),
    );
    expect(result.status).toBe('FINISHED');
    expect(counts.at(-1)).toBe(counts[1]);
  });

  it('an experiment without a graph form trains eagerly, and the log names what forced it', async () => {
    const dir = tempDir();
    await dataset(path.join(dir, 'images'), 8);
    const result = await runExperiment(
      resolveExperiment(experimentFile(dir), {
        env: {},
        set: [GRAPH, 'training.epochs=1', 'data.augmentation=[{type: mixup}]'],
      }),
      {},
      path.join(dir, 'cache'),
    );
    expect(result.status, (result as { error?: string }).error).toBe('FINISHED');
    expect(engineOf(result.run.dir)).toMatchObject({ engine: 'eager', reason: 'no graph form for mixup/cutmix' });
  });
});
