// Faults between run-exp and a real MLflow server: down at the start, killed
// mid-run and started again, a proxy that answers 500, 429 or drops the
// connection. Training always finishes, events wait in the spool, and after
// `run-exp sync` MLflow holds the whole run once: nothing lost, nothing doubled.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/program.ts';
import { resolveExperiment } from '../../src/config/resolve.ts';
import { rng } from '../../src/platform/random.ts';
import { mlflowClient } from '../../src/record/mlflow-client.ts';
import { syncRun } from '../../src/record/sync.ts';
import { type RunResult, runExperiment } from '../../src/runner/run.ts';
import { tempDir } from '../data/fixtures.ts';
import { cli, spawnCli } from '../support/cli.ts';
import { checkRecord } from '../support/mlflow-check.ts';
import { type Fault, faultProxy, freePort, type MlflowServer, mlflowServer } from '../support/mlflow-server.ts';
import { dataset, experimentFile } from '../support/toy.ts';

// Quick to give up, so that the faults show within a small run; every emit tries the server again.
Object.assign(process.env, {
  RUN_EXP_MLFLOW_ATTEMPTS: '2',
  RUN_EXP_MLFLOW_BACKOFF_MS: '10',
  RUN_EXP_MLFLOW_TIMEOUT_MS: '5000',
  RUN_EXP_MLFLOW_RETRY_INTERVAL_MS: '0',
});

/** The server of the tests that do not kill theirs. */
let sharedServer: MlflowServer | undefined;
const shared = async () => {
  sharedServer ??= await mlflowServer();
  return sharedServer;
};
const servers: MlflowServer[] = [];
afterAll(async () => {
  await Promise.all([sharedServer, ...servers].map((s) => s?.stop()));
});

async function toyRun(
  uri: string,
  experiment: string,
  hooks: Parameters<typeof runExperiment>[1] = {},
  set: string[] = [],
) {
  const dir = tempDir();
  await dataset(path.join(dir, 'images'), 8);
  const resolved = resolveExperiment(experimentFile(dir, `  mlflow_uri: ${uri}\n  experiment_name: ${experiment}\n`), {
    env: {},
    set,
  });
  return { dir, resolved, result: await runExperiment(resolved, hooks, path.join(dir, 'cache')) };
}

/** Syncs until nothing is pending (a proxy may fail some tries), then checks the record on the server itself. */
async function syncAndCheck(server: MlflowServer, result: RunResult, experiment: string, via?: string) {
  let replayed = 0;
  for (let i = 0; i < 20; i++) {
    // `run-exp sync` itself: exit 1 while events are still pending.
    const out: string[] = [];
    const code = await main(['sync', result.run.dir, '--json', ...(via ? ['--uri', via] : [])], {
      out: (t) => out.push(t),
      err: () => {},
      env: {},
    });
    const [r] = JSON.parse(out.join('')) as { replayed: number; pending: number }[];
    replayed += r?.replayed ?? 0;
    expect(code).toBe(r?.pending ? 1 : 0);
    if (r?.pending === 0) break;
  }
  const check = await checkRecord(mlflowClient({ uri: server.uri }), result.run.dir, experiment);
  const report = {
    logged: check.logged,
    sent: result.mlflow?.sent,
    spooled: result.mlflow?.pending,
    replayed,
    lost: check.lost,
    doubled: check.doubled,
  };
  console.log(`${experiment}: ${JSON.stringify(report)}`);
  expect(check.runs).toBe(1);
  expect(check.lost).toBe(0);
  expect(check.doubled).toBe(0);
  expect(check.remote.params).toEqual(check.local.params);
  expect(check.remote.metrics).toEqual(check.local.metrics);
  expect(check.remote.artifacts).toEqual(check.local.artifacts);
  expect(check.run.info.status).toBe(result.status);
  expect((await syncRun(result.run.dir)).replayed).toBe(0);
  return report;
}

describe('MLflow faults', () => {
  it('server down before the start: training finishes, everything is spooled, sync sends it', async () => {
    const port = await freePort();
    const { result } = await toyRun(`http://127.0.0.1:${port}`, 'down-at-start');
    expect(result.status).toBe('FINISHED');
    expect(result.mlflow).toMatchObject({ sent: 0 });
    expect(result.mlflow?.pending).toBe(result.mlflow?.logged);
    expect(result.mlflow?.error).toMatch(/ECONNREFUSED|fetch failed/);
    const server = await mlflowServer({ port });
    servers.push(server);
    const report = await syncAndCheck(server, result, 'down-at-start');
    expect(report.replayed).toBe(report.logged);
  }, 180_000);

  it('server killed mid-run and started again: the record completes after sync', async () => {
    const server = await mlflowServer();
    servers.push(server);
    let sentBeforeKill = 0;
    let runDir = '';
    const { result } = await toyRun(
      server.uri,
      'killed-mid-run',
      {
        // Epochs 1-2 reach the server, 3-5 find it dead, 6-8 find it back.
        onEpoch: async (m) => {
          if (m.epoch === 2) {
            const state = () => JSON.parse(readFileSync(path.join(runDir, 'mlflow', 'state.json'), 'utf8'));
            while (state().sent < 5) await new Promise((r) => setTimeout(r, 20));
            sentBeforeKill = state().sent;
            await server.kill();
          }
          if (m.epoch === 5) await server.start();
        },
        onStart: ({ run }) => {
          runDir = run.dir;
        },
      },
      ['training.epochs=8'],
    );
    expect(result.status).toBe('FINISHED');
    expect(sentBeforeKill).toBeGreaterThanOrEqual(5);
    const report = await syncAndCheck(server, result, 'killed-mid-run');
    expect(report.logged).toBeGreaterThan(sentBeforeKill);
  }, 180_000);

  it('a proxy answering 500, 429 or dropping connections (before or after the server acted): nothing lost or doubled', async () => {
    const server = await shared();
    // A seeded 40% of requests fail, 10% each way.
    const random = rng(7);
    const faults: Fault[] = ['500', '429', 'drop', 'drop-after'];
    const proxy = await faultProxy(server.uri, () => {
      const r = random();
      return r < 0.4 ? (faults[Math.floor(r * 10)] as Fault) : 'pass';
    });
    try {
      const { result } = await toyRun(proxy.uri, 'flaky-proxy', {}, ['training.epochs=6']);
      expect(result.status).toBe('FINISHED');
      await syncAndCheck(server, result, 'flaky-proxy', proxy.uri);
      expect(proxy.counts['drop-after']).toBeGreaterThan(0);
    } finally {
      await proxy.close();
    }
  }, 180_000);

  it('artifact uploads failing (500 on artifact paths only): metrics, params and status still arrive; the missing files are listed; sync delivers them once', async () => {
    const server = await shared();
    let broken = true;
    const proxy = await faultProxy(server.uri, (_, url) =>
      broken && url.includes('/mlflow-artifacts/') ? '500' : 'pass',
    );
    try {
      const { result } = await toyRun(proxy.uri, 'artifacts-failing', {}, ['training.epochs=3']);
      expect(result.status).toBe('FINISHED');
      const report = result.mlflow;
      expect(report?.pendingRecords).toBe(0);
      expect(report?.missing).toEqual(expect.arrayContaining(['config.yaml', 'metrics.jsonl', 'model/model.json']));
      expect(report?.error).toMatch(/not uploaded.*500/);
      const client = mlflowClient({ uri: server.uri });
      const state = JSON.parse(readFileSync(path.join(result.run.dir, 'mlflow', 'state.json'), 'utf8'));
      const run = await client.getRun(state.run_id);
      // The run page: FINISHED, every epoch's metrics, and a tag saying which files are missing and why.
      expect(run.info.status).toBe('FINISHED');
      expect((await client.metricHistory(state.run_id, 'val_accuracy')).length).toBe(3);
      const tags = Object.fromEntries((run.data.tags ?? []).map((t) => [t.key, t.value]));
      expect(tags['run_exp.artifacts_missing']).toMatch(/file\(s\) not uploaded.*500.*run-exp sync/);
      // run-exp runs says it too.
      const listed = await cli(['runs', '--dir', path.dirname(path.dirname(result.run.dir))]);
      expect(listed.out).toMatch(/MLflow lacks \d+ file\(s\).*500/);
      broken = false;
      await syncAndCheck(server, result, 'artifacts-failing');
      const after = await client.getRun(state.run_id);
      expect((after.data.tags ?? []).map((t) => t.key)).not.toContain('run_exp.artifacts_missing');
    } finally {
      await proxy.close();
    }
  }, 180_000);

  it('a server without logged models (MLflow 2.x answers 404): the model stays among the run artifacts, with a warning, once', async () => {
    const server = await shared();
    const proxy = await faultProxy(server.uri, (_, url) => (url.includes('/logged-models') ? '404' : 'pass'));
    try {
      const { result } = await toyRun(proxy.uri, 'mlflow-2');
      expect(result.status).toBe('FINISHED');
      expect(result.mlflow).toMatchObject({ pending: 0 });
      expect(result.mlflow?.notices).toEqual([
        expect.stringMatching(/has no logged models \(MLflow 2\.x\).*under model\//),
      ]);
      const check = await checkRecord(mlflowClient({ uri: server.uri }), result.run.dir, 'mlflow-2');
      expect(check.models).toEqual([]);
      expect(check.remote.artifacts).toEqual(expect.arrayContaining(['model/MLmodel', 'model/model.json']));
      expect(check.run.info.status).toBe('FINISHED');
      // Replaying the spool does not ask again.
      const asked = proxy.counts['404'];
      expect((await syncRun(result.run.dir, proxy.uri)).pending).toBe(0);
      expect(proxy.counts['404']).toBe(asked);
    } finally {
      await proxy.close();
    }
  }, 180_000);

  it('a resumed run continues the same MLflow run', async () => {
    const server = await shared();
    let epochs = 0;
    const first = await toyRun(server.uri, 'resumed', { onEpoch: () => void epochs++, shouldStop: () => epochs >= 2 }, [
      'training.epochs=5',
    ]);
    expect(first.result.status).toBe('KILLED');
    expect(first.result.mlflow?.pending).toBe(0);
    const resumed = await runExperiment(first.resolved, {}, path.join(first.dir, 'cache'), first.result.run.dir);
    expect(resumed.status).toBe('FINISHED');
    const check = await checkRecord(mlflowClient({ uri: server.uri }), resumed.run.dir, 'resumed');
    expect(check.runs).toBe(1);
    expect(check.lost).toBe(0);
    expect(check.doubled).toBe(0);
    expect(check.remote.metrics).toEqual(check.local.metrics);
    expect(check.remote.metrics.loss).toHaveLength(5);
    expect(check.run.info.status).toBe('FINISHED');
  }, 180_000);

  it('kill -9 mid-run, then runs --reap: CRASHED here, FAILED in MLflow at the last heartbeat, once', async () => {
    const server = await shared();
    const dir = tempDir();
    await dataset(path.join(dir, 'images'), 8);
    experimentFile(dir, `  mlflow_uri: ${server.uri}\n  experiment_name: reaped\n`);
    const killed = await spawnCli(['exp.yaml', '--set', 'training.epochs=300'], dir, (line, kill) => {
      if (/^epoch +2\/300/.test(line)) kill('SIGKILL');
    });
    expect(killed.code).toBe(null);
    const runs = path.join(dir, 'runs');
    const reap = await cli(['runs', '--dir', runs, '--reap', '--json']);
    expect(reap.code, reap.err).toBe(0);
    const { runs: listed, reaped } = JSON.parse(reap.out);
    expect(listed[0].status).toBe('CRASHED');
    expect(reaped).toHaveLength(1);
    const state = JSON.parse(readFileSync(path.join(reaped[0].dir, 'mlflow', 'state.json'), 'utf8'));
    const run = await mlflowClient({ uri: server.uri }).getRun(state.run_id);
    expect(run.info.status).toBe('FAILED');
    expect(run.info.end_time).toBe(Date.parse(reaped[0].ended));
    expect(run.data.tags?.find((t) => t.key === 'run_exp.crashed')?.value).toMatch(
      /ended without recording an outcome/,
    );
    // Again: nothing left to do, nothing sent twice.
    const again = await cli(['runs', '--dir', runs, '--reap', '--json']);
    expect(JSON.parse(again.out).reaped).toEqual([]);
  }, 180_000);
});
