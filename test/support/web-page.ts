// A prediction page in Debian's chromium (the web export's index.html, or
// serve's page at /): each file chosen in turn, as a user dropping photos
// would, and the label and probabilities the page shows, read off it.
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM } from './mlflow-ui.ts';

export interface PagePrediction {
  label: string;
  probabilities: Record<string, number>;
  /** The face box the page drew ([x, y, width, height] in image pixels), when it drew one. */
  face?: number[];
}

export async function pagePredictions(url: string, files: string[], screenshot?: string): Promise<PagePrediction[]> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage({ viewport: { width: 900, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(url);
    await page.waitForSelector('body[data-ready="1"]', { timeout: 60_000 }).catch((e: Error) => {
      throw new Error(`the page did not get ready: ${errors.join('; ') || e.message}`);
    });
    const got: PagePrediction[] = [];
    for (const [i, file] of files.entries()) {
      await page.setInputFiles('#file', file);
      await page.waitForSelector(`body[data-done="${i + 1}"]`, { timeout: 60_000 });
      const error = await page.textContent('#error');
      if (error) throw new Error(`${path.basename(file)}: the page says ${error}`);
      const probabilities = Object.fromEntries(
        await page.$$eval('td.prob', (cells) =>
          cells.map((c) => [
            (c as unknown as { dataset: Record<string, string> }).dataset.class as string,
            Number(c.textContent),
          ]),
        ),
      );
      const face = await page.getAttribute('#box', 'data-face');
      got.push({
        label: (await page.textContent('#label')) ?? '',
        probabilities,
        ...(face ? { face: face.split(',').map(Number) } : {}),
      });
    }
    if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
    if (errors.length) throw new Error(`the page threw: ${errors.join('; ')}`);
    return got;
  } finally {
    await browser.close();
  }
}

/** A plain static file server for `dir` on loopback, as a user would put the web export behind one. */
export async function staticServer(dir: string): Promise<{ url: string; close: () => Promise<void> }> {
  const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.json': 'application/json' };
  const server = createServer((req, res) => {
    const file = path.join(dir, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    const target = existsSync(file) && statSync(file).isDirectory() ? path.join(file, 'index.html') : file;
    if (!target.startsWith(dir) || !existsSync(target)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': types[path.extname(target)] ?? 'application/octet-stream' });
    createReadStream(target).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
