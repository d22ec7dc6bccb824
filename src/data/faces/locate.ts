// Faces of many image files, detected once: boxes and eyes are kept on disk per
// data folder and detector settings, keyed by each file's path, size and mtime,
// so a second run (or another margin, confidence or size) detects nothing.
// Detection pads each image to a square with a border, so that a tight crop
// (a face filling the frame) still looks like a face in a scene.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import sharp from 'sharp';
import { cacheRoot } from '../../platform/cache-root.ts';
import { loadTensorflow } from '../../platform/tensorflow.ts';
import { DETECTORS, type DetectorName, detectorIdentity, type Face } from '../../spec/detectors.ts';
import type { FaceCrop } from '../../spec/experiment.ts';
import { contentHashes, type FileStamp, folderKey, sameSettingsFolders, writeAtomic } from '../cache-files.ts';
import { fastDetectorInputs, type Placement } from '../jpeg-fast.ts';
import { readBytes } from '../read-bytes.ts';
import { windowOf } from './crop.ts';
import { type Detector, loadDetector } from './detectors.ts';

/** An image's upright size and the faces found in it (any score above the detector's floor). */
export interface ImageFaces {
  width: number;
  height: number;
  faces: Face[];
}

interface Entry extends ImageFaces {
  size: number;
  mtimeMs: number;
  /** The file's content (contentHash): how a copy of it, with a new path or time, finds this entry. */
  sha?: string;
}

export interface Located {
  /** Per path; missing for a file that could not be read (the decoder reports it). */
  faces: Map<string, ImageFaces>;
  detected: number;
  reused: number;
}

export interface LocateOptions {
  /** Where the box cache lives (default: the cache root); null: no cache, for one-off files such as a server's uploads. */
  cacheDir?: string | null;
  onProgress?: (done: number, total: number) => void;
  /** Aborted: save the boxes found so far and reject with the signal's reason. */
  signal?: AbortSignal;
}

/** Images per detector call: 32 runs blazeface_short 1.3-1.5x faster than 8 (boxes are the same in any batch). */
export const DETECT_BATCH = 32;
/** New detections between two saves of the box file, so an interrupted pass keeps most of its work. */
const SAVE_EVERY = 2048;

/** Names the detector and the settings that change its boxes (not margin, confidence or size). */
export function detectorKey(crop: Pick<FaceCrop, 'detector' | 'pad'>): string {
  const id = detectorIdentity(crop.detector as DetectorName);
  return (
    createHash('sha256')
      // v2: the detector's input is resized from the full decode (v1 let libjpeg shrink large JPEGs on load).
      // v3: oneDNN's kernels (boxes independent of the batch), through a TensorFlow session.
      .update(JSON.stringify({ v: 3, ...id, pad: crop.pad }))
      .digest('hex')
      .slice(0, 16)
  );
}

/** Where the detector's input holds an upright width x height image: scaled so that its longer side and `pad` on each side fill it, centred on black. */
export function placement(width: number, height: number, inputSize: number, pad: number): Placement {
  const scale = inputSize / (Math.max(width, height) * (1 + 2 * pad));
  const rw = Math.max(1, Math.min(inputSize, Math.round(width * scale)));
  const rh = Math.max(1, Math.min(inputSize, Math.round(height * scale)));
  return { width, height, rw, rh, left: Math.floor((inputSize - rw) / 2), top: Math.floor((inputSize - rh) / 2) };
}

/** A face found in the detector's input, in the upright image's pixels. */
function backFrom(p: Placement): (f: Face) => Face {
  const sx = p.rw / p.width;
  const sy = p.rh / p.height;
  return (f) => ({
    box: [(f.box[0] - p.left) / sx, (f.box[1] - p.top) / sy, f.box[2] / sx, f.box[3] / sy],
    score: f.score,
    eyes: f.eyes.map(([x, y]) => [(x - p.left) / sx, (y - p.top) / sy]) as Face['eyes'],
  });
}

export interface DetectorInput {
  pixels: Uint8Array;
  width: number;
  height: number;
  back: (f: Face) => Face;
}

/**
 * The detector's input for one file, and how to map its coordinates back to the upright image,
 * through sharp. Resized from the fully decoded image (not with libjpeg's shrink on load), so that
 * a web page, which only gets decoded pixels, can compute the same input (src/export/web/run-exp-web.js).
 */
export async function detectorInput(file: string, inputSize: number, pad: number): Promise<DetectorInput> {
  const decoded = await sharp(await readBytes(file), { failOn: 'truncated', pages: 1, autoOrient: true })
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  const { width, height, channels } = decoded.info;
  const p = placement(width, height, inputSize, pad);
  const resized = await sharp(decoded.data, { raw: { width, height, channels } })
    .resize({ width: p.rw, height: p.rh, fit: 'fill' })
    .raw()
    .toBuffer();
  // Placed on black in JS: sharp's extend in the same pipeline cost as much again as the resize.
  const { data: pixels } = windowOf(
    { data: resized, width: p.rw, height: p.rh },
    { x0: 0, y0: 0, x1: p.rw, y1: p.rh },
    { left: -p.left, top: -p.top, width: inputSize, height: inputSize },
    'black',
  );
  return { pixels, width, height, back: backFrom(p) };
}

/**
 * The detector's inputs for `files`: JPEGs through the native path (the same
 * bytes, a fraction of the time), the rest and whatever it declines through sharp;
 * null for a file neither can read.
 */
export async function detectorInputs(
  files: string[],
  inputSize: number,
  pad: number,
): Promise<(DetectorInput | null)[]> {
  const bytes = inputSize * inputSize * 3;
  const out = new Uint8Array(files.length * bytes);
  const placed = await fastDetectorInputs(files, inputSize, pad, out, os.availableParallelism());
  return Promise.all(
    files.map(async (file, i) => {
      const got = placed[i];
      // The native path placed the image where placement() does (else sharp decides).
      if (got && isDeepStrictEqual(got, placement(got.width, got.height, inputSize, pad)))
        return {
          pixels: out.subarray(i * bytes, (i + 1) * bytes),
          width: got.width,
          height: got.height,
          back: backFrom(got),
        };
      return detectorInput(file, inputSize, pad).catch(() => null);
    }),
  );
}

/**
 * Files of `todo` whose content has boxes here or in a box file made with the
 * same detector settings (a copy of the data set elsewhere): their entries,
 * under their own path, size and time. Entries without a content hash get one.
 * Returns what is still to detect, and the content hashes it read.
 */
async function reuseByContent(
  boxFile: string,
  entries: Map<string, Entry>,
  files: FileStamp[],
  todo: FileStamp[],
  faces: Map<string, ImageFaces>,
): Promise<{ todo: FileStamp[]; shaOf: Map<string, string | null> }> {
  const known = new Set(todo.map((f) => f.path));
  const unhashed = files.filter((f) => f.size >= 0 && (known.has(f.path) || !entries.get(f.path)?.sha));
  const hashes = await contentHashes(unhashed.map((f) => f.path));
  const shaOf = new Map(unhashed.map((f, i) => [f.path, hashes[i] ?? null]));
  for (const [p, sha] of shaOf) {
    const e = entries.get(p);
    if (e && sha && !known.has(p)) e.sha = sha;
  }
  const wanted = new Set(todo.flatMap((f) => (shaOf.get(f.path) ? [shaOf.get(f.path) as string] : [])));
  const byContent = new Map<string, Entry>();
  const take = (from: Map<string, Entry>) => {
    for (const e of from.values()) if (e.sha && wanted.has(e.sha) && !byContent.has(e.sha)) byContent.set(e.sha, e);
  };
  take(entries);
  for (const folder of wanted.size ? sameSettingsFolders(path.dirname(boxFile)) : []) {
    if (byContent.size === wanted.size) break;
    take(await readBoxes(path.join(folder, 'boxes.json')));
  }
  const rest = todo.filter((f) => {
    const sha = shaOf.get(f.path);
    const hit = sha ? byContent.get(sha) : undefined;
    if (!hit) return true;
    const entry: Entry = { ...hit, size: f.size, mtimeMs: f.mtimeMs, sha: sha as string };
    entries.set(f.path, entry);
    faces.set(f.path, entry);
    return false;
  });
  return { todo: rest, shaOf };
}

async function readBoxes(file: string): Promise<Map<string, Entry>> {
  if (!existsSync(file)) return new Map();
  try {
    return new Map(Object.entries(JSON.parse(await readFile(file, 'utf8')) as Record<string, Entry>));
  } catch {
    return new Map(); // a damaged box file is rebuilt, not fatal
  }
}

/** Faces in each of `files`, from the box cache where it knows the file, else detected in batches. */
export async function locateFaces(files: FileStamp[], crop: FaceCrop, options: LocateOptions = {}): Promise<Located> {
  const name = crop.detector as DetectorName;
  if (!(name in DETECTORS)) throw new Error(`unknown face detector '${crop.detector}'`);
  const boxFile =
    options.cacheDir === null
      ? null
      : path.join(
          options.cacheDir ?? cacheRoot(),
          'faces',
          `${detectorKey(crop)}-${folderKey(files.map((f) => f.path))}`,
          'boxes.json',
        );
  if (boxFile) await mkdir(path.dirname(boxFile), { recursive: true });
  const entries = boxFile ? await readBoxes(boxFile) : new Map<string, Entry>();
  const faces = new Map<string, ImageFaces>();
  let todo: FileStamp[] = [];
  for (const f of files) {
    const e = entries.get(f.path);
    if (e && e.size === f.size && e.mtimeMs === f.mtimeMs) faces.set(f.path, e);
    else if (f.size >= 0) todo.push(f);
  }
  let shaOf = new Map<string, string | null>();
  if (boxFile) {
    const before = todo.length;
    ({ todo, shaOf } = await reuseByContent(boxFile, entries, files, todo, faces));
    // Content hashes added, or entries found by content: kept for the next run.
    if (shaOf.size > 0 && todo.length === 0) await writeAtomic(boxFile, JSON.stringify(Object.fromEntries(entries)));
    if (todo.length < before) options.onProgress?.(files.length - todo.length, files.length);
  }
  const total = files.length;
  let done = total - todo.length;
  options.onProgress?.(done, total);
  if (todo.length === 0) return { faces, detected: 0, reused: total };

  const { tf } = await loadTensorflow();
  const detector: Detector = await loadDetector(tf, name);
  const save = async () => {
    if (boxFile) await writeAtomic(boxFile, JSON.stringify(Object.fromEntries(entries)));
  };
  const prepare = (chunk: FileStamp[]) =>
    detectorInputs(
      chunk.map((f) => f.path),
      detector.inputSize,
      crop.pad,
    );
  let sinceSave = 0;
  // Decoding the next batch (sharp's threads) overlaps detecting this one (TensorFlow's).
  let next = prepare(todo.slice(0, DETECT_BATCH));
  for (let b = 0; b < todo.length; b += DETECT_BATCH) {
    if (options.signal?.aborted) {
      await save();
      options.signal.throwIfAborted();
    }
    const chunk = todo.slice(b, b + DETECT_BATCH);
    const inputs = await next;
    next = prepare(todo.slice(b + DETECT_BATCH, b + 2 * DETECT_BATCH));
    const ok = inputs.flatMap((x, i) => (x ? [i] : []));
    const bytes = detector.inputSize * detector.inputSize * 3;
    const batch = new Uint8Array(ok.length * bytes);
    for (const [k, i] of ok.entries()) batch.set(inputs[i]?.pixels as Uint8Array, k * bytes);
    const found = ok.length ? await detector.detect(batch, ok.length) : [];
    for (const [k, i] of ok.entries()) {
      const input = inputs[i] as NonNullable<(typeof inputs)[number]>;
      const f = chunk[i] as FileStamp;
      const entry: Entry = {
        size: f.size,
        mtimeMs: f.mtimeMs,
        ...(shaOf.get(f.path) ? { sha: shaOf.get(f.path) as string } : {}),
        width: input.width,
        height: input.height,
        faces: (found[k] ?? []).map(input.back),
      };
      entries.set(f.path, entry);
      faces.set(f.path, entry);
    }
    done += chunk.length;
    sinceSave += chunk.length;
    options.onProgress?.(done, total);
    if (sinceSave >= SAVE_EVERY) {
      await save();
      sinceSave = 0;
    }
  }
  await save();
  return { faces, detected: todo.length, reused: total - todo.length };
}
