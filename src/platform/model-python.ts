// The Python that converts run-exp models (run-exp export): RUN_EXP_PYTHON when
// set, else a virtual environment of python/requirements-model.txt under the
// cache root, made the first time it is needed and named by the requirements'
// hash, so a change of pins makes a new one.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RunExpError } from '../spec/errors.ts';
import { cacheRoot } from './cache-root.ts';

export const PYTHON_DIR = fileURLToPath(new URL('../../python/', import.meta.url));

export function modelPython(env: NodeJS.ProcessEnv, say: (line: string) => void): string {
  if (env.RUN_EXP_PYTHON) return env.RUN_EXP_PYTHON;
  const requirements = path.join(PYTHON_DIR, 'requirements-model.txt');
  const hash = createHash('sha256').update(readFileSync(requirements)).digest('hex').slice(0, 12);
  const venv = path.join(cacheRoot(), `python-model-${hash}`);
  const python = path.join(venv, 'bin', 'python');
  // The marker is written last: a venv without it was interrupted and is made again.
  const done = path.join(venv, 'installed');
  if (existsSync(done)) return python;
  say(`installing the model converters (TensorFlow, tensorflowjs, tf2onnx; about 2.5 GB) into ${venv}, once`);
  rmSync(venv, { recursive: true, force: true });
  try {
    execFileSync('python3', ['-m', 'venv', venv], { stdio: 'inherit' });
    execFileSync(python, ['-m', 'pip', 'install', '-q', '--disable-pip-version-check', '-r', requirements], {
      stdio: 'inherit',
    });
    writeFileSync(done, '');
  } catch (err) {
    throw new RunExpError(
      `could not install the model converters into ${venv} (${(err as Error).message.split('\n')[0]}); install python/requirements-model.txt into a Python 3.11 environment and set RUN_EXP_PYTHON to its python`,
      { exitCode: 1 },
    );
  }
  return python;
}
