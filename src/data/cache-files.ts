// What the pixel cache and the face-box cache share: where a data folder's
// entries live, how a file is replaced whole, and a file's content identity,
// by which a copy of the data (new paths, new times) finds its entries again.
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import * as path from 'node:path';

export async function writeAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, file);
}

/** A short name for the deepest folder holding every file: caches are kept per data folder. */
export function folderKey(files: string[]): string {
  let dir = path.dirname(files[0] ?? '/');
  for (const f of files) while (!f.startsWith(dir + path.sep) && dir !== path.dirname(dir)) dir = path.dirname(dir);
  return createHash('sha256').update(dir).digest('hex').slice(0, 16);
}

/** The identity of a file the caches trust: its path, size and modification time (-1 when unreadable). */
export interface FileStamp {
  path: string;
  size: number;
  mtimeMs: number;
}

export function stampFiles(files: string[]): Promise<FileStamp[]> {
  return Promise.all(
    files.map(async (file) => {
      const s = await stat(file).catch(() => null);
      return { path: file, size: s?.size ?? -1, mtimeMs: s?.mtimeMs ?? -1 };
    }),
  );
}

/** The first 32 hex characters of the sha256 of a file's bytes (null when unreadable): what a copy keeps. */
export async function contentHash(file: string): Promise<string | null> {
  try {
    return createHash('sha256')
      .update(await readFile(file))
      .digest('hex')
      .slice(0, 32);
  } catch {
    return null;
  }
}

/** contentHash of each file, a bounded number of reads at a time. */
export async function contentHashes(files: string[], concurrency = 32): Promise<(string | null)[]> {
  const out: (string | null)[] = new Array(files.length).fill(null);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, files.length) }, async () => {
      while (next < files.length) {
        const i = next++;
        out[i] = await contentHash(files[i] as string);
      }
    }),
  );
  return out;
}

/**
 * The other cache folders made for the same settings as `dir` (named
 * `<settings key>-<folder key>`): where a copied data set's entries are.
 */
export function sameSettingsFolders(dir: string): string[] {
  const name = path.basename(dir);
  const prefix = `${name.slice(0, name.lastIndexOf('-'))}-`;
  try {
    return readdirSync(path.dirname(dir))
      .filter((n) => n.startsWith(prefix) && n !== name)
      .sort()
      .map((n) => path.join(path.dirname(dir), n));
  } catch {
    return [];
  }
}
