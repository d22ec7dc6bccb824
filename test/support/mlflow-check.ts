// Reads a run back from MLflow and sets it against the run folder: what the
// spool says was logged, what the server holds, what is missing or doubled.
import { readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { MLMODEL } from '../../src/model/model-folder.ts';
import { CONTEXT_TAG } from '../../src/record/datasets.ts';
import { flatten } from '../../src/record/flatten.ts';
import {
  LIMITS,
  type LoggedModel,
  type MlflowClient,
  MlflowError,
  type MlflowRun,
} from '../../src/record/mlflow-client.ts';
import { openSpool, RUN_ID_TAG } from '../../src/record/mlflow-spool.ts';
import { epochMetrics } from '../../src/record/mlflow-tracker.ts';
import { listRunFiles, readMetrics } from '../../src/record/run-store.ts';

export interface RecordCheck {
  /** MLflow runs carrying this run folder's id: must be 1. */
  runs: number;
  run: MlflowRun;
  /** Spooled events. */
  logged: number;
  /** Spooled events whose content the server does not hold. */
  lost: number;
  /** Metric points the server holds more than once for one key and step, and dataset inputs held twice. */
  doubled: number;
  /** The run's logged models (one at most). */
  models: LoggedModel[];
  /** The local records as MLflow should show them, and what it shows. */
  local: { params: Record<string, string>; metrics: Record<string, [number, number][]>; artifacts: string[] };
  remote: { params: Record<string, string>; metrics: Record<string, [number, number][]>; artifacts: string[] };
  tags: Record<string, string>;
}

export async function checkRecord(client: MlflowClient, runDir: string, experiment: string): Promise<RecordCheck> {
  const spool = openSpool(runDir, '');
  const runExpId = path.basename(runDir);
  const experimentId = (await client.getExperimentByName(experiment)) as string;
  const found = await client.searchRuns([experimentId], `tags.\`${RUN_ID_TAG}\` = '${runExpId}'`);
  const run = await client.getRun(found[0]?.info.run_id as string);
  const tags = Object.fromEntries((run.data.tags ?? []).map((t) => [t.key, t.value]));
  const params = Object.fromEntries((run.data.params ?? []).map((p) => [p.key, p.value]));
  const history: Record<string, { step: number; value: number; timestamp: number }[]> = {};
  for (const m of run.data.metrics ?? []) history[m.key] = await client.metricHistory(run.info.run_id, m.key);
  const artifacts = await client.listArtifacts(run.info.artifact_uri);
  const sizes = Object.fromEntries(artifacts.map((a) => [a.path, a.file_size]));
  // The run's logged model, found as a replay would: by the run-exp tag.
  // An MLflow 2.x server has no logged models (404): the model is then among the run's artifacts.
  const models = await client
    .searchLoggedModels([experimentId], `tags.\`${RUN_ID_TAG}\` = '${runExpId}'`)
    .catch((err: unknown) => {
      if (err instanceof MlflowError && err.status === 404) return null;
      throw err;
    });
  const inputs = (run.inputs?.dataset_inputs ?? []).map((i) => ({
    key: `${i.dataset.name}@${i.dataset.digest}`,
    context: i.tags?.find((t) => t.key === CONTEXT_TAG)?.value,
  }));

  /** A run-folder file the server holds as it is; on 2.x the model's MLmodel there has the run id added. */
  const uploaded = (f: string) => {
    const p = f.split(path.sep).join('/');
    if (models === null && p.endsWith(`/${MLMODEL}`)) return sizes[p] !== undefined;
    return sizes[p] === statSync(path.join(runDir, f)).size;
  };
  const held = (e: (typeof spool.events)[number]): boolean => {
    switch (e.type) {
      case 'start':
        return e.tags.every((t) => tags[t.key] === t.value.slice(0, LIMITS.tagValue));
      case 'tags':
        return e.tags.every((t) => tags[t.key] === t.value.slice(0, LIMITS.tagValue));
      case 'params':
        return e.params.every((p) => params[p.key] === p.value.slice(0, LIMITS.paramValue));
      case 'metrics':
        return e.metrics.every((m) =>
          (history[m.key] ?? []).some((h) => h.step === m.step && h.value === m.value && h.timestamp === m.timestamp),
        );
      case 'artifacts':
        return e.files.every(uploaded);
      case 'inputs':
        return e.datasets.every((d) =>
          inputs.some(
            (i) =>
              i.key === `${d.dataset.name}@${d.dataset.digest}` &&
              i.context === d.tags.find((t) => t.key === CONTEXT_TAG)?.value,
          ),
        );
      case 'model':
        return models
          ? models.length === 1 && models[0]?.info.status === 'LOGGED_MODEL_READY'
          : e.files.every(uploaded);
      case 'status':
        return true;
    }
  };
  const lastStatus = spool.events.filter((e) => e.type === 'status').at(-1);
  const lost =
    spool.events.filter((e) => !held(e)).length +
    (lastStatus?.type === 'status' && lastStatus.status !== run.info.status ? 1 : 0);
  let doubled = 0;
  for (const points of Object.values(history)) doubled += points.length - new Set(points.map((p) => p.step)).size;
  doubled += inputs.length - new Set(inputs.map((i) => i.key)).size;
  doubled += Math.max(0, (models?.length ?? 0) - 1);

  const series = (points: { key: string; step: number; value: number }[]) => {
    const out: Record<string, [number, number][]> = {};
    for (const p of points) {
      out[p.key] = [...(out[p.key] ?? []), [p.step, p.value]];
    }
    for (const v of Object.values(out)) v.sort((a, b) => a[0] - b[0]);
    return out;
  };
  return {
    runs: found.length,
    run,
    models: models ?? [],
    logged: spool.events.length,
    lost,
    doubled,
    local: {
      params: Object.fromEntries(
        Object.entries(flatten(parse(readFileSync(path.join(runDir, 'config.yaml'), 'utf8')))).map(([k, v]) => [
          k,
          String(v).slice(0, LIMITS.paramValue),
        ]),
      ),
      metrics: series(readMetrics(runDir).flatMap((m) => epochMetrics(m, 0))),
      artifacts: listRunFiles(runDir, ['mlflow'])
        .map((f) => f.split(path.sep).join('/'))
        .sort(),
    },
    remote: {
      params,
      metrics: series(Object.entries(history).flatMap(([key, points]) => points.map((p) => ({ ...p, key })))),
      // In one order on both sides: MLflow lists a folder's entries in its own.
      artifacts: artifacts.map((a) => a.path).sort(),
    },
    tags,
  };
}
