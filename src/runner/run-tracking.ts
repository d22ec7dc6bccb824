// What a run tells MLflow when it starts, and how a sweep trial's pruner
// reads the other trials (the run folders here and, when tracked, MLflow).
import * as path from 'node:path';
import type { Logger } from 'pino';
import type { Resolved } from '../config/resolve.ts';
import type { PreparedData } from '../data/prepare.ts';
import { makePruner, type Verdict } from '../plan/pruner.ts';
import type { TrialInfo } from '../plan/trial.ts';
import { datasetInputs } from '../record/datasets.ts';
import { clientOptionsFromEnv, mlflowClient } from '../record/mlflow-client.ts';
import type { RunFacts } from '../record/mlflow-tracker.ts';
import type { RunStore } from '../record/run-store.ts';
import { rungValues } from '../report/trial-store.ts';
import { type EpochMetrics, metricOf } from '../spec/events.ts';
import type { Experiment } from '../spec/experiment.ts';
import { pruning } from './callbacks.ts';

export function runFacts(
  resolved: Resolved,
  run: RunStore,
  environment: Record<string, unknown>,
  data: PreparedData,
  history: EpochMetrics[],
  trial: TrialInfo | undefined,
): RunFacts {
  const exp = resolved.experiment;
  return {
    runDir: run.dir,
    runId: run.id,
    experiment: exp.tracking.experiment_name ?? exp.name,
    description: exp.description,
    config: exp,
    sourceName: path.relative(process.cwd(), resolved.files[0] ?? '') || exp.name,
    environment,
    tags: exp.tracking.tags,
    datasets: datasetInputs({ path: exp.data.path, ...data }),
    history: history as unknown as Record<string, unknown>[],
    trial,
  };
}

/** The pruning callback of a trial whose sweep has a scheduler. */
export function trialPruning(
  trial: TrialInfo & { scheduler: NonNullable<TrialInfo['scheduler']> },
  exp: Experiment,
  uri: string | null,
  log: Logger,
  onRung: ((verdict: Verdict, message: string) => void) | undefined,
) {
  const store = {
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
    onWarning: (message: string) => log.warn({ event: 'pruner' }, message),
  };
  const pruner = makePruner({
    scheduler: trial.scheduler,
    goal: trial.goal,
    epochs: exp.training.epochs,
    others: (epoch) => rungValues(store, epoch),
  });
  return pruning(
    (epoch, m) => pruner(epoch, metricOf(m, trial.metric)),
    trial.metric,
    (verdict, message) => {
      log.info({ event: 'rung', ...verdict }, message);
      onRung?.(verdict, message);
    },
  );
}
