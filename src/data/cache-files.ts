// What the pixel cache and the face-box cache share: where a data folder's
// entries live and how a file is replaced whole.
import { createHash } from 'node:crypto';
import { rename, stat, writeFile } from 'node:fs/promises';
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
