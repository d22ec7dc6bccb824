// The real faces that bench/backend's scripts train on, prepared once under bench/.work.
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const work = path.join(root, 'bench', '.work');
const dataDir = path.resolve(process.env.UTKFACE_DIR ?? path.join(root, '..', 'shared', 'data', 'utkface'));

/** The same images for every framework: half male, half female, every k-th file by name, as 64x64 RGB uint8. */
export async function prepareFaces(images: number): Promise<{ data: string; labels: string }> {
  mkdirSync(work, { recursive: true });
  const data = path.join(work, `faces64-${images}.u8`);
  const labels = path.join(work, `faces64-${images}.labels.u8`);
  if (existsSync(data) && existsSync(labels)) return { data, labels };
  const files: [string, number][] = [];
  for (const [label, cls] of ['male', 'female'].entries()) {
    const names = readdirSync(path.join(dataDir, cls)).sort();
    const step = names.length / (images / 2);
    for (let i = 0; i < images / 2; i++)
      files.push([path.join(dataDir, cls, names[Math.floor(i * step)] as string), label]);
  }
  // Interleave classes so any prefix is balanced.
  files.sort((a, b) => a[0].localeCompare(b[0]));
  const out = Buffer.alloc(files.length * 64 * 64 * 3);
  await Promise.all(
    files.map(async ([file], i) => {
      const raw = await sharp(file).resize(64, 64, { fit: 'fill' }).removeAlpha().raw().toBuffer();
      raw.copy(out, i * 64 * 64 * 3);
    }),
  );
  writeFileSync(data, out);
  writeFileSync(labels, Buffer.from(files.map(([, l]) => l)));
  return { data, labels };
}
