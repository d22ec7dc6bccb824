// `run-exp sync`: replays the MLflow spool of run folders; safe to repeat.
import { existsSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { clientOptionsFromEnv, mlflowClient } from './mlflow-client.ts';
import { drain, hasSpool, missingArtifacts, openSpool } from './mlflow-spool.ts';
import { runUrl } from './mlflow-tracker.ts';

export interface SyncResult {
  dir: string;
  /** Events sent now. */
  replayed: number;
  /** Events still unsent (the server failed again). */
  pending: number;
  /** Files of the run still not uploaded (their uploads failed; the rest of the run went through). */
  missing: string[];
  url?: string;
  error?: string;
  notices: string[];
}

/** The run folders under a runs root that hold an MLflow spool. */
export function spooledRuns(root: string): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .flatMap((e) => readdirSync(path.join(root, e.name)).map((id) => path.join(root, e.name, id)))
    .filter(hasSpool)
    .sort();
}

/** Sends what a run's spool still holds, to `uri` if given, else to the server the run was tracked on. */
export async function syncRun(dir: string, uri?: string, env: NodeJS.ProcessEnv = process.env): Promise<SyncResult> {
  if (!hasSpool(dir)) {
    return {
      dir,
      replayed: 0,
      pending: 0,
      missing: [],
      error: 'not tracked in MLflow (no mlflow/outbox.jsonl)',
      notices: [],
    };
  }
  const spool = openSpool(dir, uri ?? '');
  const client = mlflowClient(clientOptionsFromEnv(spool.state.uri, env));
  const before = spool.pending().length;
  let error: string | undefined;
  const notices: string[] = [];
  try {
    await drain(client, spool, (n) => notices.push(n));
  } catch (err) {
    error = err instanceof Error ? err.message : String(err);
  }
  return {
    dir,
    replayed: before - spool.pending().length,
    pending: spool.pending().length,
    missing: missingArtifacts(spool).flatMap((m) => m.files),
    url: runUrl(spool.state.uri, spool.state.experiment_id, spool.state.run_id),
    error,
    notices,
  };
}
