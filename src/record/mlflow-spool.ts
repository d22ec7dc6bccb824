// The MLflow spool of a run folder: every event bound for MLflow is appended to
// mlflow/outbox.jsonl (fsynced) before any send, and mlflow/state.json says how
// far the server has acknowledged. Replaying the outbox is idempotent: the run
// is found by its run-exp id before one is created, metrics carry their
// original timestamps (MLflow drops exact repeats), params and tags are set to
// the same values, artifacts overwrite themselves, dataset inputs are kept once
// per name and digest by the server, the logged model is found by its tag
// before one is made, and status is a plain update.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { DatasetInput } from './datasets.ts';
import type { Metric, MlflowClient, Param, RunStatus, Tag } from './mlflow-client.ts';
import { findOrCreate, MlflowError } from './mlflow-client.ts';
import { type ModelEvent, sendModel } from './mlflow-model.ts';
import { parentRun, type SweepRef } from './mlflow-parent.ts';
import { recordError } from './record-errors.ts';
import { appendLine, replaceFile } from './run-store.ts';

export type MlflowEvent =
  | {
      type: 'start';
      experiment: string;
      runName: string;
      startTime: number;
      tags: Tag[];
      /** A sweep trial: its run is a child of the sweep's parent run. */
      sweep?: SweepRef;
    }
  | { type: 'params'; params: Param[] }
  /** The data the run trained and was evaluated on, as MLflow dataset inputs. */
  | { type: 'inputs'; datasets: DatasetInput[] }
  | { type: 'tags'; tags: Tag[] }
  | { type: 'metrics'; metrics: Metric[] }
  /** Files of the run folder, relative to it, uploaded as they are when the event is sent. */
  | { type: 'artifacts'; files: string[] }
  | ModelEvent
  | { type: 'status'; status: RunStatus; endTime: number | null };

export type SpooledEvent = MlflowEvent & { seq: number };

export interface SpoolState {
  uri: string;
  experiment_id?: string;
  run_id?: string;
  artifact_uri?: string;
  /** Every event up to this seq is acknowledged. */
  sent: number;
  /** Events after `sent` the server acknowledged while an earlier one (a file upload) stays pending. */
  done?: number[];
  /** Why each pending file event (artifacts or model, by seq) failed last; records never wait for them. */
  file_errors?: Record<string, string>;
  /** The run's MLflow logged model, once created, and where its files go. */
  logged_model_id?: string;
  logged_model_uri?: string;
  /** Set when the server turned out to have no logged models (MLflow 2.x). */
  logged_models?: 'unsupported';
  /** The server's MLflow version, once asked (the logged model's MLmodel names it). */
  mlflow_version?: string | null;
  /** Files of event `seq` (artifacts or model) the server already has: a replay uploads only the rest. */
  uploaded?: { seq: number; files: string[] };
}

/** The tag that ties an MLflow run to its run folder, so a replay finds the run instead of making another. */
export const RUN_ID_TAG = 'run_exp.run_id';

export interface Spool {
  dir: string;
  state: SpoolState;
  events: SpooledEvent[];
  append(event: MlflowEvent): SpooledEvent;
  pending(): SpooledEvent[];
}

export const spoolDir = (runDir: string) => path.join(runDir, 'mlflow');

export function hasSpool(runDir: string): boolean {
  return existsSync(path.join(spoolDir(runDir), 'outbox.jsonl'));
}

/** Opens (or starts) the spool of a run folder, bound for `uri` (empty: the server it was bound for). */
export function openSpool(runDir: string, uri: string): Spool {
  const dir = spoolDir(runDir);
  mkdirSync(dir, { recursive: true });
  const outbox = path.join(dir, 'outbox.jsonl');
  const stateFile = path.join(dir, 'state.json');
  const events: SpooledEvent[] = existsSync(outbox)
    ? readFileSync(outbox, 'utf8')
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l) as SpooledEvent)
    : [];
  const saved = existsSync(stateFile) ? (JSON.parse(readFileSync(stateFile, 'utf8')) as SpoolState) : null;
  // Another server: its run ids mean nothing there, so the run is found or made there afresh.
  const state: SpoolState = saved && (!uri || uri === saved.uri) ? saved : { uri, sent: 0 };
  const spool: Spool = {
    dir: runDir,
    state,
    events,
    append(event) {
      const spooled = { seq: (events.at(-1)?.seq ?? 0) + 1, ...event } as SpooledEvent;
      try {
        appendLine(outbox, JSON.stringify(spooled));
      } catch (err) {
        throw recordError(err, 'mlflow/outbox.jsonl', runDir) ?? err;
      }
      events.push(spooled);
      return spooled;
    },
    pending: () => events.filter((e) => e.seq > spool.state.sent && !spool.state.done?.includes(e.seq)),
  };
  if (state !== saved) saveState(spool);
  return spool;
}

/** Records `seq` as acknowledged (and saves): `sent` moves up over every acknowledged seq in a row. */
function acknowledge(spool: Spool, seqs: number[]): void {
  const { state } = spool;
  const done = new Set([...(state.done ?? []), ...seqs]);
  for (const seq of seqs) delete state.file_errors?.[seq];
  while (done.has(state.sent + 1)) done.delete(++state.sent);
  for (const seq of [...done]) if (seq <= state.sent) done.delete(seq);
  state.done = [...done].sort((a, b) => a - b);
  if (state.done.length === 0) delete state.done;
  if (state.file_errors && Object.keys(state.file_errors).length === 0) delete state.file_errors;
  saveState(spool);
}

/** The files of the run folder MLflow does not have yet because their upload failed, and why. */
export function missingArtifacts(spool: Spool): { files: string[]; error: string }[] {
  const { state } = spool;
  return spool
    .pending()
    .filter((e): e is SpooledEvent & { files: string[] } => 'files' in e && state.file_errors?.[e.seq] !== undefined)
    .map((e) => ({
      files: e.files.filter((f) => !(state.uploaded?.seq === e.seq && state.uploaded.files.includes(f))),
      error: state.file_errors?.[e.seq] as string,
    }));
}

/** The run tag that lists, on the MLflow run page, the artifacts that have not reached the server. */
export const MISSING_TAG = 'run_exp.artifacts_missing';

export function saveState(spool: Spool): void {
  const file = path.join(spoolDir(spool.dir), 'state.json');
  try {
    replaceFile(file, `${JSON.stringify(spool.state, null, 2)}\n`);
  } catch (err) {
    throw recordError(err, 'mlflow/state.json', spool.dir) ?? err;
  }
}

/** The experiment's id, created (as run-exp creates them) when it does not exist. */
export function ensureExperiment(client: MlflowClient, name: string): Promise<string> {
  // The kind makes MLflow's UI open the experiment on its training-runs view, not the GenAI one.
  return client.getOrCreateExperiment(name, [{ key: 'mlflow.experimentKind', value: 'custom_model_development' }]);
}

async function ensureRun(client: MlflowClient, spool: Spool, start: Extract<MlflowEvent, { type: 'start' }>) {
  const { state } = spool;
  if (state.run_id && state.artifact_uri) return;
  const experimentId = await ensureExperiment(client, start.experiment);
  const runExpId = start.tags.find((t) => t.key === RUN_ID_TAG)?.value ?? '';
  const tags = start.sweep
    ? [
        ...start.tags,
        { key: 'mlflow.parentRunId', value: await parentRun(client, experimentId, start.experiment, start.sweep) },
      ]
    : start.tags;
  // createRun is never retried blindly (a lost response would leave two runs): look first, every time.
  const info = await findOrCreate(
    async () => (await client.searchRuns([experimentId], `tags.\`${RUN_ID_TAG}\` = '${runExpId}'`)).at(0)?.info,
    async () =>
      (await client.createRun({ experimentId, runName: start.runName, startTime: start.startTime, tags })).info,
  );
  Object.assign(state, { experiment_id: experimentId, run_id: info.run_id, artifact_uri: info.artifact_uri });
  saveState(spool);
}

/**
 * Uploads each of `event`'s files not yet acknowledged, recording each one, so
 * that a replay after a failure goes on from the file that failed.
 */
export async function uploadEach(
  spool: Spool,
  event: SpooledEvent & { files: string[] },
  upload: (file: string) => Promise<void>,
): Promise<void> {
  const { state } = spool;
  if (state.uploaded?.seq !== event.seq) state.uploaded = { seq: event.seq, files: [] };
  const done = state.uploaded;
  for (const f of event.files) {
    if (done.files.includes(f)) continue;
    await upload(f);
    done.files.push(f);
    saveState(spool);
  }
}

/**
 * Sends every pending event in order and records each acknowledgement;
 * consecutive metrics, params and tags go as one batch. A failed file upload
 * (artifacts, model) does not hold back what follows: it stays pending, its
 * error is kept, and the run's MISSING_TAG lists what is missing until a later
 * drain delivers it. Throws on the first failure of anything else, leaving it
 * and what follows pending, and at the end when an upload failed.
 */
export async function drain(
  client: MlflowClient,
  spool: Spool,
  notice: (message: string) => void = () => {},
): Promise<void> {
  const { state } = spool;
  const hadMissing = missingArtifacts(spool).length > 0;
  // Uploads that failed in this drain: not tried again until the next one.
  const failed = new Set<number>();
  // Events appended while sending are sent too.
  for (let pending = spool.pending(); pending.length; pending = spool.pending().filter((e) => !failed.has(e.seq)))
    for (let i = 0; i < pending.length; i++) {
      const first = pending[i] as SpooledEvent;
      if (first.type === 'start') {
        await ensureRun(client, spool, first);
        await client.logBatch(state.run_id as string, { tags: first.tags });
        acknowledge(spool, [first.seq]);
        continue;
      }
      const runId = state.run_id;
      if (!runId || !state.artifact_uri) throw new MlflowError('the spool has no run start: cannot replay it');
      if (first.type === 'metrics' || first.type === 'params' || first.type === 'tags') {
        const batch = { metrics: [] as Metric[], params: [] as Param[], tags: [] as Tag[] };
        const seqs: number[] = [];
        let j = i;
        for (; j < pending.length && batch.metrics.length < 10_000; j++) {
          const e = pending[j] as SpooledEvent;
          if (e.type === 'metrics') batch.metrics.push(...e.metrics);
          else if (e.type === 'params') batch.params.push(...e.params);
          else if (e.type === 'tags') batch.tags.push(...e.tags);
          else break;
          seqs.push(e.seq);
        }
        await client.logBatch(runId, batch);
        acknowledge(spool, seqs);
        i = j - 1;
        continue;
      }
      if (first.type === 'inputs') await client.logInputs(runId, first.datasets);
      else if (first.type === 'status')
        await client.updateRun(runId, { status: first.status, endTime: first.endTime ?? undefined });
      else {
        try {
          if (first.type === 'model') await sendModel(client, spool, first, notice);
          else {
            const artifactUri = state.artifact_uri;
            await uploadEach(spool, first, async (f) => {
              const file = path.join(spool.dir, f);
              if (existsSync(file)) await client.uploadArtifact(artifactUri, f.split(path.sep).join('/'), file);
            });
          }
        } catch (err) {
          failed.add(first.seq);
          state.file_errors = { ...state.file_errors, [first.seq]: err instanceof Error ? err.message : String(err) };
          saveState(spool);
          continue;
        }
      }
      acknowledge(spool, [first.seq]);
    }
  const missing = missingArtifacts(spool);
  if (missing.length > 0) {
    const files = missing.flatMap((m) => m.files);
    const why = (missing.at(-1) as { error: string }).error;
    const text = `${files.length} file(s) not uploaded (${files.slice(0, 5).join(', ')}${files.length > 5 ? ', ...' : ''}): ${why}`;
    await client.setTag(state.run_id as string, MISSING_TAG, `${text}; run-exp sync uploads them`).catch(() => {});
    throw new MlflowError(text);
  }
  if (hadMissing && state.run_id) await client.deleteTag(state.run_id, MISSING_TAG).catch(() => {});
}
