// A sweep's outcome: every trial's status and ranking metric, and the best
// trial, read from MLflow's child runs or, without MLflow, from run folders.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Json } from '../config/compose.ts';
import type { Sweep } from '../config/experiment.ts';
import type { Trial } from '../sweep/expand.ts';
import type { TrialInfo } from '../sweep/trial.ts';
import type { MlflowClient } from '../tracking/mlflow-client.ts';
import { findParent, ROLE_TAG, SWEEP_TAG } from '../tracking/mlflow-parent.ts';
import { listRuns } from './runs.ts';

export interface TrialRow {
  index: number;
  overrides: Record<string, Json>;
  status: string;
  /** The ranking metric at the trial's last epoch. */
  value: number | null;
  /** Its run folder, or its MLflow run id. */
  run: string | null;
}

export interface SweepSummary {
  sweep_id: string;
  metric: string;
  goal: 'maximize' | 'minimize';
  source: 'mlflow' | 'run folders';
  rows: TrialRow[];
  best: TrialRow | null;
  finished: number;
}

function summary(
  sweepId: string,
  sweep: Sweep,
  trials: Trial[],
  source: SweepSummary['source'],
  found: Map<number, { status: string; value: number | null; run: string }>,
): SweepSummary {
  const rows = trials.map((t) => ({
    index: t.index,
    overrides: t.overrides,
    status: found.get(t.index)?.status ?? 'NOT STARTED',
    value: found.get(t.index)?.value ?? null,
    run: found.get(t.index)?.run ?? null,
  }));
  const sign = sweep.goal === 'maximize' ? 1 : -1;
  const best = rows
    .filter((r) => r.status === 'FINISHED' && r.value !== null)
    .reduce<TrialRow | null>((b, r) => (!b || sign * (r.value as number) > sign * (b.value as number) ? r : b), null);
  return {
    sweep_id: sweepId,
    metric: sweep.metric,
    goal: sweep.goal,
    source,
    rows,
    best,
    finished: rows.filter((r) => r.status === 'FINISHED').length,
  };
}

/** Status rank when a trial was run more than once: a finished run counts over an unfinished one. */
const rank = (status: string) => (status === 'FINISHED' ? 2 : status === 'RUNNING' ? 0 : 1);

/** The run folders of a sweep's trials under `root`, by trial index (the most finished, then the latest). */
export function trialFolders(root: string, sweepId: string) {
  const out = new Map<number, { status: string; run: string; final: Record<string, number | null> }>();
  // listRuns is oldest first: among runs of one trial and status, the latest is kept.
  for (const r of listRuns(root)) {
    let trial: TrialInfo;
    try {
      trial = JSON.parse(readFileSync(path.join(r.dir, 'trial.json'), 'utf8')) as TrialInfo;
    } catch {
      continue;
    }
    if (trial.sweep_id !== sweepId) continue;
    const prev = out.get(trial.index);
    if (prev && rank(prev.status) > rank(r.status)) continue;
    out.set(trial.index, { status: r.status, run: r.dir, final: r.final });
  }
  return out;
}

export function summarizeFolders(root: string, sweepId: string, sweep: Sweep, trials: Trial[]): SweepSummary {
  const found = new Map<number, { status: string; value: number | null; run: string }>();
  for (const [index, t] of trialFolders(root, sweepId)) {
    found.set(index, { status: t.status, run: t.run, value: t.final[sweep.metric] ?? null });
  }
  return summary(sweepId, sweep, trials, 'run folders', found);
}

export async function summarizeMlflow(
  client: MlflowClient,
  experimentId: string,
  sweepId: string,
  sweep: Sweep,
  trials: Trial[],
): Promise<SweepSummary> {
  const children = await client.searchRuns(
    [experimentId],
    `tags.\`${SWEEP_TAG}\` = '${sweepId}' and tags.\`${ROLE_TAG}\` = 'trial'`,
    ['attributes.start_time ASC'],
  );
  const found = new Map<number, { status: string; value: number | null; run: string }>();
  for (const r of children) {
    const index = Number(r.data.tags?.find((t) => t.key === 'run_exp.trial')?.value);
    const prev = found.get(index);
    if (prev && rank(prev.status) > rank(r.info.status)) continue;
    const value = r.data.metrics?.find((m) => m.key === sweep.metric)?.value;
    found.set(index, { status: r.info.status, value: value === undefined ? null : Number(value), run: r.info.run_id });
  }
  return summary(sweepId, sweep, trials, 'mlflow', found);
}

const cell = (v: Json) => (typeof v === 'string' ? v : JSON.stringify(v));

/** The trials as a Markdown table, best first. */
export function summaryTable(s: SweepSummary): string {
  const keys = [...new Set(s.rows.flatMap((r) => Object.keys(r.overrides)))];
  const sign = s.goal === 'maximize' ? -1 : 1;
  const rows = [...s.rows].sort(
    (a, b) =>
      (a.value === null ? 1 : 0) - (b.value === null ? 1 : 0) ||
      sign * ((a.value ?? 0) - (b.value ?? 0)) ||
      a.index - b.index,
  );
  return [
    `| trial | ${keys.join(' | ')} | status | ${s.metric} |`,
    `| ---: | ${keys.map(() => '---').join(' | ')} | --- | ---: |`,
    ...rows.map(
      (r) =>
        `| ${r.index}${r === s.best ? ' (best)' : ''} | ${keys.map((k) => (k in r.overrides ? cell(r.overrides[k] as Json) : '')).join(' | ')} | ${r.status} | ${r.value === null ? '-' : r.value.toFixed(4)} |`,
    ),
  ].join('\n');
}

/** Writes the summary to the sweep's parent run: tags, the metric per trial, the table, and FINISHED when all are. */
export async function writeSummaryToParent(
  client: MlflowClient,
  experimentId: string,
  s: SweepSummary,
): Promise<string | null> {
  const parent = await findParent(client, experimentId, s.sweep_id);
  if (!parent) return null;
  const now = Date.now();
  // The parent's start as the per-trial points' time: summarizing again re-sends identical points, which MLflow keeps once.
  const at = parent.start_time ?? 0;
  const table = summaryTable(s);
  await client.logBatch(parent.run_id, {
    tags: [
      {
        key: 'mlflow.note.content',
        value: `Sweep ${s.sweep_id}: ${s.finished} of ${s.rows.length} trials finished.\n\n${table}`,
      },
      ...(s.best
        ? [
            { key: 'run_exp.best_trial', value: String(s.best.index) },
            { key: 'run_exp.best_run_id', value: String(s.best.run) },
            { key: 'run_exp.best_overrides', value: JSON.stringify(s.best.overrides) },
          ]
        : []),
    ],
    metrics: [
      ...(s.best ? [{ key: `best_${s.metric}`, value: s.best.value as number, timestamp: at, step: 0 }] : []),
      ...s.rows
        .filter((r) => r.value !== null)
        .map((r) => ({ key: `trial_${s.metric}`, value: r.value as number, timestamp: at, step: r.index })),
    ],
  });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'run-exp-sweep-'));
  writeFileSync(path.join(dir, 'sweep-summary.json'), `${JSON.stringify(s, null, 2)}\n`);
  writeFileSync(path.join(dir, 'sweep-summary.md'), `${table}\n`);
  for (const f of ['sweep-summary.json', 'sweep-summary.md'])
    await client.uploadArtifact(parent.artifact_uri, f, path.join(dir, f));
  if (s.finished === s.rows.length) await client.updateRun(parent.run_id, { status: 'FINISHED', endTime: now });
  return parent.run_id;
}
