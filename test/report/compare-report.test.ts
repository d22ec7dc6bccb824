// run-exp compare --report: the photos one run gets right and the other wrong,
// both ways, as their predictions.json say, with metric deltas; logged to the
// second run in MLflow (a real server) when both runs are there.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveExperiment } from '../../src/config/resolve.ts';
import { mlflowClient } from '../../src/record/mlflow-client.ts';
import type { Predictions } from '../../src/report/run-report.ts';
import { runExperiment } from '../../src/runner/run.ts';
import { tempDir } from '../data/fixtures.ts';
import { cli } from '../support/cli.ts';
import { serverPerFile } from '../support/mlflow-server.ts';
import { dataset, experimentFile } from '../support/toy.ts';

const server = serverPerFile();

/** Per file of the validation set: whether the run's prediction was right. */
function rightOf(run: string): Map<string, boolean> {
  const p = JSON.parse(readFileSync(path.join(run, 'predictions.json'), 'utf8')) as Predictions;
  const v = p.sets.validation as Predictions['sets'][string];
  const k = p.classes.length;
  return new Map(
    v.files.map((f, i) => {
      const row = v.probs.slice(i * k, (i + 1) * k);
      return [f, row.indexOf(Math.max(...row)) === v.labels[i]];
    }),
  );
}

describe('run-exp compare --report', () => {
  it('lists what each run gets right that the other gets wrong, and logs the page to the second run in MLflow', async () => {
    const dir = tempDir();
    await dataset(path.join(dir, 'images'), 16);
    // A barely trained run, then a trained one: the second gets right what the first got wrong.
    const runs: string[] = [];
    for (const set of [['training.epochs=1', 'training.optimizer={type: sgd, lr: 0.0001}'], ['training.epochs=4']]) {
      const resolved = resolveExperiment(
        experimentFile(dir, `  mlflow_uri: ${server.uri}\n  experiment_name: compare-report\n`),
        { env: {}, set },
      );
      const result = await runExperiment(resolved, {}, path.join(dir, 'cache'));
      expect(result.mlflow?.pending).toBe(0);
      runs.push(result.run.dir);
    }
    const [first, second] = runs as [string, string];
    const [a, b] = [rightOf(first), rightOf(second)];
    const gained = [...b].filter(([f, ok]) => ok && a.get(f) === false).map(([f]) => path.basename(f));
    const lost = [...b].filter(([f, ok]) => !ok && a.get(f) === true).map(([f]) => path.basename(f));
    expect(gained.length).toBeGreaterThan(0);

    const { code, out, err } = await cli(['compare', first, second, '--report']);
    expect(code, err).toBe(0);
    expect(out).toContain(
      `validation: ${a.size} images scored by both; right only in the second ${gained.length}, only in the first ${lost.length}`,
    );
    const file = path.join(second, `compare-${path.basename(first)}.html`);
    expect(out).toContain(file);
    const html = readFileSync(file, 'utf8');
    const section = (title: string) => {
      const from = html.indexOf(title);
      return html.slice(from, html.indexOf('<h3>', from + 1));
    };
    const right = section('Right in the second run, wrong in the first');
    const wrong = section('Wrong in the second run, right in the first');
    expect(right).toContain(`wrong in the first: ${gained.length}`);
    for (const f of gained) expect(right).toContain(`${f}<br>true`);
    for (const f of lost) expect(wrong).toContain(`${f}<br>true`);
    expect(html).toMatch(/<td>accuracy<\/td><td>\d\.\d{4}<\/td><td>\d\.\d{4}<\/td><td>[+-]\d+\.\d{2} points<\/td>/);

    // Both runs are in MLflow: the page is among the second run's artifacts.
    const { run_id: runId } = JSON.parse(readFileSync(path.join(second, 'mlflow', 'state.json'), 'utf8'));
    expect(out).toContain(`logged to MLflow run ${runId} as compare/${path.basename(first)}.html`);
    const client = mlflowClient({ uri: server.uri });
    const run = await client.getRun(runId);
    const files = (await client.listArtifacts(run.info.artifact_uri)).map((f) => f.path);
    expect(files).toContain(`compare/${path.basename(first)}.html`);
    expect(files).toContain('report.html');
  }, 180_000);

  it('refuses other than two runs, and a folder without predictions, with exit 2', async () => {
    const one = await cli(['compare', tempDir(), '--report']);
    expect(one.code).toBe(2);
    expect(one.err).toContain('run-exp compare --report compares two runs (the first, then the second); 1 given');
    const none = await cli(['compare', tempDir(), tempDir(), '--report']);
    expect(none.code).toBe(2);
    expect(none.err).toMatch(/has no predictions\.json/);
    expect(none.err).not.toMatch(/\n\s+at /);
  });
});
