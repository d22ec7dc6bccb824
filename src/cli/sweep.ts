// `run-exp sweep <file>`: list the trials (or a CI matrix), run them here in
// parallel workers, and summarize them (to MLflow's parent run when tracked).
import { mkdirSync } from 'node:fs';
import * as path from 'node:path';
import type { ResolveOptions } from '../config/resolve.ts';
import { startupTrials } from '../plan/tpe.ts';
import { type Planned, planSweep } from '../plan/trial.ts';
import { clientOptionsFromEnv, mlflowClient } from '../record/mlflow-client.ts';
import { claimTrial } from '../record/mlflow-parent.ts';
import { trackingUri } from '../record/mlflow-tracker.ts';
import { RegistryError, registerMlflowRun, registerRun } from '../record/registry.ts';
import { sweepReport } from '../report/sweep-report.ts';
import { sweepResults, trackedIn } from '../report/sweep-results.ts';
import { rungTable, type SweepSummary, summaryTable, writeSummaryToParent } from '../report/sweep-summary.ts';
import { runSweepLocally } from '../runner/sweep.ts';
import { RunExpError } from '../spec/errors.ts';
import type { Json, Sweep } from '../spec/experiment.ts';

export interface SweepCliOptions extends ResolveOptions {
  list?: boolean;
  matrix?: boolean;
  /** With --matrix: that many --next workers instead of one job per trial. */
  workers?: number;
  parallel: number;
  summarize?: boolean;
  /** Claim trials one after another through MLflow and run them (CI jobs sharing a sweep). */
  next?: boolean;
  /** Write the sweep's report PNG (to this file, or beside the runs). */
  report?: string | boolean;
  /** With --summarize: register the best trial's model under this name. */
  register?: string;
  json?: boolean;
}

const show = (o: Record<string, Json>) =>
  Object.entries(o)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join('  ');

async function summarize(plan: Planned, out: (s: string) => void, json?: boolean): Promise<SweepSummary> {
  const tracked = trackedIn(plan);
  const { summary: s, experimentId } = await sweepResults(plan);
  if (tracked && !experimentId)
    throw new RunExpError(
      `MLflow at ${tracked.uri} has no experiment ${tracked.experiment}: no trial of this sweep was tracked there yet`,
    );
  const parent = tracked && experimentId ? await writeSummaryToParent(tracked.client, experimentId, s) : null;
  if (json) {
    out(`${JSON.stringify({ ...s, parent_run_id: parent }, null, 2)}\n`);
    return s;
  }
  out(
    `sweep ${s.sweep_id}: ${s.finished} of ${s.rows.length} trials finished${s.rungs ? `, ${s.pruned} pruned` : ''} (from ${s.source})\n\n`,
  );
  out(`${summaryTable(s)}\n\n`);
  if (s.rungs) out(`${rungTable(s)}\n\n`);
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
  const sweep = plan.base.experiment.sweep as Sweep;
  if (options.matrix) {
    // A tpe trial is proposed from the results before it: a few workers each running trials in
    // turn (--next), not every trial at once, which would make every proposal a random draw.
    const workers = options.workers ?? (sweep.method === 'tpe' ? startupTrials(plan.trials.length) : undefined);
    const matrix = workers
      ? { worker: Array.from({ length: workers }, (_, i) => i + 1) }
      : { trial: plan.trials.map((t) => t.index) };
    out(`${JSON.stringify(matrix)}\n`);
    return 0;
  }
  if (options.report) {
    const { summary } = await sweepResults(plan, true);
    const target =
      typeof options.report === 'string'
        ? options.report
        : path.join(plan.base.experiment.tracking.dir, plan.base.experiment.name, `sweep-${plan.sweepId}.png`);
    mkdirSync(path.dirname(path.resolve(target)), { recursive: true });
    await sweepReport(summary, sweep, `sweep ${plan.sweepId}: ${summary.metric}`, target);
    out(`report: ${target}\n`);
    return 0;
  }
  if (options.list) {
    if (options.json) out(`${JSON.stringify({ sweep_id: plan.sweepId, trials: plan.trials }, null, 2)}\n`);
    else {
      out(`sweep ${plan.sweepId}: ${plan.trials.length} trials\n`);
      if (sweep.method === 'tpe') {
        out('tpe: each trial is proposed when it starts, from the results before it (see --summarize)\n');
      } else for (const t of plan.trials) out(`${String(t.index).padStart(4)}  ${show(t.overrides)}\n`);
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
  let claim: (() => Promise<number | null>) | undefined;
  if (options.next) {
    const tracked = trackedIn(plan);
    if (!tracked) {
      err('--next claims trials through MLflow: set MLFLOW_TRACKING_URI (or tracking.mlflow_uri)\n');
      return 2;
    }
    claim = async () => {
      const { summary } = await sweepResults(plan);
      const started = new Set(summary.rows.filter((r) => r.status !== 'NOT STARTED').map((r) => r.index));
      return claimTrial(tracked.client, tracked.experiment, plan.sweepId, plan.trials.length, started);
    };
  }
  const outcomes = await runSweepLocally({
    plan,
    file,
    options,
    claim,
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
