// The preprocessed-pixel cache: uint8 pixels on disk, one folder per set of
// preprocessing options, an index of which file (path, size, mtime) sits in
// which slot. A second run decodes nothing; a changed file is decoded again
// alone; changed options start a new folder. Decoding runs in parallel into
// one preallocated buffer, so memory is bounded by the uint8 pixels. With a
// face crop, faces are located first (their own cache) and each image is cut
// to its face.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import * as path from 'node:path';
// The cache root is the libtensorflow installer's: one definition of where run-exp caches.
import { cacheRoot } from '../platform/cache-root.ts';
import { type CropFill, type FaceCrop, faceCropOf } from '../spec/experiment.ts';
import {
  contentHashes,
  type FileStamp,
  folderKey,
  sameSettingsFolders,
  stampFiles,
  writeAtomic,
} from './cache-files.ts';
import { channelsOf, type Preprocessing } from './decode.ts';
import { chooseFace, faceRegion, outsideFraction } from './faces/crop.ts';
import { detectorKey, locateFaces } from './faces/locate.ts';
import { jpegDecoder } from './jpeg-fast.ts';
import { decodeJobs, imageJobs } from './preprocess.ts';
import type { Item } from './sources.ts';

export interface BadFile {
  path: string;
  reason: string;
  /** Left out because no face was found (`crop.on_miss: skip`), not because it is unreadable. */
  no_face?: boolean;
}

/** How many readable images had a face at or above `min_confidence`. */
export interface FaceStats {
  images: number;
  found: number;
  detected: number;
  reused: number;
  /** Mean fraction of a face crop that falls outside its image: a margin too wide for the framing. */
  outside: number;
  /** What fills that part (`crop.fill`). */
  fill: CropFill;
}

export interface Pixels {
  /** Items that decoded, in the order given; `pixels` holds them back to back. */
  items: Item[];
  pixels: Uint8Array;
  /** Bytes per image: height * width * channels. */
  imageBytes: number;
  bad: BadFile[];
  /** Hash of the options and of every file's content and label, in order: names this exact data set wherever it is. */
  hash: string;
  /** Every item's path, size and mtime, as the hash saw them. */
  stamps: FileStamp[];
  decoded: number;
  reused: number;
  /** With a face crop. */
  faces?: FaceStats;
}

interface IndexEntry {
  path: string;
  size: number;
  mtimeMs: number;
  /** Slot in pixels.u8, or -1 for a file that failed to decode (with `reason`). */
  slot: number;
  reason?: string;
  no_face?: boolean;
  /** The file's content (contentHash): how a copy of it, elsewhere or with a new time, finds this entry. */
  sha?: string;
}

export interface LoadOptions {
  cacheDir?: string;
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
  /** Progress of face detection, with a face crop. */
  onDetect?: (done: number, total: number) => void;
  /**
   * Aborted: stop at the next image, cache what was decoded (and the face
   * boxes found) so far, and reject with the signal's reason.
   */
  signal?: AbortSignal;
}

function optionsKey(p: Preprocessing): string {
  const face = faceCropOf(p);
  const canonical = JSON.stringify({
    v: 1,
    size: p.size,
    fit: p.fit,
    center_crop: p.center_crop,
    color: p.color,
    // Only a face crop enters the key: caches made without one stay valid.
    // Whole images name their decoder: the JPEG fast path's pixels differ from sharp's by under 1 (of 255) on average.
    ...(face ? { crop: cropKey(face) } : jpegDecoder() === 'fast-1' ? { jpeg: 'fast-1' } : {}),
  });
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}

/** A face crop as the key names it: `fill: black` (the default, as before the setting existed) left out, so older caches stay valid. */
function cropKey({ fill, ...rest }: FaceCrop): object {
  return { ...rest, detector: detectorKey(rest), ...(fill !== 'black' ? { fill } : {}) };
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

/**
 * The cached entry (and the pixels its slot is in) of each wanted content hash:
 * from this folder's index first, then from the folders made for the same
 * settings, read only while some hash is still missing.
 */
async function entriesByContent(
  dir: string,
  here: Awaited<ReturnType<typeof readIndex>>,
  wanted: Set<string>,
): Promise<Map<string, { entry: IndexEntry; pixels: Uint8Array | null }>> {
  const found = new Map<string, { entry: IndexEntry; pixels: Uint8Array | null }>();
  const take = (index: Awaited<ReturnType<typeof readIndex>>) => {
    for (const e of index.entries.values())
      if (e.sha && wanted.has(e.sha) && !found.has(e.sha) && (e.slot < 0 || index.pixels))
        found.set(e.sha, { entry: e, pixels: index.pixels });
  };
  take(here);
  for (const other of sameSettingsFolders(dir)) {
    if (found.size === wanted.size) break;
    take(await readIndex(other));
  }
  return found;
}

/**
 * What names a data set: the settings, and each file's content and label in
 * order (an unreadable file by its path). Paths and times are left out, so a
 * copy of the data is the same data set, down to the features cached for it.
 */
function datasetHash(key: string, entries: IndexEntry[], items: Item[]): string {
  const labels = new Map(items.map((it) => [it.path, it.label]));
  const hash = createHash('sha256').update(key);
  for (const e of entries) hash.update(`${e.sha ?? e.path}\0${labels.get(e.path)}\n`);
  return hash.digest('hex');
}

function faceStats(located: Awaited<ReturnType<typeof locateFaces>>, crop: FaceCrop): FaceStats {
  let found = 0;
  let outside = 0;
  for (const f of located.faces.values()) {
    const face = chooseFace(f.faces, crop.min_confidence);
    if (!face) continue;
    found++;
    outside += outsideFraction(faceRegion(face, crop), f.width, f.height);
  }
  return {
    images: located.faces.size,
    found,
    detected: located.detected,
    reused: located.reused,
    outside: found ? Math.round((outside / found) * 1000) / 1000 : 0,
    fill: crop.fill,
  };
}

export async function loadPixels(items: Item[], p: Preprocessing, options: LoadOptions = {}): Promise<Pixels> {
  const [h, w] = p.size;
  const imageBytes = h * w * channelsOf(p);
  const key = optionsKey(p);
  const dir = path.join(options.cacheDir ?? cacheRoot(), 'images', `${key}-${folderKey(items.map((it) => it.path))}`);
  await mkdir(dir, { recursive: true });
  const stamps = await stampFiles(items.map((it) => it.path));
  const stats = stamps.map((s) => (s.size < 0 ? null : { size: s.size, mtimeMs: s.mtimeMs }));
  const old = await readIndex(dir);
  const crop = faceCropOf(p);
  const located = crop
    ? await locateFaces(
        items.flatMap((it, i) => {
          const st = stats[i];
          return st ? [{ path: it.path, ...st }] : [];
        }),
        crop,
        { cacheDir: options.cacheDir, onProgress: options.onDetect, signal: options.signal },
      )
    : null;
  const faces: FaceStats | undefined = located && crop ? faceStats(located, crop) : undefined;
  const badOf = (o: IndexEntry): BadFile => ({
    path: o.path,
    reason: o.reason ?? 'failed to decode',
    ...(o.no_face ? { no_face: true } : {}),
  });

  // Decided per file: reuse its cached slot (from this folder's pixels, or `src`'s), or decode it.
  const outcome: (IndexEntry & { decode: boolean; src?: Uint8Array })[] = items.map((it, i) => {
    const s = stats[i];
    if (!s) return { path: it.path, size: -1, mtimeMs: -1, slot: -1, reason: 'cannot read the file', decode: false };
    const prev = old.entries.get(it.path);
    const same = prev && prev.size === s.size && prev.mtimeMs === s.mtimeMs && (prev.slot < 0 || old.pixels);
    return same ? { ...prev, decode: false } : { path: it.path, ...s, slot: 0, decode: true };
  });
  // A file not known by path, size and time may be a copy (new times, or the data set copied
  // elsewhere): its content finds its entry here or in a cache folder made for the same settings.
  const unhashed = outcome.flatMap((o, i) => (o.size >= 0 && !o.sha ? [i] : []));
  const hashes = await contentHashes(unhashed.map((i) => (outcome[i] as IndexEntry).path));
  for (const [k, i] of unhashed.entries()) {
    const sha = hashes[k];
    if (sha) (outcome[i] as IndexEntry).sha = sha;
  }
  const wanted = new Set(outcome.flatMap((o) => (o.decode && o.sha ? [o.sha] : [])));
  if (wanted.size > 0) {
    for (const [sha, hit] of await entriesByContent(dir, old, wanted)) {
      for (const [i, o] of outcome.entries()) {
        if (!o.decode || o.sha !== sha) continue;
        const { slot, reason, no_face } = hit.entry;
        outcome[i] = { ...o, slot, reason, no_face, decode: false, src: hit.pixels ?? undefined };
      }
    }
  }

  // Everything cached, in the same order: the cached file is the answer.
  let inOrder = old.pixels !== null && old.entries.size === items.length;
  let expected = 0;
  for (const o of outcome) {
    if (!inOrder) break;
    if (o.decode || o.src || (o.slot >= 0 && o.slot !== expected++)) inOrder = false;
  }
  if (inOrder && old.pixels && unhashed.length === 0) {
    const goodItems = items.filter((_, i) => (outcome[i] as IndexEntry).slot >= 0);
    if (old.pixels.length === goodItems.length * imageBytes) {
      options.onProgress?.(items.length, items.length);
      return {
        items: goodItems,
        pixels: old.pixels,
        imageBytes,
        bad: outcome.filter((o) => o.slot < 0).map(badOf),
        hash: datasetHash(key, outcome, items),
        stamps,
        decoded: 0,
        reused: items.length,
        faces,
      };
    }
  }

  const pixels = new Uint8Array(items.length * imageBytes);
  const slots: number[] = new Array(items.length).fill(-1);
  let next = 0;
  for (const [i, o] of outcome.entries()) if (o.decode || o.slot >= 0) slots[i] = next++;
  for (const [i, o] of outcome.entries()) {
    const slot = slots[i] as number;
    const from = o.src ?? old.pixels;
    if (!o.decode && o.slot >= 0 && from)
      pixels.set(from.subarray(o.slot * imageBytes, (o.slot + 1) * imageBytes), slot * imageBytes);
  }

  const todo = outcome.flatMap((o, i) => (o.decode ? [i] : []));
  let done = items.length - todo.length;
  options.onProgress?.(done, items.length);
  // One input per file: with a face crop, its largest face (or what on_miss says).
  const jobs = imageJobs(
    todo.map((i) => (outcome[i] as IndexEntry).path),
    p,
    located?.faces ?? null,
  );
  const errors = await decodeJobs(
    jobs,
    p,
    pixels,
    todo.map((i) => (slots[i] as number) * imageBytes),
    {
      concurrency: options.concurrency,
      signal: options.signal,
      onProgress: (n) => {
        done += n;
        options.onProgress?.(done, items.length);
      },
    },
  );
  const notReached = new Set<number>();
  for (const [k, error] of errors.entries()) {
    const i = todo[k] as number;
    if (!error) continue;
    if (error.notReached) {
      notReached.add(i);
      continue;
    }
    const o = outcome[i] as IndexEntry;
    o.reason = error.reason;
    if (error.noFace) o.no_face = true;
    slots[i] = -1;
  }

  // Stopped: the files not reached stay out of the cache (the next run decodes them).
  // Compact: failed decodes leave holes in the slot order.
  const goodItems: Item[] = [];
  const bad: BadFile[] = [];
  const entries: IndexEntry[] = [];
  let packed = 0;
  for (const [i, o] of outcome.entries()) {
    if (notReached.has(i)) continue;
    const slot = slots[i] as number;
    if (slot < 0) {
      bad.push(badOf(o));
      entries.push({
        path: o.path,
        size: o.size,
        mtimeMs: o.mtimeMs,
        slot: -1,
        reason: o.reason,
        no_face: o.no_face,
        sha: o.sha,
      });
      continue;
    }
    if (slot !== packed) pixels.copyWithin(packed * imageBytes, slot * imageBytes, (slot + 1) * imageBytes);
    entries.push({ path: o.path, size: o.size, mtimeMs: o.mtimeMs, slot: packed, sha: o.sha });
    goodItems.push(items[i] as Item);
    packed++;
  }
  const result = pixels.subarray(0, packed * imageBytes);
  if (todo.length > 0 || old.entries.size !== entries.length || unhashed.length > 0 || outcome.some((o) => o.src)) {
    await writeAtomic(path.join(dir, 'pixels.u8'), result);
    await writeAtomic(path.join(dir, 'index.json'), JSON.stringify(entries));
  }
  options.signal?.throwIfAborted();
  return {
    items: goodItems,
    pixels: result,
    imageBytes,
    bad,
    hash: datasetHash(key, entries, items),
    stamps,
    decoded: todo.length,
    reused: items.length - todo.length,
    faces,
  };
}
