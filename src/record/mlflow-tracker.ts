// The MLflow sink of a live run. Each event is spooled in the run folder first
// and then sent in the background, so training never waits on the network;
// while the server is unreachable events stay spooled (another try every
// RUN_EXP_MLFLOW_RETRY_INTERVAL_MS) and `run-exp sync` replays what is left.
import { existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MLMODEL } from '../model/model-folder.ts';
import type { TrialInfo } from '../plan/trial.ts';
import { unwritableLocation } from './artifact-stores.ts';
import { redactUri, redactUris } from './credentials.ts';
import type { DatasetInput } from './datasets.ts';
import { flatten } from './flatten.ts';
import {
  clientOptionsFromEnv,
  type Metric,
  MlflowError,
  mlflowClient,
  type RunStatus,
  type Tag,
} from './mlflow-client.ts';
import { OVERRIDES_TAG, ROLE_TAG, SWEEP_TAG, TRIAL_TAG } from './mlflow-parent.ts';
import {
  drain,
  ensureExperiment,
  type MlflowEvent,
  missingArtifacts,
  openSpool,
  RUN_ID_TAG,
  type Spool,
} from './mlflow-spool.ts';
import { listRunFiles } from './run-store.ts';

export interface MlflowReport {
  uri: string;
  /** The run's page in the MLflow UI, once the server knows the run. */
  url?: string;
  logged: number;
  sent: number;
  pending: number;
  /** The last send error, when events are left pending. */
  error?: string;
  /** Files of the run folder whose upload failed. */
  missing: string[];
  /** Pending events other than file uploads: 0 when the metrics, params, tags and status all went through. */
  pendingRecords: number;
  /** The server refused the credentials or the permission (said once, when it happened). */
  refused: boolean;
  /** What the server could not take and where it went instead (a model on MLflow 2.x). */
  notices: string[];
}

export interface MlflowTracker {
  /**
   * What to say before training starts: the experiment is found (or made) and
   * its artifact location checked. Quick: an unreachable server says nothing
   * here (the spool waits for it).
   */
  preflight(): Promise<string[]>;
  epoch(metrics: Record<string, unknown>): void;
  /** Sends the run folder's files, `tags` and the final status, waits for the sends, and reports. */
  finish(status: Exclude<RunStatus, 'RUNNING' | 'SCHEDULED'>, tags?: Tag[]): Promise<MlflowReport>;
}

export interface RunFacts {
  runDir: string;
  runId: string;
  experiment: string;
  description?: string;
  /** The resolved experiment: logged flattened as params. */
  config: unknown;
  sourceName: string;
  environment: Record<string, unknown>;
  tags: Record<string, string>;
  /** The run's training data and evaluation sets, logged as MLflow dataset inputs. */
  datasets: DatasetInput[];
  /** Epochs recorded before this process started (a resumed run). */
  history: Record<string, unknown>[];
  /** Set for a sweep trial: its MLflow run becomes a child of the sweep's parent run. */
  trial?: TrialInfo;
}

/** The tracking URI in force: the experiment's own, else $MLFLOW_TRACKING_URI; null for none. */
export function trackingUri(configured: string | null, env: NodeJS.ProcessEnv = process.env): string | null {
  return configured ?? (env.MLFLOW_TRACKING_URI || null);
}

export function runUrl(uri: string, experimentId?: string, runId?: string): string | undefined {
  return experimentId && runId ? `${uri.replace(/\/+$/, '')}/#/experiments/${experimentId}/runs/${runId}` : undefined;
}

/** One epoch's numbers as MLflow metrics at step = epoch; nested per-class values become `per_class.<class>.<name>`. */
export function epochMetrics(m: Record<string, unknown>, timestamp: number): Metric[] {
  const step = Number(m.epoch);
  return Object.entries(flatten({ ...m, epoch: undefined }))
    .filter((e): e is [string, number] => typeof e[1] === 'number' && Number.isFinite(e[1]))
    .map(([key, value]) => ({ key: key.replace(/[^\w./ -]/g, '_'), value, timestamp, step }));
}

const runName = (facts: RunFacts) => (facts.trial ? `trial-${facts.trial.index}-${facts.runId}` : facts.runId);

function sourceTags(facts: RunFacts): Tag[] {
  const env = facts.environment;
  const tags: Record<string, unknown> = {
    [RUN_ID_TAG]: facts.runId,
    'mlflow.runName': runName(facts),
    'mlflow.user': os.userInfo().username,
    'mlflow.source.name': facts.sourceName,
    'mlflow.source.type': 'LOCAL',
    'mlflow.source.git.commit': env.git_commit,
    'mlflow.source.git.branch': env.git_branch,
    'mlflow.source.git.repoURL': env.git_remote,
    'mlflow.note.content': facts.description,
    'run_exp.run_dir': facts.runDir,
    'run_exp.config_hash': env.config_hash,
    'run_exp.dataset_hash': env.dataset_hash,
    'run_exp.git_dirty': env.git_dirty,
    'run_exp.tfjs': env.tfjs,
    'run_exp.libtensorflow': env.libtensorflow,
    'run_exp.backend': env.backend,
    ...weightTags('run_exp.face_detector', env.face_detector),
    ...weightTags('run_exp.backbone', env.backbone),
    [SWEEP_TAG]: facts.trial?.sweep_id,
    [ROLE_TAG]: facts.trial ? 'trial' : undefined,
    [TRIAL_TAG]: facts.trial?.index,
    [OVERRIDES_TAG]: facts.trial && JSON.stringify(facts.trial.overrides),
    ...facts.tags,
  };
  return Object.entries(tags)
    .filter(([, v]) => v !== undefined && v !== null && v !== '')
    .map(([key, v]) => ({ key, value: String(v) }));
}

/** A pretrained network's identity as tags: name, package@version, licence, and each weight file's sha256. */
function weightTags(prefix: string, id: unknown): Record<string, string> {
  if (!id || typeof id !== 'object') return {};
  const w = id as {
    name: string;
    package?: string;
    version?: string;
    licence?: string;
    path?: string;
    files: Record<string, string>;
  };
  return {
    [prefix]: w.package ? `${w.name} (${w.package}@${w.version})` : `${w.name} (${w.path})`,
    ...(w.licence ? { [`${prefix}.licence`]: w.licence } : {}),
    ...Object.fromEntries(Object.entries(w.files).map(([f, sha]) => [`${prefix}.sha256.${f}`, sha])),
  };
}

export function startMlflowTracker(
  uri: string,
  facts: RunFacts,
  onError: (message: string) => void,
  env: NodeJS.ProcessEnv = process.env,
): MlflowTracker {
  const client = mlflowClient(clientOptionsFromEnv(uri, env));
  const retryInterval = Number(env.RUN_EXP_MLFLOW_RETRY_INTERVAL_MS ?? 30_000);
  // What is kept and shown of the URI: a password in it masked.
  const shown = redactUri(uri);
  const spool: Spool = openSpool(facts.runDir, shown);
  /** Set when the server refused the credentials or the permission: no more tries from this process. */
  let refused = false;
  let busy: Promise<void> | null = null;
  let failedAt = 0;
  let lastError: string | undefined;
  const notices: string[] = [];
  // Once the run folder's files are queued for upload, failures are only reported, not logged
  // into those files: what MLflow receives must stay the run's final record.
  let finishing = false;

  const send = (): Promise<void> => {
    busy ??= drain(client, spool, (n) => notices.push(n))
      .then(() => {
        lastError = undefined;
      })
      .catch((err: unknown) => {
        const message = err instanceof Error ? err.message : String(err);
        if (err instanceof MlflowError && (err.status === 401 || err.status === 403)) {
          if (!refused)
            onError(
              `${message}; the run is recorded locally: run-exp sync ${spool.dir} sends it once the server takes it`,
            );
          refused = true;
        } else if (lastError === undefined && !finishing)
          onError(`${message}; events stay spooled in ${spool.dir}/mlflow`);
        lastError = message;
        failedAt = Date.now();
      })
      .finally(() => {
        busy = null;
      });
    return busy;
  };
  const emit = (event: MlflowEvent) => {
    spool.append(event);
    if (!busy && !refused && (lastError === undefined || Date.now() - failedAt >= retryInterval)) void send();
  };

  if (spool.events.some((e) => e.type === 'start')) {
    emit({ type: 'status', status: 'RUNNING', endTime: null });
  } else {
    emit({
      type: 'start',
      experiment: facts.experiment,
      runName: runName(facts),
      startTime: Date.now(),
      tags: sourceTags(facts),
      sweep: facts.trial && {
        id: facts.trial.sweep_id,
        tags: [
          { key: 'mlflow.user', value: os.userInfo().username },
          { key: 'mlflow.source.name', value: facts.sourceName },
          { key: 'mlflow.note.content', value: `Sweep ${facts.trial.sweep_id}: ${facts.trial.trials} trials` },
        ],
      },
    });
    emit({
      type: 'params',
      params: Object.entries(flatten(redactUris(facts.config)))
        .filter(([, v]) => v !== undefined)
        .map(([key, v]) => ({ key, value: String(v) })),
    });
    if (facts.datasets.length) emit({ type: 'inputs', datasets: facts.datasets });
    emit({ type: 'artifacts', files: ['config.yaml'] });
    const now = Date.now();
    if (facts.history.length) emit({ type: 'metrics', metrics: facts.history.flatMap((m) => epochMetrics(m, now)) });
  }

  // An epoch trained again after a resume keeps the timestamp it was first sent with, so
  // MLflow sees the same point rather than a second value at that step.
  const stamps = new Map<number, number>();
  for (const e of spool.events) if (e.type === 'metrics') for (const m of e.metrics) stamps.set(m.step, m.timestamp);

  let last: Metric[] = facts.history.length
    ? epochMetrics(facts.history.at(-1) as Record<string, unknown>, stamps.get(facts.history.length) ?? Date.now())
    : [];
  return {
    async preflight() {
      const quick = mlflowClient({ ...clientOptionsFromEnv(uri, env), attempts: 1, timeoutMs: 5000 });
      try {
        await ensureExperiment(quick, facts.experiment);
        const location = (await quick.experimentByName(facts.experiment))?.artifact_location;
        const why = location ? unwritableLocation(location) : null;
        return why ? [why] : [];
      } catch {
        return [];
      }
    },
    epoch(m) {
      last = epochMetrics(m, stamps.get(Number(m.epoch)) ?? Date.now());
      emit({ type: 'metrics', metrics: last });
    },
    async finish(status, tags = []) {
      finishing = true;
      if (tags.length) spool.append({ type: 'tags', tags });
      spool.append({ type: 'artifacts', files: listRunFiles(facts.runDir, ['mlflow']) });
      if (status === 'FINISHED' && existsSync(path.join(facts.runDir, 'model', MLMODEL))) {
        spool.append({
          type: 'model',
          folder: 'model',
          files: listRunFiles(path.join(facts.runDir, 'model')).map((f) => path.join('model', f)),
          params: Object.entries(flatten(facts.config))
            .filter(([k, v]) => v !== undefined && (k.startsWith('model.') || k.startsWith('data.preprocessing.')))
            .map(([key, v]) => ({ key, value: String(v) })),
          // What the model scores; not the process's (system/, seconds, images/s) nor the learning rate.
          metrics: last.filter((m) => !/^(system\/|lr$|seconds$|images_per_s$)/.test(m.key)),
          step: last[0]?.step ?? 0,
        });
      }
      spool.append({ type: 'status', status, endTime: Date.now() });
      await busy;
      // One last try, whatever the retry interval: the process is about to end.
      if (!refused) await send();
      return {
        uri: shown,
        url: runUrl(shown, spool.state.experiment_id, spool.state.run_id),
        logged: spool.events.length,
        sent: spool.events.length - spool.pending().length,
        pending: spool.pending().length,
        missing: missingArtifacts(spool).flatMap((m) => m.files),
        pendingRecords: spool.pending().filter((e) => e.type !== 'artifacts' && e.type !== 'model').length,
        refused,
        error: lastError,
        notices,
      };
    },
  };
}
