// MLflow's UI in Debian's chromium through playwright-core: open a page, or an
// experiment's runs, select them all, open the comparison and screenshot it.
import { existsSync } from 'node:fs';
import { chromium, type Page } from 'playwright-core';

export const CHROMIUM = process.env.RUN_EXP_CHROMIUM ?? '/usr/bin/chromium';

/** A page of Debian's chromium, 1400 pixels wide, closed after `work`. */
async function withPage(height: number, work: (page: Page) => Promise<void>): Promise<void> {
  if (!existsSync(CHROMIUM))
    throw new Error(`no chromium at ${CHROMIUM}: apt-get install chromium (or set RUN_EXP_CHROMIUM)`);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  try {
    await work(await browser.newPage({ viewport: { width: 1400, height } }));
  } finally {
    await browser.close();
  }
}

/** Opens a page of the UI (`route`: the part after `#`), waits for `ready`, lets `check` inspect it, screenshots it. */
export async function screenshotPage(
  uri: string,
  route: string,
  ready: string | RegExp,
  screenshot: string,
  check: (page: Page) => Promise<void> = async () => {},
): Promise<void> {
  await withPage(1000, async (page) => {
    await page.goto(`${uri}/#${route}`);
    await page.getByText(ready).first().waitFor({ timeout: 30_000 });
    await page
      .getByRole('button', { name: 'Close' })
      .click({ timeout: 3000 })
      .catch(() => {}); // the assistant pane
    await check(page);
    await page.screenshot({ path: screenshot });
  });
}

/**
 * Compares runs of the experiment: by `names`, through the UI (the runs list, select all,
 * Compare); by `runIds`, straight at the comparison page (a sweep's children sit folded
 * under their parent in the list). `check` inspects the page before the screenshot.
 */
export async function screenshotComparison(
  uri: string,
  experimentId: string,
  runs: { names: string[] } | { runIds: string[] },
  screenshot: string,
  check: (page: Page) => Promise<void> = async () => {},
): Promise<void> {
  await withPage(1500, async (page) => {
    if ('names' in runs) {
      await page.goto(`${uri}/#/experiments/${experimentId}/runs?workflowType=machine_learning`);
      for (const name of runs.names) await page.getByText(name).first().waitFor({ timeout: 30_000 });
      await page.getByRole('checkbox').first().check(); // the header box: every run of the list
      await page
        .getByRole('button', { name: /compare/i })
        .first()
        .click();
    } else {
      const q = (v: string[]) => encodeURIComponent(JSON.stringify(v));
      await page.goto(`${uri}/#/compare-runs?runs=${q(runs.runIds)}&experiments=${q([experimentId])}`);
    }
    const count = 'names' in runs ? runs.names.length : runs.runIds.length;
    await page.getByText(`Comparing ${count} Runs`).waitFor({ timeout: 30_000 });
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
    await page.locator('.js-plotly-plot').first().getByText('val_accuracy').first().waitFor();
    await check(page);
    await page.screenshot({ path: screenshot });
  });
}
