// A sweep's outcome: every trial's status and ranking metric, and the best
// trial, read from MLflow's child runs or, without MLflow, from run folders.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { rungs } from '../plan/asha.ts';
import type { Trial } from '../plan/expand.ts';
import type { TrialInfo } from '../plan/trial.ts';
import type { MlflowClient } from '../record/mlflow-client.ts';
import { findParent, OVERRIDES_TAG, PRUNED_TAG, ROLE_TAG, SWEEP_TAG, TRIAL_TAG } from '../record/mlflow-parent.ts';
import { readMetrics } from '../record/run-store.ts';
import type { Json, Sweep } from '../spec/experiment.ts';
import { listRuns } from './runs.ts';

export interface TrialRow {
  index: number;
  overrides: Record<string, Json>;
  status: string;
  /** The ranking metric at the trial's last epoch. */
  value: number | null;
  /** Its run folder, or its MLflow run id. */
  run: string | null;
  /** Epochs it trained (a pruned trial: the rung it stopped at). */
  epochs: number | null;
  /** The ranking metric at each epoch it trained. */
  curve: { epoch: number; value: number }[];
}

/** One rung of an ASHA sweep: how many trials reached its epoch, and the best metric there. */
export interface RungRow {
  epoch: number;
  reached: number;
  best: number | null;
}

export interface SweepSummary {
  sweep_id: string;
  metric: string;
  goal: 'maximize' | 'minimize';
  source: 'mlflow' | 'run folders';
  rows: TrialRow[];
  best: TrialRow | null;
  finished: number;
  pruned: number;
  /** With a scheduler: its rungs, and the epochs trained against every trial trained in full. */
  rungs?: RungRow[];
  epochs_trained: number;
  epochs_full: number;
}

/** What the records say of one trial. */
interface Found {
  status: string;
  value: number | null;
  run: string;
  epochs: number | null;
  /** As recorded: a tpe trial's overrides exist only once it has started. */
  overrides?: Record<string, Json>;
  /** The metric at each epoch, as far as it was read. */
  history: Map<number, number>;
}

function summary(
  sweepId: string,
  sweep: Sweep,
  epochs: number,
  trials: Trial[],
  source: SweepSummary['source'],
  found: Map<number, Found>,
): SweepSummary {
  const rows = trials.map((t) => {
    const f = found.get(t.index);
    return {
      index: t.index,
      overrides: f?.overrides ?? t.overrides,
      status: f?.status ?? 'NOT STARTED',
      value: f?.value ?? null,
      run: f?.run ?? null,
      epochs: f?.epochs ?? null,
      curve: [...(f?.history ?? new Map<number, number>())]
        .map(([epoch, value]) => ({ epoch, value }))
        .sort((a, b) => a.epoch - b.epoch),
    };
  });
  const sign = sweep.goal === 'maximize' ? 1 : -1;
  // A pruned trial's metric is from an earlier epoch than a finished one's: not a candidate.
  const best = rows
    .filter((r) => r.status === 'FINISHED' && r.value !== null)
    .reduce<TrialRow | null>((b, r) => (!b || sign * (r.value as number) > sign * (b.value as number) ? r : b), null);
  const rungRows = sweep.scheduler
    ? rungs(sweep.scheduler, epochs).map((epoch) => {
        const values = [...found.values()].flatMap((f) =>
          f.history.has(epoch) ? [f.history.get(epoch) as number] : [],
        );
        return {
          epoch,
          reached: values.length,
          best: values.length ? values.reduce((b, v) => (sign * v > sign * b ? v : b)) : null,
        };
      })
    : undefined;
  return {
    sweep_id: sweepId,
    metric: sweep.metric,
    goal: sweep.goal,
    source,
    rows,
    best,
    finished: rows.filter((r) => r.status === 'FINISHED').length,
    pruned: rows.filter((r) => r.status === 'PRUNED').length,
    rungs: rungRows,
    epochs_trained: rows.reduce((n, r) => n + (r.epochs ?? 0), 0),
    epochs_full: rows.length * epochs,
  };
}

/** Status rank when a trial was run more than once: a finished (or pruned) run counts over an unfinished one. */
const rank = (status: string) => (status === 'FINISHED' || status === 'PRUNED' ? 2 : status === 'RUNNING' ? 0 : 1);

/** The run folders of a sweep's trials under `root`, by trial index (the most finished, then the latest). */
export function trialFolders(root: string, sweepId: string) {
  const out = new Map<
    number,
    {
      status: string;
      run: string;
      final: Record<string, number | null>;
      epochs: number;
      overrides: Record<string, Json>;
    }
  >();
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
    out.set(trial.index, {
      status: r.status,
      run: r.dir,
      final: r.final,
      epochs: r.epochs,
      overrides: trial.overrides,
    });
  }
  return out;
}

/** A metric by epoch from a run's records. */
function history(metrics: { epoch?: unknown; [k: string]: unknown }[], key: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const m of metrics) if (typeof m[key] === 'number' && typeof m.epoch === 'number') out.set(m.epoch, m[key]);
  return out;
}

function foundInFolders(root: string, sweepId: string, metric: string): Map<number, Found> {
  const found = new Map<number, Found>();
  for (const [index, t] of trialFolders(root, sweepId)) {
    found.set(index, {
      status: t.status,
      run: t.run,
      value: t.final[metric] ?? null,
      epochs: t.epochs,
      overrides: t.overrides,
      history: history(readMetrics(t.run), metric),
    });
  }
  return found;
}

async function foundInMlflow(
  client: MlflowClient,
  experimentId: string,
  sweepId: string,
  sweep: Sweep,
  curves: boolean,
): Promise<Map<number, Found>> {
  const children = await client.searchRuns(
    [experimentId],
    `tags.\`${SWEEP_TAG}\` = '${sweepId}' and tags.\`${ROLE_TAG}\` = 'trial'`,
    ['attributes.start_time ASC'],
  );
  const found = new Map<number, Found>();
  for (const r of children) {
    const tag = (key: string) => r.data.tags?.find((t) => t.key === key)?.value;
    const index = Number(tag(TRIAL_TAG));
    const status = tag(PRUNED_TAG) !== undefined ? 'PRUNED' : r.info.status;
    const prev = found.get(index);
    if (prev && rank(prev.status) > rank(status)) continue;
    const metric = r.data.metrics?.find((m) => m.key === sweep.metric);
    const overrides = tag(OVERRIDES_TAG);
    found.set(index, {
      status,
      value: metric === undefined ? null : Number(metric.value),
      run: r.info.run_id,
      epochs: metric === undefined ? null : Number(metric.step),
      overrides: overrides === undefined ? undefined : (JSON.parse(overrides) as Record<string, Json>),
      // A request per trial: only for rungs (a scheduler) or the report's curves.
      history:
        sweep.scheduler || curves
          ? new Map((await client.metricHistory(r.info.run_id, sweep.metric)).map((m) => [Number(m.step), m.value]))
          : new Map(),
    });
  }
  return found;
}

export function summarizeFolders(
  root: string,
  sweepId: string,
  sweep: Sweep,
  epochs: number,
  trials: Trial[],
): SweepSummary {
  return summary(sweepId, sweep, epochs, trials, 'run folders', foundInFolders(root, sweepId, sweep.metric));
}

/**
 * From MLflow, where every machine's trials are; a trial MLflow has not heard of (its events
 * still spooled here) or heard less of is taken from the run folders here.
 */
export async function summarizeMlflow(
  client: MlflowClient,
  experimentId: string,
  sweepId: string,
  sweep: Sweep,
  epochs: number,
  trials: Trial[],
  root: string,
  curves = false,
): Promise<SweepSummary> {
  const found = await foundInMlflow(client, experimentId, sweepId, sweep, curves);
  for (const [index, f] of foundInFolders(root, sweepId, sweep.metric)) {
    const there = found.get(index);
    if (!there || rank(f.status) > rank(there.status)) found.set(index, f);
  }
  return summary(sweepId, sweep, epochs, trials, 'mlflow', found);
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
    `| trial | ${keys.join(' | ')} | status | epochs | ${s.metric} |`,
    `| ---: | ${keys.map(() => '---').join(' | ')} | --- | ---: | ---: |`,
    ...rows.map(
      (r) =>
        `| ${r.index}${r === s.best ? ' (best)' : ''} | ${keys.map((k) => (k in r.overrides ? cell(r.overrides[k] as Json) : '')).join(' | ')} | ${r.status} | ${r.epochs ?? '-'} | ${r.value === null ? '-' : r.value.toFixed(4)} |`,
    ),
  ].join('\n');
}

/** An ASHA sweep's rungs as a Markdown table, and the epochs it saved. */
export function rungTable(s: SweepSummary): string {
  if (!s.rungs) return '';
  return [
    `| rung (epoch) | trials reached | best ${s.metric} |`,
    '| ---: | ---: | ---: |',
    ...s.rungs.map((r) => `| ${r.epoch} | ${r.reached} | ${r.best === null ? '-' : r.best.toFixed(4)} |`),
    '',
    `${s.pruned} trials pruned; ${s.epochs_trained} epochs trained of ${s.epochs_full} for every trial in full (${((100 * s.epochs_trained) / Math.max(1, s.epochs_full)).toFixed(0)}%)`,
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
        value: `Sweep ${s.sweep_id}: ${s.finished} of ${s.rows.length} trials finished${s.rungs ? `, ${s.pruned} pruned` : ''}.\n\n${table}${s.rungs ? `\n\n${rungTable(s)}` : ''}`,
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
      // Per rung (step = its epoch): a chart of how the field narrowed and how good its best was.
      ...(s.rungs ?? []).flatMap((r) => [
        { key: 'rung_trials', value: r.reached, timestamp: at, step: r.epoch },
        ...(r.best === null ? [] : [{ key: `rung_best_${s.metric}`, value: r.best, timestamp: at, step: r.epoch }]),
      ]),
    ],
  });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'run-exp-sweep-'));
  try {
    writeFileSync(path.join(dir, 'sweep-summary.json'), `${JSON.stringify(s, null, 2)}\n`);
    writeFileSync(path.join(dir, 'sweep-summary.md'), `${table}\n`);
    for (const f of ['sweep-summary.json', 'sweep-summary.md'])
      await client.uploadArtifact(parent.artifact_uri, f, path.join(dir, f));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (s.finished + s.pruned === s.rows.length)
    await client.updateRun(parent.run_id, { status: 'FINISHED', endTime: now });
  return parent.run_id;
}
