// Dataset inputs logged by many runs at once (a sweep's trials starting
// together) against a real MLflow server: the server's look-up-then-insert
// races, and every run must still end up with the dataset once.
import { afterAll, expect, it } from 'vitest';
import type { DatasetInput } from '../../src/record/datasets.ts';
import { mlflowClient } from '../../src/record/mlflow-client.ts';
import { type MlflowServer, mlflowServer } from '../support/mlflow-server.ts';

let server: MlflowServer | undefined;
afterAll(async () => {
  await server?.stop();
});

it('logs the same new dataset from 8 runs at once, each run getting it once', async () => {
  server = await mlflowServer();
  const client = mlflowClient({ uri: server.uri });
  const experimentId = await client.getOrCreateExperiment('inputs-race');
  const runs = await Promise.all(
    Array.from({ length: 8 }, (_, i) => client.createRun({ experimentId, runName: `r${i}`, startTime: Date.now() })),
  );
  const dataset: DatasetInput = {
    dataset: {
      name: 'faces',
      digest: 'd1e2a3d4b5e6e7f8',
      source_type: 'local',
      source: '{"uri":"file:///data/faces"}',
      schema: '{}',
      profile: '{"num_rows":10}',
    },
    tags: [{ key: 'mlflow.data.context', value: 'training' }],
  };
  await Promise.all(runs.map((r) => client.logInputs(r.info.run_id, [dataset])));
  for (const r of runs) {
    const inputs = (await client.getRun(r.info.run_id)).inputs?.dataset_inputs ?? [];
    expect(inputs.map((d) => d.dataset.digest)).toEqual(['d1e2a3d4b5e6e7f8']);
  }
}, 120_000);
