// Wires one run: resolved experiment -> backend -> data -> model -> engine ->
// training with its callbacks -> records. The decisions live in the modules it calls.
import { rmSync } from 'node:fs';
import * as path from 'node:path';
import type { LayersModel } from '@tensorflow/tfjs-node';
import type { Resolved } from '../config/resolve.ts';
import { pixelSources } from '../data/batches.ts';
import type { FaceStats, LoadOptions } from '../data/cache.ts';
import { type PreparedData, prepareData } from '../data/prepare.ts';
import { makeEngine } from '../engine/choose.ts';
import { makeTrainingOptimizer } from '../engine/optimizer-groups.ts';
import { classWeights, learningOrder } from '../engine/variables.ts';
import { WeightAverage } from '../engine/weight-average.ts';
import { buildExperimentModel } from '../model/build.ts';
import { cachedFeatures, featuresCacheable } from '../model/features.ts';
import { initFrom, initSource } from '../model/init-from.ts';
import { MLMODEL, mlmodelText } from '../model/model-folder.ts';
import { makePruner, type Verdict } from '../plan/pruner.ts';
import type { TrialInfo } from '../plan/trial.ts';
import { saveModelFiles } from '../platform/model-files.ts';
import { loadTensorflow } from '../platform/tensorflow.ts';
import { loadCheckpoint } from '../record/checkpoints.ts';
import { datasetInputs } from '../record/datasets.ts';
import { clientOptionsFromEnv, mlflowClient } from '../record/mlflow-client.ts';
import { type MlflowReport, startMlflowTracker, trackingUri } from '../record/mlflow-tracker.ts';
import { RecordError, recordError, recording } from '../record/record-errors.ts';
import { folderSink, logSink, mlflowSink, type RunEnd, runEvents } from '../record/run-events.ts';
import { runLogger, type TerminalLog } from '../record/run-log.ts';
import { createRun, openRun, type RunStore, readEpochs, writeConfig } from '../record/run-store.ts';
import { systemSampler } from '../record/system-metrics.ts';
import { rungValues } from '../report/trial-store.ts';
import { type EpochMetrics, metricOf } from '../spec/events.ts';
import type { Experiment } from '../spec/experiment.ts';
import { averagedWeights, type Callback } from '../train/callbacks.ts';
import { type TrainOutcome, train } from '../train/train.ts';
import {
  bestCheckpoint,
  checkpoints,
  evaluationSets,
  heartbeat,
  progress,
  pruning,
  recordEpochs,
  systemMetrics,
} from './callbacks.ts';
import { runEnvironment } from './environment.ts';
import { finalEvaluation, plots, type SetSummary } from './final-evaluation.ts';
import { checkSameData, checkSameExperiment, DATA_FILES, dataFiles } from './resume-checks.ts';

export interface RunHooks {
  /** Progress of decoding images into the cache. */
  onDecode?: LoadOptions['onProgress'];
  /** Progress of face detection, with a face crop. */
  onDetect?: LoadOptions['onDetect'];
  /** Progress of computing a fixed backbone part's output into the feature cache. */
  onFeatures?: (done: number, total: number) => void;
  /**
   * Stops the data preparation, before any run is recorded: what was decoded
   * and detected so far stays cached, and the run rejects with the signal's reason.
   */
  preparing?: AbortSignal;
  onStart?: (info: {
    run: RunStore;
    experiment: Experiment;
    classes: string[];
    counts: Record<string, number[]>;
    warnings: string[];
    /** Face detection of the training data and of each evaluation set, with a face crop. */
    faces: Record<string, FaceStats>;
  }) => void;
  /** Also show the run log's warnings and errors on stderr (pino-pretty). */
  terminalLog?: TerminalLog;
  onBatch?: (done: number, total: number, loss: number) => void;
  onEpoch?: (m: EpochMetrics, total: number) => void | Promise<void>;
  /** A sweep trial's verdict at a rung of its scheduler, as the run log words it. */
  onRung?: (verdict: Verdict, message: string) => void;
  shouldStop?: () => boolean;
  /** On --resume, go on although the data's files differ from those the run started with. */
  allowDataChange?: boolean;
}

export interface RunResult {
  run: RunStore;
  model?: LayersModel;
  /** PRUNED: a sweep trial its scheduler stopped at a rung; its records are complete up to there. */
  status: 'FINISHED' | 'FAILED' | 'KILLED' | 'PRUNED';
  epochs: EpochMetrics[];
  error?: string;
  /** What reached MLflow, when the run is tracked there. */
  mlflow?: MlflowReport;
  /** The final model on each evaluation set. */
  evaluationSets?: Record<string, SetSummary>;
}

/** A run as far as it got: set once its folder exists, and once it is started (RUNNING, records being written). */
interface Progress {
  run?: RunStore;
  started?: boolean;
  /** Ends the run's records (status, MLflow) as FAILED with `error`, once they exist. */
  fail?: (error: string) => Promise<void>;
}

export async function runExperiment(
  resolved: Resolved,
  hooks: RunHooks = {},
  cacheDir?: string,
  resume?: string,
  /** Set when the run is a trial of a sweep. */
  trial?: TrialInfo,
): Promise<RunResult> {
  const at: Progress = {};
  try {
    return await runInFolder(resolved, hooks, cacheDir, resume, trial, at);
  } catch (err) {
    const { run } = at;
    if (!run) throw err;
    // A disk that filled up (or turned read-only) is an outcome, not a bug: say what to do, keep what was recorded.
    const failed = recordError(err, 'the run', run.dir);
    const file = path.relative(process.cwd(), resolved.files[0] ?? '') || '<file>';
    const error = failed
      ? new RecordError(
          failed.kind,
          failed.what,
          failed.where,
          `${failed.kind === 'disk full' || failed.kind === 'disk quota exceeded' ? 'free space' : 'fix the folder'} and run \`run-exp ${file} --resume ${run.dir}\``,
        )
      : err;
    if (failed) rmSync(path.join(run.dir, 'checkpoints', '.partial'), { recursive: true, force: true });
    // A run that started ends FAILED with its message, whatever failed; a resume refused before it started
    // leaves the run as it was.
    if (at.started) {
      try {
        await (at.fail ?? ((message) => run.setStatus('FAILED', { error: message })))(
          error instanceof Error ? error.message : String(error),
        );
      } catch {
        // The status cannot be written either: it stays RUNNING, and `run-exp runs` shows the run as CRASHED.
      }
    }
    run.release();
    throw error;
  }
}

/** The data's facts a run records: data.json, split.json, bad-files.json. */
function recordData(run: RunStore, data: PreparedData): void {
  run.writeJson('data.json', {
    classes: data.classes,
    counts: data.counts,
    hash: data.hash,
    decoded: data.decoded,
    reused: data.reused,
    warnings: data.warnings,
    faces: data.faces ?? null,
    evaluation_sets: Object.fromEntries(
      Object.entries(data.evaluationSets).map(([name, s]) => [
        name,
        { path: s.path, images: s.files.length, hash: s.hash, faces: s.faces ?? null, bad: s.bad },
      ]),
    ),
  });
  run.writeJson('split.json', {
    classes: data.classes,
    train: data.splits.train.files,
    validation: data.splits.validation.files,
    test: data.splits.test.files,
  });
  run.writeJson('bad-files.json', data.bad);
}

async function runInFolder(
  resolved: Resolved,
  hooks: RunHooks,
  cacheDir: string | undefined,
  resume: string | undefined,
  trial: TrialInfo | undefined,
  at: Progress,
): Promise<RunResult> {
  const exp = resolved.experiment;
  const backend = await loadTensorflow({
    threads: exp.training.threads,
    allowNonNative: exp.training.allow_non_native_backend,
  });
  const { tf } = backend;
  // A missing model to start from stops the run before any data is read.
  if (exp.model.init_from && !resume) initSource(exp.model.init_from);
  const data = await prepareData(exp, {
    onProgress: hooks.onDecode,
    onDetect: hooks.onDetect,
    signal: hooks.preparing,
    cacheDir,
  });
  const faces: Record<string, FaceStats> = Object.fromEntries(
    [
      ['training data', data.faces] as const,
      ...Object.entries(data.evaluationSets).map(([n, s]) => [n, s.faces] as const),
    ].filter((e): e is readonly [string, FaceStats] => e[1] !== undefined),
  );
  const run = resume ? openRun(resume) : createRun(exp.tracking.dir, exp.name);
  at.run = run;
  if (resume) {
    checkSameExperiment(run.dir, exp, resume);
    checkSameData(run.dir, data, hooks.allowDataChange === true);
    run.setStatus('RUNNING', { resumed: true });
  }
  at.started = true;
  writeConfig(run, exp);
  if (trial) run.writeJson('trial.json', trial);
  const log = runLogger(run.dir, hooks.terminalLog);
  log.info(
    { event: resume ? 'run resumed' : 'run started', experiment: exp.name, files: resolved.files },
    resume ? 'run resumed' : 'run started',
  );
  const env = runEnvironment(backend, exp, resolved.files, data);
  if (!resume || hooks.allowDataChange) run.writeJson(DATA_FILES, dataFiles(data));
  run.writeJson('environment.json', env);
  recordData(run, data);
  log.info(
    {
      event: 'data',
      classes: data.classes,
      counts: data.counts,
      decoded: data.decoded,
      reused: data.reused,
      bad: data.bad.length,
      hash: data.hash,
      faces,
    },
    'data ready',
  );
  for (const w of data.warnings) log.warn({ event: 'warning' }, w);
  hooks.onStart?.({ run, experiment: exp, classes: data.classes, counts: data.counts, warnings: data.warnings, faces });

  const model = await buildExperimentModel(tf, exp, data.shape, data.classes.length);
  if (exp.model.init_from && !resume) {
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
  const save = (where: string) => recording(where, run.dir, () => saveModelFiles(tf, model, path.join(run.dir, where)));
  // With a frozen backbone (or a frozen first part) and nothing augmenting the images, the rest of the
  // model trains on the fixed part's cached output; `net` shares its layers with `model`, which is what gets saved.
  const cached = featuresCacheable(exp) ? await cachedFeatures(tf, exp, data, model, cacheDir, hooks.onFeatures) : null;
  if (cached)
    log.info(
      { event: 'features', ...cached.stats },
      `backbone features ready: ${cached.stats.layer} (${cached.stats.values} values per image), ${cached.stats.computed} computed, ${cached.stats.reused} from the cache`,
    );
  const unfreeze = exp.model.backbone?.trainable;
  if (typeof unfreeze === 'object' && (unfreeze.at_epoch ?? 1) > 1)
    log.info(
      { event: 'unfreeze', ...unfreeze },
      `backbone frozen until epoch ${unfreeze.at_epoch}; from then on ${unfreeze.from} and the layers after it learn`,
    );
  const { net, sources } = cached
    ? { net: cached.head, sources: cached.sources }
    : { net: model, sources: pixelSources(tf, exp, data) };
  const optimizer = makeTrainingOptimizer(tf, exp.training.optimizer);
  const ema = exp.training.ema;
  const average = ema ? new WeightAverage(tf, learningOrder(exp, net), ema.decay) : null;
  let history: EpochMetrics[] = [];
  if (resume) {
    const checkpoint = await loadCheckpoint(tf, path.join(run.dir, 'checkpoints'), model, optimizer, average);
    const done = checkpoint.epoch;
    if (checkpoint.skipped.length)
      log.warn(
        { event: 'checkpoint skipped', ...checkpoint },
        `checkpoints/latest is broken (${checkpoint.skipped[0]}); resuming from checkpoints/${checkpoint.used}, epoch ${done}`,
      );
    history = readEpochs(run.dir).slice(0, done);
    // Epochs after the checkpoint are trained again: drop their records.
    run.writeText('metrics.jsonl', history.map((m) => `${JSON.stringify(m)}\n`).join(''));
  }
  const { engine, reason } = await makeEngine({
    tf,
    exp,
    model: net,
    optimizer,
    source: sources.data,
    classes: data.classes.length,
    classWeights: classWeights(exp, data),
    threads: backend.threads,
    ...(average ? { average } : {}),
  });
  log.info(
    { event: 'engine', engine: engine.kind, reason },
    reason ? `training engine: eager (${reason})` : 'training engine: graph',
  );
  const uri = trackingUri(exp.tracking.mlflow_uri);
  const mlflow = uri
    ? mlflowSink(
        startMlflowTracker(
          uri,
          {
            runDir: run.dir,
            runId: run.id,
            experiment: exp.tracking.experiment_name ?? exp.name,
            description: exp.description,
            config: exp,
            sourceName: path.relative(process.cwd(), resolved.files[0] ?? '') || exp.name,
            environment: env,
            tags: exp.tracking.tags,
            datasets: datasetInputs({ path: exp.data.path, ...data }),
            history: history as unknown as Record<string, unknown>[],
            trial,
          },
          (message) => log.warn({ event: 'mlflow unreachable' }, message),
        ),
      )
    : null;
  const events = runEvents([folderSink(run), logSink(log), ...(mlflow ? [mlflow] : [])]);
  let ended = false;
  /** The last event: local records first, then MLflow, whose report says what reached the server. */
  const end = async (result: Omit<RunResult, 'run' | 'mlflow'>, e: Omit<RunEnd, 'status'>): Promise<RunResult> => {
    if (!ended) {
      ended = true;
      // Its state (moments, step counts) would outlive the run in a process that runs several.
      optimizer.dispose();
      average?.dispose();
      await events.end({ status: result.status, ...e });
    }
    return { run, ...result, ...(mlflow ? { mlflow: mlflow.report } : {}) };
  };
  at.fail = async (error) => {
    log.error({ event: 'run ended', status: 'FAILED' }, error);
    await end({ status: 'FAILED', epochs: [], error }, { extra: { error } });
  };
  const pruner = trial?.scheduler
    ? makePruner({
        scheduler: trial.scheduler,
        goal: trial.goal,
        epochs: exp.training.epochs,
        others: (epoch) =>
          rungValues(
            {
              sweepId: trial.sweep_id,
              index: trial.index,
              metric: trial.metric,
              root: exp.tracking.dir,
              ...(uri
                ? {
                    mlflow: {
                      client: mlflowClient(clientOptionsFromEnv(uri)),
                      experiment: exp.tracking.experiment_name ?? exp.name,
                    },
                  }
                : {}),
              onWarning: (message) => log.warn({ event: 'pruner' }, message),
            },
            epoch,
          ),
      })
    : null;
  const sets = evaluationSets(tf, exp, data, net, sources);
  const prune = pruner
    ? pruning(
        (epoch, m) => pruner(epoch, metricOf(m, trial?.metric ?? '')),
        trial?.metric ?? '',
        (verdict, message) => {
          log.info({ event: 'rung', ...verdict }, message);
          hooks.onRung?.(verdict, message);
        },
      )
    : null;
  const callbacks: Callback[] = [
    ...(average ? [averagedWeights(average)] : []),
    sets,
    systemMetrics(tf, systemSampler()),
    heartbeat(run),
    recordEpochs(events),
    checkpoints(tf, exp, run, model, optimizer, average),
    bestCheckpoint(exp, save),
    progress(hooks.onBatch, hooks.onEpoch, exp.training.epochs),
    ...(prune ? [prune] : []),
  ];
  let outcome: TrainOutcome;
  try {
    outcome = await train({
      tf,
      exp,
      data,
      model: net,
      optimizer,
      engine,
      sources,
      history,
      callbacks,
      ...(hooks.shouldStop ? { shouldStop: hooks.shouldStop } : {}),
    });
  } catch (err) {
    // The disk failed under the records: handled where the run started, after the partial checkpoint is gone.
    const failed = recordError(err, 'the run', run.dir);
    if (failed) throw failed;
    const error = err instanceof Error ? err.message : String(err);
    log.error({ event: 'run ended', status: 'FAILED', err }, error);
    return end({ status: 'FAILED', epochs: [], error }, { extra: { error } });
  }
  if (outcome.status === 'FAILED') {
    await plots(run, exp.name, outcome.epochs, data.classes, null);
    log.error({ event: 'run ended', status: 'FAILED' }, outcome.error);
    return end({ status: 'FAILED', epochs: outcome.epochs, error: outcome.error }, { extra: { error: outcome.error } });
  }
  if (outcome.status === 'KILLED') {
    // Mid-epoch weights, for inspection; --resume continues from checkpoints/latest, the last whole epoch.
    await save('checkpoints/interrupted');
    await plots(run, exp.name, outcome.epochs, data.classes, null);
    log.warn({ event: 'run ended', status: 'KILLED', epochs_completed: outcome.epochs.length }, 'stopped by a signal');
    return end({ status: 'KILLED', epochs: outcome.epochs }, { extra: { epochs_completed: outcome.epochs.length } });
  }
  await save('model');
  // The model folder alone is enough to predict: its MLmodel carries the classes and the preprocessing.
  run.writeText(
    path.join('model', MLMODEL),
    mlmodelText(
      { classes: data.classes, preprocessing: exp.data.preprocessing, test_time_flip: exp.data.test_time_flip },
      { runId: run.id, tfjsVersion: tf.version.tfjs, created: new Date() },
    ),
  );
  // The last epoch's scores are the final model's unless early stopping put back earlier weights.
  const restored = exp.training.early_stopping?.restore_best_weights === true;
  const scored = sets.last?.epoch === outcome.epochs.length && !restored ? sets.last.sets : undefined;
  const final = await finalEvaluation(tf, exp, data, net, sources, run, outcome.epochs, scored);
  log.info({ event: 'evaluation sets', ...final.metrics }, 'evaluation sets scored with the final model');
  const pruned = prune?.pruned ?? null;
  const status = pruned ? 'PRUNED' : 'FINISHED';
  log.info(
    { event: 'run ended', status, stopped_early: outcome.stoppedEarly },
    pruned ? `pruned at epoch ${pruned.rung}` : 'finished',
  );
  return end(
    { status, epochs: outcome.epochs, model, evaluationSets: final.summary },
    {
      extra: {
        epochs_completed: outcome.epochs.length,
        stopped_early: outcome.stoppedEarly,
        ...(pruned ? { pruned_at: pruned.rung } : {}),
      },
      ...(pruned ? { prunedAt: pruned.rung } : {}),
    },
  );
}
