// --resume: the last good checkpoint back into the model, optimizer and EMA,
// and the epochs it had completed (later records are dropped: they train again).
import * as path from 'node:path';
import type { LayersModel, Optimizer } from '@tensorflow/tfjs-node';
import type { Logger } from 'pino';
import type { WeightAverage } from '../engine/weight-average.ts';
import type { Tf } from '../platform/tensorflow.ts';
import { loadCheckpoint } from '../record/checkpoints.ts';
import { type RunStore, readEpochs } from '../record/run-store.ts';
import type { EpochMetrics } from '../spec/events.ts';

export async function resumeFrom(
  tf: Tf,
  run: RunStore,
  log: Logger,
  model: LayersModel,
  optimizer: Optimizer,
  average: WeightAverage | null,
): Promise<EpochMetrics[]> {
  const checkpoint = await loadCheckpoint(tf, path.join(run.dir, 'checkpoints'), model, optimizer, average);
  const done = checkpoint.epoch;
  if (checkpoint.skipped.length)
    log.warn(
      { event: 'checkpoint skipped', ...checkpoint },
      `checkpoints/latest is broken (${checkpoint.skipped[0]}); resuming from checkpoints/${checkpoint.used}, epoch ${done}`,
    );
  const history = readEpochs(run.dir).slice(0, done);
  run.writeText('metrics.jsonl', history.map((m) => `${JSON.stringify(m)}\n`).join(''));
  return history;
}
