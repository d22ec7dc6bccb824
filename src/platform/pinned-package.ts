// Weights that ship inside npm packages: the package version is pinned and every
// weight file's sha256 is checked before use, so a run knows exactly which
// weights it used. A mismatch is a broken installation, not bad input.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import type { PinnedFiles } from '../spec/pinned.ts';
import { BackendError } from './tensorflow.ts';

export class PackageError extends BackendError {
  override name = 'PackageError';
}

const require = createRequire(import.meta.url);

/** The installed folder of `pinned.package`, its version checked; `what` names the user of the weights. */
export function packageDir(pinned: PinnedFiles, what: string): string {
  // Looked up by folder: packages whose `exports` hide package.json cannot be resolved to it.
  const manifest = (require.resolve.paths(pinned.package) ?? [])
    .map((dir) => path.join(dir, pinned.package, 'package.json'))
    .find((f) => existsSync(f));
  if (!manifest) {
    throw new PackageError(
      `${what} needs ${pinned.package}@${pinned.version}, which is not installed; run npm install`,
    );
  }
  const { version } = JSON.parse(readFileSync(manifest, 'utf8')) as { version: string };
  if (version !== pinned.version) {
    throw new PackageError(
      `${what} needs ${pinned.package}@${pinned.version}, but ${version} is installed; run npm install`,
    );
  }
  return path.dirname(manifest);
}

/** Checks every weight file's sha256; a mismatch names the file and both sums. */
export function verifyFiles(dir: string, files: Record<string, string>, what: string): void {
  for (const [file, expected] of Object.entries(files)) {
    const full = path.join(dir, file);
    let actual: string;
    try {
      actual = createHash('sha256').update(readFileSync(full)).digest('hex');
    } catch {
      throw new PackageError(`${what}: weight file ${full} is missing; reinstall the package (npm ci)`);
    }
    if (actual !== expected) {
      throw new PackageError(
        `${what}: ${full} has sha256 ${actual}, expected ${expected}; reinstall the package (npm ci)`,
      );
    }
  }
}

/** The folder of a pinned package with its weight files verified. */
export function verifiedPackageDir(pinned: PinnedFiles, what: string): string {
  const dir = packageDir(pinned, what);
  verifyFiles(dir, pinned.files, what);
  return dir;
}
