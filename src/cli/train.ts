// `run-exp <file>`: train an experiment and record the run; console output only.

import { type Resolved, type ResolveOptions, resolveExperiment } from '../config/resolve.ts';
import type { OutputTargets } from '../data/targets.ts';
import type { TrialInfo } from '../plan/trial.ts';
import { loadTensorflow } from '../platform/tensorflow.ts';
import { redactUri } from '../record/credentials.ts';
import { refusedCredentials } from '../record/mlflow-client.ts';
import { trackingUri } from '../record/mlflow-tracker.ts';
import { trialToRun } from '../report/sweep-results.ts';
import { runExperiment } from '../runner/run.ts';
import { ConfigErrors } from '../spec/errors.ts';
import type { EpochMetrics } from '../spec/events.ts';
import { facesLine } from './faces-line.ts';
import { locatingDataErrors } from './located.ts';
import { progressBars } from './progress.ts';
import { checkModel } from './validate.ts';

export interface TrainCliOptions extends ResolveOptions {
  quiet?: boolean;
  json?: boolean;
  /** A run folder to continue from its last completed epoch. */
  resume?: string;
  /** Resume although the data's files changed. */
  allowDataChange?: boolean;
  /** Run this trial of the file's sweep. */
  trial?: number;
}

const f = (v: number | null, digits = 4) => (v === null ? '-' : v.toFixed(digits));

/** A number entry of an epoch record, or null. */
const num = (m: EpochMetrics, key: string) => {
  const v = m[key as `${string}_${string}`];
  return typeof v === 'number' ? v : null;
};

/**
 * The epoch's line. `headline`: with several outputs, each output's first
 * metric (<output>_<metric>), shown for validation instead of the class metrics.
 */
function epochLine(m: EpochMetrics, total: number, sets: string[], headline: string[] | null): string {
  return [
    `epoch ${String(m.epoch).padStart(String(total).length)}/${total}`,
    headline ? `loss ${f(m.loss)}` : `loss ${f(m.loss)}  acc ${f(m.accuracy)}`,
    headline
      ? [`val_loss ${f(m.val_loss)}`, ...headline.map((k) => `val_${k} ${f(num(m, `val_${k}`))}`)].join('  ')
      : `val_loss ${f(m.val_loss)}  val_acc ${f(m.val_accuracy)}  val_f1 ${f(m.val_f1)}  val_auc ${f(m.val_auc)}`,
    // An evaluation set's figure, on the epochs that score it.
    ...sets.flatMap((s) => {
      const acc = m[`${s}_accuracy`];
      return acc === undefined ? [] : [`${s}_acc ${f(typeof acc === 'number' ? acc : null)}`];
    }),
    `lr ${m.lr.toPrecision(3)}  ${m.seconds.toFixed(1)}s  ${Math.round(m.images_per_s)} img/s`,
  ].join('  ');
}

/** The data line of a model with several outputs: each with its type, names and missing labels in training. */
function outputsLine(targets: OutputTargets[]): string {
  return `outputs ${targets
    .map(
      (t) =>
        `${t.name} (${t.spec.type}${t.names.length ? `: ${t.names.join(', ')}` : ''}${t.missing ? `; ${t.missing} of ${t.known.length} training images without it` : ''})`,
    )
    .join(', ')}; train ${targets[0]?.known.length ?? 0} images`;
}

export async function trainCommand(
  file: string,
  options: TrainCliOptions,
  out: (s: string) => void,
  err: (s: string) => void,
): Promise<number> {
  let trial: TrialInfo | undefined;
  let resolved: Resolved;
  if (options.trial === undefined) {
    resolved = resolveExperiment(file, options);
    if (resolved.experiment.sweep && !options.quiet && !options.json) {
      err('note: this file declares a sweep; running its base experiment (run-exp sweep <file> runs the trials)\n');
    }
    delete resolved.experiment.sweep;
  } else {
    ({ resolved, trial } = await trialToRun(file, options, options.trial, options.resume));
  }
  // The experiment's backend first: TensorFlow takes its threads (and native or not) from the first load.
  await loadTensorflow({
    threads: resolved.experiment.training.threads,
    allowNonNative: resolved.experiment.training.allow_non_native_backend,
  });
  // A model that cannot be built is a config error, found before any data is read or run recorded.
  const model = await checkModel(resolved);
  if ('message' in model) throw new ConfigErrors([model]);
  // The experiment's own URI is checked by the schema; the environment's is checked here.
  const uri = trackingUri(resolved.experiment.tracking.mlflow_uri);
  if (uri && !/^https?:\/\/[^/]/.test(uri)) {
    err(
      `MLFLOW_TRACKING_URI: '${redactUri(uri)}' is not an http(s) URL of an MLflow server (for example http://127.0.0.1:5000)\n`,
    );
    return 2;
  }
  // Wrong credentials would refuse every event of the run: said now, before anything is recorded.
  const refused = uri ? await refusedCredentials(uri) : null;
  if (refused) {
    err(`${refused}\n`);
    return 2;
  }
  const tty = process.stderr.isTTY && !options.quiet && !options.json;
  let stop = false;
  // Until the run starts, a signal stops the data preparation (minutes, with face crops) instead.
  const preparing = new AbortController();
  let started = false;
  const onSignal = (signal: string) => {
    if (stop) process.exit(130);
    stop = true;
    if (started) err(`\n${signal}: stopping after this batch and saving a checkpoint (again to abort at once)\n`);
    else {
      err(`\n${signal}: stopping the data preparation (again to abort at once)\n`);
      preparing.abort();
    }
  };
  const sigint = () => onSignal('SIGINT');
  const sigterm = () => onSignal('SIGTERM');
  process.on('SIGINT', sigint);
  process.on('SIGTERM', sigterm);
  const bars = progressBars(tty);
  // Without a terminal, a line where each preparation step starts: a log is not silent for minutes.
  const progress = (label: string) => {
    const bar = bars(label);
    let told = false;
    return (done: number, total: number) => {
      bar(done, total);
      if (!tty && !options.quiet && !options.json && !told && done < total)
        err(`${label}: ${total - done} of ${total} images\n`);
      told = done < total;
    };
  };
  const sets = Object.keys(resolved.experiment.data.evaluation_sets);
  const outputs = resolved.experiment.outputs;
  const headline = outputs ? Object.entries(outputs).map(([name, o]) => `${name}_${o.metrics[0]}`) : null;
  try {
    const result = await locatingDataErrors(resolved.locator, () =>
      runExperiment(
        resolved,
        {
          onDetect: progress('finding faces'),
          onDecode: progress('decoding'),
          onFeatures: progress('backbone features'),
          preparing: preparing.signal,
          onStart: ({ run, classes, counts, faces, outputs: targets }) => {
            started = true;
            if (options.json) return;
            if (!options.quiet) {
              out(`run ${run.id}  ${run.dir}\n`);
              if (targets) out(`${outputsLine(targets)}\n`);
              else
                out(
                  `classes ${classes.map((c, i) => `${c} (train ${counts.train?.[i]}, val ${counts.validation?.[i]})`).join(', ')}\n`,
                );
              for (const [what, stats] of Object.entries(faces)) out(`${what}: ${facesLine(stats)}\n`);
            }
          },
          terminalLog: options.json ? undefined : { colorize: tty && !process.env.NO_COLOR },
          onBatch: bars('training'),
          onEpoch: (m, total) => {
            if (options.json) out(`${JSON.stringify(m)}\n`);
            else if (!options.quiet) out(`${epochLine(m, total, sets, headline)}\n`);
          },
          onRung: (verdict, message) => {
            if (options.json) out(`${JSON.stringify({ rung: verdict })}\n`);
            else if (!options.quiet) out(`${message}\n`);
          },
          shouldStop: () => stop,
          allowDataChange: options.allowDataChange,
        },
        undefined,
        options.resume,
        trial,
      ),
    );
    const last = result.epochs.at(-1);
    if (!options.json && !options.quiet) {
      for (const [name, s] of Object.entries(result.evaluationSets ?? {})) {
        out(
          `evaluation set ${name}: ${s.images} images  accuracy ${f(s.accuracy)}  macro F1 ${f(s.f1)}  ROC AUC ${f(s.auc)}\n`,
        );
      }
    }
    const { mlflow } = result;
    if (options.json) {
      out(`${JSON.stringify({ status: result.status, run: result.run.dir, error: result.error, mlflow })}\n`);
    } else {
      out(
        // The error itself is already on the terminal, from the run log.
        `${result.status}  ${result.run.dir}${
          !last
            ? ''
            : headline
              ? headline.map((k) => `  val_${k} ${f(num(last, `val_${k}`))}`).join('')
              : `  val_acc ${f(last.val_accuracy)}`
        }${Object.entries(result.evaluationSets ?? {})
          .map(([name, s]) => `  ${name}_acc ${f(s.accuracy)}`)
          .join('')}\n`,
      );
      for (const n of mlflow?.notices ?? []) err(`MLflow: ${n}\n`);
      if (mlflow?.refused) {
        // Said when the server refused, with what to do.
      } else if (mlflow?.pending && mlflow.pendingRecords === 0) {
        err(
          `MLflow: the run's metrics, params and status reached ${mlflow.url ?? mlflow.uri}, but ${mlflow.missing.length} file(s) did not (${mlflow.error}); upload them later with: run-exp sync ${result.run.dir}\n`,
        );
      } else if (mlflow?.pending) {
        err(
          `MLflow: ${mlflow.pending} of ${mlflow.logged} events spooled (${mlflow.error}); send them later with: run-exp sync ${result.run.dir}\n`,
        );
      } else if (mlflow && !options.quiet) out(`MLflow: ${mlflow.url}\n`);
    }
    return result.status === 'FINISHED' || result.status === 'PRUNED' ? 0 : result.status === 'KILLED' ? 130 : 1;
  } catch (e) {
    if (e !== preparing.signal.reason) throw e;
    err('stopped before the run started: no run recorded; the images decoded and faces found so far stay cached\n');
    return 130;
  } finally {
    process.off('SIGINT', sigint);
    process.off('SIGTERM', sigterm);
  }
}
