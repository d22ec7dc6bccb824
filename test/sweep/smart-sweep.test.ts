// ASHA and TPE sweeps run for real on the toy task: a losing trial stops at its
// rung (PRUNED here, FINISHED with run_exp.pruned_at in MLflow) and is never
// run again; trials on two machines (two tracking folders, one MLflow server)
// prune each other; --next workers claim each trial of a tpe sweep once.
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { planSweep } from '../../src/plan/trial.ts';
import { mlflowClient } from '../../src/record/mlflow-client.ts';
import { listRuns } from '../../src/report/runs.ts';
import { trialFolders } from '../../src/report/sweep-summary.ts';
import { tempDir } from '../data/fixtures.ts';
import { cli, spawnCli } from '../support/cli.ts';
import { type MlflowServer, mlflowServer } from '../support/mlflow-server.ts';
import { dataset, experimentFile } from '../support/toy.ts';

let server: MlflowServer | undefined;
afterAll(async () => {
  await server?.stop();
});

// lr 1e-7 does not learn: its validation loss stays where the random weights put it, above a learning trial's.
const LOSING = `sweep:\n  metric: val_loss\n  goal: minimize\n  scheduler: { type: asha, reduction_factor: 2, min_epochs: 1 }\n  parameters:\n    training.optimizer.lr: [0.01, 0.0000001]\n  seeds: [1, 2]\n`;

describe('ASHA', () => {
  it('stops a losing trial at its rung, records it PRUNED, skips it on a restart and reports the sweep', async () => {
    const dir = tempDir();
    await dataset(path.join(dir, 'images'), 12);
    const file = experimentFile(dir, LOSING);
    const first = await cli(['sweep', file]);
    expect(first.code, first.err).toBe(0);
    // Trial 0 is the first at every rung: it goes on. Trials 2 and 3 (lr 1e-7) lose at rung 1 to the
    // learning ones; trial 1 (learning, another seed) goes on only if it beats trial 0 there.
    expect(first.err).toMatch(/trial 0: FINISHED/);
    expect(first.err).toMatch(/trial 2: PRUNED/);
    expect(first.err).toMatch(/trial 3: PRUNED/);
    expect(first.out).toMatch(/(2 of 4 trials finished, 2|1 of 4 trials finished, 3) pruned \(from run folders\)/);
    expect(first.out).toMatch(/\| 1 \| 4 \|/);
    expect(first.out).toMatch(/epochs trained of 16 for every trial in full/);

    const plan = planSweep(file, { env: {} });
    const folders = trialFolders(plan.base.experiment.tracking.dir, plan.sweepId);
    const pruned = folders.get(2)?.run as string;
    const status = JSON.parse(readFileSync(path.join(pruned, 'status.json'), 'utf8'));
    expect(status).toMatchObject({ status: 'PRUNED', pruned_at: 1, epochs_completed: 1 });
    expect(readFileSync(path.join(pruned, 'log.jsonl'), 'utf8')).toMatch(
      /rung 1: val_loss [\d.]+ ranks \d of \d+, the top \d go on: pruned/,
    );
    expect(
      listRuns(plan.base.experiment.tracking.dir).filter((r) => r.status === 'PRUNED').length,
    ).toBeGreaterThanOrEqual(2);
    const runs = await cli(['runs', '--dir', plan.base.experiment.tracking.dir]);
    expect(runs.out).toMatch(/PRUNED/);

    const again = await cli(['sweep', file]);
    expect(again.code).toBe(0);
    expect(again.err).toMatch(/trial 2: SKIPPED \(PRUNED earlier/);
    expect(again.err).toMatch(/trial 3: SKIPPED \(PRUNED earlier/);
    expect(again.err).not.toMatch(/: FINISHED|: PRUNED/);

    const png = path.join(dir, 'report.png');
    const report = await cli(['sweep', file, '--report', png]);
    expect(report.code, report.err).toBe(0);
    const meta = await sharp(png).metadata();
    expect(meta.width).toBeGreaterThan(400);
    expect(meta.height).toBeGreaterThan(300);
  }, 300_000);

  it('prunes across machines: two tracking folders, one MLflow server', async () => {
    server = await mlflowServer();
    // The same data on both (the sweep's id covers the data's path), each machine its own runs folder.
    const images = path.join(tempDir(), 'images');
    await dataset(images, 12);
    const files = [tempDir(), tempDir()].map((dir) => {
      const file = experimentFile(dir, `  mlflow_uri: ${server?.uri}\n  experiment_name: toy-asha\n${LOSING}`);
      writeFileSync(file, readFileSync(file, 'utf8').replace('path: ./images', `path: ${images}`));
      return file;
    });
    const [a, b] = files as [string, string];
    expect(planSweep(a, { env: {} }).sweepId).toBe(planSweep(b, { env: {} }).sweepId);
    const trial = async (file: string, index: number) => {
      const r = await spawnCli([file, '--trial', String(index)], path.dirname(file));
      expect(r.code, r.out).toBe(0);
      return r.out;
    };
    // Machine A finishes trial 0; machine B's trial 2 knows of it through MLflow alone.
    expect(await trial(a, 0)).toMatch(/^FINISHED/m);
    expect(await trial(b, 2)).toMatch(/rung 1: val_loss [\d.]+ ranks 2 of 2, the top 1 go on: pruned[\s\S]*^PRUNED/m);
    // Back on A: trial 3 sees trial 0 here and trial 2 through MLflow.
    expect(await trial(a, 3)).toMatch(/ranks \d of 3, the top 1 go on: pruned/);

    const client = mlflowClient({ uri: server.uri });
    const experimentId = (await client.getExperimentByName('toy-asha')) as string;
    const children = await client.searchRuns([experimentId], "tags.`run_exp.role` = 'trial'");
    const byTrial = Object.fromEntries(
      children.map((c) => {
        const tags = Object.fromEntries((c.data.tags ?? []).map((t) => [t.key, t.value]));
        return [tags['run_exp.trial'], { status: c.info.status, pruned: tags['run_exp.pruned_at'] }];
      }),
    );
    expect(byTrial).toEqual({
      0: { status: 'FINISHED', pruned: undefined },
      2: { status: 'FINISHED', pruned: '1' },
      3: { status: 'FINISHED', pruned: '1' },
    });
    const summary = await cli(['sweep', a, '--summarize']);
    expect(summary.out).toMatch(/1 of 4 trials finished, 2 pruned \(from mlflow\)/);
    const parent = (await client.searchRuns([experimentId], "tags.`run_exp.role` = 'parent'"))[0]?.info
      .run_id as string;
    expect((await client.metricHistory(parent, 'rung_trials')).map((m) => [m.step, m.value])).toEqual([
      [1, 3],
      [2, 1],
    ]);
  }, 300_000);
});

describe('TPE', () => {
  it('--next workers on two processes claim each trial once and record its proposal', async () => {
    server ??= await mlflowServer();
    const dir = tempDir();
    await dataset(path.join(dir, 'images'), 8);
    const file = experimentFile(
      dir,
      `  mlflow_uri: ${server.uri}\n  experiment_name: toy-tpe\nsweep:\n  method: tpe\n  trials: 5\n  seed: 3\n  parameters:\n    training.optimizer.lr: { min: 0.001, max: 0.1, scale: log }\n    model.layers[0].filters: [2, 4, 8]\n`,
    );
    writeFileSync(file, readFileSync(file, 'utf8').replace('epochs: 4', 'epochs: 1'));
    const matrix = await cli(['sweep', file, '--matrix']);
    expect(JSON.parse(matrix.out)).toEqual({ worker: [1, 2] });

    const workers = await Promise.all([0, 1].map(() => spawnCli(['sweep', file, '--next'], dir)));
    for (const w of workers) expect(w.code, w.out).toBe(0);
    const ran = workers.flatMap((w) => [...w.out.matchAll(/trial (\d+): FINISHED/g)].map((m) => Number(m[1])));
    expect(ran.sort()).toEqual([0, 1, 2, 3, 4]);

    const client = mlflowClient({ uri: server.uri });
    const experimentId = (await client.getExperimentByName('toy-tpe')) as string;
    const children = await client.searchRuns([experimentId], "tags.`run_exp.role` = 'trial'");
    expect(children).toHaveLength(5);
    for (const c of children) {
      const tags = Object.fromEntries((c.data.tags ?? []).map((t) => [t.key, t.value]));
      const params = Object.fromEntries((c.data.params ?? []).map((p) => [p.key, p.value]));
      const overrides = JSON.parse(tags['run_exp.overrides'] as string);
      expect(overrides['training.optimizer.lr']).toBeGreaterThanOrEqual(0.001);
      expect(overrides['training.optimizer.lr']).toBeLessThanOrEqual(0.1);
      expect(params['training.optimizer.lr']).toBe(String(overrides['training.optimizer.lr']));
      expect([2, 4, 8]).toContain(overrides['model.layers[0].filters']);
    }
    // Nothing left to claim: a third worker ends at once.
    const late = await spawnCli(['sweep', file, '--next'], dir);
    expect(late.code).toBe(0);
    expect(late.out).not.toMatch(/FINISHED \(|: FINISHED/);
    const summary = await cli(['sweep', file, '--summarize']);
    expect(summary.out).toMatch(/5 of 5 trials finished \(from mlflow\)/);
    expect(summary.out).not.toMatch(/\| \d+ \| {2}\|/);
  }, 300_000);
});
