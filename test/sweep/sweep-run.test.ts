// Sweeps run for real: trial processes started at once against a real MLflow
// server make one parent and a child each; a restarted sweep runs only the
// trials that did not finish.
import { spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/program.ts';
import { planSweep } from '../../src/plan/trial.ts';
import { mlflowClient } from '../../src/record/mlflow-client.ts';
import { trialFolders } from '../../src/report/sweep-summary.ts';
import { tempDir } from '../data/fixtures.ts';
import { type MlflowServer, mlflowServer } from '../support/mlflow-server.ts';
import { dataset, experimentFile } from '../support/toy.ts';

const bin = path.resolve(import.meta.dirname, '..', '..', 'bin', 'run-exp.js');

let server: MlflowServer | undefined;
afterAll(async () => {
  await server?.stop();
});

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (s: string) => out.push(s), err: (s: string) => err.push(s), env: {} } };
}

describe('sweeps', () => {
  it('8 trial processes started at once make exactly 1 parent run and 8 children with complete metrics', async () => {
    server = await mlflowServer();
    const dir = tempDir();
    await dataset(path.join(dir, 'images'), 8);
    const file = experimentFile(
      dir,
      `  mlflow_uri: ${server.uri}\n  experiment_name: toy-sweep\nsweep:\n  parameters:\n    training.optimizer.lr: [0.003, 0.01, 0.03, 0.1]\n  seeds: [1, 2]\n`,
    );
    writeFileSync(file, readFileSync(file, 'utf8').replace('epochs: 4', 'epochs: 2'));
    const plan = planSweep(file, { env: {} });
    expect(plan.trials).toHaveLength(8);

    const codes = await Promise.all(
      plan.trials.map(
        (t) =>
          new Promise<number | null>((resolve) => {
            const child = spawn(process.execPath, [bin, file, '--trial', String(t.index), '--quiet'], {
              cwd: dir,
              stdio: 'ignore',
            });
            child.on('close', resolve);
          }),
      ),
    );
    expect(codes).toEqual(Array(8).fill(0));

    const client = mlflowClient({ uri: server.uri });
    const experimentId = (await client.getExperimentByName('toy-sweep')) as string;
    const tagged = (role: string) =>
      client.searchRuns(
        [experimentId],
        `tags.\`run_exp.sweep_id\` = '${plan.sweepId}' and tags.\`run_exp.role\` = '${role}'`,
      );
    const parents = await tagged('parent');
    expect(parents).toHaveLength(1);
    const parent = parents[0]?.info.run_id;
    const children = await tagged('trial');
    expect(children).toHaveLength(8);
    expect(await client.searchRuns([experimentId])).toHaveLength(9);
    const seen = new Set<number>();
    for (const child of children) {
      const tags = Object.fromEntries((child.data.tags ?? []).map((t) => [t.key, t.value]));
      expect(tags['mlflow.parentRunId']).toBe(parent);
      const index = Number(tags['run_exp.trial']);
      seen.add(index);
      const params = Object.fromEntries((child.data.params ?? []).map((p) => [p.key, p.value]));
      const overrides = plan.trials[index]?.overrides ?? {};
      expect(params['training.optimizer.lr']).toBe(String(overrides['training.optimizer.lr']));
      expect(params.seed).toBe(String(overrides.seed));
      expect(child.info.status).toBe('FINISHED');
      for (const key of ['loss', 'accuracy', 'val_loss', 'val_accuracy']) {
        expect((await client.metricHistory(child.info.run_id, key)).map((m) => m.step).sort()).toEqual([1, 2]);
      }
    }
    expect([...seen].sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);

    const { out, io } = capture();
    expect(await main(['sweep', file, '--summarize'], io)).toBe(0);
    expect(out.join('')).toMatch(/8 of 8 trials finished \(from mlflow\)/);
    const summarized = await client.getRun(parent as string);
    const ptags = Object.fromEntries((summarized.data.tags ?? []).map((t) => [t.key, t.value]));
    expect(Number(ptags['run_exp.best_trial'])).toBeGreaterThanOrEqual(0);
    expect(ptags['mlflow.note.content']).toContain('| trial |');
    expect(summarized.info.status).toBe('FINISHED');
    expect((await client.metricHistory(parent as string, 'trial_val_accuracy')).length).toBe(8);

    // The best trial's model, registered from MLflow (as a CI job that ran none of the trials would).
    for (const round of [1, 2]) {
      const reg = capture();
      expect(await main(['sweep', file, '--summarize', '--register', 'toy-best'], reg.io), reg.err.join('')).toBe(0);
      expect(reg.out.join('')).toContain(
        `best trial ${ptags['run_exp.best_trial']} registered: toy-best version 1${round === 2 ? ' (already)' : ''}`,
      );
    }
    const versions = await client.searchModelVersions("name='toy-best'");
    expect(versions.map((v) => [v.version, v.run_id])).toEqual([['1', ptags['run_exp.best_run_id']]]);
  }, 300_000);

  it('a sweep started again runs only the trials that did not finish, resuming the interrupted one', async () => {
    const dir = tempDir();
    await dataset(path.join(dir, 'images'), 8);
    const file = experimentFile(dir, `sweep:\n  parameters:\n    training.optimizer.lr: [0.003, 0.01, 0.03, 0.1]\n`);
    writeFileSync(file, readFileSync(file, 'utf8').replace('epochs: 4', 'epochs: 2'));
    const first = capture();
    expect(await main(['sweep', file, '--parallel', '2'], first.io)).toBe(0);
    expect(first.err.join('').match(/FINISHED/g)).toHaveLength(4);
    expect(first.out.join('')).toMatch(/4 of 4 trials finished \(from run folders\)/);

    const plan = planSweep(file, { env: {} });
    const folders = trialFolders(plan.base.experiment.tracking.dir, plan.sweepId);
    const killed = folders.get(1)?.run as string;
    const status = JSON.parse(readFileSync(path.join(killed, 'status.json'), 'utf8'));
    writeFileSync(path.join(killed, 'status.json'), JSON.stringify({ ...status, status: 'KILLED' }));
    rmSync(folders.get(2)?.run as string, { recursive: true });

    const again = capture();
    expect(await main(['sweep', file, '--parallel', '2'], again.io)).toBe(0);
    const lines = again.err.join('');
    expect(lines).toMatch(/trial 0: SKIPPED \(FINISHED earlier/);
    expect(lines).toMatch(/trial 3: SKIPPED \(FINISHED earlier/);
    expect(lines).toContain(`trial 1: FINISHED (resumed ${killed})`);
    expect(lines).toMatch(/trial 2: FINISHED/);
    expect(trialFolders(plan.base.experiment.tracking.dir, plan.sweepId).get(1)?.run).toBe(killed);
    expect(again.out.join('')).toMatch(/4 of 4 trials finished/);
  }, 300_000);
});
