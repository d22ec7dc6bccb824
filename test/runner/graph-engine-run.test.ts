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

  it('bf16 trains in float32, with a line saying why, on a CPU whose bfloat16 units do not pay or on the eager engine', async () => {
    const dir = tempDir();
    await dataset(path.join(dir, 'images'), 8);
    const file = experimentFile(dir);
    const exp = resolveExperiment(file, { env: {}, set: ['training.precision=bf16'] }).experiment;
    const epyc = 'AMD EPYC 9R14 96-Core Processor';
    // The flags (and vendor) as Linux lists them.
    const info = (flags: string, vendor = 'AuthenticAMD', cpu = epyc) =>
      `vendor_id\t: ${vendor}\nmodel name\t: ${cpu}\nflags\t\t: fpu sse2 avx2 ${flags}\n`;
    const none = bf16Support(info('avx512f avx512_vnni'));
    expect(none.units).toEqual([]);
    expect(trainingPrecision(exp, null, none, {})).toEqual({
      precision: 'float32',
      why: expect.stringMatching(new RegExp(`this CPU \\(${epyc}\\) has no bfloat16 units`)),
    });
    expect(trainingPrecision(exp, null, none, { RUN_EXP_BF16: 'force' }).precision).toBe('bf16');
    // AMD's AVX512_BF16 and Intel's AMX pay; Intel's AVX512_BF16 alone does not (half float32's FMA rate).
    const zen4 = bf16Support(info('avx512f avx512_bf16'));
    expect(zen4).toEqual({ units: ['AVX512_BF16'], cpu: epyc, slower: null });
    expect(trainingPrecision(exp, null, zen4, {})).toEqual({ precision: 'bf16', why: null });
    const xeon = 'Intel(R) Xeon(R) Processor';
    expect(bf16Support(info('avx512f avx512_bf16 amx_tile amx_bf16', 'GenuineIntel', xeon))).toEqual({
      units: ['AVX512_BF16', 'AMX-BF16'],
      cpu: xeon,
      slower: null,
    });
    const noAmx = bf16Support(info('avx512f avx512_bf16 avx512_fp16', 'GenuineIntel', xeon));
    expect(noAmx.units).toEqual(['AVX512_BF16']);
    expect(trainingPrecision(exp, null, noAmx, {})).toEqual({
      precision: 'float32',
      why: `this CPU (${xeon}) has AVX512_BF16 but no AMX-BF16, and Intel runs bfloat16 dot products there no faster than float32 ones, so bf16 would train slower than float32 (RUN_EXP_BF16=force trains in bf16 anyway)`,
    });
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
