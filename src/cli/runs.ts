// `run-exp runs` and `run-exp compare`: recorded runs as tables.

import { type ReapResult, reapRun } from '../record/reap.ts';
import { compareRuns, listRuns } from '../report/runs.ts';

const num = (v: unknown) => (typeof v === 'number' ? v.toFixed(4) : v === null || v === undefined ? '-' : String(v));

/** How long ago `iso` was, in words. */
function age(iso: string | null): string {
  if (!iso) return 'unknown';
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  return s < 120
    ? `${Math.round(s)} s ago`
    : s < 7200
      ? `${Math.round(s / 60)} min ago`
      : `${(s / 3600).toFixed(1)} h ago`;
}

export async function runsCommand(
  options: { dir: string; json?: boolean; reap?: boolean },
  out: (s: string) => void,
): Promise<number> {
  const reaped: ReapResult[] = [];
  if (options.reap) {
    for (const r of listRuns(options.dir)) {
      if (r.status !== 'CRASHED') continue;
      const result = await reapRun(r.dir);
      if (result) reaped.push(result);
    }
  }
  const runs = listRuns(options.dir);
  if (options.json) {
    out(`${JSON.stringify(options.reap ? { runs, reaped } : runs, null, 2)}\n`);
    return reaped.some((r) => r.mlflow?.pending) ? 1 : 0;
  }
  for (const r of reaped) {
    const mlflow = r.mlflow
      ? r.mlflow.pending
        ? `; MLflow: ${r.mlflow.pending} events still spooled (${r.mlflow.error}), run \`run-exp sync\` later`
        : `; MLflow run ended as FAILED${r.mlflow.url ? ` ${r.mlflow.url}` : ''}`
      : '';
    out(`${r.now ? 'reaped' : 'already reaped'} ${r.dir}: CRASHED, last heartbeat ${r.ended}${mlflow}\n`);
  }
  if (runs.length === 0) {
    out(`no runs in ${options.dir}\n`);
    return 0;
  }
  const w = Math.max(10, ...runs.map((r) => `${r.experiment}/${r.id}`.length));
  out(`${'run'.padEnd(w)}  ${'status'.padEnd(8)}  epochs  val_acc  val_loss  started\n`);
  for (const r of runs) {
    const note =
      r.status === 'CRASHED'
        ? `  (last heartbeat ${r.heartbeat ?? '-'}; --reap records it, --resume continues it)`
        : r.status === 'RUNNING?'
          ? `  (on ${r.host}, heartbeat ${age(r.heartbeat)})`
          : '';
    const backlog = r.mlflow?.pending
      ? r.mlflow.missing.length
        ? `  (MLflow lacks ${r.mlflow.missing.length} file(s): ${r.mlflow.error}; run-exp sync uploads them)`
        : `  (MLflow: ${r.mlflow.pending} events spooled; run-exp sync sends them)`
      : '';
    out(
      `${`${r.experiment}/${r.id}`.padEnd(w)}  ${r.status.padEnd(8)}  ${String(r.epochs).padStart(6)}  ${num(r.final.val_accuracy).padStart(7)}  ${num(r.final.val_loss).padStart(8)}  ${r.started ?? '-'}${note}${backlog}\n`,
    );
  }
  return reaped.some((r) => r.mlflow?.pending) ? 1 : 0;
}

export function compareCommand(dirs: string[], options: { json?: boolean }, out: (s: string) => void): number {
  const c = compareRuns(dirs);
  if (options.json) {
    out(`${JSON.stringify(c, null, 2)}\n`);
    return 0;
  }
  const names = c.runs.map((r) => `${r.experiment}/${r.id}`);
  const metricKeys = ['epochs', 'loss', 'accuracy', 'val_loss', 'val_accuracy', 'val_f1', 'val_auc'];
  const rows: [string, string[]][] = [
    ...Object.entries(c.params).map(
      ([k, vs]) => [k, vs.map((v) => (v === undefined ? '-' : String(v)))] as [string, string[]],
    ),
    ['status', c.runs.map((r) => r.status)],
    ...metricKeys.map(
      (k) => [k, c.runs.map((r) => (k === 'epochs' ? String(r.epochs) : num(r.final[k])))] as [string, string[]],
    ),
  ];
  const kw = Math.max(...rows.map(([k]) => k.length), 5);
  const cw = names.map((n, i) => Math.max(n.length, ...rows.map(([, vs]) => (vs[i] ?? '').length)));
  out(`${''.padEnd(kw)}  ${names.map((n, i) => n.padEnd(cw[i] as number)).join('  ')}\n`);
  for (const [k, vs] of rows) out(`${k.padEnd(kw)}  ${vs.map((v, i) => v.padEnd(cw[i] as number)).join('  ')}\n`);
  return 0;
}
