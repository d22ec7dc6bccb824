// Checkpoints: model weights, optimizer state and epoch at the end of an epoch,
// what --resume continues from. Each is written beside the last one and
// switched in only when complete, the last two are kept, and each carries a
// manifest (size and sha256 per file) that --resume checks before trusting it.

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { LayersModel, Optimizer } from '@tensorflow/tfjs-node';
import { optimizerState, restoreOptimizerState } from '../engine/optimizer-groups.ts';
import type { WeightAverage, WeightAverageState } from '../engine/weight-average.ts';
import { loadModel } from '../model/backbones/graph-layer.ts';
import { saveModelFiles } from '../platform/model-files.ts';
import type { Tf } from '../platform/tensorflow.ts';
import { DataError } from '../spec/errors.ts';
import { recording } from './record-errors.ts';

/** The newest checkpoint, and the one before it. */
export const CHECKPOINTS = ['latest', 'previous'] as const;
const PARTIAL = '.partial';
const MANIFEST = 'manifest.json';
const AVERAGE = 'weight-average.json';

interface Manifest {
  epoch: number;
  files: Record<string, { size: number; sha256: string }>;
}

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** Writes the checkpoint of `epoch` under `root` (the run's checkpoints/ folder). */
export async function saveCheckpoint(
  tf: Tf,
  root: string,
  model: LayersModel,
  optimizer: Optimizer,
  epoch: number,
  /** With `training.ema`: in the model now, so the raw weights are saved beside it. */
  average?: WeightAverage | null,
): Promise<void> {
  const partial = path.join(root, PARTIAL);
  await recording('checkpoints', partial, async () => {
    rmSync(partial, { recursive: true, force: true });
    mkdirSync(partial, { recursive: true });
    await saveModelFiles(tf, model, partial);
    writeFileSync(path.join(partial, 'optimizer.json'), JSON.stringify(await optimizerState(tf, optimizer)));
    writeFileSync(path.join(partial, 'state.json'), JSON.stringify({ epoch }));
    if (average) writeFileSync(path.join(partial, AVERAGE), JSON.stringify(average.state()));
    const files = Object.fromEntries(
      readdirSync(partial)
        .sort()
        .map((f) => [f, { size: statSync(path.join(partial, f)).size, sha256: sha256(path.join(partial, f)) }]),
    );
    writeFileSync(path.join(partial, MANIFEST), JSON.stringify({ epoch, files } satisfies Manifest, null, 2));
  });
  // Complete: it becomes latest, the old latest previous, and the one before goes.
  const [latest, previous] = CHECKPOINTS.map((c) => path.join(root, c)) as [string, string];
  rmSync(previous, { recursive: true, force: true });
  if (existsSync(latest)) renameSync(latest, previous);
  renameSync(partial, latest);
}

/** Why a checkpoint cannot be trusted, or null when its files are what its manifest says. */
function broken(dir: string): string | null {
  const file = path.join(dir, MANIFEST);
  if (!existsSync(file)) return existsSync(path.join(dir, 'state.json')) ? null : `${dir}: missing`;
  let manifest: Manifest;
  try {
    manifest = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return `${file}: unreadable`;
  }
  for (const [name, want] of Object.entries(manifest.files)) {
    const f = path.join(dir, name);
    if (!existsSync(f)) return `${f}: missing`;
    const size = statSync(f).size;
    if (size !== want.size) return `${f}: ${size} bytes, the manifest says ${want.size}`;
    if (sha256(f) !== want.sha256) return `${f}: its sha256 differs from the manifest's`;
  }
  return null;
}

/**
 * Restores the newest checkpoint that checks out into `model` and
 * `optimizer`; returns the epochs it had completed and, when the newest was
 * broken, what was wrong with it. None intact: a DataError naming the files.
 */
export async function loadCheckpoint(
  tf: Tf,
  root: string,
  model: LayersModel,
  optimizer: Optimizer,
  average?: WeightAverage | null,
): Promise<{ epoch: number; used: string; skipped: string[] }> {
  const skipped: string[] = [];
  for (const name of CHECKPOINTS) {
    const dir = path.join(root, name);
    const problem = broken(dir);
    if (problem) {
      skipped.push(problem);
      continue;
    }
    const saved = await loadModel(tf, path.join(dir, 'model.json'));
    // Layer by layer: a model's weight list puts trainable weights first, and a checkpoint written while a
    // backbone was still frozen lists them in another order than the model as built.
    for (const layer of model.layers) layer.setWeights(saved.getLayer(layer.name).getWeights());
    saved.dispose();
    await restoreOptimizerState(tf, optimizer, JSON.parse(readFileSync(path.join(dir, 'optimizer.json'), 'utf8')));
    if (average) {
      const file = path.join(dir, AVERAGE);
      if (!existsSync(file))
        throw new DataError(
          `${dir} was written without training.ema, which the run now has: resume it with the config it started with`,
        );
      average.restore(JSON.parse(readFileSync(file, 'utf8')) as WeightAverageState);
    }
    const { epoch } = JSON.parse(readFileSync(path.join(dir, 'state.json'), 'utf8')) as { epoch: number };
    return { epoch, used: name, skipped };
  }
  if (skipped.every((s) => s.endsWith(': missing')))
    throw new DataError(
      `${root} holds no checkpoint: the run stopped before its first one was written; start it again`,
    );
  throw new DataError(`no intact checkpoint to resume from: ${skipped.join('; ')}`);
}
