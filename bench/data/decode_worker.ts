// One measured load of the image set through run-exp's cache, in its own
// process so that its peak RSS is its own. Usage: decode_worker.ts FILELIST.json CACHE_DIR
import { readFileSync } from 'node:fs';
import { loadPixels } from '../../src/data/cache.ts';
import { jpegFastPath } from '../../src/data/jpeg-fast.ts';
import type { Item } from '../../src/data/sources.ts';

const [listFile, cacheDir] = process.argv.slice(2) as [string, string];
const items = JSON.parse(readFileSync(listFile, 'utf8')) as Item[];
const start = performance.now();
const px = await loadPixels(items, { size: [64, 64], fit: 'fill', center_crop: 1, color: 'rgb' }, { cacheDir });
const seconds = (performance.now() - start) / 1000;
process.stdout.write(
  `${JSON.stringify({
    images: items.length,
    decoded: px.decoded,
    reused: px.reused,
    bad: px.bad.length,
    seconds,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    fastPath: jpegFastPath().available,
    why: jpegFastPath().why,
  })}\n`,
);
