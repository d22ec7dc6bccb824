// Sweep expansion: grid and random trials, their counts, order and
// determinism, each trial's resolved experiment, and the sweep id.
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/program.ts';
import { expandSweep, sweepId } from '../../src/plan/expand.ts';
import { planSweep, resolveTrial } from '../../src/plan/trial.ts';
import type { Sweep } from '../../src/spec/experiment.ts';
import { tempDir } from '../data/fixtures.ts';

const base = `name: s\nseed: 4\ndata:\n  path: ./images\nmodel:\n  layers:\n    - { type: conv2d, filters: 8, kernel_size: 3 }\n    - { type: flatten }\n    - { type: dense, units: 2, activation: softmax }\n`;

function file(sweep: string, dir = tempDir()): string {
  const f = path.join(dir, 'sweep.yaml');
  writeFileSync(f, `${base}sweep:\n${sweep}`);
  return f;
}

const sweep = (s: Partial<Sweep>): Sweep => ({
  method: 'grid',
  seed: 0,
  metric: 'val_accuracy',
  goal: 'maximize',
  parameters: {},
  ...s,
});

describe('grid', () => {
  it('every combination, the last parameter fastest, then each seed', () => {
    const trials = expandSweep(sweep({ parameters: { a: [1, 2], b: { values: ['x', 'y', 'z'] } }, seeds: [7, 8] }));
    expect(trials).toHaveLength(12);
    expect(trials.slice(0, 4).map((t) => t.overrides)).toEqual([
      { a: 1, b: 'x', seed: 7 },
      { a: 1, b: 'x', seed: 8 },
      { a: 1, b: 'y', seed: 7 },
      { a: 1, b: 'y', seed: 8 },
    ]);
    expect(trials.map((t) => t.index)).toEqual([...Array(12).keys()]);
  });
});

describe('random', () => {
  const s = sweep({
    method: 'random',
    trials: 200,
    seed: 3,
    parameters: {
      lr: { min: 0.0001, max: 0.1, scale: 'log' },
      batch: { min: 16, max: 128, scale: 'log', type: 'int' },
      dropout: { min: 0.1, max: 0.5 },
      width: [16, 32, 64],
    },
  });

  it('draws `trials` trials within each range, the same for the same seed, others for another', () => {
    const trials = expandSweep(s);
    expect(trials).toHaveLength(200);
    for (const { overrides: o } of trials) {
      expect(o.lr).toBeGreaterThanOrEqual(0.0001);
      expect(o.lr).toBeLessThanOrEqual(0.1);
      expect(Number.isInteger(o.batch)).toBe(true);
      expect(o.batch).toBeGreaterThanOrEqual(16);
      expect(o.batch).toBeLessThanOrEqual(128);
      expect([16, 32, 64]).toContain(o.width);
    }
    // Log scale: about as many draws below the geometric middle (0.00316) as above.
    const below = trials.filter((t) => (t.overrides.lr as number) < Math.sqrt(0.0001 * 0.1)).length;
    expect(below).toBeGreaterThan(70);
    expect(below).toBeLessThan(130);
    expect(expandSweep(s)).toEqual(trials);
    expect(expandSweep({ ...s, seed: 4 })).not.toEqual(trials);
  });
});

describe('trials of a file', () => {
  it("each trial's experiment carries its overrides and no sweep; --trial i is entry i of --list", async () => {
    const f = file(
      '  parameters:\n    training.optimizer.lr: [0.01, 0.1]\n    model.layers[0].filters: { values: [4, 16] }\n  seeds: [1, 2]\n',
    );
    const out: string[] = [];
    const io = { out: (s: string) => out.push(s), err: () => {}, env: {} };
    expect(await main(['sweep', f, '--list', '--json'], io)).toBe(0);
    const listed = JSON.parse(out.join('')) as { trials: { index: number; overrides: Record<string, unknown> }[] };
    expect(listed.trials).toHaveLength(8);
    for (const t of listed.trials) {
      const { resolved, trial } = resolveTrial(f, { env: {} }, t.index);
      expect(trial.overrides).toEqual(t.overrides);
      const e = resolved.experiment;
      expect(e.sweep).toBeUndefined();
      expect(e.training.optimizer.lr).toBe(t.overrides['training.optimizer.lr']);
      expect(e.model.layers[0]?.filters).toBe(t.overrides['model.layers[0].filters']);
      expect(e.seed).toBe(t.overrides.seed);
    }
    out.length = 0;
    expect(await main(['sweep', f, '--matrix'], io)).toBe(0);
    expect(JSON.parse(out.join(''))).toEqual({ trial: [0, 1, 2, 3, 4, 5, 6, 7] });
    expect(() => resolveTrial(f, { env: {} }, 8)).toThrow(/no trial 8: the sweep has 8 trials, 0 to 7/);
  });

  it('the sweep id: the same for the same file wherever and however it runs, another for another sweep', () => {
    const dir = tempDir();
    const f = file('  parameters:\n    training.optimizer.lr: [0.01, 0.1]\n', dir);
    const id = planSweep(f, { env: {} }).sweepId;
    expect(planSweep(f, { env: {}, set: ['training.threads=1', 'tracking.dir=/elsewhere'] }).sweepId).toBe(id);
    expect(sweepId(resolveTrial(f, { env: {} }, 0).resolved.experiment)).not.toBe(id);
    expect(planSweep(f, { env: {}, set: ['training.epochs=3'] }).sweepId).not.toBe(id);
  });
});
