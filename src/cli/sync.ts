// `run-exp sync [run...]`: replay what runs spooled while MLflow was unreachable.
import { spooledRuns, syncRun } from '../record/sync.ts';

export async function syncCommand(
  runs: string[],
  options: { dir: string; uri?: string; json?: boolean },
  out: (s: string) => void,
): Promise<number> {
  const dirs = runs.length ? runs : spooledRuns(options.dir);
  const results = [];
  for (const dir of dirs) {
    const r = await syncRun(dir, options.uri);
    results.push(r);
    if (options.json) continue;
    const state = r.pending
      ? `${r.replayed ? `${r.replayed} events replayed; ` : ''}${r.pending} events still spooled${r.missing.length ? ` (${r.missing.length} file(s) not uploaded)` : ''}: ${r.error}`
      : (r.error ?? (r.replayed ? `${r.replayed} events replayed` : 'in sync'));
    out(`${dir}  ${state}${r.url ? `  ${r.url}` : ''}\n`);
    for (const n of r.notices) out(`  ${n}\n`);
  }
  if (options.json) out(`${JSON.stringify(results, null, 2)}\n`);
  else if (dirs.length === 0) out(`no runs with an MLflow spool in ${options.dir}\n`);
  return results.some((r) => r.pending) ? 1 : 0;
}
