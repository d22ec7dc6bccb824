// The JPEG fast path (native/jpeg): libjpeg-turbo inside libtensorflow decodes
// at a reduced size (DCT scaling), a Lanczos-3 resample finishes the job,
// straight into the pixel buffer, on libuv's thread pool. Used for whole-image
// loads (no face crop). For face crops it computes the detector's input and
// each face's cut with libvips' own arithmetic, the same bytes as sharp.
// Every file it declines or fails goes to sharp, so bad files are judged and
// reported exactly as before.
import { addonBuilt, openAddon } from '../platform/native-addon.ts';
import type { CropFill } from '../spec/experiment.ts';
import type { Preprocessing } from './decode.ts';
import type { Region } from './faces/crop.ts';

interface Addon {
  open(libraryPath: string): string | null;
  decode(
    files: string[],
    out: Uint8Array,
    offsets: number[],
    options: { height: number; width: number; channels: number; fit: number; centerCrop: number },
  ): Promise<Uint8Array>;
  detectorInputs(
    files: string[],
    out: Uint8Array,
    offsets: number[],
    options: { size: number; pad: number },
  ): Promise<Int32Array>;
  faceCrops(
    files: string[],
    out: Uint8Array,
    offsets: number[],
    regions: Float64Array,
    options: { height: number; width: number; fit: number },
  ): Promise<Int32Array>;
}

/** Numbers per file in the face paths' results: the status, then six of geometry. */
const RESULT = 7;
const FILLS: Record<CropFill, number> = { black: 0, edge: 1, mirror: 2 };

const FIT = { fill: 0, cover: 1, contain: 2 } as const;

/** Files per call to the addon: enough to amortise the call, few enough to keep every core busy. */
const CHUNK = 64;

function open(): { addon: Addon | null; why: string } {
  if (process.env.RUN_EXP_JPEG === 'sharp') return { addon: null, why: 'RUN_EXP_JPEG=sharp' };
  return openAddon<Addon>('@run-exp/jpeg');
}

/**
 * Names the decoder whole JPEGs will go through, for the pixel cache's key;
 * without loading libtensorflow, so that a cached load stays quick.
 */
export function jpegDecoder(): 'fast-1' | 'sharp' {
  return process.env.RUN_EXP_JPEG !== 'sharp' && addonBuilt('@run-exp/jpeg') ? 'fast-1' : 'sharp';
}

/** Whether the fast path is available here, and if not, why (for `run-exp doctor`). */
export function jpegFastPath(): { available: boolean; why: string } {
  const s = open();
  return { available: s.addon !== null, why: s.why };
}

/**
 * Decodes `files[i]` into `out` at byte offset `offsets[i]`, `concurrency`
 * chunks at a time, reporting each chunk's decoded count; returns the indices it did not decode (not a JPEG, not
 * decodable exactly as sharp would, broken, or not reached once `signal` aborts), for sharp to take.
 */
export async function decodeJpegs(
  files: string[],
  offsets: number[],
  out: Uint8Array,
  p: Preprocessing,
  concurrency: number,
  onDone: (n: number) => void,
  signal?: AbortSignal,
): Promise<number[]> {
  const { addon } = open();
  if (!addon) return files.map((_, i) => i);
  const [height, width] = p.size;
  const options = {
    height,
    width,
    channels: p.color === 'rgb' ? 3 : 1,
    fit: FIT[p.fit],
    centerCrop: p.center_crop,
  };
  return inChunks(
    files.length,
    concurrency,
    async (start, end) => {
      const status = await addon.decode(files.slice(start, end), out, offsets.slice(start, end), options);
      const ok = status.filter((v) => v === 0).length;
      onDone(ok);
      return Array.from(status);
    },
    CHUNK,
    signal,
  );
}

/**
 * Runs `run` over [0, count) in chunks, `concurrency` at a time, none started
 * once `signal` aborts; `run` gives each item's status (0: done). Returns the
 * items not done, in order.
 */
async function inChunks(
  count: number,
  concurrency: number,
  run: (start: number, end: number) => Promise<number[]>,
  size = CHUNK,
  signal?: AbortSignal,
): Promise<number[]> {
  const left: number[] = [];
  let cursor = 0;
  await Promise.all(
    Array.from({ length: Math.max(1, concurrency) }, async () => {
      while (cursor < count && !signal?.aborted) {
        const start = cursor;
        cursor = Math.min(count, cursor + size);
        (await run(start, cursor)).forEach((s, k) => {
          if (s !== 0) left.push(start + k);
        });
      }
    }),
  );
  // Aborted: the items not started are left too.
  for (let i = cursor; i < count; i++) left.push(i);
  return left.sort((a, b) => a - b);
}

/** Where a detector input holds its image: the upright image's size, the scaled size and its corner. */
export interface Placement {
  width: number;
  height: number;
  rw: number;
  rh: number;
  left: number;
  top: number;
}

/**
 * The detector's input of each file (faces/locate.ts's detectorInput, byte for
 * byte) into `out`, inputSize x inputSize x 3 bytes each, back to back; per file
 * where it placed the image, or null for one sharp must do.
 */
export async function fastDetectorInputs(
  files: string[],
  inputSize: number,
  pad: number,
  out: Uint8Array,
  concurrency: number,
): Promise<(Placement | null)[]> {
  const { addon } = open();
  const placed: (Placement | null)[] = files.map(() => null);
  if (!addon) return placed;
  const bytes = inputSize * inputSize * 3;
  const size = Math.ceil(files.length / Math.max(1, concurrency));
  await inChunks(
    files.length,
    concurrency,
    async (start, end) => {
      const offsets = Array.from({ length: end - start }, (_, k) => (start + k) * bytes);
      const r = await addon.detectorInputs(files.slice(start, end), out, offsets, { size: inputSize, pad });
      return offsets.map((_, k) => {
        const [status, width, height, rw, rh, left, top] = r.subarray(k * RESULT, (k + 1) * RESULT);
        if (status === 0) placed[start + k] = { width, height, rw, rh, left, top } as Placement;
        return status as number;
      });
    },
    size,
  );
  return placed;
}

/**
 * Each face's cut (decode.ts's decodeImage with a region, byte for byte) into
 * `out` at `offsets`, for RGB models; returns the indices sharp must do (or not
 * reached once `signal` aborts).
 */
export async function fastFaceCrops(
  files: string[],
  regions: Region[],
  p: Preprocessing,
  out: Uint8Array,
  offsets: number[],
  concurrency: number,
  onDone: (n: number) => void,
  signal?: AbortSignal,
): Promise<number[]> {
  const { addon } = open();
  if (!addon || p.color !== 'rgb') return files.map((_, i) => i);
  const [height, width] = p.size;
  return inChunks(
    files.length,
    concurrency,
    async (start, end) => {
      const params = new Float64Array((end - start) * 5);
      for (let i = start; i < end; i++) {
        const g = regions[i] as Region;
        params.set([g.cx, g.cy, g.side, g.angle, FILLS[g.fill ?? 'black']], (i - start) * 5);
      }
      const r = await addon.faceCrops(files.slice(start, end), out, offsets.slice(start, end), params, {
        height,
        width,
        fit: FIT[p.fit],
      });
      const status = Array.from({ length: end - start }, (_, k) => r[k * RESULT] as number);
      onDone(status.filter((v) => v === 0).length);
      return status;
    },
    CHUNK,
    signal,
  );
}
