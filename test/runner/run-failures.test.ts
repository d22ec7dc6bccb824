// Whatever fails once a run has started, the run ends FAILED with the message
// (never left RUNNING), what it recorded stays, and a user's mistake is still
// a located error with exit 2; a resume refused before it starts leaves the run as it was.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../data/fixtures.ts';
import { cli } from '../support/cli.ts';
import { dataset, experimentFile } from '../support/toy.ts';

const status = (run: string) => JSON.parse(readFileSync(path.join(run, 'status.json'), 'utf8'));
const runsOf = (dir: string) => readdirSync(path.join(dir, 'runs', 'toy')).map((r) => path.join(dir, 'runs', 'toy', r));

describe('a run that fails after its folder exists', () => {
  it('a model to start from that cannot be loaded: FAILED with the message, exit 2 at model.init_from', async () => {
    const dir = tempDir();
    await dataset(path.join(dir, 'images'), 4);
    // A folder that looks like a run's model (so the early check passes) but holds no model.
    mkdirSync(path.join(dir, 'broken', 'model'), { recursive: true });
    writeFileSync(path.join(dir, 'broken', 'model', 'model.json'), '{"modelTopology": ');
    const file = experimentFile(dir);
    const { code, err } = await cli([file, '--quiet', '--set', `model.init_from=${path.join(dir, 'broken')}`]);
    expect(code).toBe(2);
    expect(err).toMatch(/--set model\.init_from=.*model\.init_from .*cannot be loaded as a model/);
    expect(err).not.toContain('internal error');
    const [run] = runsOf(dir);
    expect(status(run as string)).toMatchObject({
      status: 'FAILED',
      error: expect.stringContaining('cannot be loaded'),
    });
    // What it recorded before the failure stays.
    for (const f of ['config.yaml', 'environment.json', 'data.json', 'split.json', 'log.jsonl'])
      expect(readdirSync(run as string)).toContain(f);
    expect(readdirSync(run as string)).not.toContain('run.lock');
  });

  it('a resume refused before it starts (another experiment) leaves the stopped run as it was', async () => {
    const dir = tempDir();
    await dataset(path.join(dir, 'images'), 4);
    const file = experimentFile(dir);
    const first = await cli([file, '--quiet', '--set', 'training.epochs=1']);
    expect(first.code).toBe(0);
    const [run] = runsOf(dir);
    const before = status(run as string);
    const refused = await cli([file, '--quiet', '--set', 'training.epochs=2', '--resume', run as string]);
    expect(refused.code).toBe(2);
    expect(refused.err).toContain('the experiment differs from the one');
    expect(status(run as string)).toEqual(before);
  });
});
