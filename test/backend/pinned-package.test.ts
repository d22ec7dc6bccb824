// Weights from pinned npm packages: every detector and backbone file is checked
// by sha256, and a changed byte is refused with the file and both sums named.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { packageDir, verifyFiles } from '../../src/platform/pinned-package.ts';
import { BACKBONES } from '../../src/spec/backbones.ts';
import { DETECTORS } from '../../src/spec/detectors.ts';
import type { PinnedFiles } from '../../src/spec/pinned.ts';
import { tempDir } from '../data/fixtures.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

const PINNED: Record<string, PinnedFiles> = {
  ...Object.fromEntries(Object.entries(DETECTORS).map(([n, e]) => [`face detector '${n}'`, e])),
  ...Object.fromEntries(Object.entries(BACKBONES).map(([n, e]) => [`backbone '${n}'`, e])),
};

describe('pinned weights', () => {
  for (const [what, entry] of Object.entries(PINNED)) {
    it(`${what}: the installed files match; a changed byte is refused, naming the file and both sums`, () => {
      const installed = packageDir(entry, what);
      expect(installed).toBe(path.join(root, 'node_modules', entry.package));
      const dir = tempDir();
      for (const f of Object.keys(entry.files)) {
        mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
        copyFileSync(path.join(installed, f), path.join(dir, f));
      }
      expect(() => verifyFiles(dir, entry.files, what)).not.toThrow();
      const [file, sum] = Object.entries(entry.files).find(([f]) => f.endsWith('.bin')) as [string, string];
      const bin = path.join(dir, file);
      const bytes = readFileSync(bin);
      bytes[100] = (bytes[100] as number) ^ 1;
      writeFileSync(bin, bytes);
      expect(() => verifyFiles(dir, entry.files, what)).toThrow(
        new RegExp(`${what}: ${bin} has sha256 [0-9a-f]{64}, expected ${sum}; reinstall`),
      );
    });
  }

  it('a package at another version is refused with what to run', () => {
    expect(() => packageDir({ ...BACKBONES.face_resnet, version: '0.0.1' }, "backbone 'face_resnet'")).toThrow(
      "backbone 'face_resnet' needs @vladmandic/face-api@0.0.1, but 1.7.15 is installed; run npm install",
    );
  });
});
