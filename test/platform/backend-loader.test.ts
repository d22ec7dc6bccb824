// The backend loader: the first load decides TensorFlow's threads and whether
// it is native; a later load that asks for something else is refused; and the
// CLI loads it with the experiment's settings first, so training.threads
// reaches training and a broken native install never trains on the pure-JS
// backend unasked.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../data/fixtures.ts';
import { spawnCli } from '../support/cli.ts';
import { dataset, experimentFile } from '../support/toy.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Runs a module in a fresh Node process (the loader's state is per process) and parses what it prints. */
function fresh(source: string, env: NodeJS.ProcessEnv = {}): Record<string, unknown> {
  const file = path.join(tempDir('run-exp-loader-'), 'probe.mts');
  writeFileSync(file, source.replaceAll('@src/', `${path.join(root, 'src')}/`));
  const out = execFileSync(process.execPath, ['--import', 'tsx', file], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  return JSON.parse(out.trim().split('\n').at(-1) as string);
}

/** A preload that makes requiring tfjs-node fail, as a broken native install does. */
function brokenNative(): NodeJS.ProcessEnv {
  const file = path.join(tempDir('run-exp-broken-'), 'broken-native.cjs');
  writeFileSync(
    file,
    `const Module = require('node:module');\nconst load = Module._load;\nModule._load = function (request, ...rest) {\n  if (request === '@tensorflow/tfjs-node') throw new Error('libtensorflow.so.2: cannot open shared object file (simulated)');\n  return load.call(this, request, ...rest);\n};\n`,
  );
  return { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${file}` };
}

const environmentOf = (runs: string) => {
  const [run] = readdirSync(path.join(runs, 'toy'));
  return JSON.parse(readFileSync(path.join(runs, 'toy', run as string, 'environment.json'), 'utf8'));
};

describe('the backend loader', () => {
  it('lets the first load decide; a later load gets the same backend or is refused', () => {
    const probe = fresh(`
      import { loadTensorflow } from '@src/platform/tensorflow.ts';
      const first = await loadTensorflow({ threads: 1 });
      const again = await loadTensorflow();
      const same = await loadTensorflow({ threads: 1, allowNonNative: true });
      let refused = null;
      try { await loadTensorflow({ threads: 2 }); } catch (e) { refused = e.message; }
      console.log(JSON.stringify({ first: first.threads, reused: again === first && same === first, native: first.native,
        env: process.env.TF_NUM_INTRAOP_THREADS, refused }));
    `);
    expect(probe).toMatchObject({ first: 1, reused: true, native: true, env: '1' });
    expect(probe.refused).toMatch(/loaded with 1 threads before 2 were asked for/);
  });

  it('refuses the native backend to a later load after the first settled for the pure-JS one', () => {
    const probe = fresh(
      `
      import { loadTensorflow } from '@src/platform/tensorflow.ts';
      const first = await loadTensorflow({ allowNonNative: true });
      let refused = null;
      try { await loadTensorflow(); } catch (e) { refused = e.name + ': ' + e.message.split('\\n')[0]; }
      console.log(JSON.stringify({ backend: first.tf.getBackend(), native: first.native, refused }));
    `,
      brokenNative(),
    );
    expect(probe).toMatchObject({ backend: 'cpu', native: false });
    expect(probe.refused).toMatch(/^BackendError: The native TensorFlow backend is not installed/);
  });
});

describe('run-exp <file> loads the backend with the experiment', () => {
  it('training.threads reaches training: the run records the threads TensorFlow runs on', async () => {
    const dir = tempDir();
    await dataset(path.join(dir, 'images'), 4);
    const file = experimentFile(dir);
    for (const [engine, threads] of [
      ['eager', 1],
      ['graph', 1],
    ] as const) {
      const runs = path.join(dir, `runs-${engine}`);
      const args = [file, '--quiet', '--set', `training.threads=${threads}`, '--set', `training.engine=${engine}`];
      const { code, out } = await spawnCli(
        [...args, '--set', `tracking.dir=${runs}`, '--set', 'training.epochs=1'],
        dir,
      );
      expect(code, out).toBe(0);
      expect(environmentOf(runs)).toMatchObject({ intra_op_threads: threads, backend: 'tensorflow' });
    }
  });

  it('with a broken native install: exit 1 and how to fix it, no run; the pure-JS backend only when asked', async () => {
    const dir = tempDir();
    await dataset(path.join(dir, 'images'), 4);
    const file = experimentFile(dir);
    const runs = path.join(dir, 'runs');
    const refused = await spawnCli([file, '--set', 'training.epochs=1'], dir, undefined, brokenNative());
    expect(refused.code).toBe(1);
    expect(refused.out).toContain('The native TensorFlow backend is not installed');
    expect(refused.out).not.toContain('internal error');
    expect(existsSync(path.join(runs, 'toy'))).toBe(false);
    const asked = await spawnCli(
      [file, '--quiet', '--set', 'training.epochs=1', '--set', 'training.allow_non_native_backend=true'],
      dir,
      undefined,
      brokenNative(),
    );
    expect(asked.code, asked.out).toBe(0);
    expect(environmentOf(runs)).toMatchObject({ backend: 'cpu', libtensorflow: null });
  });
});
