// The toy task the runner and tracking tests train on: small, fast, learnable.
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { writeImage } from '../data/fixtures.ts';

/** Two classes a CNN separates at once: bright top half vs bright bottom half, with noise. */
export async function dataset(root: string, perClass: number): Promise<void> {
  let seed = 1;
  const noise = () => {
    seed = (seed * 16807) % 2147483647;
    return seed % 60;
  };
  for (const [cls, top] of [
    ['top', true],
    ['bottom', false],
  ] as const) {
    for (let i = 0; i < perClass; i++) {
      const raw = Buffer.alloc(16 * 16 * 3);
      for (let y = 0; y < 16; y++)
        for (let x = 0; x < 16; x++)
          raw.fill(y < 8 === top ? 190 + noise() : 20 + noise(), (y * 16 + x) * 3, (y * 16 + x + 1) * 3);
      await writeImage(path.join(root, cls, `${i}.png`), raw, 16, 16);
    }
  }
}

export function experimentFile(dir: string, extra = ''): string {
  const file = path.join(dir, 'exp.yaml');
  writeFileSync(
    file,
    `name: toy\nseed: 5\ndata:\n  path: ./images\n  split: { validation: 0.25 }\n  preprocessing: { size: [16, 16] }\nmodel:\n  layers:\n    - { type: conv2d, filters: 4, kernel_size: 3, activation: relu }\n    - { type: maxPooling2d }\n    - { type: flatten }\n    - { type: dense, units: 2, activation: softmax }\ntraining:\n  epochs: 4\n  batch_size: 8\n  optimizer: { type: adam, lr: 0.01 }\ntracking:\n  dir: ${path.join(dir, 'runs')}\n${extra}`,
  );
  return file;
}

/** An epoch record without what differs between identical runs (timings, system metrics): for comparing runs. */
export function deterministic<T extends object>(epochs: T[]): Partial<T>[] {
  return epochs.map(
    (m) =>
      Object.fromEntries(
        Object.entries(m).filter(([k]) => k !== 'seconds' && k !== 'images_per_s' && !k.startsWith('system/')),
      ) as Partial<T>,
  );
}
