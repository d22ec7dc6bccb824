// A run's model: built from the experiment, started from init_from, and split
// at a frozen part whose output is cached (then training runs on the rest).
import type { LayersModel } from '@tensorflow/tfjs-node';
import type { Logger } from 'pino';
import { pixelSources, type Sources } from '../data/batches.ts';
import type { PreparedData } from '../data/prepare.ts';
import { eagerBecause, trainingPrecision } from '../engine/choose.ts';
import { buildExperimentModel } from '../model/build.ts';
import { cachedFeatures, featuresCacheable, type HeadOnlyStage } from '../model/features.ts';
import { initFrom } from '../model/init-from.ts';
import type { Tf } from '../platform/tensorflow.ts';
import type { RunStore } from '../record/run-store.ts';
import type { Experiment } from '../spec/experiment.ts';

/**
 * `model` is what gets saved; `net` what trains (with cached features: the layers after them, shared with
 * `model`); `headOnly`, where the backbone unfreezes later, what its frozen epochs train instead.
 */
export async function runModel(
  tf: Tf,
  exp: Experiment,
  data: PreparedData,
  run: RunStore,
  log: Logger,
  resumed: boolean,
  cacheDir: string | undefined,
  onFeatures: ((done: number, total: number) => void) | undefined,
): Promise<{ model: LayersModel; net: LayersModel; sources: Sources; headOnly?: HeadOnlyStage }> {
  const names = Object.fromEntries((data.splits.train.targets ?? []).map((t) => [t.name, t.names]));
  const model = await buildExperimentModel(tf, exp, data.shape, exp.outputs ? undefined : data.classes.length, names);
  // A resumed run's weights come from its checkpoint instead.
  if (exp.model.init_from && !resumed) {
    const report = await initFrom(tf, model, exp.model.init_from);
    run.writeJson('init-from.json', report);
    log.info(
      { event: 'init_from', ...report },
      `init_from ${report.source}: loaded ${report.loaded.length} layers (${report.loaded.join(', ')}); kept fresh weights for ${
        [
          ...report.reinitialised.map((r) => `${r.layer} (shapes differ)`),
          ...report.missing.map((m) => `${m} (not in the source)`),
        ].join(', ') || 'none'
      }`,
    );
  }
  // With a frozen backbone (or a frozen first part) and nothing augmenting the images, the rest of the
  // model trains on the fixed part's cached output.
  // The fixed part computes in the precision the run will train in.
  const { precision } = trainingPrecision(exp, eagerBecause(exp, model));
  const cached = featuresCacheable(exp)
    ? await cachedFeatures(tf, exp, data, model, cacheDir, onFeatures, precision)
    : null;
  if (cached) {
    const { stats } = cached;
    const whole = stats.headOnly;
    log.info(
      { event: 'features', ...stats },
      `backbone features ready: ${stats.layer} (${stats.values} values per image), ${stats.computed} computed (${stats.via}), ${stats.reused} from the cache${
        whole
          ? `; for the head-only epoch${whole.epochs > 1 ? `s 1-${whole.epochs}` : ' 1'}, ${whole.layer} (${whole.values} values): ${whole.computed} computed, ${whole.reused} from the cache`
          : ''
      }`,
    );
  }
  const unfreeze = exp.model.backbone?.trainable;
  if (typeof unfreeze === 'object' && (unfreeze.at_epoch ?? 1) > 1)
    log.info(
      { event: 'unfreeze', ...unfreeze },
      `backbone frozen until epoch ${unfreeze.at_epoch}; from then on ${unfreeze.from} and the layers after it learn`,
    );
  return cached
    ? { model, net: cached.head, sources: cached.sources, ...(cached.headOnly ? { headOnly: cached.headOnly } : {}) }
    : { model, net: model, sources: pixelSources(tf, exp, data) };
}
