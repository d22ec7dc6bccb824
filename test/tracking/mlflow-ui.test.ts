// The MLflow UI in a real browser (playwright-core driving Debian's chromium):
// two run-exp runs of one experiment, compared side by side.
import { mkdirSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { resolveExperiment } from '../../src/config/resolve.ts';
import { loadTensorflow } from '../../src/platform/tensorflow.ts';
import { mlflowClient } from '../../src/record/mlflow-client.ts';
import { registerRun } from '../../src/record/registry.ts';
import { loadRun, predictFiles } from '../../src/report/predict.ts';
import { runExperiment } from '../../src/runner/run.ts';
import { tempDir } from '../data/fixtures.ts';
import { serverPerFile } from '../support/mlflow-server.ts';
import { screenshotComparison, screenshotPage } from '../support/mlflow-ui.ts';
import { dataset, experimentFile } from '../support/toy.ts';

// The README's screenshot is this test's: RUN_EXP_UPDATE_SCREENSHOTS=1 writes it into docs/.
const shots =
  process.env.RUN_EXP_UPDATE_SCREENSHOTS === '1'
    ? path.resolve(import.meta.dirname, '..', '..', 'docs')
    : path.join(os.tmpdir(), 'run-exp-screenshots');

const server = serverPerFile();

describe('MLflow UI', () => {
  it('shows two runs of one experiment compared: the runs, the params that differ, a metric chart', async () => {
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

    mkdirSync(shots, { recursive: true });
    await screenshotComparison(
      server.uri,
      experimentId as string,
      { names: runs },
      path.join(shots, 'mlflow-compare.png'),
      async (page) => {
        // biome-ignore lint/performance/useDomNodeTextContent: the rendered text keeps table cells apart
        const body = await page.innerText('body');
        for (const id of runs) expect(body).toContain(id);
        expect(body).toMatch(/training\.optimizer\.lr\s+0\.01\s+0\.03|training\.optimizer\.lr\s+0\.03\s+0\.01/);
        expect(body).not.toMatch(/training\.batch_size\s+8\s+8/); // same in both: hidden by "diff only"
        expect(await page.locator('.js-plotly-plot').first().textContent()).toContain('training.optimizer.lr');
      },
    );
  }, 180_000);

  it("shows a run's dataset and logged model, and the registered model's alias", async () => {
    const dir = tempDir();
    await dataset(path.join(dir, 'images'), 8);
    await dataset(path.join(dir, 'portraits'), 4);
    const resolved = resolveExperiment(
      experimentFile(dir, `  mlflow_uri: ${server.uri}\n  experiment_name: ui-model\n`),
      {
        env: {},
        set: [`data.evaluation_sets.portraits=${path.join(dir, 'portraits')}`, 'training.epochs=2'],
      },
    );
    const result = await runExperiment(resolved, {}, path.join(dir, 'cache'));
    expect(result.mlflow?.pending).toBe(0);
    const registered = await registerRun(result.run.dir, { name: 'toy-faces', alias: 'champion' }, {});
    const client = mlflowClient({ uri: server.uri });
    const experimentId = await client.getExperimentByName('ui-model');
    const { run_id: runId } = JSON.parse(readFileSync(path.join(result.run.dir, 'mlflow', 'state.json'), 'utf8'));

    mkdirSync(shots, { recursive: true });
    // biome-ignore lint/performance/useDomNodeTextContent: the rendered text keeps table cells apart
    const text = (page: Page) => page.innerText('body');
    await screenshotPage(
      server.uri,
      `/experiments/${experimentId}/runs/${runId}`,
      result.run.id,
      path.join(shots, 'mlflow-run-model.png'),
      async (page) => {
        await page.getByText('images').first().waitFor({ timeout: 30_000 });
        const body = await text(page);
        expect(body).toContain('images'); // the training data, by its folder's name
        expect(body).toContain('portraits'); // the evaluation set
        expect(body).toMatch(/Logged models[\s\S]*model/);
      },
    );
    await screenshotPage(
      server.uri,
      `/models/toy-faces`,
      'toy-faces',
      path.join(shots, 'mlflow-registered-model.png'),
      async (page) => {
        await page.getByText('champion').first().waitFor({ timeout: 30_000 });
        const body = await text(page);
        expect(body).toMatch(new RegExp(`Version ${registered.version}`));
        expect(body).toMatch(/@\s*champion/);
      },
    );
  }, 180_000);

  it("shows a run's report.html in its artifact view: a confusion cell opens its photos, a photo dropped in its panel gets predict's label", async () => {
    const { tf } = await loadTensorflow();
    const dir = tempDir();
    await dataset(path.join(dir, 'images'), 8);
    const resolved = resolveExperiment(
      experimentFile(
        dir,
        `  mlflow_uri: ${server.uri}\n  experiment_name: ui-report\nreport: { images_per_cell: 2 }\n`,
      ),
      { env: {}, set: ['training.epochs=2'] },
    );
    const result = await runExperiment(resolved, {}, path.join(dir, 'cache'));
    expect(result.mlflow?.pending).toBe(0);
    const experimentId = await mlflowClient({ uri: server.uri }).getExperimentByName('ui-report');
    const { run_id: runId } = JSON.parse(readFileSync(path.join(result.run.dir, 'mlflow', 'state.json'), 'utf8'));
    const evaluation = JSON.parse(readFileSync(path.join(result.run.dir, 'evaluation.json'), 'utf8'));
    const count = evaluation.validation.confusion[0][0] as number;
    // Photos from elsewhere: larger than the training images, one JPEG one PNG, one of each class's look.
    const photos = await Promise.all(
      [
        ['dropped.jpg', true],
        ['chosen.png', false],
      ].map(async ([name, top]) => {
        const [w, h] = [64, 48];
        const raw = Buffer.alloc(w * h * 3);
        for (let y = 0; y < h; y++) raw.fill(y < h / 2 === top ? 200 : 35, y * w * 3, (y + 1) * w * 3);
        const file = path.join(dir, name as string);
        const img = sharp(raw, { raw: { width: w, height: h, channels: 3 } });
        await (top ? img.jpeg({ quality: 90 }) : img.png()).toFile(file);
        return file;
      }),
    );
    const ours = await predictFiles(tf, await loadRun(tf, result.run.dir), photos);
    mkdirSync(shots, { recursive: true });
    await screenshotPage(
      server.uri,
      `/experiments/${experimentId}/runs/${runId}/artifactPath/report.html`,
      'report.html',
      path.join(shots, 'mlflow-report.png'),
      async (page) => {
        // MLflow shows an HTML artifact in a sandboxed frame that allows scripts.
        const report = page.frameLocator('iframe.mlflow-html-iframe');
        await report.getByText('what the model gets wrong').waitFor({ timeout: 30_000 });
        // The panel: the first photo dropped on it (a drop event carrying the file), the second chosen.
        await report.locator('body[data-ready="1"]').waitFor({ timeout: 60_000 });
        const frame =
          page.frames().find((f) => f !== page.mainFrame() && f.url() !== 'about:blank') ?? page.frames()[1];
        if (!frame) throw new Error('no report frame');
        // Page code as text: the test's TypeScript has no DOM types.
        const transfer = await frame.evaluateHandle(`(() => {
          const bytes = Uint8Array.from(atob('${readFileSync(photos[0] as string).toString('base64')}'), (c) => c.charCodeAt(0));
          const dt = new DataTransfer();
          dt.items.add(new File([bytes], '${path.basename(photos[0] as string)}', { type: 'image/jpeg' }));
          return dt;
        })()`);
        await report.locator('#drop').dispatchEvent('drop', { dataTransfer: transfer });
        await report.locator('body[data-done="1"]').waitFor({ timeout: 60_000 });
        const labels = [await report.locator('#label').textContent()];
        const probs = [await report.locator('td.prob').allTextContents()];
        await report.locator('#file').setInputFiles(photos[1] as string);
        await report.locator('body[data-done="2"]').waitFor({ timeout: 60_000 });
        labels.push(await report.locator('#label').textContent());
        probs.push(await report.locator('td.prob').allTextContents());
        for (const [i, p] of ours.entries()) {
          expect(labels[i], path.basename(photos[i] as string)).toBe(p.label);
          for (const [c, prob] of Object.values(p.probabilities ?? {}).entries())
            expect(Math.abs(Number(probs[i]?.[c]) - prob)).toBeLessThan(0.01);
        }
        await report.locator('#drop').scrollIntoViewIfNeeded();
        await page.screenshot({ path: path.join(shots, 'mlflow-report-panel.png') });

        const gallery = report.locator('#validation-0-0');
        expect(await gallery.isHidden()).toBe(true);
        await report.locator('button[data-cell="validation-0-0"]').click();
        await gallery.waitFor({ state: 'visible', timeout: 10_000 });
        expect(await gallery.locator('figure.shot').count()).toBe(Math.min(count, 2));
        expect(await gallery.locator('h4').textContent()).toContain(`${count} image(s)`);
      },
    );
  }, 240_000);
});
