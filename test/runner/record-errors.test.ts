// Endings of a run that come from its disk and its records: a disk that fills
// up mid-checkpoint, a checkpoint damaged afterwards, data changed under a
// stopped run. Each has one defined outcome and --resume picks up from it.
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  readdirSync,
  readFileSync,
  rmSync,
  statfsSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveExperiment } from '../../src/config/resolve.ts';
import { RecordError } from '../../src/record/record-errors.ts';
import { runExperiment } from '../../src/runner/run.ts';
import { tempDir } from '../data/fixtures.ts';
import { cli } from '../support/cli.ts';
import { dataset, deterministic, experimentFile } from '../support/toy.ts';

// A wide layer, so that a checkpoint (weights and Adam's moments) is megabytes and the metrics lines are not.
const set = [
  'model.layers=[{type: flatten}, {type: dense, units: 200, activation: relu}, {type: dense, units: 2, activation: softmax}]',
  'training.epochs=4',
];

const mounted: string[] = [];
afterAll(() => {
  for (const m of mounted) execFileSync('umount', ['-l', m]);
});

/** A folder on a 16 MB file system of its own (as root), or null. */
function smallDisk(): string | null {
  if (process.getuid?.() !== 0) return null;
  const dir = tempDir();
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    return null;
  }
  mounted.push(dir);
  return dir;
}

const noTemporaries = (dir: string) =>
  (readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith('.tmp') || f.includes('.partial'));

/** A toy run of one epoch, finished: its folder, experiment file and data folder's parent. */
async function finishedToyRun(): Promise<{ dir: string; file: string; runDir: string }> {
  const dir = tempDir();
  await dataset(path.join(dir, 'images'), 8);
  const file = experimentFile(dir);
  const stopped = await cli([file, '--set', 'training.epochs=1', '--quiet']);
  expect(stopped.code, stopped.err).toBe(0);
  const [id] = readdirSync(path.join(dir, 'runs', 'toy'));
  return { dir, file, runDir: path.join(dir, 'runs', 'toy', id as string) };
}

describe('recording errors', () => {
  it('a disk that fills during a checkpoint: one line, FAILED, no temporaries, the last checkpoint intact; resumed after freeing space, the run ends as an uninterrupted one', async () => {
    const dir = tempDir();
    await dataset(path.join(dir, 'images'), 8);
    const disk = smallDisk();
    const runs = disk ?? path.join(dir, 'runs');
    const resolved = () => resolveExperiment(experimentFile(dir), { env: {}, set: [...set, `tracking.dir=${runs}`] });
    const whole = await runExperiment(
      resolveExperiment(experimentFile(dir), { env: {}, set: [...set, `tracking.dir=${path.join(dir, 'whole')}`] }),
      {},
      path.join(dir, 'cache'),
    );
    expect(whole.status).toBe('FINISHED');
    const filler = path.join(runs, 'filler');
    let runDir = '';
    // After epoch 2's checkpoint: the disk fills (leaving room for a few records but no checkpoint),
    // or, not being root, the checkpoints folder turns read-only.
    const onEpoch = (m: { epoch: number }) => {
      if (m.epoch !== 2) return;
      if (disk) {
        const fs = statfsSync(disk);
        writeFileSync(filler, Buffer.alloc(Math.max(0, fs.bavail * fs.bsize - 256 * 1024)));
      } else chmodSync(path.join(runDir, 'checkpoints'), 0o555);
    };
    let failure: unknown;
    try {
      await runExperiment(
        resolved(),
        {
          onStart: ({ run }) => {
            runDir = run.dir;
          },
          onEpoch,
        },
        path.join(dir, 'cache'),
      );
    } catch (err) {
      failure = err;
    }
    expect(failure).toBeInstanceOf(RecordError);
    const message = (failure as Error).message;
    expect(message).toMatch(
      disk
        ? /^disk full while writing checkpoints in .*\.partial: free space and run `run-exp .*exp\.yaml --resume .*`$/
        : /^permission denied while writing checkpoints in .*: fix the folder and run `run-exp .*--resume/,
    );
    const status = JSON.parse(readFileSync(path.join(runDir, 'status.json'), 'utf8'));
    expect(status).toMatchObject({ status: 'FAILED', error: message });
    expect(noTemporaries(runDir)).toEqual([]);
    const state = JSON.parse(readFileSync(path.join(runDir, 'checkpoints', 'latest', 'state.json'), 'utf8'));
    expect(state.epoch).toBe(2);

    if (disk) rmSync(filler);
    else chmodSync(path.join(runDir, 'checkpoints'), 0o755);
    const resumed = await runExperiment(resolved(), {}, path.join(dir, 'cache'), runDir);
    expect(resumed.status).toBe('FINISHED');
    expect(deterministic(resumed.epochs)).toEqual(deterministic(whole.epochs));
    const weights = (r: typeof whole) => r.model?.getWeights().map((w) => Array.from(w.dataSync()));
    expect(weights(resumed)).toEqual(weights(whole));
  }, 120_000);

  it('a truncated checkpoint: --resume falls back to the one before and says so; both broken, exit 2 naming the file', async () => {
    const dir = tempDir();
    await dataset(path.join(dir, 'images'), 8);
    const file = experimentFile(dir);
    const resolved = () => resolveExperiment(file, { env: {}, set: ['training.epochs=4'] });
    let epochs = 0;
    const stopped = await runExperiment(
      resolved(),
      { onEpoch: () => void epochs++, shouldStop: () => epochs >= 3 },
      path.join(dir, 'cache'),
    );
    expect(stopped.status).toBe('KILLED');
    const checkpoints = path.join(stopped.run.dir, 'checkpoints');
    truncateSync(path.join(checkpoints, 'latest', 'weights.bin'), 10);
    const resumed = await runExperiment(resolved(), {}, path.join(dir, 'cache'), stopped.run.dir);
    expect(resumed.status).toBe('FINISHED');
    expect(resumed.epochs.map((m) => m.epoch)).toEqual([1, 2, 3, 4]);
    const log = readFileSync(path.join(stopped.run.dir, 'log.jsonl'), 'utf8');
    expect(log).toMatch(
      /checkpoints\/latest is broken \(.*weights\.bin: 10 bytes, the manifest says \d+\); resuming from checkpoints\/previous, epoch 2/,
    );

    truncateSync(path.join(checkpoints, 'latest', 'weights.bin'), 10);
    writeFileSync(path.join(checkpoints, 'previous', 'optimizer.json'), '{}');
    const broken = await cli([file, '--set', 'training.epochs=4', '--resume', stopped.run.dir, '--quiet']);
    expect(broken.code).toBe(2);
    expect(broken.err).toMatch(
      /no intact checkpoint to resume from: .*latest\/weights\.bin: 10 bytes.*previous\/optimizer\.json: 2 bytes/,
    );
  }, 120_000);

  it('data changed under a stopped run: --resume stops naming how many files, unless --allow-data-change', async () => {
    const { dir, file, runDir } = await finishedToyRun();
    // Two images written again, one more added.
    for (const f of ['top/0.png', 'bottom/0.png'])
      writeFileSync(path.join(dir, 'images', f), readFileSync(path.join(dir, 'images', f.replace('0', '1'))));
    writeFileSync(path.join(dir, 'images', 'top', 'new.png'), readFileSync(path.join(dir, 'images', 'top', '2.png')));
    const refused = await cli([file, '--set', 'training.epochs=1', '--resume', runDir, '--quiet']);
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(
      /the data changed since the run started .*: 2 files changed, 1 added, 0 removed; resume with --allow-data-change/,
    );
    const allowed = await cli([
      file,
      '--set',
      'training.epochs=1',
      '--resume',
      runDir,
      '--quiet',
      '--allow-data-change',
    ]);
    expect(allowed.code, allowed.err).toBe(0);
  }, 120_000);

  it('the data re-provisioned in place (new file times, same bytes) resumes; an old-style hash over unchanged files is named as such', async () => {
    const { dir, file, runDir } = await finishedToyRun();
    // A hash recorded by an earlier run-exp (paths and times): nothing changed, and the message says so.
    const envFile = path.join(runDir, 'environment.json');
    const env = JSON.parse(readFileSync(envFile, 'utf8'));
    writeFileSync(envFile, JSON.stringify({ ...env, dataset_hash: 'f'.repeat(64) }));
    const old = await cli([file, '--set', 'training.epochs=1', '--resume', runDir, '--quiet']);
    expect(old.code).toBe(2);
    expect(old.err).toMatch(/every file has its recorded path, size and time: .*an earlier run-exp/);
    // The data re-provisioned in place (a fresh checkout: every file with a new time, the same bytes): it resumes.
    writeFileSync(envFile, JSON.stringify(env));
    const later = new Date(Date.now() + 60_000);
    for (const f of readdirSync(path.join(dir, 'images'), { recursive: true, withFileTypes: true }))
      if (f.isFile()) utimesSync(path.join(f.parentPath, f.name), later, later);
    const moved = await cli([file, '--set', 'training.epochs=1', '--resume', runDir, '--quiet']);
    expect(moved.code, moved.err).toBe(0);
  }, 120_000);
});
