// Wires one run: resolved experiment -> backend -> data -> model -> training ->
// records. Holds no domain logic itself.
import { mkdirSync } from 'node:fs';
import * as path from 'node:path';
import type { LayersModel } from '@tensorflow/tfjs-node';
import { loadTensorflow } from '../backend/tensorflow.ts';
import type { Experiment } from '../config/experiment.ts';
import type { Resolved } from '../config/resolve.ts';
import type { LoadOptions } from '../data/cache.ts';
import { prepareData } from '../data/prepare.ts';
import { buildModel } from '../layers/build.ts';
import { confusionMatrix, learningCurves } from '../report/plots.ts';
import { createRun, environment, type RunStore, writeConfig } from '../tracking/run-store.ts';
import { type EpochMetrics, train, validate } from './train.ts';

export interface RunHooks {
  /** Progress of decoding images into the cache. */
  onDecode?: LoadOptions['onProgress'];
  onStart?: (info: {
    run: RunStore;
    experiment: Experiment;
    classes: string[];
    counts: Record<string, number[]>;
    warnings: string[];
  }) => void;
  onBatch?: (done: number, total: number, loss: number) => void;
  onEpoch?: (m: EpochMetrics, total: number) => void;
  shouldStop?: () => boolean;
}

export interface RunResult {
  run: RunStore;
  model?: LayersModel;
  status: 'FINISHED' | 'FAILED' | 'KILLED';
  epochs: EpochMetrics[];
  error?: string;
}

/** Plots are a convenience: failing to draw one is recorded, never fatal. */
async function plots(
  run: RunStore,
  name: string,
  epochs: EpochMetrics[],
  classes: string[],
  confusion: number[][] | null,
): Promise<void> {
  mkdirSync(path.join(run.dir, 'plots'), { recursive: true });
  try {
    if (epochs.length > 0)
      await learningCurves(epochs, `${name}: learning curves`, path.join(run.dir, 'plots', 'learning-curves.png'));
    if (confusion)
      await confusionMatrix(
        confusion,
        classes,
        `${name}: validation confusion matrix`,
        path.join(run.dir, 'plots', 'confusion-validation.png'),
      );
  } catch (err) {
    run.appendJsonl('warnings.jsonl', { what: 'plots', error: err instanceof Error ? err.message : String(err) });
  }
}

export async function runExperiment(resolved: Resolved, hooks: RunHooks = {}, cacheDir?: string): Promise<RunResult> {
  const exp = resolved.experiment;
  const { tf, native } = await loadTensorflow({
    threads: exp.training.threads,
    allowNonNative: exp.training.allow_non_native_backend,
  });
  const data = await prepareData(exp, { onProgress: hooks.onDecode, cacheDir });
  const run = createRun(exp.tracking.dir, exp.name);
  writeConfig(run, exp);
  // biome-ignore lint/suspicious/noExplicitAny: the binding is untyped
  const libtensorflow = native ? ((tf.backend() as any).binding.TF_Version as string) : null;
  run.writeJson(
    'environment.json',
    environment({
      tfjs: tf.version.tfjs,
      backend: tf.getBackend(),
      libtensorflow,
      dataset_hash: data.hash,
      config_files: resolved.files,
    }),
  );
  run.writeJson('data.json', {
    classes: data.classes,
    counts: data.counts,
    hash: data.hash,
    decoded: data.decoded,
    reused: data.reused,
    warnings: data.warnings,
  });
  run.writeJson('split.json', {
    classes: data.classes,
    train: data.splits.train.files,
    validation: data.splits.validation.files,
    test: data.splits.test.files,
  });
  run.writeJson('bad-files.json', data.bad);
  hooks.onStart?.({ run, experiment: exp, classes: data.classes, counts: data.counts, warnings: data.warnings });

  const model = buildModel(tf, exp.model.layers, {
    inputShape: data.shape,
    seed: exp.seed,
    numClasses: data.classes.length,
    loss: exp.training.loss.type,
  });
  const save = (where: string) => {
    // tfjs-node creates only the last folder of the path.
    mkdirSync(path.join(run.dir, where), { recursive: true });
    return model.save(`file://${path.join(run.dir, where)}`);
  };
  let outcome: Awaited<ReturnType<typeof train>>;
  try {
    outcome = await train(tf, exp, data, model, {
      onBatch: hooks.onBatch,
      shouldStop: hooks.shouldStop,
      onEpoch: async (m) => {
        run.appendJsonl('metrics.jsonl', m);
        if (m.epoch % exp.training.checkpoints.every === 0 || m.epoch === exp.training.epochs)
          await save('checkpoints/latest');
        hooks.onEpoch?.(m, exp.training.epochs);
      },
    });
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    run.setStatus('FAILED', { error });
    return { run, status: 'FAILED', epochs: [], error };
  }
  if (outcome.status === 'FAILED') {
    await plots(run, exp.name, outcome.epochs, data.classes, null);
    run.setStatus('FAILED', { error: outcome.error });
    return { run, status: 'FAILED', epochs: outcome.epochs, error: outcome.error };
  }
  if (outcome.status === 'KILLED') {
    await save('checkpoints/latest');
    await plots(run, exp.name, outcome.epochs, data.classes, null);
    run.setStatus('KILLED', { epochs_completed: outcome.epochs.length });
    return { run, status: 'KILLED', epochs: outcome.epochs };
  }
  await save('model');
  const val = validate(tf, exp, data, model);
  const test = validate(tf, exp, data, model, 'test');
  run.writeJson('evaluation.json', {
    classes: data.classes,
    validation: val ? { loss: val.loss, ...val.evaluation } : null,
    test: test ? { loss: test.loss, ...test.evaluation } : null,
  });
  await plots(run, exp.name, outcome.epochs, data.classes, val?.evaluation.confusion ?? null);
  run.setStatus('FINISHED', { epochs_completed: outcome.epochs.length, stopped_early: outcome.stoppedEarly });
  return { run, status: 'FINISHED', epochs: outcome.epochs, model };
}
