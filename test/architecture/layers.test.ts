// The architecture rule of `npm run check` (.dependency-cruiser.cjs): it holds
// for src/ as it is, and it fails on a back-edge, on spec importing anything,
// and on a folder that has no place in the order.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../data/fixtures.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const config = path.join(root, '.dependency-cruiser.cjs');
const depcruise = path.join(root, 'node_modules', '.bin', 'depcruise');

function cruise(cwd: string): { code: number; out: string } {
  try {
    return { code: 0, out: execFileSync(depcruise, ['src', '--config', config], { cwd, encoding: 'utf8' }) };
  } catch (err) {
    const e = err as { status: number; stdout: string };
    return { code: e.status, out: e.stdout };
  }
}

/** A tree of one-line modules: path -> the paths it imports. */
function tree(files: Record<string, string[]>): string {
  const dir = tempDir('run-exp-arch-');
  copyFileSync(path.join(root, 'tsconfig.json'), path.join(dir, 'tsconfig.json'));
  for (const [file, imports] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    const lines = imports.map((to) => `import '${path.relative(path.dirname(file), to).replace(/^(?!\.)/, './')}';`);
    writeFileSync(path.join(dir, file), `${lines.join('\n')}\nexport const x = 1;\n`);
  }
  return dir;
}

describe('the folder order', () => {
  it('holds for src/ as it is', () => {
    const { code, out } = cruise(root);
    expect(out).toContain('no dependency violations found');
    expect(code).toBe(0);
  });

  it('fails on a deliberate back-edge, naming the rule and the import', () => {
    const { code, out } = cruise(
      tree({
        'src/data/split.ts': ['src/runner/run.ts', 'src/spec/experiment.ts'],
        'src/runner/run.ts': ['src/data/split.ts'],
        'src/spec/experiment.ts': [],
      }),
    );
    expect(code).not.toBe(0);
    expect(out).toContain('data-imports-only-earlier-steps: src/data/split.ts → src/runner/run.ts');
    // The forward edge is fine.
    expect(out).not.toContain('src/runner/run.ts → src/data/split.ts');
  });

  it('keeps spec a leaf and platform under everything', () => {
    const { code, out } = cruise(
      tree({
        'src/spec/experiment.ts': ['src/platform/tensorflow.ts'],
        'src/platform/tensorflow.ts': ['src/config/resolve.ts'],
        'src/config/resolve.ts': ['src/spec/experiment.ts', 'src/platform/tensorflow.ts'],
      }),
    );
    expect(code).not.toBe(0);
    expect(out).toContain('spec-is-the-leaf: src/spec/experiment.ts → src/platform/tensorflow.ts');
    expect(out).toContain('platform-reads-spec-only: src/platform/tensorflow.ts → src/config/resolve.ts');
    expect(out).not.toContain('src/config/resolve.ts →');
  });

  it('refuses a folder that has no place in the order', () => {
    const { code, out } = cruise(
      tree({ 'src/helpers/util.ts': ['src/spec/experiment.ts'], 'src/spec/experiment.ts': [] }),
    );
    expect(code).not.toBe(0);
    expect(out).toContain('no-unknown-folder: src/helpers/util.ts');
  });
});
