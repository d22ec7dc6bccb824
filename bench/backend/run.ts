// bench/backend: training images/s of the seed-like CNN on run-exp's native
// backend, beside PyTorch and Keras (on the same libtensorflow), over full
// epochs of the same real 64x64 faces, 1 and 2 threads, in one run.
//
//   npm run bench:backend            (UTKFACE_DIR, BENCH_IMAGES, BENCH_EPOCHS, BENCH_ROUNDS, BENCH_PYTORCH_PYTHON, BENCH_KERAS_PYTHON, BENCH_BF16)
//
// On a CPU with bfloat16 units (AVX512_BF16, AMX-BF16), run-exp's bf16 (training.precision: bf16) and
// Keras's mixed_bfloat16 rows run beside the float32 ones; BENCH_BF16=emulate runs them on other CPUs too.
//
// Each framework runs BENCH_ROUNDS times (default 2) per thread count, every
// other round in reverse order, and its figure is the mean over its rounds:
// this VM's speed drifts by ~10% over the minutes between rows, and the
// reversed order spreads that drift evenly over the frameworks being compared.
// The graph engine and Keras, whose ratio is the figure read, run next to
// each other (graph, Keras, ... then ..., Keras, graph): runs seconds apart
// share the machine's state, runs minutes apart often do not.
//
// PyTorch comes from Debian's python3-torch (/usr/bin/python3); Keras from a
// virtualenv with the tensorflow-cpu release that run-exp's libtensorflow comes
// from, created under bench/.work on first use. Last, a per-op profile of one
// graph-engine step beside Keras's (bench/backend/profile_ops.py).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bf16Support } from '../../src/platform/cpu-features.ts';
import { prepareFaces } from './faces.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const work = path.join(root, 'bench', '.work');
const images = Number(process.env.BENCH_IMAGES ?? 4096);
const epochs = Number(process.env.BENCH_EPOCHS ?? 3);
const rounds = Number(process.env.BENCH_ROUNDS ?? 2);

interface Result {
  framework: string;
  version: string;
  threads: number;
  images: number;
  epoch_seconds: number[];
  loss: number[];
}

function kerasPython(): string | null {
  if (process.env.BENCH_KERAS_PYTHON) return process.env.BENCH_KERAS_PYTHON;
  const build = JSON.parse(readFileSync(path.join(root, 'native', 'builds.json'), 'utf8'));
  const venv = path.join(work, `venv-tf${build.default}`);
  const python = path.join(venv, 'bin', 'python');
  if (!existsSync(python)) {
    process.stderr.write(`creating ${venv} with tensorflow-cpu==${build.default}\n`);
    const made = spawnSync('python3', ['-m', 'venv', venv], { stdio: 'inherit' });
    if (made.status !== 0) return null;
    const pip = spawnSync(path.join(venv, 'bin', 'pip'), ['install', '-q', `tensorflow-cpu==${build.default}`], {
      stdio: 'inherit',
    });
    if (pip.status !== 0) return null;
  }
  return python;
}

function run(cmd: string, args: string[], env: Record<string, string> = {}): Result | null {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 1 << 24 });
  const line = r.stdout?.trim().split('\n').at(-1);
  if (r.status !== 0 || !line?.startsWith('{')) {
    process.stderr.write(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}):\n${r.stderr?.slice(-2000)}\n`);
    return null;
  }
  return JSON.parse(line) as Result;
}

/** Images/s over the epochs after the first, which also pays for warm-up (graph tracing, primitive caches). */
function throughput(r: Result): number {
  const steady = r.epoch_seconds.length > 1 ? r.epoch_seconds.slice(1) : r.epoch_seconds;
  return r.images / (steady.reduce((a, b) => a + b, 0) / steady.length);
}

/** A Python with torch: BENCH_PYTORCH_PYTHON, or Debian's python3-torch, installed when missing (as root or via sudo). */
function torchPython(): string | null {
  const python = process.env.BENCH_PYTORCH_PYTHON ?? '/usr/bin/python3';
  const hasTorch = () => spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
  if (hasTorch() || process.env.BENCH_PYTORCH_PYTHON) return hasTorch() ? python : null;
  process.stderr.write("installing Debian's python3-torch for the PyTorch rows\n");
  const apt = (args: string[]) =>
    process.getuid?.() === 0
      ? spawnSync('apt-get', args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
      : spawnSync('sudo', ['apt-get', ...args], { stdio: 'inherit' });
  apt(['update', '-qq']);
  apt(['install', '-y', '-qq', 'python3-torch']);
  return hasTorch() ? python : null;
}

const { data, labels } = await prepareFaces(images);
const torch = torchPython();
if (!torch)
  process.stderr.write(
    '\n*** NO PYTORCH: python3-torch could not be installed; the PyTorch rows are MISSING from this run ***\n\n',
  );
const keras = kerasPython();
// bf16 rows where the CPU has bfloat16 units; elsewhere TensorFlow emulates them, slower than float32,
// which measures nothing run-exp would do (it trains such a run in float32): BENCH_BF16=emulate runs them anyway.
const support = bf16Support();
const bf16 = support.units.length > 0 || process.env.BENCH_BF16 === 'emulate';
if (!bf16)
  process.stderr.write(
    `\n*** NO BF16 ROWS: this CPU (${support.cpu}) has no bfloat16 units (AVX512_BF16, AMX-BF16); BENCH_BF16=emulate runs them emulated ***\n\n`,
  );
const BF16 = { BENCH_PRECISION: 'bf16' };
const results: Result[] = [];
for (const threads of [1, 2]) {
  const args = [data, labels, String(threads), String(epochs)];
  const tsx = ['--import', 'tsx', path.join(here, 'tfjs_cnn.ts'), ...args];
  const kerasArgs = [path.join(here, 'keras_cnn.py'), ...args];
  const benches = [
    ...(bf16
      ? [
          () => run(process.execPath, tsx, { BENCH_ENGINE: 'graph', ...BF16 }),
          ...(keras ? [() => run(keras, kerasArgs, BF16)] : []),
        ]
      : []),
    () => run(process.execPath, tsx, { BENCH_ENGINE: 'graph' }),
    ...(keras ? [() => run(keras, kerasArgs)] : []),
    () => run(process.execPath, tsx),
    () => run(process.execPath, tsx, { RUN_EXP_KERNEL_OVERRIDES: '0' }),
    ...(torch ? [() => run(torch, [path.join(here, 'torch_cnn.py'), ...args])] : []),
  ];
  for (let round = 0; round < rounds; round++) {
    for (const bench of round % 2 === 0 ? benches : benches.toReversed()) {
      const r = bench();
      if (r) {
        results.push(r);
        process.stderr.write(
          `${r.framework} ${threads} thread(s), round ${round + 1}: ${throughput(r).toFixed(0)} images/s\n`,
        );
      }
    }
  }
}

/** One table row per framework and thread count: the mean of its rounds' images/s, and each round's. */
const groups = new Map<string, Result[]>();
for (const r of results) {
  const key = `${r.framework}\t${r.threads}`;
  groups.set(key, [...(groups.get(key) ?? []), r]);
}
const rows = [...groups.values()].map((rs) => {
  const each = rs.map(throughput);
  return { r: rs[0] as Result, mean: each.reduce((a, b) => a + b, 0) / each.length, each };
});

const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
const units = support.units.length
  ? `${support.units.join(', ')}${support.slower ? ` (run-exp trains bf16 in float32 here: this CPU ${support.slower})` : ''}`
  : 'none (bf16 rows emulated or skipped)';
const lines = [
  `Machine: ${cpu}, ${os.availableParallelism()} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.type()} ${os.release()}, Node ${process.version}; bfloat16 units: ${units}`,
  `Data: ${images} UTKFace images (64x64 RGB, uint8 in memory), batch 64, ${epochs} epochs; images/s averaged over epochs 2-${epochs}, then over ${rounds} round(s), every other one in reverse order.`,
  '',
  '| framework | version | threads | images/s | each round | final loss |',
  '| --- | --- | ---: | ---: | --- | ---: |',
  ...rows.map(
    ({ r, mean, each }) =>
      `| ${r.framework} | ${r.version} | ${r.threads} | ${mean.toFixed(0)} | ${each.map((v) => v.toFixed(0)).join(', ')} | ${(r.loss.at(-1) ?? Number.NaN).toFixed(3)} |`,
  ),
];
// The figures issues #13 and #35 read: the graph engine against Keras, and bf16 against float32, on the mean and round by round.
for (const threads of [1, 2]) {
  const of = (framework: string) => rows.find(({ r }) => r.framework === framework && r.threads === threads);
  for (const [label, a, b] of [
    ['Graph engine against Keras', 'run-exp graph engine', 'keras'],
    ['Graph engine bf16 against Keras mixed_bfloat16', 'run-exp graph engine bf16', 'keras mixed_bfloat16'],
    ['Graph engine bf16 against its float32', 'run-exp graph engine bf16', 'run-exp graph engine'],
  ] as const) {
    const [row, base] = [of(a), of(b)];
    if (!row || !base) continue;
    const byRound = row.each.map((v, i) => `${(v / (base.each[i] ?? Number.NaN)).toFixed(2)}x`).join(', ');
    lines.push('', `${label}, ${threads} thread(s): ${(row.mean / base.mean).toFixed(2)}x (rounds: ${byRound})`);
  }
}
writeFileSync(
  path.join(here, 'results.json'),
  `${JSON.stringify({ date: new Date().toISOString(), cpu, results }, null, 2)}\n`,
);
process.stdout.write(`${lines.join('\n')}\n`);

// Where a step's time goes, per TensorFlow op: the graph engine's traced steps beside Keras's profile (2 threads).
if (keras) {
  const trace = mkdtempSync(path.join(os.tmpdir(), 'run-exp-trace-'));
  const traced = spawnSync(
    process.execPath,
    ['--import', 'tsx', path.join(here, 'tfjs_cnn.ts'), data, labels, '2', '1'],
    { env: { ...process.env, BENCH_ENGINE: 'graph', BENCH_TRACE: trace }, stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const profile = spawnSync(keras, [path.join(here, 'profile_ops.py'), data, labels, '2', trace], {
    encoding: 'utf8',
    env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' },
  });
  rmSync(trace, { recursive: true, force: true });
  if (traced.status === 0 && profile.status === 0) process.stdout.write(`\n${profile.stdout}`);
  else process.stderr.write(`the step profile failed:\n${profile.stderr?.slice(-2000) ?? ''}\n`);
}
