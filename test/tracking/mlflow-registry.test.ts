// The model registry against a real MLflow server: a finished run registered
// (twice: one version), an alias, `predict --model models:/...` equal to
// `predict --run`, and bad input that stops with exit 2 having created nothing.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/program.ts';
import { resolveExperiment } from '../../src/config/resolve.ts';
import { decodeJobs, fileJobs } from '../../src/data/preprocess.ts';
import { loadTensorflow } from '../../src/platform/tensorflow.ts';
import { mlflowClient } from '../../src/record/mlflow-client.ts';
import { loadRun } from '../../src/report/predict.ts';
import { runExperiment } from '../../src/runner/run.ts';
import { tempDir } from '../data/fixtures.ts';
import { MLFLOW_BIN, MODEL_PYTHON, mlflowMajor, serverPerFile } from '../support/mlflow-server.ts';
import { dataset, experimentFile } from '../support/toy.ts';

const server = serverPerFile();

async function cli(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (s) => out.push(s), err: (s) => err.push(s), env });
  return { code, out: out.join(''), err: err.join('') };
}

async function trackedRun(experiment: string, hooks: Parameters<typeof runExperiment>[1] = {}, set: string[] = []) {
  const dir = tempDir();
  await dataset(path.join(dir, 'images'), 8);
  const resolved = resolveExperiment(
    experimentFile(dir, `  mlflow_uri: ${server.uri}\n  experiment_name: ${experiment}\n`),
    { env: {}, set },
  );
  const result = await runExperiment(resolved, hooks, path.join(dir, 'cache'));
  return { dir, run: result.run.dir, result };
}

describe('the model registry', () => {
  it('registers a run once, sets an alias, and predicts from models:/ as from the run folder', async () => {
    const { dir, run, result } = await trackedRun('registry', {}, [
      'data.test_time_flip=true',
      'data.preprocessing.normalize=symmetric',
    ]);
    expect(result.status).toBe('FINISHED');
    const env = { MLFLOW_TRACKING_URI: server.uri, RUN_EXP_CACHE_DIR: path.join(dir, 'cache') };

    const first = await cli([
      'register',
      '--run',
      run,
      '--name',
      'toy',
      '--alias',
      'champion',
      '--tag',
      'team=vision',
      '--json',
    ]);
    expect(first.code, first.err).toBe(0);
    expect(JSON.parse(first.out)).toMatchObject({ name: 'toy', version: '1', alias: 'champion', created: true });
    const again = await cli(['register', '--run', run, '--name', 'toy', '--alias', 'champion']);
    expect(again.code, again.err).toBe(0);
    expect(again.out).toContain('already registered: toy version 1 (alias champion)');

    const client = mlflowClient({ uri: server.uri });
    const versions = await client.searchModelVersions("name='toy'");
    expect(versions).toHaveLength(1);
    const state = JSON.parse(readFileSync(path.join(run, 'mlflow', 'state.json'), 'utf8'));
    // MLflow 3 registers the logged model; a 2.x server, the model folder among the run's artifacts.
    const source = mlflowMajor() >= 3 ? `models:/${state.logged_model_id}` : expect.stringMatching(/\/model$/);
    expect(versions[0]).toMatchObject({ source, run_id: state.run_id });
    expect((await client.versionByAlias('toy', 'champion')).version).toBe('1');
    expect((await client.getModelVersion('toy', '1')).tags).toEqual(
      expect.arrayContaining([{ key: 'team', value: 'vision' }]),
    );

    // MLflow's own client reads the registered model's MLmodel: the MLflow run, a uuid, the signature.
    const python = path.join(path.dirname(MLFLOW_BIN), 'python');
    const info = JSON.parse(
      execFileSync(
        python,
        [
          '-c',
          `import json, mlflow
i = mlflow.models.get_model_info("models:/toy@champion")
print(json.dumps({"run_id": i.run_id, "model_uuid": i.model_uuid, "mlflow_version": i.mlflow_version,
  "inputs": i.signature.inputs.to_dict(), "outputs": i.signature.outputs.to_dict()}))`,
        ],
        { encoding: 'utf8', env: { ...process.env, MLFLOW_TRACKING_URI: server.uri } },
      )
        .trim()
        .split('\n')
        .at(-1) as string,
    );
    expect(info).toMatchObject({
      run_id: state.run_id,
      model_uuid: expect.stringMatching(/^[0-9a-f]{32}$/),
      mlflow_version: expect.stringMatching(/^\d+\.\d+/),
      inputs: [{ type: 'tensor', 'tensor-spec': { dtype: 'uint8', shape: [-1, 16, 16, 3] } }],
      outputs: [
        { type: 'float', name: 'bottom', required: true },
        { type: 'float', name: 'top', required: true },
      ],
    });

    const images = path.join(dir, 'images');
    const byRun = await cli(['predict', '--run', run, images, '--json']);
    expect(byRun.code, byRun.err).toBe(0);
    const byAlias = await cli(['predict', '--model', 'models:/toy@champion', images, '--json'], env);
    expect(byAlias.code, byAlias.err).toBe(0);
    expect(byAlias.err).toMatch(/version 1 downloaded to /);
    expect(JSON.parse(byAlias.out)).toEqual(JSON.parse(byRun.out));
    // MLflow's python_function flavor, loaded by alias in Python: the files' pixels after decode and resize
    // (the one preprocessing path) in, run-exp predict's probabilities out (the loader normalizes and flips).
    const files = (JSON.parse(byRun.out) as { file: string }[]).map((p) => p.file);
    const { tf } = await loadTensorflow();
    const p = (await loadRun(tf, run)).preprocessing;
    const pixels = new Uint8Array(files.length * 16 * 16 * 3);
    const errors = await decodeJobs(
      await fileJobs(files, p),
      p,
      pixels,
      files.map((_, i) => i * 16 * 16 * 3),
    );
    expect(errors.every((e) => e === undefined)).toBe(true);
    const pixelFile = path.join(dir, 'pixels.u8');
    writeFileSync(pixelFile, pixels);
    const pyfunc = JSON.parse(
      execFileSync(
        // The model's Python side (TensorFlow) lives in the suite's .venv, whatever the server's version.
        MODEL_PYTHON,
        [
          '-c',
          `import json, sys, numpy as np, mlflow
m = mlflow.pyfunc.load_model("models:/toy@champion")
x = np.fromfile(sys.argv[1], dtype=np.uint8).reshape(-1, 16, 16, 3)
print(json.dumps(m.predict(x).to_dict(orient="records")))`,
          pixelFile,
        ],
        { encoding: 'utf8', env: { ...process.env, MLFLOW_TRACKING_URI: server.uri } },
      )
        .trim()
        .split('\n')
        .at(-1) as string,
    ) as Record<string, number>[];
    const ours = JSON.parse(byRun.out) as { probabilities: Record<string, number> }[];
    expect(pyfunc).toHaveLength(ours.length);
    for (const [i, row] of ours.entries())
      for (const [cls, prob] of Object.entries(row.probabilities))
        expect(Math.abs((pyfunc[i]?.[cls] as number) - prob)).toBeLessThan(1e-4);

    // By version number, from the cache this time.
    const byVersion = await cli(['predict', '--model', 'models:/toy/1', images, '--json'], env);
    expect(byVersion.code, byVersion.err).toBe(0);
    expect(byVersion.err).toBe('');
    expect(JSON.parse(byVersion.out)).toEqual(JSON.parse(byRun.out));
  }, 180_000);

  it('bad input: exit 2, one clear line, nothing created in MLflow', async () => {
    let epochs = 0;
    const killed = await trackedRun('registry-bad', { onEpoch: () => void epochs++, shouldStop: () => epochs >= 1 });
    expect(killed.result.status).toBe('KILLED');
    const client = mlflowClient({ uri: server.uri });
    const nothing = async (name: string) =>
      expect(await client.getRegisteredModel(name).catch((e: { code?: string }) => e.code)).toBe(
        'RESOURCE_DOES_NOT_EXIST',
      );

    const unfinished = await cli(['register', '--run', killed.run, '--name', 'never']);
    expect(unfinished.code).toBe(2);
    expect(unfinished.err).toBe(
      `run-exp: ${killed.run}: the run is KILLED; only a FINISHED run's model can be registered\n`,
    );
    await nothing('never');

    const { run } = await trackedRun('registry-bad');
    const badAlias = await cli(['register', '--run', run, '--name', 'never', '--alias', 'v2']);
    expect(badAlias.code).toBe(2);
    expect(badAlias.err).toMatch(/^run-exp: --alias 'v2': .*MLflow keeps those\)\n$/);
    await nothing('never');

    expect((await cli(['register', '--run', run, '--name', 'known'])).code).toBe(0);
    const env = { MLFLOW_TRACKING_URI: server.uri };
    const alias = await cli(['predict', '--model', 'models:/known@nope', run], env);
    expect(alias.code).toBe(2);
    expect(alias.err).toBe("run-exp: registered model 'known' has no alias 'nope' (its aliases: none)\n");
    const missing = await cli(['predict', '--model', 'models:/ghost@champion', run], env);
    expect(missing.code).toBe(2);
    expect(missing.err).toBe(`run-exp: MLflow at ${server.uri} has no registered model named 'ghost'\n`);
    await nothing('ghost');
    const version = await cli(['predict', '--model', 'models:/known/7', run], env);
    expect(version.code).toBe(2);
    expect(version.err).toBe("run-exp: registered model 'known' has no version 7\n");
    const malformed = await cli(['predict', '--model', 'runs:/abc/model', run], env);
    expect(malformed.code).toBe(2);
    expect(malformed.err).toMatch(/expected models:\/<name>@<alias> or models:\/<name>\/<version>/);
  }, 180_000);
});
