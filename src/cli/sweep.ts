// `run-exp sweep <file>`: list the trials (or a CI matrix), run them here in
// parallel workers, and summarize them (to MLflow's parent run when tracked).
import type { Json } from '../config/compose.ts';
import type { ResolveOptions } from '../config/resolve.ts';
import {
  type SweepSummary,
  summarizeFolders,
  summarizeMlflow,
  summaryTable,
  writeSummaryToParent,
} from '../report/sweep-summary.ts';
import { runSweepLocally } from '../runner/sweep.ts';
import { type Planned, planSweep } from '../sweep/trial.ts';
import { clientOptionsFromEnv, mlflowClient } from '../tracking/mlflow-client.ts';
import { trackingUri } from '../tracking/mlflow-tracker.ts';
import { RegistryError, registerMlflowRun, registerRun } from '../tracking/registry.ts';

export interface SweepCliOptions extends ResolveOptions {
  list?: boolean;
  matrix?: boolean;
  parallel: number;
  summarize?: boolean;
  /** With --summarize: register the best trial's model under this name. */
  register?: string;
  json?: boolean;
}

const show = (o: Record<string, Json>) =>
  Object.entries(o)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join('  ');

async function summarize(plan: Planned, out: (s: string) => void, json?: boolean): Promise<SweepSummary> {
  const exp = plan.base.experiment;
  const sweep = exp.sweep as NonNullable<typeof exp.sweep>;
  const uri = trackingUri(exp.tracking.mlflow_uri);
  let s: SweepSummary;
  let parent: string | null = null;
  if (uri) {
    const client = mlflowClient(clientOptionsFromEnv(uri));
    const experimentId = await client.getExperimentByName(exp.tracking.experiment_name ?? exp.name);
    if (!experimentId)
      throw new Error(`MLflow at ${uri} has no experiment ${exp.tracking.experiment_name ?? exp.name}`);
    s = await summarizeMlflow(client, experimentId, plan.sweepId, sweep, plan.trials);
    parent = await writeSummaryToParent(client, experimentId, s);
  } else {
    s = summarizeFolders(exp.tracking.dir, plan.sweepId, sweep, plan.trials);
  }
  if (json) {
    out(`${JSON.stringify({ ...s, parent_run_id: parent }, null, 2)}\n`);
    return s;
  }
  out(`sweep ${s.sweep_id}: ${s.finished} of ${s.rows.length} trials finished (from ${s.source})\n\n`);
  out(`${summaryTable(s)}\n\n`);
  out(
    s.best
      ? `best: trial ${s.best.index}  ${s.metric} ${s.best.value?.toFixed(4)}  ${show(s.best.overrides)}  ${s.best.run}\n`
      : 'best: none yet (no finished trial)\n',
  );
  if (parent) out(`written to the parent run ${parent} in MLflow\n`);
  return s;
}

/** The best trial's model as a version of `name`: from MLflow (wherever the trial ran) or from its run folder. */
async function registerBest(plan: Planned, s: SweepSummary, name: string) {
  const best = s.best as NonNullable<SweepSummary['best']>;
  const uri = trackingUri(plan.base.experiment.tracking.mlflow_uri);
  if (!uri) {
    throw new RegistryError(
      '--register needs the sweep tracked in MLflow: set MLFLOW_TRACKING_URI (or tracking.mlflow_uri)',
    );
  }
  const tags = { 'run_exp.sweep_id': s.sweep_id, 'run_exp.trial': String(best.index) };
  return s.source === 'mlflow'
    ? registerMlflowRun(mlflowClient(clientOptionsFromEnv(uri)), best.run as string, { name, tags })
    : registerRun(best.run as string, { name, tags });
}

export async function sweepCommand(
  file: string,
  options: SweepCliOptions,
  out: (s: string) => void,
  err: (s: string) => void,
): Promise<number> {
  const plan = planSweep(file, options);
  if (options.matrix) {
    out(`${JSON.stringify({ trial: plan.trials.map((t) => t.index) })}\n`);
    return 0;
  }
  if (options.list) {
    if (options.json) out(`${JSON.stringify({ sweep_id: plan.sweepId, trials: plan.trials }, null, 2)}\n`);
    else {
      out(`sweep ${plan.sweepId}: ${plan.trials.length} trials\n`);
      for (const t of plan.trials) out(`${String(t.index).padStart(4)}  ${show(t.overrides)}\n`);
    }
    return 0;
  }
  if (options.register && !options.summarize) throw new RegistryError('--register goes with --summarize');
  if (options.summarize) {
    const s = await summarize(plan, out, options.json);
    if (s.best && options.register) {
      const r = await registerBest(plan, s, options.register);
      if (!options.json)
        out(`best trial ${s.best.index} registered: ${r.name} version ${r.version}${r.created ? '' : ' (already)'}\n`);
    }
    return s.best ? 0 : 1;
  }
  const outcomes = await runSweepLocally({
    plan,
    file,
    options,
    parallel: options.parallel,
    onTrial: (o, running) => {
      if (options.json) return;
      err(
        `trial ${o.index}: ${o.status}${o.note ? ` (${o.note})` : ''}${running.length ? `; running ${running.join(', ')}` : ''}\n`,
      );
    },
  });
  if (outcomes.some((o) => o.status === 'KILLED')) return 130;
  await summarize(plan, out, options.json);
  return outcomes.some((o) => o.status === 'FAILED') ? 1 : 0;
}
