// What the test suite needs beside npm's packages, installed when missing:
// the pinned MLflow server and the model's Python side in .venv
// (requirements-dev.txt, which includes python/requirements-model.txt), the
// latest MLflow 2.x server in .venv-mlflow2 (requirements-mlflow2.txt, for
// npm run test:compat) and Debian's chromium for the browser test
// (playwright-core downloads no browser).
// `npm test` runs it first; a second run finds everything and does nothing.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const run = (cmd: string, args: string[]) =>
  execFileSync(cmd, args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });

/** A virtual environment at `dir` holding `files` (the first is installed; it may include the others), kept while they are unchanged. */
function venv(dir: string, files: string[], what: string): void {
  const requirements = files.map((f) => readFileSync(path.join(root, f), 'utf8')).join('');
  const stamp = path.join(root, dir, 'requirements.stamp');
  if (
    existsSync(path.join(root, dir, 'bin', 'mlflow')) &&
    existsSync(stamp) &&
    readFileSync(stamp, 'utf8') === requirements
  )
    return;
  console.log(`test deps: installing ${what} into ${dir} (${files[0]})`);
  run('python3', ['-m', 'venv', path.join(root, dir)]);
  run(path.join(root, dir, 'bin', 'pip'), [
    'install',
    '-q',
    '--disable-pip-version-check',
    '-r',
    path.join(root, files[0] as string),
  ]);
  writeFileSync(stamp, requirements);
}

venv('.venv', ['requirements-dev.txt', 'python/requirements-model.txt'], 'the MLflow server and the model tools');
// The latest MLflow 2.x server, for npm run test:compat.
venv('.venv-mlflow2', ['requirements-mlflow2.txt'], 'the MLflow 2.x server');

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
