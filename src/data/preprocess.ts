// The one path from an image file to the uint8 pixels a model sees: which
// region of the image each input is (the face a crop keeps, its centre, or the
// whole image), then decode, cut, resize and colour, then (a batch at a time)
// the floats the model takes. Training's cache, evaluate and predict all go
// through here, so a model is given exactly the pixels it was trained on.
import * as os from 'node:os';
import { faceCropOf } from '../spec/experiment.ts';
import { stampFiles } from './cache-files.ts';
import { channelsOf, decodeImage, type Preprocessing } from './decode.ts';
import { centerRegion, faceRegion, type Region, rankFaces } from './faces/crop.ts';
import { type ImageFaces, locateFaces } from './faces/locate.ts';
import { decodeJpegs, fastFaceCrops } from './jpeg-fast.ts';
import { type Normalization, toFloat } from './normalize.ts';

/** One model input to make from a file. */
export interface ImageJob {
  file: string;
  /** The square cut out of the upright image; undefined: the whole image (center_crop and fit apply). */
  region?: Region;
  /** With a face crop: which face (0: the largest), its box [x, y, width, height] and score; null when none was found. */
  face?: { index: number; box: [number, number, number, number]; score: number } | null;
  /** Said of an input that is not what it seems (no face found, the whole image used). */
  note?: string;
  /** Nothing to decode: no face was found and `crop.on_miss` is skip. */
  skip?: string;
}

/**
 * What each file becomes under `p`: without a face crop, the whole image; with
 * one, the largest face (or every face, `all`) found in `located`, or what
 * `on_miss` says when none was. A file without detection results (unreadable)
 * is one whole-image job, whose decoding says what is wrong.
 */
export function imageJobs(
  files: string[],
  p: Preprocessing,
  located: Map<string, ImageFaces> | null,
  faces: 'largest' | 'all' = 'largest',
): ImageJob[] {
  const crop = faceCropOf(p);
  if (!crop || !located) return files.map((file) => ({ file }));
  return files.flatMap((file): ImageJob[] => {
    const found = located.get(file);
    if (!found) return [{ file }];
    const kept = rankFaces(found.faces, crop.min_confidence);
    if (kept.length === 0) {
      if (crop.on_miss === 'skip') return [{ file, face: null, skip: 'no face found (crop.on_miss: skip)' }];
      const center = crop.on_miss === 'center';
      return [
        {
          file,
          ...(center ? { region: centerRegion(found.width, found.height) } : {}),
          face: null,
          note: `no face found; predicted on the ${center ? 'centred square' : 'whole image'}, as crop.on_miss is ${crop.on_miss}`,
        },
      ];
    }
    return (faces === 'all' ? kept : kept.slice(0, 1)).map((f, index) => ({
      file,
      region: faceRegion(f, crop),
      face: { index, box: f.box.map((v) => Math.round(v)) as [number, number, number, number], score: f.score },
    }));
  });
}

export interface DecodeOptions {
  concurrency?: number;
  onProgress?: (decoded: number) => void;
  /** Aborted: no job is started after it; those not reached come back as 'not reached'. */
  signal?: AbortSignal;
}

/** A job's outcome: undefined when its pixels were written, else why not. */
export type JobError = { reason: string; noFace?: boolean; notReached?: boolean } | undefined;

/**
 * Decodes each job into `pixels` at `offsets[k]` (bytes): whole JPEG images
 * through the JPEG fast path (libjpeg-turbo with DCT scaling), everything else
 * (and what the fast path declines) through sharp, `concurrency` at a time.
 */
export async function decodeJobs(
  jobs: ImageJob[],
  p: Preprocessing,
  pixels: Uint8Array,
  offsets: number[],
  options: DecodeOptions = {},
): Promise<JobError[]> {
  const errors: JobError[] = jobs.map((j) => (j.skip ? { reason: j.skip, noFace: true } : undefined));
  const todo = jobs.flatMap((j, k) => (j.skip ? [] : [k]));
  const cores = os.availableParallelism();
  const progress = (n: number) => options.onProgress?.(n);
  // Whole images take the JPEG fast path; with a face crop, the faces' cuts take
  // the native face path (sharp's bytes), and images without a face go to sharp.
  let forSharp: number[];
  if (faceCropOf(p)) {
    const cuts = todo.filter((k) => jobs[k]?.region);
    const left = await fastFaceCrops(
      cuts.map((k) => (jobs[k] as ImageJob).file),
      cuts.map((k) => (jobs[k] as ImageJob).region as Region),
      p,
      pixels,
      cuts.map((k) => offsets[k] as number),
      cores,
      progress,
      options.signal,
    );
    const declined = new Set(left.map((i) => cuts[i] as number));
    forSharp = todo.filter((k) => !jobs[k]?.region || declined.has(k));
  } else {
    const files = todo.map((k) => (jobs[k] as ImageJob).file);
    const at = todo.map((k) => offsets[k] as number);
    const left = await decodeJpegs(files, at, pixels, p, cores, progress, options.signal);
    forSharp = left.map((i) => todo[i] as number);
  }
  let cursor = 0;
  const concurrency = options.concurrency ?? Math.max(2, cores * 2);
  await Promise.all(
    Array.from({ length: Math.min(concurrency, forSharp.length) }, async () => {
      while (cursor < forSharp.length && !options.signal?.aborted) {
        const k = forSharp[cursor++] as number;
        const job = jobs[k] as ImageJob;
        try {
          pixels.set(await decodeImage(job.file, p, job.region), offsets[k] as number);
        } catch (err) {
          errors[k] = { reason: err instanceof Error ? err.message : String(err) };
        }
        options.onProgress?.(1);
      }
    }),
  );
  for (const k of forSharp.slice(cursor)) errors[k] = { reason: 'not reached', notReached: true };
  return errors;
}

/**
 * The model input of each job, a batch at a time: the one preprocessing path
 * (data/preprocess.ts) and training's normalization. `good` lists the jobs of
 * the batch that decoded, in the order of `x`'s images.
 */
export async function* inputBatches(
  p: Preprocessing & Normalization,
  jobs: ImageJob[],
  batchSize = 64,
): AsyncGenerator<{ chunk: ImageJob[]; errors: JobError[]; good: number[]; x: Float32Array }> {
  const bytes = p.size[0] * p.size[1] * channelsOf(p);
  for (let b = 0; b < jobs.length; b += batchSize) {
    const chunk = jobs.slice(b, b + batchSize);
    const pixels = new Uint8Array(chunk.length * bytes);
    const errors = await decodeJobs(
      chunk,
      p,
      pixels,
      chunk.map((_, k) => k * bytes),
    );
    const good = chunk.flatMap((_, k) => (errors[k] ? [] : [k]));
    const x = toFloat(pixels, bytes, channelsOf(p), good, p, new Float32Array(good.length * bytes));
    yield { chunk, errors, good, x };
  }
}

/** The jobs of image files named directly (predict, serve): with a face crop, their faces are located first (cached). */
export async function fileJobs(
  files: string[],
  p: Preprocessing,
  faces: 'largest' | 'all' = 'largest',
  cacheDir?: string | null,
): Promise<ImageJob[]> {
  const crop = faceCropOf(p);
  const located = crop ? (await locateFaces(await stampFiles(files), crop, { cacheDir })).faces : null;
  return imageJobs(files, p, located, faces);
}
