// The MLflow client and sink against a real MLflow server: what a run records
// locally is what MLflow holds, and large histories and artifacts go through.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { resolveExperiment } from '../../src/config/resolve.ts';
import { CONTEXT_TAG } from '../../src/record/datasets.ts';
import { artifactRoot, type LoggedModel, mlflowClient, splitBatch } from '../../src/record/mlflow-client.ts';
import { findParent, parentRun } from '../../src/record/mlflow-parent.ts';
import { syncRun } from '../../src/record/sync.ts';
import { runExperiment } from '../../src/runner/run.ts';
import { tempDir } from '../data/fixtures.ts';
import { checkRecord } from '../support/mlflow-check.ts';
import { faultProxy, mlflowMajor, mlflowServer, s3Store, serverPerFile } from '../support/mlflow-server.ts';
import { dataset, experimentFile } from '../support/toy.ts';

const server = serverPerFile();

describe('log-batch splitting', () => {
  it("keeps every request within MLflow's count and size limits, in order", () => {
    const metrics = Array.from({ length: 2500 }, (_, i) => ({ key: 'm', value: i, timestamp: i, step: i }));
    const params = Array.from({ length: 250 }, (_, i) => ({ key: `p${i}`, value: 'v' }));
    const tags = Array.from({ length: 150 }, (_, i) => ({ key: `t${i}`, value: 'x'.repeat(7000) }));
    const parts = splitBatch({ metrics, params, tags });
    for (const p of parts) {
      expect(p.metrics.length).toBeLessThanOrEqual(1000);
      expect(p.params.length).toBeLessThanOrEqual(100);
      expect(p.tags.length).toBeLessThanOrEqual(100);
      expect(p.metrics.length + p.params.length + p.tags.length).toBeLessThanOrEqual(1000);
      expect(JSON.stringify({ run_id: 'x'.repeat(32), ...p }).length).toBeLessThanOrEqual(1_000_000);
    }
    expect(parts.flatMap((p) => p.metrics)).toEqual(metrics);
    expect(parts.flatMap((p) => p.params)).toEqual(params);
    expect(parts.flatMap((p) => p.tags)).toEqual(tags);
  });
});

describe('MLflow client against a real server', () => {
  it('takes a 5,000-step metric history and a 50 MB artifact and gives them back', async () => {
    // Multipart is tried from 10 MB; this server's local store does not offer it, so the client falls back.
    const client = mlflowClient({ uri: server.uri, multipartMinBytes: 10 * 2 ** 20 });
    const experimentId = await client.getOrCreateExperiment('big');
    const { info } = await client.createRun({ experimentId, startTime: Date.now() });
    const metrics = Array.from({ length: 5000 }, (_, i) => ({
      key: 'loss',
      value: 1 / (i + 1),
      timestamp: 1_700_000_000_000 + i,
      step: i,
    }));
    await client.logBatch(info.run_id, { metrics });
    const history = await client.metricHistory(info.run_id, 'loss');
    expect(history.sort((a, b) => a.step - b.step)).toEqual(metrics);

    const file = path.join(tempDir(), 'big.bin');
    const bytes = Buffer.alloc(50 * 2 ** 20);
    for (let i = 0; i < bytes.length; i += 4096) bytes[i] = i % 251;
    writeFileSync(file, bytes);
    await client.uploadArtifact(info.artifact_uri, 'blobs/big.bin', file);
    expect(await client.listArtifacts(info.artifact_uri)).toEqual([
      { path: 'blobs/big.bin', is_dir: false, file_size: bytes.length },
    ]);
    const back = await client.downloadArtifact(info.artifact_uri, 'blobs/big.bin');
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    expect(sha(back)).toBe(sha(bytes));
  }, 120_000);

  it('uploads in parts where the server offers multipart (an S3 store behind it)', async () => {
    const s3 = await s3Store('mlflow-mpu');
    const server = await mlflowServer({ artifacts: s3.artifacts, env: s3.env });
    const proxy = await faultProxy(server.uri, () => 'pass');
    try {
      const client = mlflowClient({ uri: proxy.uri, multipartMinBytes: 5 * 2 ** 20, multipartChunkBytes: 5 * 2 ** 20 });
      const { info } = await client.createRun({
        experimentId: await client.getOrCreateExperiment('mpu'),
        startTime: 0,
      });
      const file = path.join(tempDir(), 'weights.bin');
      const bytes = Buffer.alloc(12 * 2 ** 20);
      for (let i = 0; i < bytes.length; i += 997) bytes[i] = i % 251;
      writeFileSync(file, bytes);
      await client.uploadArtifact(info.artifact_uri, 'model/weights.bin', file);
      expect(proxy.urls.filter((u) => u.includes('/mlflow-artifacts/mpu/'))).toEqual([
        `POST /api/2.0/mlflow-artifacts/mpu/create/${artifactRoot(info.artifact_uri)}/model`,
        `POST /api/2.0/mlflow-artifacts/mpu/complete/${artifactRoot(info.artifact_uri)}/model`,
      ]);
      expect(proxy.urls.some((u) => u.startsWith('PUT /api/2.0/mlflow-artifacts/artifacts/'))).toBe(false);
      expect(await client.listArtifacts(info.artifact_uri)).toEqual([
        { path: 'model/weights.bin', is_dir: false, file_size: bytes.length },
      ]);
      expect((await client.downloadArtifact(info.artifact_uri, 'model/weights.bin')).equals(bytes)).toBe(true);
    } finally {
      await proxy.close();
      await server.stop();
      s3.stop();
    }
  }, 120_000);

  it('retries 5xx, 429 and dropped connections but never a 4xx; sends credentials but never shows them', async () => {
    const token = 'sekret-token-123';
    const proxy = await faultProxy(server.uri, (n) => (['500', '429', 'drop'] as const)[n] ?? 'pass');
    try {
      const client = mlflowClient({ uri: proxy.uri, backoffMs: 5, env: { MLFLOW_TRACKING_TOKEN: token } });
      expect(await client.getOrCreateExperiment('retries')).toMatch(/^\d+$/);
      expect(proxy.counts).toMatchObject({ '500': 1, '429': 1, drop: 1 });
      expect(proxy.headers[0]?.authorization).toBe(`Bearer ${token}`);
      const before = proxy.counts.pass;
      const err = await client.getRun('no-such-run').catch((e: Error) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toMatch(/404|RESOURCE_DOES_NOT_EXIST|not found/i);
      expect((err as Error).message).not.toContain(token);
      expect(proxy.counts.pass - before).toBe(1);

      const basic = mlflowClient({
        uri: proxy.uri,
        env: { MLFLOW_TRACKING_USERNAME: 'ann', MLFLOW_TRACKING_PASSWORD: 'pw' },
      });
      await basic.getExperimentByName('retries');
      expect(proxy.headers.at(-1)?.authorization).toBe(`Basic ${Buffer.from('ann:pw').toString('base64')}`);
    } finally {
      await proxy.close();
    }
  });
});

describe('the parent run of a sweep', () => {
  it('is made by whoever takes over a lock whose creator died before naming the parent, and only once', async () => {
    const client = mlflowClient({ uri: server.uri });
    const experimentId = await client.getOrCreateExperiment('orphan-lock');
    // A creator that took the lock and died: the lock exists, no parent is named.
    await client.createExperiment('orphan-lock/.sweep-s1');
    const sweep = { id: 's1', tags: [] };
    const [a, b] = await Promise.all([
      parentRun(client, experimentId, 'orphan-lock', sweep, 1000),
      parentRun(client, experimentId, 'orphan-lock', sweep, 1000),
    ]);
    expect(a).toBe(b);
    expect(await parentRun(client, experimentId, 'orphan-lock', sweep, 1000)).toBe(a);
    expect((await findParent(client, experimentId, 's1'))?.run_id).toBe(a);
    expect(await client.searchRuns([experimentId])).toHaveLength(1);
  });
});

describe('a run tracked in MLflow', () => {
  it('holds the same params, tags, metric history and artifacts as the run folder', async () => {
    const dir = tempDir();
    await dataset(path.join(dir, 'images'), 12);
    await dataset(path.join(dir, 'other'), 4);
    const resolved = resolveExperiment(
      experimentFile(
        dir,
        `  mlflow_uri: ${server.uri}\n  experiment_name: toy-tracked\n  tags: { team: vision }\ndescription: the toy task, tracked\n`,
      ),
      // An evaluation set, and a face crop (the toy images have no faces: kept whole) for the detector's tags.
      {
        env: {},
        set: [`data.evaluation_sets.other=${path.join(dir, 'other')}`, 'data.preprocessing.crop={type: face}'],
      },
    );
    const result = await runExperiment(resolved, {}, path.join(dir, 'cache'));
    expect(result.status).toBe('FINISHED');
    expect(result.mlflow).toMatchObject({ pending: 0 });
    expect(result.mlflow?.url).toMatch(new RegExp(`^${server.uri}/#/experiments/\\d+/runs/\\w+$`));

    const client = mlflowClient({ uri: server.uri });
    const check = await checkRecord(client, result.run.dir, 'toy-tracked');
    expect(check.runs).toBe(1);
    expect(check.lost).toBe(0);
    expect(check.doubled).toBe(0);
    expect(check.remote.params).toEqual(check.local.params);
    expect(check.remote.params['training.optimizer.lr']).toBe('0.01');
    expect(check.remote.params['model.layers.0.filters']).toBe('4');
    expect(check.remote.metrics).toEqual(check.local.metrics);
    expect(check.remote.metrics.val_accuracy).toHaveLength(4);
    expect(Object.keys(check.remote.metrics)).toContain('per_class.top.val_f1');
    // The evaluation set, scored at the last epoch, as <set>_<metric>.
    for (const m of ['accuracy', 'loss', 'precision', 'recall', 'f1', 'auc']) {
      expect(check.remote.metrics[`other_${m}`], m).toHaveLength(1);
      expect(check.remote.metrics[`other_${m}`]?.[0]?.[0], m).toBe(4);
    }
    expect(check.remote.artifacts).toEqual(check.local.artifacts);
    expect(check.remote.artifacts).toEqual(
      expect.arrayContaining([
        'config.yaml',
        'metrics.jsonl',
        'model/model.json',
        'evaluation.json',
        'report.html',
        'log.jsonl',
      ]),
    );
    expect(check.run.info.status).toBe('FINISHED');
    expect(check.run.info.end_time).toBeGreaterThan(check.run.info.start_time as number);
    // The training data and the evaluation set as dataset inputs: digest = the start of data.json's hash.
    const data = JSON.parse(readFileSync(path.join(result.run.dir, 'data.json'), 'utf8'));
    const inputs = check.run.inputs?.dataset_inputs ?? [];
    const byContext = (c: string) => inputs.filter((i) => i.tags.some((t) => t.key === CONTEXT_TAG && t.value === c));
    expect(byContext('training').map((i) => i.dataset)).toEqual([
      expect.objectContaining({ name: 'images', digest: data.hash.slice(0, 32), source_type: 'local' }),
    ]);
    expect(byContext('evaluation').map((i) => i.dataset)).toEqual([
      expect.objectContaining({ name: 'other', digest: data.evaluation_sets.other.hash.slice(0, 32) }),
    ]);
    if (mlflowMajor() >= 3) {
      // The model as a logged model: READY, its files those of the run's model/ folder, the final metrics linked.
      expect(check.models).toHaveLength(1);
      const model = check.models[0] as LoggedModel;
      expect(model.info).toMatchObject({
        status: 'LOGGED_MODEL_READY',
        model_type: 'tfjs',
        source_run_id: check.run.info.run_id,
      });
      const files = await client.listArtifacts(model.info.artifact_uri);
      expect(files.map((f) => f.path).sort()).toEqual([
        'MLmodel',
        'code/run_exp_pyfunc.py',
        'input_example.json',
        'model.json',
        'python_env.yaml',
        'requirements.txt',
        'serving_input_example.json',
        'weights.bin',
      ]);
      for (const f of files.filter((x) => x.path !== 'MLmodel'))
        expect(await client.downloadArtifact(model.info.artifact_uri, f.path)).toEqual(
          readFileSync(path.join(result.run.dir, 'model', f.path)),
        );
      // Its MLmodel is the run's with what only the server knows: the MLflow run, the logged model, MLflow's version.
      expect(parse(String(await client.downloadArtifact(model.info.artifact_uri, 'MLmodel')))).toEqual({
        ...parse(readFileSync(path.join(result.run.dir, 'model', 'MLmodel'), 'utf8')),
        run_id: check.run.info.run_id,
        model_id: model.info.model_id,
        mlflow_version: expect.stringMatching(/^\d+\.\d+/),
      });
      const linked = (await client.getLoggedModel(model.info.model_id)).data;
      expect(linked?.metrics?.find((m) => m.key === 'val_accuracy')).toMatchObject({
        step: 4,
        value: check.remote.metrics.val_accuracy?.[3]?.[1],
      });
      expect(linked?.params?.find((p) => p.key === 'model.layers.0.filters')?.value).toBe('4');
      expect((check.run as { outputs?: { model_outputs?: { model_id: string }[] } }).outputs?.model_outputs).toEqual([
        expect.objectContaining({ model_id: model.info.model_id }),
      ]);
    } else {
      // A 2.x server has no logged models: the model stays under the run's model/, said once.
      expect(check.models).toEqual([]);
      expect(result.mlflow?.notices).toEqual([expect.stringMatching(/has no logged models \(MLflow 2\.x\)/)]);
      expect(check.remote.artifacts).toEqual(expect.arrayContaining(['model/MLmodel', 'model/weights.bin']));
    }
    const training = byContext('training')[0]?.dataset;
    expect(JSON.parse(training?.source ?? '{}').uri).toBe(pathToFileURL(path.join(dir, 'images')).href);
    expect(JSON.parse(training?.schema ?? '{}').classes).toEqual(data.classes);
    const profile = JSON.parse(training?.profile ?? '{}');
    expect([profile.train, profile.validation]).toEqual(
      ['train', 'validation'].map((s) =>
        Object.fromEntries(data.classes.map((c: string, i: number) => [c, data.counts[s][i]])),
      ),
    );
    expect(check.tags).toMatchObject({
      'mlflow.runName': result.run.id,
      'mlflow.source.type': 'LOCAL',
      'mlflow.note.content': 'the toy task, tracked',
      'run_exp.run_id': result.run.id,
      team: 'vision',
      'run_exp.face_detector': 'blazeface (@vladmandic/human@3.3.6)',
    });
    for (const key of [
      'mlflow.user',
      'mlflow.source.name',
      'mlflow.source.git.commit',
      'run_exp.config_hash',
      'run_exp.dataset_hash',
      'run_exp.tfjs',
      'run_exp.libtensorflow',
      'run_exp.face_detector.licence',
      'run_exp.face_detector.sha256.models/blazeface.bin',
    ]) {
      expect(check.tags[key], key).toBeTruthy();
    }

    // Replaying a synced run sends nothing and changes nothing.
    expect(await syncRun(result.run.dir)).toMatchObject({ replayed: 0, pending: 0 });
  }, 120_000);
});
