// `run-exp compare --report <first> <second>`: the photos that set two runs apart, as a page;
// logged to the second run in MLflow when both runs are there.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { mlflowClient } from '../record/mlflow-client.ts';
import { buildCompareReport, readComparedRun } from '../report/compare-report.ts';
import { DataError } from '../spec/errors.ts';

/** The MLflow run a run folder was recorded as, when it was. */
function mlflowRun(dir: string): { uri: string; run_id: string; artifact_uri: string } | null {
  const file = path.join(dir, 'mlflow', 'state.json');
  if (!existsSync(file)) return null;
  const state = JSON.parse(readFileSync(file, 'utf8'));
  return state.run_id && state.artifact_uri ? state : null;
}

export async function compareReportCommand(
  runs: string[],
  report: string | boolean,
  out: (s: string) => void,
): Promise<number> {
  if (runs.length !== 2)
    throw new DataError(
      `run-exp compare --report compares two runs (the first, then the second); ${runs.length} given`,
    );
  const [a, b] = runs.map((r) => readComparedRun(path.resolve(r))) as [
    ReturnType<typeof readComparedRun>,
    ReturnType<typeof readComparedRun>,
  ];
  const second = path.resolve(runs[1] as string);
  const { html, sets } = await buildCompareReport(a, b);
  const file = typeof report === 'string' ? path.resolve(report) : path.join(second, `compare-${a.id}.html`);
  writeFileSync(file, html);
  for (const [name, s] of Object.entries(sets))
    out(
      `${name}: ${s.images} images scored by both; right only in the second ${s.gained}, only in the first ${s.lost}\n`,
    );
  out(`${file}\n`);
  const [ma, mb] = [mlflowRun(path.resolve(runs[0] as string)), mlflowRun(second)];
  if (!ma || !mb) return 0;
  try {
    await mlflowClient({ uri: mb.uri, attempts: 2 }).uploadArtifactText(mb.artifact_uri, `compare/${a.id}.html`, html);
    out(`logged to MLflow run ${mb.run_id} as compare/${a.id}.html\n`);
  } catch (err) {
    out(`not logged to MLflow (${err instanceof Error ? err.message : String(err)}); the page is at ${file}\n`);
  }
  return 0;
}
