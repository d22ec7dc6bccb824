// Reading recorded runs back: the list of runs, and the comparison of several.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { flatten } from '../record/flatten.ts';
import { liveness, type Owner } from '../record/liveness.ts';
import { hasSpool, missingArtifacts, openSpool } from '../record/mlflow-spool.ts';
import { readMetrics } from '../record/run-store.ts';

export interface RunSummary {
  dir: string;
  experiment: string;
  id: string;
  /**
   * As recorded, except for a run recorded RUNNING whose process is gone
   * (CRASHED) or ran on another host (RUNNING?: this host cannot tell).
   */
  status: string;
  started: string | null;
  /** The last sign of life of a running (or lost) run, and where it ran. */
  heartbeat: string | null;
  host: string | null;
  pid: number | null;
  epochs: number;
  /** The last epoch's metrics. */
  final: Record<string, number | null>;
  /** What of a tracked run has not reached MLflow: events still spooled, and the files among them with why. */
  mlflow: { pending: number; missing: string[]; error?: string } | null;
}

/** What of the run at `dir` MLflow does not have yet (null: not tracked in MLflow). */
function mlflowBacklog(dir: string): RunSummary['mlflow'] {
  if (!hasSpool(dir)) return null;
  const spool = openSpool(dir, '');
  const missing = missingArtifacts(spool);
  return {
    pending: spool.pending().length,
    missing: missing.flatMap((m) => m.files),
    ...(missing.length ? { error: (missing.at(-1) as { error: string }).error } : {}),
  };
}

function readJson<T>(file: string): T | null {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return null;
  }
}

type RecordedStatus = Partial<Owner> & { status: string; started: string; heartbeat?: string };

/** A run's status as it stands: a RUNNING record is checked against its process. */
function standing(status: RecordedStatus | null): string {
  if (!status) return 'UNKNOWN';
  if (status.status !== 'RUNNING') return status.status;
  const state = liveness(status);
  return state === 'dead' ? 'CRASHED' : state === 'elsewhere' ? 'RUNNING?' : 'RUNNING';
}

export function summarize(dir: string): RunSummary {
  const status = readJson<RecordedStatus>(path.join(dir, 'status.json'));
  const lines = readMetrics(dir);
  const last = (lines.at(-1) ?? {}) as Record<string, number | null>;
  return {
    dir,
    experiment: path.basename(path.dirname(dir)),
    id: path.basename(dir),
    status: standing(status),
    started: status?.started ?? null,
    heartbeat: status?.heartbeat ?? null,
    host: status?.host ?? null,
    pid: status?.pid ?? null,
    epochs: lines.length,
    final: last,
    mlflow: mlflowBacklog(dir),
  };
}

/** The sub-folders of `dir`, sorted; a plain file (a .gitignore, a note) or an unreadable folder is passed over. */
function folders(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort();
  } catch {
    return [];
  }
}

/** Every run under `root` (runs/<experiment>/<id>/), oldest first. */
export function listRuns(root: string): RunSummary[] {
  const out: RunSummary[] = [];
  for (const exp of folders(root)) {
    for (const id of folders(path.join(root, exp))) {
      if (existsSync(path.join(root, exp, id, 'status.json'))) out.push(summarize(path.join(root, exp, id)));
    }
  }
  return out.sort((a, b) => (a.started ?? '').localeCompare(b.started ?? ''));
}

export interface Comparison {
  runs: RunSummary[];
  /** Params whose values differ between the runs, one value per run. */
  params: Record<string, unknown[]>;
}

export function compareRuns(dirs: string[]): Comparison {
  const runs = dirs.map((d) => summarize(path.resolve(d)));
  const configs = runs.map((r) => flatten(parse(readFileSync(path.join(r.dir, 'config.yaml'), 'utf8'))));
  const keys = [...new Set(configs.flatMap((c) => Object.keys(c)))].sort();
  const params: Record<string, unknown[]> = {};
  for (const k of keys) {
    const values = configs.map((c) => c[k]);
    if (new Set(values.map((v) => JSON.stringify(v))).size > 1) params[k] = values;
  }
  return { runs, params };
}
