// The MLflow UI in a real browser (playwright-core driving Debian's chromium):
// two run-exp runs of one experiment, compared side by side.
import { existsSync, mkdirSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveExperiment } from '../../src/config/resolve.ts';
import { runExperiment } from '../../src/runner/run.ts';
import { mlflowClient } from '../../src/tracking/mlflow-client.ts';
import { tempDir } from '../data/fixtures.ts';
import { type MlflowServer, mlflowServer } from '../support/mlflow-server.ts';
import { dataset, experimentFile } from '../support/toy.ts';

const CHROMIUM = process.env.RUN_EXP_CHROMIUM ?? '/usr/bin/chromium';
// The README's screenshot is this test's: RUN_EXP_UPDATE_SCREENSHOTS=1 writes it into docs/.
const shots =
  process.env.RUN_EXP_UPDATE_SCREENSHOTS === '1'
    ? path.resolve(import.meta.dirname, '..', '..', 'docs')
    : path.join(os.tmpdir(), 'run-exp-screenshots');

let server: MlflowServer;
beforeAll(async () => {
  server = await mlflowServer();
}, 150_000);
afterAll(async () => {
  await server?.stop();
});

describe('MLflow UI', () => {
  it('shows two runs of one experiment compared: the runs, the params that differ, a metric chart', async () => {
    if (!existsSync(CHROMIUM))
      throw new Error(`no chromium at ${CHROMIUM}: apt-get install chromium (or set RUN_EXP_CHROMIUM)`);
    const dir = tempDir();
    await dataset(path.join(dir, 'images'), 8);
    const runs: string[] = [];
    for (const lr of ['0.01', '0.03']) {
      const resolved = resolveExperiment(
        experimentFile(dir, `  mlflow_uri: ${server.uri}\n  experiment_name: ui-compare\n`),
        {
          env: {},
          set: [`training.optimizer.lr=${lr}`, 'training.epochs=3'],
        },
      );
      const result = await runExperiment(resolved, {}, path.join(dir, 'cache'));
      expect(result.mlflow?.pending).toBe(0);
      runs.push(result.run.id);
    }
    const experimentId = await mlflowClient({ uri: server.uri }).getExperimentByName('ui-compare');

    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1500 } });
      await page.goto(`${server.uri}/#/experiments/${experimentId}/runs?workflowType=machine_learning`);
      for (const id of runs) await page.getByText(id).first().waitFor({ timeout: 30_000 });
      await page.getByRole('checkbox').first().check(); // the header box: every run of the list
      await page
        .getByRole('button', { name: /compare/i })
        .first()
        .click();
      await page.getByText('Comparing 2 Runs').waitFor({ timeout: 30_000 });
      await page
        .getByRole('button', { name: 'Close' })
        .click({ timeout: 5000 })
        .catch(() => {}); // the assistant pane
      await page.getByRole('switch', { name: 'Parameters - Show diff only' }).click();
      // The parallel-coordinates chart: add validation accuracy beside the metric it picks itself.
      const metrics = page.getByRole('combobox').nth(1);
      await metrics.click();
      await metrics.fill('val_accuracy');
      await page.keyboard.press('Enter');
      await page.keyboard.press('Escape');

      const body = await page.innerText('body');
      for (const id of runs) expect(body).toContain(id);
      expect(body).toMatch(/training\.optimizer\.lr\s+0\.01\s+0\.03|training\.optimizer\.lr\s+0\.03\s+0\.01/);
      expect(body).not.toMatch(/training\.batch_size\s+8\s+8/); // same in both: hidden by "diff only"
      const chart = page.locator('.js-plotly-plot').first();
      await chart.getByText('val_accuracy').first().waitFor();
      expect(await chart.innerText()).toContain('training.optimizer.lr');
      mkdirSync(shots, { recursive: true });
      await page.screenshot({ path: path.join(shots, 'mlflow-compare.png') });
    } finally {
      await browser.close();
    }
  }, 180_000);
});
