// bench/serve: requests/s and latency of `run-exp serve` beside `mlflow models
// serve` of the same model's python_function flavor, at 1, 8 and 32 clients
// on loopback, one 200x200 UTKFace JPEG per request. run-exp is sent the JPEG
// (it decodes, crops and resizes); MLflow is sent that image's pixels after
// decode, crop and resize (what its pyfunc takes), so MLflow does less work
// per request than run-exp. MLflow runs with 1 uvicorn worker (its default)
// and with 2 (one per core here).
//
//   npm run bench:serve -- <run folder>...   (UTKFACE_DIR; .venv from requirements-dev.txt)
// BENCH_SECONDS per level (default 15), after a warm-up of 3 s.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { channelsOf } from '../../src/data/decode.ts';
import { decodeJobs, fileJobs } from '../../src/data/preprocess.ts';
import { modelFolderFiles } from '../../src/model/model-folder.ts';
import { saveModelFiles } from '../../src/platform/model-files.ts';
import { loadTensorflow } from '../../src/platform/tensorflow.ts';
import { loadRun, modelMeta } from '../../src/report/predict.ts';
import { MLFLOW_BIN } from '../../test/support/mlflow-server.ts';
import { ROOT, RUN_EXP } from '../run-process.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const seconds = Number(process.env.BENCH_SECONDS ?? 15);
const LEVELS = [1, 8, 32];
const utkface = process.env.UTKFACE_DIR ?? path.join(ROOT, '..', 'shared', 'data', 'utkface');
const runs = process.argv.slice(2);
if (runs.length === 0) {
  console.error('give run folders: npm run bench:serve -- runs/baseline/<id> runs/faces/<id>');
  process.exit(2);
}

/** 64 UTKFace photos, both classes: what the clients send, in turn. */
const photos = ['male', 'female'].flatMap((c) =>
  readdirSync(path.join(utkface, c))
    .sort()
    .slice(0, 32)
    .map((f) => path.join(utkface, c, f)),
);

function start(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): ChildProcess {
  // Its own process group: MLflow's CLI starts uvicorn in a shell, and the whole group is stopped.
  return spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'inherit'], detached: true });
}

async function ready(url: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    try {
      if ((await fetch(`${url}/ping`)).ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} did not come up`);
}

async function stop(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r));
  process.kill(-(child.pid as number), 'SIGTERM');
  await exited;
}

/** `clients` loops sending requests for `seconds`: requests/s and latency percentiles (ms). */
async function load(url: string, bodies: { body: Buffer | string; type: string }[], clients: number) {
  const send = async (i: number) => {
    const b = bodies[i % bodies.length] as (typeof bodies)[number];
    const res = await fetch(`${url}/invocations`, {
      method: 'POST',
      body: b.body,
      headers: { 'content-type': b.type },
    });
    if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`);
    await res.arrayBuffer();
  };
  const run = async (until: number, latencies: number[] | null) => {
    let i = 0;
    await Promise.all(
      Array.from({ length: clients }, async (_, k) => {
        while (performance.now() < until) {
          const t0 = performance.now();
          await send(k * 7 + i++);
          latencies?.push(performance.now() - t0);
        }
      }),
    );
  };
  await run(performance.now() + 3000, null);
  const latencies: number[] = [];
  const t0 = performance.now();
  await run(t0 + seconds * 1000, latencies);
  const wall = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] as number;
  return { rps: latencies.length / wall, p50: pct(0.5), p99: pct(0.99), requests: latencies.length };
}

const { tf } = await loadTensorflow();
const results: Record<string, unknown>[] = [];
for (const runDir of runs) {
  const run = await loadRun(tf, runDir);
  const name = path.basename(path.dirname(path.resolve(runDir)));
  // A model folder as run-exp writes one today (a run saved before the python_function flavor gets it here).
  const folder = path.join(here, '..', '.work', 'serve', name, 'model');
  rmSync(folder, { recursive: true, force: true });
  const meta = modelMeta(run);
  run.model.setUserDefinedMetadata({ run_exp: meta });
  await saveModelFiles(tf, run.model, folder);
  const files = modelFolderFiles(meta, {
    runId: name,
    tfjsVersion: tf.version.tfjs,
    created: new Date(),
    modelUuid: '0'.repeat(32),
  });
  for (const [f, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(folder, f)), { recursive: true });
    writeFileSync(path.join(folder, f), text);
  }

  // The photos as each server takes them: JPEG bytes; pixels after the one preprocessing path.
  const jpegs = photos.map((f) => ({ body: readFileSync(f), type: 'image/jpeg' }));
  const [h, w] = run.preprocessing.size;
  const c = channelsOf(run.preprocessing);
  const bytes = h * w * c;
  const pixels = new Uint8Array(photos.length * bytes);
  await decodeJobs(
    await fileJobs(photos, run.preprocessing),
    run.preprocessing,
    pixels,
    photos.map((_, i) => i * bytes),
  );
  const arrays = photos.map((_, i) => {
    const img = pixels.subarray(i * bytes, (i + 1) * bytes);
    const rows = Array.from({ length: h }, (_, y) =>
      Array.from({ length: w }, (_, x) => Array.from(img.subarray((y * w + x) * c, (y * w + x + 1) * c))),
    );
    return { body: JSON.stringify({ inputs: [rows] }), type: 'application/json' };
  });

  type Body = { body: Buffer | string; type: string };
  const servers: [string, string, string[], Body[]][] = [
    ['run-exp serve', process.execPath, [RUN_EXP, 'serve', '--run', folder, '--port', '8701'], jpegs],
    ...(['1', '2'] as const).map(
      (workers) =>
        [
          `mlflow models serve -w ${workers}`,
          MLFLOW_BIN,
          [
            'models',
            'serve',
            '-m',
            folder,
            '--env-manager',
            'local',
            '--host',
            '127.0.0.1',
            '-p',
            `870${Number(workers) + 1}`,
            '-w',
            workers,
          ],
          arrays,
        ] as [string, string, string[], Body[]],
    ),
  ];
  for (const [server, cmd, args, bodies] of servers) {
    const port = args[args.indexOf(server === 'run-exp serve' ? '--port' : '-p') + 1];
    const url = `http://127.0.0.1:${port}`;
    // MLflow starts uvicorn by name: its venv's bin goes first on PATH.
    const PATH = `${path.dirname(MLFLOW_BIN)}:${process.env.PATH}`;
    const child = start(cmd, args, { ...process.env, PATH, TF_CPP_MIN_LOG_LEVEL: '3' });
    try {
      await ready(url);
      for (const clients of LEVELS) {
        const r = await load(url, bodies, clients);
        results.push({ model: name, server, clients, ...r });
        console.log(
          `${name.padEnd(9)} ${server.padEnd(20)} ${String(clients).padStart(2)} clients  ${r.rps.toFixed(1).padStart(7)} req/s  p50 ${r.p50.toFixed(1).padStart(7)} ms  p99 ${r.p99.toFixed(1).padStart(7)} ms`,
        );
      }
    } finally {
      await stop(child);
    }
  }
}
writeFileSync(path.join(here, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
