// The runner on the graph engine (`training.engine: graph`, the default): repeatable runs
// close to the eager path's, no tensor growth, and an experiment without a
// graph form trains eagerly, the log saying why. (NaN detection and resume run
// on both engines in run.test.ts, SIGINT in signals.test.ts.)
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveExperiment } from '../../src/config/resolve.ts';
import { trainingPrecision } from '../../src/engine/choose.ts';
import { bf16Support } from '../../src/platform/cpu-features.ts';
import { loadTensorflow } from '../../src/platform/tensorflow.ts';
import { runExperiment } from '../../src/runner/run.ts';
import { tempDir } from '../data/fixtures.ts';
import { dataset, deterministic, experimentFile } from '../support/toy.ts';

const GRAPH = 'training.engine=graph';

/** The run log's line of `event` (default: the engine line). */
const engineOf = (runDir: string, event = 'engine') =>
  readFileSync(path.join(runDir, 'log.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
    .find((e) => e.event === event);

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

  it('bf16 trains in float32, with a line saying why, on a CPU without bfloat16 units or on the eager engine', async () => {
    const dir = tempDir();
    await dataset(path.join(dir, 'images'), 8);
    const file = experimentFile(dir);
    const exp = resolveExperiment(file, { env: {}, set: ['training.precision=bf16'] }).experiment;
    const epyc = 'AMD EPYC 9R14 96-Core Processor';
    const none = { units: [], cpu: epyc };
    expect(trainingPrecision(exp, null, none, {})).toEqual({
      precision: 'float32',
      why: expect.stringMatching(new RegExp(`this CPU \\(${epyc}\\) has no bfloat16 units`)),
    });
    expect(trainingPrecision(exp, null, { units: ['AVX512_BF16'], cpu: epyc }, {})).toEqual({
      precision: 'bf16',
      why: null,
    });
    expect(trainingPrecision(exp, null, none, { RUN_EXP_BF16: 'emulate' }).precision).toBe('bf16');
    // The flags as Linux lists them.
    const info = (flags: string) => `model name\t: ${epyc}\nflags\t\t: fpu sse2 avx2 ${flags}\n`;
    expect(bf16Support(info('avx512f avx512_bf16 amx_tile amx_bf16'))).toEqual({
      units: ['AVX512_BF16', 'AMX-BF16'],
      cpu: epyc,
    });
    expect(bf16Support(info('avx512f avx512_vnni')).units).toEqual([]);
    // On the eager engine, whatever the CPU: float32, and a warning in the log (and on the terminal).
    const result = await runExperiment(
      resolveExperiment(file, {
        env: {},
        set: ['training.epochs=1', 'training.precision=bf16', 'training.engine=eager'],
      }),
      {},
      path.join(dir, 'cache'),
    );
    expect(result.status).toBe('FINISHED');
    expect(engineOf(result.run.dir)).toMatchObject({ engine: 'eager', precision: 'float32' });
    expect(engineOf(result.run.dir, 'precision')).toMatchObject({
      level: 40,
      asked: 'bf16',
      precision: 'float32',
      msg: 'training in float32: bf16 trains on the graph engine only, and this run trains eagerly (training.engine: eager)',
    });
  });
});
