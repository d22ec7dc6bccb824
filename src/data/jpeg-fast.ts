// The JPEG fast path (native/jpeg): libjpeg-turbo inside libtensorflow decodes
// at a reduced size (DCT scaling), a Lanczos-3 resample finishes the job,
// straight into the pixel buffer, on libuv's thread pool. Used for whole-image
// loads (no face crop); every file it declines or fails goes to sharp, so bad
// files are judged and reported exactly as before.
import { addonBuilt, openAddon } from '../platform/native-addon.ts';
import type { Preprocessing } from './decode.ts';

interface Addon {
  open(libraryPath: string): string | null;
  decode(
    files: string[],
    out: Uint8Array,
    offsets: number[],
    options: { height: number; width: number; channels: number; fit: number; centerCrop: number },
  ): Promise<Uint8Array>;
}

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
 * decodable exactly as sharp would, or broken), for sharp to take.
 */
export async function decodeJpegs(
  files: string[],
  offsets: number[],
  out: Uint8Array,
  p: Preprocessing,
  concurrency: number,
  onDone: (n: number) => void,
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
  const left: number[] = [];
  let cursor = 0;
  await Promise.all(
    Array.from({ length: Math.max(1, concurrency) }, async () => {
      while (cursor < files.length) {
        const start = cursor;
        cursor = Math.min(files.length, cursor + CHUNK);
        const status = await addon.decode(files.slice(start, cursor), out, offsets.slice(start, cursor), options);
        let ok = 0;
        status.forEach((s, k) => {
          if (s === 0) ok++;
          else left.push(start + k);
        });
        onDone(ok);
      }
    }),
  );
  return left.sort((a, b) => a - b);
}
