// What the test suite needs beside npm's packages, installed when missing:
// the pinned MLflow server and the model's Python side in .venv
// (requirements-dev.txt, which includes python/requirements-model.txt) and Debian's
// chromium for the browser test (playwright-core downloads no browser).
// `npm test` runs it first; a second run finds everything and does nothing.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const venv = path.join(root, '.venv');
const requirements = ['requirements-dev.txt', 'python/requirements-model.txt']
  .map((f) => readFileSync(path.join(root, f), 'utf8'))
  .join('');
const stamp = path.join(venv, 'requirements-dev.txt');
const run = (cmd: string, args: string[]) =>
  execFileSync(cmd, args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });

if (
  !existsSync(path.join(venv, 'bin', 'mlflow')) ||
  !existsSync(stamp) ||
  readFileSync(stamp, 'utf8') !== requirements
) {
  console.log('test deps: installing the MLflow server and the model tools into .venv (requirements-dev.txt)');
  run('python3', ['-m', 'venv', venv]);
  run(path.join(venv, 'bin', 'pip'), [
    'install',
    '-q',
    '--disable-pip-version-check',
    '-r',
    path.join(root, 'requirements-dev.txt'),
  ]);
  writeFileSync(stamp, requirements);
}

const chromium = process.env.RUN_EXP_CHROMIUM ?? '/usr/bin/chromium';
if (!existsSync(chromium)) {
  console.log("test deps: installing Debian's chromium for the browser test");
  const apt = (args: string[]) => (process.getuid?.() === 0 ? run('apt-get', args) : run('sudo', ['apt-get', ...args]));
  try {
    apt(['update', '-qq']);
    apt(['install', '-y', '-qq', 'chromium']);
  } catch {
    console.error(
      `test deps: no chromium at ${chromium} and apt-get could not install it; install it or set RUN_EXP_CHROMIUM`,
    );
    process.exit(1);
  }
}
