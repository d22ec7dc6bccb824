// MLflow servers as they are deployed: artifacts proxied, or handed to the
// client to write itself (a local or mounted path, S3 through moto), or in a
// store run-exp does not write (gs://). Each run ends FINISHED with all its
// metrics and dataset inputs, and its model files where the store allows, as
// MLflow's own Python client reads them back.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveExperiment } from '../../src/config/resolve.ts';
import { artifactStore } from '../../src/record/artifact-stores.ts';
import { runExperiment } from '../../src/runner/run.ts';
import { tempDir } from '../data/fixtures.ts';
import { MLFLOW_BIN, type MlflowServer, mlflowServer, s3Store } from '../support/mlflow-server.ts';
import { dataset, experimentFile } from '../support/toy.ts';

const python = path.join(path.dirname(MLFLOW_BIN), 'python');
const stops: (() => unknown)[] = [];
afterAll(async () => {
  await Promise.all(stops.map((stop) => stop()));
}, 60_000);

/** The run as MLflow's Python client sees it: status, metrics, dataset inputs, and the files under model/. */
function readBack(uri: string, experiment: string, env: Record<string, string>, download: boolean) {
  const script = `import json, os, sys, tempfile, mlflow
from mlflow import MlflowClient
mlflow.set_tracking_uri(sys.argv[1])
runs = mlflow.search_runs(experiment_names=[sys.argv[2]], output_format="list")
run = runs[0]
client = MlflowClient()
files = [f.path for f in client.list_artifacts(run.info.run_id, "model")] if sys.argv[3] == "1" else []
mlmodel = None
if sys.argv[3] == "1":
    local = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="model/MLmodel", dst_path=tempfile.mkdtemp())
    mlmodel = open(local).read()
print(json.dumps({
    "runs": len(runs),
    "status": run.info.status,
    "metrics": sorted(run.data.metrics),
    "history": len(client.get_metric_history(run.info.run_id, "val_accuracy")),
    "inputs": len(run.inputs.dataset_inputs),
    "tags": run.data.tags,
    "files": files,
    "mlmodel": mlmodel,
}))`;
  const out = execFileSync(python, ['-c', script, uri, experiment, download ? '1' : '0'], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  return JSON.parse(out.trim().split('\n').at(-1) as string);
}

async function toyRun(uri: string, experiment: string, env: Record<string, string> = {}) {
  const dir = tempDir();
  await dataset(path.join(dir, 'images'), 8);
  const resolved = resolveExperiment(experimentFile(dir, `  mlflow_uri: ${uri}\n  experiment_name: ${experiment}\n`), {
    env: {},
    set: ['training.epochs=3'],
  });
  // The credentials of a direct store come from run-exp's environment, as for MLflow's own client.
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    return await runExperiment(resolved, {}, path.join(dir, 'cache'));
  } finally {
    for (const k of Object.keys(env)) if (saved[k] === undefined) delete process.env[k];
  }
}

async function server(options: Parameters<typeof mlflowServer>[0]): Promise<MlflowServer> {
  const s = await mlflowServer(options);
  stops.push(() => s.stop());
  return s;
}

describe('artifact locations as MLflow clients support them', () => {
  it.each([
    ['proxied (mlflow-artifacts:)', 'proxied'],
    ['a local path written directly (--default-artifact-root <dir> --no-serve-artifacts)', 'path'],
    ['a file: URI written directly', 'file-uri'],
    ['S3 written directly (moto, MLFLOW_S3_ENDPOINT_URL)', 's3'],
  ] as const)(
    '%s: FINISHED with every metric, the dataset inputs and the model files',
    async (_, layout) => {
      let env: Record<string, string> = {};
      let options: Parameters<typeof mlflowServer>[0] = {};
      if (layout === 'path') options = { defaultArtifactRoot: path.join(tempDir(), 'artifact-root') };
      if (layout === 'file-uri') options = { defaultArtifactRoot: `file://${path.join(tempDir(), 'artifact-root')}` };
      if (layout === 's3') {
        const s3 = await s3Store('run-exp-artifacts');
        stops.push(s3.stop);
        env = s3.env;
        options = { defaultArtifactRoot: `${s3.artifacts}/mlflow`, env };
      }
      const s = await server(options);
      const result = await toyRun(s.uri, `layout-${layout}`, env);
      expect(result.status).toBe('FINISHED');
      expect(result.mlflow).toMatchObject({ pending: 0, missing: [] });
      const got = readBack(s.uri, `layout-${layout}`, env, true);
      expect(got).toMatchObject({ runs: 1, status: 'FINISHED', history: 3 });
      expect(got.metrics).toEqual(expect.arrayContaining(['val_accuracy', 'val_loss', 'accuracy']));
      expect(got.inputs).toBeGreaterThan(0);
      expect(got.files).toEqual(expect.arrayContaining(['model/MLmodel', 'model/model.json', 'model/weights.bin']));
      expect(got.mlmodel).toMatch(/python_function/);
      expect(got.tags['run_exp.artifacts_missing']).toBeUndefined();
    },
    240_000,
  );

  it('a store run-exp does not write (gs://): one line before training saying what to do; the run FINISHED with its metrics and inputs, its files listed as missing', async () => {
    const s = await server({ defaultArtifactRoot: 'gs://some-bucket/mlflow' });
    const dir = tempDir();
    await dataset(path.join(dir, 'images'), 8);
    const file = experimentFile(dir, `  mlflow_uri: ${s.uri}\n  experiment_name: layout-gs\n`);
    const result = await runExperiment(
      resolveExperiment(file, { env: {}, set: ['training.epochs=2'] }),
      {},
      path.join(dir, 'cache'),
    );
    expect(result.status).toBe('FINISHED');
    const log = readFileSync(path.join(result.run.dir, 'log.jsonl'), 'utf8');
    // Before the first epoch: the store's scheme and what to do about it.
    const line = log.split('\n').findIndex((l) => l.includes('gs: store, which run-exp does not write itself'));
    const firstEpoch = log.split('\n').findIndex((l) => l.includes('"event":"epoch"'));
    expect(line).toBeGreaterThanOrEqual(0);
    expect(line).toBeLessThan(firstEpoch);
    expect(log).toMatch(/--artifacts-destination gs:\/\//);
    expect(result.mlflow).toMatchObject({ pendingRecords: 0 });
    expect(result.mlflow?.missing).toEqual(expect.arrayContaining(['config.yaml', 'model/model.json']));
    const got = readBack(s.uri, 'layout-gs', {}, false);
    expect(got).toMatchObject({ runs: 1, status: 'FINISHED', history: 2 });
    expect(got.inputs).toBeGreaterThan(0);
    expect(got.tags['run_exp.artifacts_missing']).toMatch(/gs: store/);
  }, 240_000);

  it('S3: a large file goes up in parts (multipart) and comes back whole; list and download read the bucket', async () => {
    const s3 = await s3Store('run-exp-multipart');
    stops.push(s3.stop);
    const store = artifactStore('s3://run-exp-multipart/runs/1/abc/artifacts', s3.env);
    const big = path.join(tempDir(), 'big.bin');
    const data = Buffer.alloc(20 * 2 ** 20);
    for (let i = 0; i < data.length; i += 4096) data[i] = i % 251;
    writeFileSync(big, data);
    await store.upload('model/weights.bin', big);
    await store.uploadText('model/MLmodel', 'flavors: {}\n');
    expect(await store.list()).toEqual([
      { path: 'model/MLmodel', is_dir: false, file_size: 12 },
      { path: 'model/weights.bin', is_dir: false, file_size: data.length },
    ]);
    expect((await store.download('model/weights.bin')).equals(data)).toBe(true);
    const head = await new S3Client({
      region: 'us-east-1',
      endpoint: s3.env.MLFLOW_S3_ENDPOINT_URL,
      forcePathStyle: true,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    }).send(new HeadObjectCommand({ Bucket: 'run-exp-multipart', Key: 'runs/1/abc/artifacts/model/weights.bin' }));
    // An S3 multipart object's ETag ends in -<parts>: 20 MiB in 8 MiB parts.
    expect(head.ETag).toMatch(/-3"$/);
  }, 60_000);
});
