// The real process: Ctrl-C ends a run as KILLED with exit code 130, and --resume finishes it.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { expect, it } from 'vitest';
import { classFolders, tempDir } from '../data/fixtures.ts';
import { spawnCli } from '../support/cli.ts';

/** A folder with 80 tiny images and an experiment `name` of `epochs` epochs that trains on them with `engine`. */
async function longRun(name: string, epochs: number, engine = 'eager'): Promise<string> {
  const dir = tempDir();
  await classFolders(path.join(dir, 'images'), { a: 40, b: 40 });
  writeFileSync(
    path.join(dir, 'exp.yaml'),
    `name: ${name}\ndata:\n  path: ./images\n  preprocessing: { size: [8, 8] }\nmodel:\n  layers:\n    - { type: flatten }\n    - { type: dense, units: 2, activation: softmax }\ntraining: { epochs: ${epochs}, batch_size: 4, engine: ${engine} }\ntracking: { dir: ./runs }\n`,
  );
  return dir;
}

for (const engine of ['eager', 'graph'])
  it(`SIGINT finishes the batch, records KILLED and exits 130; --resume completes the run (${engine})`, {
    timeout: 120_000,
  }, async () => {
    const dir = await longRun('sig', 200, engine);
    let sent = false;
    const first = await spawnCli(['exp.yaml'], dir, (line, kill) => {
      if (!sent && /^epoch +2\/200/.test(line)) {
        sent = true;
        kill();
      }
    });
    expect(first.code).toBe(130);
    expect(first.out).toMatch(/SIGINT: stopping after this batch/);
    const [id] = readdirSync(path.join(dir, 'runs', 'sig'));
    const runDir = path.join(dir, 'runs', 'sig', id as string);
    expect(JSON.parse(readFileSync(path.join(runDir, 'status.json'), 'utf8')).status).toBe('KILLED');
    const resumed = await spawnCli(['exp.yaml', '--resume', runDir, '--quiet', '--set', 'training.epochs=200'], dir);
    expect(resumed.code).toBe(0);
    expect(JSON.parse(readFileSync(path.join(runDir, 'status.json'), 'utf8')).status).toBe('FINISHED');
    const epochs = readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).epoch);
    expect(epochs).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
  });

it('kill -9 mid-run: runs shows CRASHED, --reap records it, a second resume is refused while one runs, and --resume finishes', {
  timeout: 120_000,
}, async () => {
  const dir = await longRun('lost', 150);
  const first = await spawnCli(['exp.yaml'], dir, (line, kill) => {
    if (/^epoch +2\/150/.test(line)) kill('SIGKILL');
  });
  expect(first.code).toBe(null);
  const [id] = readdirSync(path.join(dir, 'runs', 'lost'));
  const runDir = path.join(dir, 'runs', 'lost', id as string);
  const status = () => JSON.parse(readFileSync(path.join(runDir, 'status.json'), 'utf8'));
  expect(status().status).toBe('RUNNING');
  const listed = await spawnCli(['runs', '--dir', 'runs', '--json'], dir);
  const [lost] = JSON.parse(listed.out);
  expect(lost).toMatchObject({ status: 'CRASHED', pid: expect.any(Number), heartbeat: expect.any(String) });
  const table = await spawnCli(['runs', '--dir', 'runs'], dir);
  expect(table.out).toMatch(/CRASHED .*last heartbeat 20\d\d-/);

  const reaped = await spawnCli(['runs', '--dir', 'runs', '--reap'], dir);
  expect(reaped.code).toBe(0);
  expect(reaped.out).toMatch(/^reaped .*lost.*: CRASHED, last heartbeat /m);
  expect(status()).toMatchObject({ status: 'CRASHED', ended: lost.heartbeat });
  expect((await spawnCli(['runs', '--dir', 'runs', '--reap'], dir)).out).not.toMatch(/reaped/);

  // One resume runs; a second one meanwhile is refused, naming the holder.
  let second: Promise<{ code: number | null; out: string }> | undefined;
  const resumed = await spawnCli(['exp.yaml', '--resume', runDir, '--set', 'training.epochs=150'], dir, (line) => {
    if (!second && /^epoch +\d+\/150/.test(line))
      second = spawnCli(['exp.yaml', '--resume', runDir, '--quiet', '--set', 'training.epochs=150'], dir);
  });
  expect(resumed.code).toBe(0);
  const refused = await (second as Promise<{ code: number | null; out: string }>);
  expect(refused.code).toBe(2);
  expect(refused.out).toMatch(/is in use by process \d+ on .*; wait for it to end or stop it/);
  expect(status().status).toBe('FINISHED');
  expect(readdirSync(runDir)).not.toContain('run.lock');
});

it('SIGINT while the data is prepared stops it there: exit 130, no run recorded, the faces found so far cached', {
  timeout: 120_000,
}, async () => {
  const dir = await longRun('early', 2);
  const file = path.join(dir, 'exp.yaml');
  writeFileSync(
    file,
    readFileSync(file, 'utf8').replace('size: [8, 8] }', 'size: [8, 8], crop: { type: face, on_miss: keep } }'),
  );
  const cache = path.join(dir, 'cache');
  const env = { RUN_EXP_CACHE_DIR: cache };
  let sent = false;
  const first = await spawnCli(
    ['exp.yaml'],
    dir,
    (line, kill) => {
      if (!sent && /^finding faces: 80 of 80 images$/.test(line)) {
        sent = true;
        kill();
      }
    },
    env,
  );
  expect(sent).toBe(true);
  expect(first.code).toBe(130);
  expect(first.out).toMatch(/SIGINT: stopping the data preparation/);
  expect(first.out).toMatch(/stopped before the run started: no run recorded/);
  expect(existsSync(path.join(dir, 'runs'))).toBe(false);
  // The box file was written when it stopped, with what it had found (none, or a batch or two on a busy machine).
  const [boxes] = readdirSync(path.join(cache, 'faces'));
  const found = Object.keys(
    JSON.parse(readFileSync(path.join(cache, 'faces', boxes as string, 'boxes.json'), 'utf8')),
  ).length;
  expect(found).toBeLessThan(80);
  // Without a terminal each step says where it starts; the second run detects only the rest, and finishes.
  const second = await spawnCli(['exp.yaml'], dir, undefined, env);
  expect(second.code).toBe(0);
  expect(second.out).toMatch(new RegExp(`^finding faces: ${80 - found} of 80 images$`, 'm'));
  expect(second.out).toMatch(new RegExp(`detected now ${80 - found}, boxes from cache ${found}$`, 'm'));
  expect(second.out).toMatch(/^decoding: 80 of 80 images$/m);
  expect(second.out).toMatch(/^FINISHED /m);
});
