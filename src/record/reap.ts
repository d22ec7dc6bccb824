// `run-exp runs --reap`: a run whose process is gone without recording an
// outcome (kill -9, a lost machine) is marked CRASHED in its folder, and its
// MLflow run is ended as FAILED at the last heartbeat, with a note. Spooled
// first, so an unreachable server gets it on the next reap or `run-exp sync`;
// repeating it changes nothing.
import { readFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { liveness, type Owner } from './liveness.ts';
import { hasSpool, openSpool } from './mlflow-spool.ts';
import { LOCK_FILE, replaceFile } from './run-store.ts';
import { type SyncResult, syncRun } from './sync.ts';

export interface ReapResult {
  dir: string;
  /** Marked CRASHED now (false: by an earlier reap, whose MLflow events were still pending). */
  now: boolean;
  /** When the run was last seen alive. */
  ended: string;
  note: string;
  mlflow?: SyncResult;
}

/**
 * Ends a lost run's records; for a run reaped before, sends what MLflow still
 * lacks. Null when there is nothing to do.
 */
export async function reapRun(dir: string, env: NodeJS.ProcessEnv = process.env): Promise<ReapResult | null> {
  const file = path.join(dir, 'status.json');
  const status = JSON.parse(readFileSync(file, 'utf8')) as Partial<Owner> & {
    status: string;
    started: string;
    heartbeat?: string;
    ended?: string;
    error?: string;
  };
  const lost = status.status === 'RUNNING' && liveness(status) === 'dead';
  if (!lost && status.status !== 'CRASHED') return null;
  const ended = lost ? (status.heartbeat ?? status.started) : (status.ended ?? status.started);
  const note = lost
    ? `process ${status.pid} on ${status.host} ended without recording an outcome (killed, or its machine stopped); last heartbeat ${ended}`
    : (status.error ?? 'crashed');
  if (lost) {
    replaceFile(
      file,
      `${JSON.stringify({ ...status, status: 'CRASHED', ended, reaped: new Date().toISOString(), error: note }, null, 2)}\n`,
    );
    // Its holder is gone: the next --resume takes the run without waiting.
    rmSync(path.join(dir, LOCK_FILE), { force: true });
  }
  if (!hasSpool(dir)) return lost ? { dir, now: lost, ended, note } : null;
  const spool = openSpool(dir, '');
  if (!spool.events.some((e) => e.type === 'status' && e.status === 'FAILED')) {
    spool.append({ type: 'tags', tags: [{ key: 'run_exp.crashed', value: note }] });
    spool.append({ type: 'status', status: 'FAILED', endTime: Date.parse(ended) });
  }
  if (spool.pending().length === 0) return lost ? { dir, now: lost, ended, note } : null;
  return { dir, now: lost, ended, note, mlflow: await syncRun(dir, undefined, env) };
}
