// Wires one run: resolved experiment -> backend -> data -> model -> training ->
// records. Holds no domain logic itself.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import type { LayersModel } from '@tensorflow/tfjs-node';
import { stringify } from 'yaml';
import type { Resolved } from '../config/resolve.ts';
import type { FaceStats, LoadOptions } from '../data/cache.ts';
import { faceCropOf } from '../data/faces/crop.ts';
import { type DetectorName, detectorIdentity } from '../data/faces/detectors.ts';
import { type PreparedData, prepareData } from '../data/prepare.ts';
import { DataError } from '../data/sources.ts';
import { chooseEngine } from '../engine/graph/graph-trainer.ts';
import { makeTrainingOptimizer } from '../engine/optimizer-groups.ts';
import { WeightAverage } from '../engine/weight-average.ts';
import { pathIdentity } from '../model/backbones/from-path.ts';
import { buildExperimentModel } from '../model/build.ts';
import { cachedFeatures, featuresCacheable } from '../model/features.ts';
import { initFrom, initSource } from '../model/init-from.ts';
import { MLMODEL, mlmodelText } from '../model/model-folder.ts';
import { makePruner, type Verdict } from '../plan/pruner.ts';
import type { TrialInfo } from '../plan/trial.ts';
import { loadTensorflow } from '../platform/tensorflow.ts';
import { loadCheckpoint, saveCheckpoint } from '../record/checkpoints.ts';
import { datasetInputs } from '../record/datasets.ts';
import { clientOptionsFromEnv, mlflowClient } from '../record/mlflow-client.ts';
import { PRUNED_TAG } from '../record/mlflow-parent.ts';
import { type MlflowReport, startMlflowTracker, trackingUri } from '../record/mlflow-tracker.ts';
import { RecordError, recordError, recording } from '../record/record-errors.ts';
import { runLogger, type TerminalLog } from '../record/run-log.ts';
import { createRun, environment, openRun, type RunStore, readMetrics, writeConfig } from '../record/run-store.ts';
import { systemSampler } from '../record/system-metrics.ts';
import { confusionMatrix, drawRunPlots } from '../report/plots.ts';
import { type BackboneName, backboneIdentity } from '../spec/backbones.ts';
import type { Experiment } from '../spec/experiment.ts';
import {
  type EpochMetrics,
  evaluateSets,
  learningOrder,
  pixelSources,
  setMetrics,
  train,
  validate,
} from '../train/train.ts';

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
  evaluationSets?: Record<string, { images: number; accuracy: number; f1: number; auc: number | null }>;
}

const HEARTBEAT_MS = 10_000;

/** Size and modification time of every file a run trains and validates on: what a resume compares. */
const DATA_FILES = 'data-files.json';

const dataFiles = (data: PreparedData): Record<string, [number, number]> =>
  Object.fromEntries(data.stamps.map((s) => [s.path, [s.size, s.mtimeMs]]));

/** --resume on other data than the run started with stops, naming how many files changed. */
function checkSameData(dir: string, data: PreparedData, allow: boolean): void {
  const recorded = JSON.parse(readFileSync(path.join(dir, 'environment.json'), 'utf8')) as { dataset_hash?: string };
  if (recorded.dataset_hash === data.hash || allow) return;
  const file = path.join(dir, DATA_FILES);
  const before = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, [number, number]>) : {};
  const now = dataFiles(data);
  const changed = Object.keys(now).filter((f) => f in before && String(before[f]) !== String(now[f])).length;
  const added = Object.keys(now).filter((f) => !(f in before)).length;
  const removed = Object.keys(before).filter((f) => !(f in now)).length;
  throw new DataError(
    `the data changed since the run started (dataset hash ${data.hash.slice(0, 16)}, recorded ${recorded.dataset_hash?.slice(0, 16)}): ${changed} files changed, ${added} added, ${removed} removed; resume with --allow-data-change to go on with the data as it is now, or start a new run`,
  );
}

/** Plots are a convenience: failing to draw one is recorded, never fatal. */
async function plots(
  run: RunStore,
  name: string,
  epochs: EpochMetrics[],
  classes: string[],
  confusion: number[][] | null,
): Promise<void> {
  try {
    await drawRunPlots(run.dir, name, epochs, classes, confusion);
  } catch (err) {
    run.appendJsonl('warnings.jsonl', { what: 'plots', error: err instanceof Error ? err.message : String(err) });
  }
}

export async function runExperiment(
  resolved: Resolved,
  hooks: RunHooks = {},
  cacheDir?: string,
  resume?: string,
  /** Set when the run is a trial of a sweep. */
  trial?: TrialInfo,
): Promise<RunResult> {
  let run: RunStore | undefined;
  try {
    return await runInFolder(resolved, hooks, cacheDir, resume, trial, (r) => {
      run = r;
    });
  } catch (err) {
    const failed = run ? recordError(err, 'the run', run.dir) : null;
    if (!run || !failed) {
      run?.release();
      throw err;
    }
    // A disk that filled up (or turned read-only) is an outcome, not a bug: say what to do, keep what was recorded.
    const file = path.relative(process.cwd(), resolved.files[0] ?? '') || '<file>';
    const error = new RecordError(
      failed.kind,
      failed.what,
      failed.where,
      `${failed.kind === 'disk full' || failed.kind === 'disk quota exceeded' ? 'free space' : 'fix the folder'} and run \`run-exp ${file} --resume ${run.dir}\``,
    );
    rmSync(path.join(run.dir, 'checkpoints', '.partial'), { recursive: true, force: true });
    try {
      run.setStatus('FAILED', { error: error.message });
    } catch {
      // The status cannot be written either: it stays RUNNING, and `run-exp runs` shows the run as CRASHED.
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
  onRun: (run: RunStore) => void,
): Promise<RunResult> {
  const exp = resolved.experiment;
  const { tf, native } = await loadTensorflow({
    threads: exp.training.threads,
    allowNonNative: exp.training.allow_non_native_backend,
  });
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
  const crop = faceCropOf(exp.data.preprocessing);
  const run = resume ? openRun(resume) : createRun(exp.tracking.dir, exp.name);
  onRun(run);
  if (resume) {
    const recorded = readFileSync(path.join(run.dir, 'config.yaml'), 'utf8');
    if (recorded !== stringify(exp)) {
      throw new DataError(
        `the experiment differs from the one ${resume} was started with (its config.yaml); resume with the same file and --set options`,
      );
    }
    checkSameData(run.dir, data, hooks.allowDataChange === true);
    run.setStatus('RUNNING', { resumed: true });
  }
  writeConfig(run, exp);
  if (trial) run.writeJson('trial.json', trial);
  const log = runLogger(run.dir, hooks.terminalLog);
  log.info(
    { event: resume ? 'run resumed' : 'run started', experiment: exp.name, files: resolved.files },
    resume ? 'run resumed' : 'run started',
  );
  // biome-ignore lint/suspicious/noExplicitAny: the binding is untyped
  const libtensorflow = native ? ((tf.backend() as any).binding.TF_Version as string) : null;
  const env = environment({
    tfjs: tf.version.tfjs,
    backend: tf.getBackend(),
    libtensorflow,
    dataset_hash: data.hash,
    config_hash: createHash('sha256').update(stringify(exp)).digest('hex').slice(0, 16),
    config_files: resolved.files,
    ...(crop ? { face_detector: detectorIdentity(crop.detector as DetectorName) } : {}),
    ...(exp.model.backbone
      ? {
          backbone: exp.model.backbone.path
            ? pathIdentity(exp.model.backbone.path)
            : backboneIdentity(exp.model.backbone.from as BackboneName),
        }
      : {}),
  });
  if (!resume || hooks.allowDataChange) run.writeJson(DATA_FILES, dataFiles(data));
  run.writeJson('environment.json', env);
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
  const save = (where: string) => {
    // tfjs-node creates only the last folder of the path.
    mkdirSync(path.join(run.dir, where), { recursive: true });
    return recording(where, run.dir, () => model.save(`file://${path.join(run.dir, where)}`));
  };
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
    history = (readMetrics(run.dir) as unknown as EpochMetrics[]).slice(0, done);
    // Epochs after the checkpoint are trained again: drop their records.
    run.writeText('metrics.jsonl', history.map((m) => `${JSON.stringify(m)}\n`).join(''));
  }
  const engine = chooseEngine(tf, exp, net);
  log.info(
    { event: 'engine', engine: engine.trainer ? 'graph' : 'eager', reason: engine.reason },
    engine.trainer ? 'training engine: graph' : `training engine: eager (${engine.reason})`,
  );
  const uri = trackingUri(exp.tracking.mlflow_uri);
  const mlflow = uri
    ? startMlflowTracker(
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
      )
    : null;
  /** Local records first, then MLflow: its report says what reached the server. */
  const end = async (result: Omit<RunResult, 'run' | 'mlflow'>, extra: Record<string, unknown>): Promise<RunResult> => {
    run.setStatus(result.status, extra);
    run.release();
    // Its state (moments, step counts) would outlive the run in a process that runs several.
    optimizer.dispose();
    average?.dispose();
    // Nothing is logged after this: the files MLflow receives are the run's final records.
    // MLflow has no PRUNED status: a pruned trial finished, with the rung it stopped at as a tag.
    const report = await mlflow?.finish(
      result.status === 'PRUNED' ? 'FINISHED' : result.status,
      pruning.pruned ? [{ key: PRUNED_TAG, value: String(pruning.pruned.rung) }] : [],
    );
    return { run, ...result, mlflow: report };
  };
  const pruner = trial?.scheduler
    ? makePruner({
        sweepId: trial.sweep_id,
        index: trial.index,
        scheduler: trial.scheduler,
        metric: trial.metric,
        goal: trial.goal,
        epochs: exp.training.epochs,
        root: exp.tracking.dir,
        mlflow: uri
          ? { client: mlflowClient(clientOptionsFromEnv(uri)), experiment: exp.tracking.experiment_name ?? exp.name }
          : undefined,
        onWarning: (message) => log.warn({ event: 'pruner' }, message),
      })
    : null;
  // Set by the epoch hook when the sweep's scheduler stops this trial (an object: a closure sets it).
  const pruning: { pruned: Verdict | null } = { pruned: null };
  const monitor = exp.training.checkpoints.monitor;
  const lowerIsBetter = monitor.endsWith('loss');
  let best = history.reduce(
    (b, m) => {
      const v = (m as unknown as Record<string, number | null>)[monitor];
      return v === null || v === undefined ? b : lowerIsBetter ? Math.min(b, v) : Math.max(b, v);
    },
    lowerIsBetter ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY,
  );
  // A heartbeat in status.json at most every HEARTBEAT_MS while batches run: its age tells a lost run on another host.
  let beat = Date.now();
  const system = systemSampler();
  const onBatch: typeof hooks.onBatch = (done, total, loss) => {
    system.touch();
    if (Date.now() - beat >= HEARTBEAT_MS) {
      run.heartbeat();
      beat = Date.now();
    }
    hooks.onBatch?.(done, total, loss);
  };
  let outcome: Awaited<ReturnType<typeof train>>;
  let lastSets: { epoch: number; sets: ReturnType<typeof evaluateSets> } | undefined;
  try {
    outcome = await train(
      tf,
      exp,
      data,
      net,
      optimizer,
      {
        onBatch,
        shouldStop: hooks.shouldStop,
        onEpoch: async (m) => {
          const every = exp.data.evaluation_every;
          if (m.epoch === exp.training.epochs || (every > 0 && m.epoch % every === 0)) {
            lastSets = { epoch: m.epoch, sets: evaluateSets(tf, exp, data, net, sources) };
            Object.assign(m, setMetrics(lastSets.sets));
          }
          Object.assign(m, system.epoch(tf.memory().numTensors));
          run.appendJsonl('metrics.jsonl', m);
          log.info({ event: 'epoch', ...m }, `epoch ${m.epoch}`);
          mlflow?.epoch(m as unknown as Record<string, unknown>);
          if (m.epoch % exp.training.checkpoints.every === 0 || m.epoch === exp.training.epochs) {
            await saveCheckpoint(tf, path.join(run.dir, 'checkpoints'), model, optimizer, m.epoch, average);
          }
          const v = (m as unknown as Record<string, number | null>)[monitor];
          if (exp.training.checkpoints.best && v !== null && v !== undefined && (lowerIsBetter ? v < best : v > best)) {
            best = v;
            await save('checkpoints/best');
          }
          await hooks.onEpoch?.(m, exp.training.epochs);
          const verdict = await pruner?.(m.epoch, m as unknown as Record<string, unknown>);
          if (!verdict) return;
          const message = `rung ${verdict.rung}: ${trial?.metric} ${verdict.value.toFixed(4)} ranks ${verdict.rank} of ${verdict.of}, the top ${verdict.keep} go on${verdict.goOn ? '' : ': pruned'}`;
          log.info({ event: 'rung', ...verdict }, message);
          hooks.onRung?.(verdict, message);
          if (!verdict.goOn) pruning.pruned = verdict;
        },
        stopAfterEpoch: () => pruning.pruned !== null,
      },
      history,
      sources,
      engine.trainer ?? undefined,
      average ?? undefined,
    );
  } catch (err) {
    // The disk failed under the records: handled where the run started, after the partial checkpoint is gone.
    const failed = recordError(err, 'the run', run.dir);
    if (failed) throw failed;
    const error = err instanceof Error ? err.message : String(err);
    log.error({ event: 'run ended', status: 'FAILED', err }, error);
    return end({ status: 'FAILED', epochs: [], error }, { error });
  }
  if (outcome.status === 'FAILED') {
    await plots(run, exp.name, outcome.epochs, data.classes, null);
    log.error({ event: 'run ended', status: 'FAILED' }, outcome.error);
    return end({ status: 'FAILED', epochs: outcome.epochs, error: outcome.error }, { error: outcome.error });
  }
  if (outcome.status === 'KILLED') {
    // Mid-epoch weights, for inspection; --resume continues from checkpoints/latest, the last whole epoch.
    await save('checkpoints/interrupted');
    await plots(run, exp.name, outcome.epochs, data.classes, null);
    log.warn({ event: 'run ended', status: 'KILLED', epochs_completed: outcome.epochs.length }, 'stopped by a signal');
    return end({ status: 'KILLED', epochs: outcome.epochs }, { epochs_completed: outcome.epochs.length });
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
  const val = validate(tf, exp, data, net, 'validation', sources);
  const test = validate(tf, exp, data, net, 'test', sources);
  // The last epoch's scores are the final model's unless early stopping put back earlier weights.
  const restored = exp.training.early_stopping?.restore_best_weights === true;
  const sets =
    lastSets?.epoch === outcome.epochs.length && !restored ? lastSets.sets : evaluateSets(tf, exp, data, net, sources);
  run.writeJson('evaluation.json', {
    classes: data.classes,
    validation: val ? { loss: val.loss, ...val.evaluation } : null,
    test: test ? { loss: test.loss, ...test.evaluation } : null,
    evaluation_sets: Object.fromEntries(
      Object.entries(sets).map(([name, s]) => [
        name,
        s
          ? {
              path: data.evaluationSets[name]?.path,
              images: data.evaluationSets[name]?.files.length,
              loss: s.loss,
              ...s.evaluation,
            }
          : null,
      ]),
    ),
  });
  const finalSets = setMetrics(sets);
  log.info({ event: 'evaluation sets', ...finalSets }, 'evaluation sets scored with the final model');
  await plots(run, exp.name, outcome.epochs, data.classes, val?.evaluation.confusion ?? null);
  for (const [name, s] of Object.entries(sets)) {
    if (!s) continue;
    await confusionMatrix(
      s.evaluation.confusion,
      data.classes,
      `${exp.name}: confusion matrix on ${name}`,
      path.join(run.dir, 'plots', `confusion-${name}.png`),
    ).catch((err: Error) => run.appendJsonl('warnings.jsonl', { what: 'plots', error: err.message }));
  }
  const { pruned } = pruning;
  const status = pruned ? 'PRUNED' : 'FINISHED';
  log.info(
    { event: 'run ended', status, stopped_early: outcome.stoppedEarly },
    pruned ? `pruned at epoch ${pruned.rung}` : 'finished',
  );
  const evaluationSets = Object.fromEntries(
    Object.entries(sets).flatMap(([name, s]) =>
      s
        ? [
            [
              name,
              {
                images: s.probs.length / data.classes.length,
                accuracy: s.evaluation.accuracy,
                f1: s.evaluation.macro.f1,
                auc: s.evaluation.auc,
              },
            ],
          ]
        : [],
    ),
  );
  return end(
    { status, epochs: outcome.epochs, model, evaluationSets },
    {
      epochs_completed: outcome.epochs.length,
      stopped_early: outcome.stoppedEarly,
      ...(pruned ? { pruned_at: pruned.rung } : {}),
    },
  );
}
