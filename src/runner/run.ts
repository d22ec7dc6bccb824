// Wires one run: resolved experiment -> backend -> data -> model -> engine ->
// training with its callbacks -> records. The decisions live in the modules it calls.
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import * as path from 'node:path';
import type { LayersModel } from '@tensorflow/tfjs-node';
import type { Resolved } from '../config/resolve.ts';
import type { FaceStats, LoadOptions } from '../data/cache.ts';
import { prepareData } from '../data/prepare.ts';
import type { OutputTargets } from '../data/targets.ts';
import { makeEngine } from '../engine/choose.ts';
import { makeTrainingOptimizer } from '../engine/optimizer-groups.ts';
import { classWeights, learningOrder } from '../engine/variables.ts';
import { WeightAverage } from '../engine/weight-average.ts';
import { initSource } from '../model/init-from.ts';
import { modelFolderFiles } from '../model/model-folder.ts';
import { outputMetaOf } from '../model/output-meta.ts';
import { scoringSession } from '../model/scoring-session.ts';
import type { Verdict } from '../plan/pruner.ts';
import type { TrialInfo } from '../plan/trial.ts';
import { saveModelFiles } from '../platform/model-files.ts';
import { loadTensorflow } from '../platform/tensorflow.ts';
import { type MlflowReport, startMlflowTracker, trackingUri } from '../record/mlflow-tracker.ts';
import { RecordError, recordError, recording } from '../record/record-errors.ts';
import { folderSink, logSink, mlflowSink, type RunEnd, runEvents } from '../record/run-events.ts';
import type { TerminalLog } from '../record/run-log.ts';
import { createRun, openRun, type RunStore } from '../record/run-store.ts';
import { systemSampler } from '../record/system-metrics.ts';
import type { EpochMetrics } from '../spec/events.ts';
import type { Experiment } from '../spec/experiment.ts';
import { averagedWeights, type Callback } from '../train/callbacks.ts';
import { type TrainOutcome, train } from '../train/train.ts';
import {
  bestCheckpoint,
  checkpoints,
  evaluationSets,
  heartbeat,
  progress,
  recordEpochs,
  systemMetrics,
} from './callbacks.ts';
import { finalEvaluation, plots, type SetSummary, writeReport } from './final-evaluation.ts';
import { checkSameData, checkSameExperiment } from './resume-checks.ts';
import { resumeFrom } from './resume-from.ts';
import { runModel } from './run-model.ts';
import { recordStart } from './run-start.ts';
import { runFacts, trialPruning } from './run-tracking.ts';

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
    /** Several outputs: the training split's targets (names, missing labels). */
    outputs?: OutputTargets[];
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
  const run = resume ? openRun(resume) : createRun(exp.tracking.dir, exp.name);
  at.run = run;
  if (resume) {
    checkSameExperiment(run.dir, exp, resume);
    checkSameData(run.dir, data, hooks.allowDataChange === true);
    run.setStatus('RUNNING', { resumed: true });
  }
  at.started = true;
  const { log, env, faces } = recordStart(run, resolved, backend, data, {
    resumed: resume !== undefined,
    allowDataChange: hooks.allowDataChange === true,
    trial,
    terminalLog: hooks.terminalLog,
  });
  hooks.onStart?.({
    run,
    experiment: exp,
    classes: data.classes,
    counts: data.counts,
    warnings: data.warnings,
    faces,
    ...(data.splits.train.targets ? { outputs: data.splits.train.targets } : {}),
  });

  const { model, net, sources, headOnly } = await runModel(
    tf,
    exp,
    data,
    run,
    log,
    resume !== undefined,
    cacheDir,
    hooks.onFeatures,
  );
  const save = (where: string) => recording(where, run.dir, () => saveModelFiles(tf, model, path.join(run.dir, where)));
  const optimizer = makeTrainingOptimizer(tf, exp.training.optimizer);
  const ema = exp.training.ema;
  const average = ema ? new WeightAverage(tf, learningOrder(exp, net), ema.decay) : null;
  const history = resume ? await resumeFrom(tf, run, log, model, optimizer, average) : [];
  const { engine, reason, precision, precisionWhy } = await makeEngine({
    tf,
    exp,
    model: net,
    optimizer,
    source: sources.data,
    classes: data.classes.length,
    classWeights: classWeights(exp, data),
    threads: backend.threads,
    ...(average ? { average } : {}),
    ...(data.splits.train.targets ? { targets: data.splits.train.targets } : {}),
    ...(headOnly ? { headOnly } : {}),
  });
  log.info(
    { event: 'engine', engine: engine.kind, reason, precision },
    `${reason ? `training engine: eager (${reason})` : 'training engine: graph'}, ${precision}`,
  );
  if (precisionWhy)
    log.warn({ event: 'precision', asked: exp.training.precision, precision }, `training in float32: ${precisionWhy}`);
  const uri = trackingUri(exp.tracking.mlflow_uri);
  const tracker = uri
    ? startMlflowTracker(uri, runFacts(resolved, run, env, data, history, trial), (message) =>
        log.warn({ event: 'mlflow unreachable' }, message),
      )
    : null;
  for (const notice of (await tracker?.preflight()) ?? []) log.warn({ event: 'mlflow' }, `MLflow: ${notice}`);
  const mlflow = tracker ? mlflowSink(tracker) : null;
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
  // Validation and evaluation sets score through a session where the model has a graph form; else through tfjs.
  const { session: scoring, why: scoringWhy } = scoringSession(tf, net, backend.threads);
  log.info(
    { event: 'scoring', via: scoring ? 'session' : 'tfjs', why: scoringWhy || undefined },
    `scoring: ${scoring ? 'session' : `tfjs (${scoringWhy})`}`,
  );
  const scorer = () => scoring?.load() ?? net;
  const sets = evaluationSets(tf, exp, data, scorer, sources);
  const scheduled = trial?.scheduler ? { ...trial, scheduler: trial.scheduler } : null;
  const prune = scheduled ? trialPruning(scheduled, exp, uri, log, hooks.onRung) : null;
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
      ...(scoring ? { scoring } : {}),
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
  // The model folder alone is enough to predict: model.json carries the classes and the preprocessing for any
  // TF.js loader, MLmodel the same with every preprocessing step and the signature for MLflow's.
  const meta = {
    classes: data.classes,
    preprocessing: exp.data.preprocessing,
    test_time_flip: exp.data.test_time_flip,
    ...(data.splits.train.targets ? { outputs: outputMetaOf(data.splits.train.targets) } : {}),
  };
  model.setUserDefinedMetadata({ run_exp: meta });
  await save('model');
  // The input example: the first validation image (else training image) as the model folder's signature takes it.
  const first = data.splits.validation.index[0] ?? data.splits.train.index[0];
  const files = modelFolderFiles(meta, {
    runId: run.id,
    tfjsVersion: tf.version.tfjs,
    created: new Date(),
    modelUuid: randomUUID().replaceAll('-', ''),
    ...(first !== undefined && data.pixels.length
      ? { example: data.pixels.subarray(first * data.imageBytes, (first + 1) * data.imageBytes) }
      : {}),
  });
  for (const [file, text] of Object.entries(files)) run.writeText(path.join('model', file), text);
  const summary: string[] = [];
  model.summary(120, undefined, (line: string) => summary.push(line));
  run.writeText('model_summary.txt', `${summary.join('\n')}\n`);
  // The last epoch's scores are the final model's unless early stopping put back earlier weights.
  const restored = exp.training.early_stopping?.restore_best_weights === true;
  const scored = sets.last?.epoch === outcome.epochs.length && !restored ? sets.last.sets : undefined;
  const final = await finalEvaluation(tf, exp, data, scorer(), sources, run, outcome.epochs, scored);
  log.info({ event: 'evaluation sets', ...final.metrics }, 'evaluation sets scored with the final model');
  if (exp.report.enabled) {
    const report = await writeReport(run, exp, cacheDir, { tf, model });
    if ('error' in report) log.warn({ event: 'report', ...report }, `report.html not written: ${report.error}`);
    else log.info({ event: 'report', ...report }, `report.html written in ${report.seconds.toFixed(1)} s`);
  }
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
