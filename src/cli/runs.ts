// `run-exp runs` and `run-exp compare`: recorded runs as tables.
import { compareRuns, listRuns } from '../report/runs.ts';

const num = (v: unknown) => (typeof v === 'number' ? v.toFixed(4) : v === null || v === undefined ? '-' : String(v));

export function runsCommand(options: { dir: string; json?: boolean }, out: (s: string) => void): number {
  const runs = listRuns(options.dir);
  if (options.json) {
    out(`${JSON.stringify(runs, null, 2)}\n`);
    return 0;
  }
  if (runs.length === 0) {
    out(`no runs in ${options.dir}\n`);
    return 0;
  }
  const w = Math.max(10, ...runs.map((r) => `${r.experiment}/${r.id}`.length));
  out(`${'run'.padEnd(w)}  ${'status'.padEnd(8)}  epochs  val_acc  val_loss  started\n`);
  for (const r of runs) {
    out(
      `${`${r.experiment}/${r.id}`.padEnd(w)}  ${r.status.padEnd(8)}  ${String(r.epochs).padStart(6)}  ${num(r.final.val_accuracy).padStart(7)}  ${num(r.final.val_loss).padStart(8)}  ${r.started ?? '-'}\n`,
    );
  }
  return 0;
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
