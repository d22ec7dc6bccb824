// The preprocessed-pixel cache: uint8 pixels on disk, one folder per set of
// preprocessing options, an index of which file (path, size, mtime) sits in
// which slot. A second run decodes nothing; a changed file is decoded again
// alone; changed options start a new folder. Decoding runs in parallel into
// one preallocated buffer, so memory is bounded by the uint8 pixels.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
// The cache root is the libtensorflow installer's: one definition of where run-exp caches.
import { cacheRoot } from '../../native/install.mjs';
import { channelsOf, decodeImage, type Preprocessing } from './decode.ts';
import type { Item } from './sources.ts';

export interface BadFile {
  path: string;
  reason: string;
}

export interface Pixels {
  /** Items that decoded, in the order given; `pixels` holds them back to back. */
  items: Item[];
  pixels: Uint8Array;
  /** Bytes per image: height * width * channels. */
  imageBytes: number;
  bad: BadFile[];
  /** Hash of the options and of every file's path, size and mtime: names this exact data set. */
  hash: string;
  decoded: number;
  reused: number;
}

interface IndexEntry {
  path: string;
  size: number;
  mtimeMs: number;
  /** Slot in pixels.u8, or -1 for a file that failed to decode (with `reason`). */
  slot: number;
  reason?: string;
}

export interface LoadOptions {
  cacheDir?: string;
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
}

function optionsKey(p: Preprocessing): string {
  const canonical = JSON.stringify({ v: 1, size: p.size, fit: p.fit, center_crop: p.center_crop, color: p.color });
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}

async function readIndex(dir: string): Promise<{ entries: Map<string, IndexEntry>; pixels: Uint8Array | null }> {
  const indexFile = path.join(dir, 'index.json');
  if (!existsSync(indexFile)) return { entries: new Map(), pixels: null };
  try {
    const list = JSON.parse(await readFile(indexFile, 'utf8')) as IndexEntry[];
    const pixels = await readFile(path.join(dir, 'pixels.u8'));
    return { entries: new Map(list.map((e) => [e.path, e])), pixels };
  } catch {
    return { entries: new Map(), pixels: null }; // a damaged cache is rebuilt, not fatal
  }
}

async function writeAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, file);
}

/** The deepest folder holding every item: the cache is kept per data folder and options. */
function commonDir(items: Item[]): string {
  let dir = path.dirname(items[0]?.path ?? '/');
  for (const it of items)
    while (!it.path.startsWith(dir + path.sep) && dir !== path.dirname(dir)) dir = path.dirname(dir);
  return dir;
}

function datasetHash(key: string, entries: IndexEntry[]): string {
  const hash = createHash('sha256').update(key);
  for (const e of entries) hash.update(`${e.path}\0${e.size}\0${e.mtimeMs}\n`);
  return hash.digest('hex');
}

export async function loadPixels(items: Item[], p: Preprocessing, options: LoadOptions = {}): Promise<Pixels> {
  const [h, w] = p.size;
  const imageBytes = h * w * channelsOf(p);
  const key = optionsKey(p);
  const where = createHash('sha256').update(commonDir(items)).digest('hex').slice(0, 16);
  const dir = path.join(options.cacheDir ?? cacheRoot(), 'images', `${key}-${where}`);
  await mkdir(dir, { recursive: true });
  const stats = await Promise.all(
    items.map(async (it) => {
      const s = await stat(it.path).catch(() => null);
      return s ? { size: s.size, mtimeMs: s.mtimeMs } : null;
    }),
  );
  const old = await readIndex(dir);

  // Decided per file: reuse its cached slot, or decode it.
  const outcome: (IndexEntry & { decode: boolean })[] = items.map((it, i) => {
    const s = stats[i];
    if (!s) return { path: it.path, size: -1, mtimeMs: -1, slot: -1, reason: 'cannot read the file', decode: false };
    const prev = old.entries.get(it.path);
    const same = prev && prev.size === s.size && prev.mtimeMs === s.mtimeMs && (prev.slot < 0 || old.pixels);
    return same ? { ...prev, decode: false } : { path: it.path, ...s, slot: 0, decode: true };
  });

  // Everything cached, in the same order: the cached file is the answer.
  let inOrder = old.pixels !== null && old.entries.size === items.length;
  let expected = 0;
  for (const o of outcome) {
    if (!inOrder) break;
    if (o.decode || (o.slot >= 0 && o.slot !== expected++)) inOrder = false;
  }
  if (inOrder && old.pixels) {
    const goodItems = items.filter((_, i) => (outcome[i] as IndexEntry).slot >= 0);
    if (old.pixels.length === goodItems.length * imageBytes) {
      options.onProgress?.(items.length, items.length);
      return {
        items: goodItems,
        pixels: old.pixels,
        imageBytes,
        bad: outcome.filter((o) => o.slot < 0).map((o) => ({ path: o.path, reason: o.reason ?? 'failed to decode' })),
        hash: datasetHash(key, outcome),
        decoded: 0,
        reused: items.length,
      };
    }
  }

  const pixels = new Uint8Array(items.length * imageBytes);
  const slots: number[] = new Array(items.length).fill(-1);
  let next = 0;
  for (const [i, o] of outcome.entries()) if (o.decode || o.slot >= 0) slots[i] = next++;
  for (const [i, o] of outcome.entries()) {
    const slot = slots[i] as number;
    if (!o.decode && o.slot >= 0 && old.pixels)
      pixels.set(old.pixels.subarray(o.slot * imageBytes, (o.slot + 1) * imageBytes), slot * imageBytes);
  }

  const todo = outcome.flatMap((o, i) => (o.decode ? [i] : []));
  let done = items.length - todo.length;
  options.onProgress?.(done, items.length);
  const concurrency = options.concurrency ?? Math.max(2, os.availableParallelism() * 2);
  let cursor = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, todo.length) }, async () => {
      while (cursor < todo.length) {
        const i = todo[cursor++] as number;
        const o = outcome[i] as IndexEntry & { decode: boolean };
        try {
          const data = await decodeImage(o.path, p);
          pixels.set(data, (slots[i] as number) * imageBytes);
        } catch (err) {
          o.reason = err instanceof Error ? err.message : String(err);
          slots[i] = -1;
        }
        options.onProgress?.(++done, items.length);
      }
    }),
  );

  // Compact: failed decodes leave holes in the slot order.
  const goodItems: Item[] = [];
  const bad: BadFile[] = [];
  const entries: IndexEntry[] = [];
  let packed = 0;
  for (const [i, o] of outcome.entries()) {
    const slot = slots[i] as number;
    if (slot < 0) {
      bad.push({ path: o.path, reason: o.reason ?? 'failed to decode' });
      entries.push({ path: o.path, size: o.size, mtimeMs: o.mtimeMs, slot: -1, reason: o.reason });
      continue;
    }
    if (slot !== packed) pixels.copyWithin(packed * imageBytes, slot * imageBytes, (slot + 1) * imageBytes);
    entries.push({ path: o.path, size: o.size, mtimeMs: o.mtimeMs, slot: packed });
    goodItems.push(items[i] as Item);
    packed++;
  }
  const result = pixels.subarray(0, packed * imageBytes);
  if (todo.length > 0 || old.entries.size !== entries.length) {
    await writeAtomic(path.join(dir, 'pixels.u8'), result);
    await writeAtomic(path.join(dir, 'index.json'), JSON.stringify(entries));
  }
  return {
    items: goodItems,
    pixels: result,
    imageBytes,
    bad,
    hash: datasetHash(key, entries),
    decoded: todo.length,
    reused: items.length - todo.length,
  };
}
