// A small typed client for MLflow's REST API on Node's fetch: experiments,
// runs, batched logging within the server's limits, metric history, tags and
// artifacts through the server's artifact proxy. Credentials come from the
// environment and never appear in errors or logs.
import { openAsBlob, readFileSync, statSync } from 'node:fs';
import { Agent, fetch } from 'undici';
import { RunExpError } from '../spec/errors.ts';
import { type ArtifactStore, ArtifactStoreError, artifactStore } from './artifact-stores.ts';
import { redactUri, splitCredentials } from './credentials.ts';
import type { DatasetInput } from './datasets.ts';

/** MLflow's request limits (mlflow/utils/validation.py). */
export const LIMITS = {
  metricsPerBatch: 1000,
  paramsPerBatch: 100,
  tagsPerBatch: 100,
  itemsPerBatch: 1000,
  bytesPerBatch: 1_000_000,
  paramValue: 6000,
  tagValue: 8000,
  key: 250,
};

export interface Metric {
  key: string;
  value: number;
  timestamp: number;
  step: number;
  /** MLflow 3: the logged model the value describes. */
  model_id?: string;
}
export interface Param {
  key: string;
  value: string;
}
export type Tag = Param;
export type RunStatus = 'RUNNING' | 'SCHEDULED' | 'FINISHED' | 'FAILED' | 'KILLED';

export interface RunInfo {
  run_id: string;
  experiment_id: string;
  run_name?: string;
  status: RunStatus;
  start_time?: number;
  end_time?: number;
  artifact_uri: string;
  lifecycle_stage: string;
}
export interface MlflowRun {
  info: RunInfo;
  data: { metrics?: Metric[]; params?: Param[]; tags?: Tag[] };
  inputs?: { dataset_inputs?: DatasetInput[] };
}
export interface Experiment {
  experiment_id: string;
  name: string;
  lifecycle_stage: string;
  /** Where its runs' artifacts go: mlflow-artifacts:/... (proxied), a path, s3://... */
  artifact_location?: string;
  tags?: Tag[];
}
export interface LoggedModel {
  info: {
    model_id: string;
    experiment_id: string;
    name: string;
    artifact_uri: string;
    status: string;
    source_run_id?: string;
    tags?: Tag[];
  };
  data?: { params?: Param[]; metrics?: Metric[] };
}
export interface ModelVersion {
  name: string;
  version: string;
  source: string;
  run_id?: string;
  status?: string;
  tags?: Tag[];
  aliases?: string[];
}
export interface FileInfo {
  path: string;
  is_dir: boolean;
  file_size?: number;
}

export class MlflowError extends RunExpError {
  constructor(
    message: string,
    /** HTTP status, or undefined for a network error or timeout. */
    readonly status?: number,
    /** MLflow's error_code, such as RESOURCE_DOES_NOT_EXIST. */
    readonly code?: string,
  ) {
    super(message, { exitCode: 1 });
    this.name = 'MlflowError';
  }
  /** Network errors, timeouts, 429 and 5xx are worth another try; 4xx validation errors never. */
  get retryable(): boolean {
    return this.status === undefined || this.status === 429 || this.status >= 500;
  }
}

export interface ClientOptions {
  /** The tracking server, http(s)://host:port[/prefix]. */
  uri: string;
  /** Per-request timeout. */
  timeoutMs?: number;
  /** Attempts per request, the first included. */
  attempts?: number;
  /** The first backoff; each retry doubles it, with full jitter, capped at maxBackoffMs. */
  backoffMs?: number;
  maxBackoffMs?: number;
  env?: NodeJS.ProcessEnv;
  /** Files at least this large try a multipart upload first (MLflow's own default and variable). */
  multipartMinBytes?: number;
  multipartChunkBytes?: number;
}

const UNSUPPORTED_MULTIPART = 'Multipart upload is not supported';

/**
 * The TLS settings MLflow's clients read: a CA bundle for the server
 * (MLFLOW_TRACKING_SERVER_CERT_PATH), a client certificate with its key in one
 * PEM (MLFLOW_TRACKING_CLIENT_CERT_PATH), or no verification
 * (MLFLOW_TRACKING_INSECURE_TLS=true); undefined when none is set.
 */
function tlsAgent(env: NodeJS.ProcessEnv): Agent | undefined {
  const ca = env.MLFLOW_TRACKING_SERVER_CERT_PATH;
  const client = env.MLFLOW_TRACKING_CLIENT_CERT_PATH;
  const insecure = /^(true|1)$/i.test(env.MLFLOW_TRACKING_INSECURE_TLS ?? '');
  if (!ca && !client && !insecure) return undefined;
  const read = (name: string, file: string) => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new MlflowError(`${name}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? err})`);
    }
  };
  const pem = client ? read('MLFLOW_TRACKING_CLIENT_CERT_PATH', client) : undefined;
  return new Agent({
    connect: {
      ...(ca ? { ca: read('MLFLOW_TRACKING_SERVER_CERT_PATH', ca) } : {}),
      ...(pem ? { cert: pem, key: pem } : {}),
      rejectUnauthorized: !insecure,
    },
  });
}

function authHeader(env: NodeJS.ProcessEnv): string | undefined {
  if (env.MLFLOW_TRACKING_TOKEN) return `Bearer ${env.MLFLOW_TRACKING_TOKEN}`;
  if (env.MLFLOW_TRACKING_USERNAME || env.MLFLOW_TRACKING_PASSWORD) {
    const pair = `${env.MLFLOW_TRACKING_USERNAME ?? ''}:${env.MLFLOW_TRACKING_PASSWORD ?? ''}`;
    return `Basic ${Buffer.from(pair).toString('base64')}`;
  }
  return undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The server-side path of a proxied artifact root (`mlflow-artifacts:/1/abc/artifacts` -> `1/abc/artifacts`), or null for another kind of location. */
export function artifactRoot(artifactUri: string): string | null {
  const m = /^mlflow-artifacts:(?:\/\/[^/]*)?\/(.*)$/.exec(artifactUri);
  return m ? (m[1]?.replace(/\/+$/, '') ?? '') : null;
}

const encodePath = (p: string) => p.split('/').map(encodeURIComponent).join('/');

/** Splits one batch into requests within MLflow's count and size limits, order kept. */
export function splitBatch(batch: {
  metrics?: Metric[];
  params?: Param[];
  tags?: Tag[];
}): { metrics: Metric[]; params: Param[]; tags: Tag[] }[] {
  const out: { metrics: Metric[]; params: Param[]; tags: Tag[] }[] = [];
  let cur = { metrics: [] as Metric[], params: [] as Param[], tags: [] as Tag[] };
  let bytes = 100; // run_id and the JSON frame
  const push = (kind: 'metrics' | 'params' | 'tags', item: Metric | Param, limit: number) => {
    const size = JSON.stringify(item).length + 1;
    const count = cur.metrics.length + cur.params.length + cur.tags.length;
    if (cur[kind].length >= limit || count >= LIMITS.itemsPerBatch || bytes + size > LIMITS.bytesPerBatch) {
      out.push(cur);
      cur = { metrics: [], params: [], tags: [] };
      bytes = 100;
    }
    (cur[kind] as (Metric | Param)[]).push(item);
    bytes += size;
  };
  for (const p of batch.params ?? []) push('params', p, LIMITS.paramsPerBatch);
  for (const t of batch.tags ?? []) push('tags', t, LIMITS.tagsPerBatch);
  for (const m of batch.metrics ?? []) push('metrics', m, LIMITS.metricsPerBatch);
  if (cur.metrics.length + cur.params.length + cur.tags.length > 0) out.push(cur);
  return out;
}

export type MlflowClient = ReturnType<typeof mlflowClient>;

/**
 * Finds a thing or creates it, never creating blindly twice: a create whose
 * answer was lost may have acted, so after a retryable failure it looks again
 * before another try (at most 5). For runs, logged models and versions.
 */
export async function findOrCreate<T>(find: () => Promise<T | undefined>, create: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const found = await find();
    if (found !== undefined) return found;
    try {
      return await create();
    } catch (err) {
      if (!(err instanceof MlflowError && err.retryable && attempt < 5)) throw err;
    }
  }
}

/**
 * Whether the server at `uri` refuses this client's credentials: its one-line
 * message, or null (accepted, none needed, or the server did not answer: the
 * spool deals with that). Asked once, quickly, before a run starts.
 */
export async function refusedCredentials(uri: string, env: NodeJS.ProcessEnv = process.env): Promise<string | null> {
  const client = mlflowClient({ ...clientOptionsFromEnv(uri, env), attempts: 1, timeoutMs: 5000 });
  try {
    await client.searchExperiments(1);
    return null;
  } catch (err) {
    return err instanceof MlflowError && err.status === 401 ? err.message : null;
  }
}

/** Client settings from the environment: RUN_EXP_MLFLOW_TIMEOUT_MS, _ATTEMPTS, _BACKOFF_MS. */
export function clientOptionsFromEnv(uri: string, env: NodeJS.ProcessEnv = process.env): ClientOptions {
  const num = (name: string) => (env[name] ? Number(env[name]) : undefined);
  return {
    uri,
    env,
    timeoutMs: num('RUN_EXP_MLFLOW_TIMEOUT_MS'),
    attempts: num('RUN_EXP_MLFLOW_ATTEMPTS'),
    backoffMs: num('RUN_EXP_MLFLOW_BACKOFF_MS'),
  };
}

export function mlflowClient(options: ClientOptions) {
  const env = options.env ?? process.env;
  // Credentials in the URI become the Basic header (fetch refuses them in a URL); the rest is the base.
  const given = splitCredentials(options.uri);
  const base = given.uri.replace(/\/+$/, '');
  if (!/^https?:\/\//.test(base)) {
    throw new MlflowError(`tracking URI ${redactUri(options.uri)} is not an http(s) URL of an MLflow server`);
  }
  const user = env.MLFLOW_TRACKING_USERNAME || given.username;
  const dispatcher = tlsAgent(env);
  const timeoutMs = options.timeoutMs ?? 30_000;
  const attempts = Math.max(1, options.attempts ?? 5);
  const backoffMs = options.backoffMs ?? 500;
  const maxBackoffMs = options.maxBackoffMs ?? 15_000;
  const multipartMin =
    options.multipartMinBytes ?? Number(env.MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE ?? 500 * 2 ** 20);
  const chunkBytes = options.multipartChunkBytes ?? Number(env.MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE ?? 10 * 2 ** 20);
  const auth =
    authHeader(env) ??
    (given.username === undefined
      ? undefined
      : `Basic ${Buffer.from(`${given.username}:${given.password ?? ''}`).toString('base64')}`);
  /** The store of a location the server does not proxy (a path, s3://), its errors as the client's. */
  const direct = <T>(artifactUri: string, use: (store: ArtifactStore) => Promise<T>): Promise<T> => {
    try {
      return use(artifactStore(artifactUri, env)).catch((err: unknown) => {
        throw err instanceof ArtifactStoreError ? new MlflowError(err.message) : err;
      });
    } catch (err) {
      throw err instanceof ArtifactStoreError ? new MlflowError(err.message) : err;
    }
  };

  async function once(url: string, init: RequestInit): Promise<Response> {
    let res: Response;
    const where = `${init.method ?? 'GET'} ${new URL(url).pathname}`;
    try {
      res = (await fetch(url, {
        ...(init as object),
        signal: AbortSignal.timeout(timeoutMs),
        ...(dispatcher ? { dispatcher } : {}),
      })) as unknown as Response;
    } catch (err) {
      const cause = err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err);
      throw new MlflowError(`MLflow ${where}: ${cause}`);
    }
    if (res.ok) return res;
    const text = await res.text().catch(() => '');
    let code: string | undefined;
    let message = text.slice(0, 500);
    try {
      const body = JSON.parse(text) as { error_code?: string; message?: string };
      code = body.error_code;
      message = body.message ?? message;
    } catch {}
    // Refused credentials or permissions: said plainly, never retried, the password nowhere in it.
    const said =
      res.status === 401
        ? user
          ? `MLflow refused the credentials for user ${user} at ${base}`
          : `MLflow at ${base} asks for credentials: set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD`
        : res.status === 403
          ? `MLflow at ${base} does not let ${user ? `user ${user}` : 'this client'} ${where}: ${message}`
          : `MLflow ${where}: ${res.status} ${message}`.trim();
    const error = new MlflowError(said, res.status, code);
    (error as MlflowError & { retryAfter?: number }).retryAfter = Number(res.headers.get('retry-after')) * 1000 || 0;
    throw error;
  }

  /** One request with retries; `body` is rebuilt per attempt so streams start over. */
  async function request(
    method: string,
    path: string,
    body?: () => RequestInit['body'],
    contentType?: string,
    tries = attempts,
  ) {
    const headers: Record<string, string> = {};
    if (auth) headers.authorization = auth;
    if (contentType) headers['content-type'] = contentType;
    for (let attempt = 1; ; attempt++) {
      try {
        return await once(`${base}${path}`, {
          method,
          headers,
          body: body?.(),
          // Needed by fetch for a streamed body.
          ...(body ? { duplex: 'half' } : {}),
        } as RequestInit);
      } catch (err) {
        const e = err as MlflowError & { retryAfter?: number };
        if (!(e instanceof MlflowError) || !e.retryable || attempt >= tries) throw err;
        const backoff = Math.random() * Math.min(maxBackoffMs, backoffMs * 2 ** (attempt - 1));
        await sleep(Math.max(backoff, Math.min(e.retryAfter ?? 0, maxBackoffMs)));
      }
    }
  }

  async function call<T>(
    method: 'GET' | 'POST' | 'PATCH',
    endpoint: string,
    payload: Record<string, unknown> = {},
    tries = attempts,
  ): Promise<T> {
    const api = `/api/2.0/mlflow/${endpoint}`;
    const res =
      method === 'GET'
        ? await request(
            'GET',
            `${api}?${new URLSearchParams(
              Object.entries(payload)
                .filter(([, v]) => v !== undefined)
                .map(([k, v]): [string, string] => [k, String(v)]),
            )}`,
          )
        : await request(method, api, () => JSON.stringify(payload), 'application/json', tries);
    const text = await res.text();
    return (text ? JSON.parse(text) : {}) as T;
  }

  const client = {
    uri: base,

    /** The server's MLflow version (`GET /version`), or null when it does not say. */
    async serverVersion(): Promise<string | null> {
      try {
        const text = (await (await request('GET', '/version')).text()).trim();
        return /^\d+\.\d+/.test(text) ? text : null;
      } catch {
        return null;
      }
    },

    /** The experiment of that name, in any lifecycle stage, with its tags; null when there is none. */
    /** Up to `max` experiments (any): a cheap call that needs the client's credentials. */
    async searchExperiments(max: number): Promise<Experiment[]> {
      return (
        (await call<{ experiments?: Experiment[] }>('POST', 'experiments/search', { max_results: max })).experiments ??
        []
      );
    },

    async experimentByName(name: string): Promise<Experiment | null> {
      try {
        return (await call<{ experiment: Experiment }>('GET', 'experiments/get-by-name', { experiment_name: name }))
          .experiment;
      } catch (err) {
        if (err instanceof MlflowError && err.code === 'RESOURCE_DOES_NOT_EXIST') return null;
        throw err;
      }
    },

    async getExperimentByName(name: string): Promise<string | null> {
      return (await client.experimentByName(name))?.experiment_id ?? null;
    },

    /** Creates an experiment; MLflow refuses a taken name (RESOURCE_ALREADY_EXISTS), even a deleted one's. */
    async createExperiment(name: string, tags: Tag[] = []): Promise<string> {
      return (await call<{ experiment_id: string }>('POST', 'experiments/create', { name, tags })).experiment_id;
    },

    /** Finds the experiment by name or creates it (with `tags`); safe when many processes race to create it. */
    async getOrCreateExperiment(name: string, tags: Tag[] = []): Promise<string> {
      const found = await client.getExperimentByName(name);
      if (found) return found;
      try {
        return await client.createExperiment(name, tags);
      } catch (err) {
        if (err instanceof MlflowError && err.code === 'RESOURCE_ALREADY_EXISTS') {
          const again = await client.getExperimentByName(name);
          if (again) return again;
        }
        throw err;
      }
    },

    async setExperimentTag(experimentId: string, key: string, value: string) {
      await call('POST', 'experiments/set-experiment-tag', { experiment_id: experimentId, key, value });
    },

    async deleteExperiment(experimentId: string) {
      await call('POST', 'experiments/delete', { experiment_id: experimentId });
    },

    /**
     * One attempt only: a retry after a lost response would make a second run. Callers that
     * need exactly one run tag it and search for the tag before trying again.
     */
    async createRun(args: { experimentId: string; runName?: string; startTime: number; tags?: Tag[] }) {
      const r = await call<{ run: MlflowRun }>(
        'POST',
        'runs/create',
        {
          experiment_id: args.experimentId,
          run_name: args.runName,
          start_time: args.startTime,
          tags: args.tags?.map(cutTag),
        },
        1,
      );
      return r.run;
    },

    async getRun(runId: string): Promise<MlflowRun> {
      return (await call<{ run: MlflowRun }>('GET', 'runs/get', { run_id: runId })).run;
    },

    async updateRun(runId: string, update: { status?: RunStatus; endTime?: number; runName?: string }) {
      await call('POST', 'runs/update', {
        run_id: runId,
        status: update.status,
        end_time: update.endTime,
        run_name: update.runName,
      });
    },

    /** All runs matching a filter (MLflow search syntax), every page read. */
    async searchRuns(experimentIds: string[], filter = '', orderBy: string[] = []): Promise<MlflowRun[]> {
      const runs: MlflowRun[] = [];
      let pageToken: string | undefined;
      do {
        const r = await call<{ runs?: MlflowRun[]; next_page_token?: string }>('POST', 'runs/search', {
          experiment_ids: experimentIds,
          filter,
          order_by: orderBy,
          max_results: 1000,
          page_token: pageToken,
        });
        runs.push(...(r.runs ?? []));
        pageToken = r.next_page_token;
      } while (pageToken);
      return runs;
    },

    async setTag(runId: string, key: string, value: string) {
      await call('POST', 'runs/set-tag', { run_id: runId, ...cutTag({ key, value }) });
    },

    async deleteTag(runId: string, key: string) {
      await call('POST', 'runs/delete-tag', { run_id: runId, key });
    },

    /** Logs any number of metrics, params and tags, split into requests within MLflow's limits. */
    async logBatch(runId: string, batch: { metrics?: Metric[]; params?: Param[]; tags?: Tag[] }) {
      const cut = { ...batch, params: batch.params?.map(cutParam), tags: batch.tags?.map(cutTag) };
      for (const part of splitBatch(cut)) await call('POST', 'runs/log-batch', { run_id: runId, ...part });
    },

    /** Dataset inputs of a run; the server keeps one input per dataset name and digest, so a repeat adds nothing. */
    async logInputs(runId: string, datasets: DatasetInput[]) {
      for (let attempt = 1; ; attempt++) {
        try {
          await call('POST', 'runs/log-inputs', { run_id: runId, datasets });
          return;
        } catch (err) {
          // The server looks a dataset up, then inserts it: two runs logging the same dataset at
          // once (a sweep's trials starting together) race, and the loser gets a 400 from the
          // database's unique constraint. Once the winner's row is there, another try finds it.
          const race =
            err instanceof MlflowError && err.status === 400 && /unique|integrity|duplicate/i.test(err.message);
          if (!race || attempt >= 4) throw err;
          await sleep(100 * attempt + Math.random() * 200);
        }
      }
    },

    /** MLflow 3's logged model. One attempt only, as createRun: callers search before trying again. */
    async createLoggedModel(args: {
      experimentId: string;
      name: string;
      modelType: string;
      sourceRunId: string;
      tags?: Tag[];
    }): Promise<LoggedModel> {
      const r = await call<{ model: LoggedModel }>(
        'POST',
        'logged-models',
        {
          experiment_id: args.experimentId,
          name: args.name,
          model_type: args.modelType,
          source_run_id: args.sourceRunId,
          tags: args.tags?.map(cutTag),
        },
        1,
      );
      return r.model;
    },

    async searchLoggedModels(experimentIds: string[], filter: string): Promise<LoggedModel[]> {
      const r = await call<{ models?: LoggedModel[] }>('POST', 'logged-models/search', {
        experiment_ids: experimentIds,
        filter,
        max_results: 100,
      });
      return r.models ?? [];
    },

    async getLoggedModel(modelId: string): Promise<LoggedModel> {
      return (await call<{ model: LoggedModel }>('GET', `logged-models/${encodeURIComponent(modelId)}`)).model;
    },

    async logLoggedModelParams(modelId: string, params: Param[]) {
      for (let i = 0; i < params.length; i += LIMITS.paramsPerBatch) {
        await call('POST', `logged-models/${encodeURIComponent(modelId)}/params`, {
          model_id: modelId,
          params: params.slice(i, i + LIMITS.paramsPerBatch).map(cutParam),
        });
      }
    },

    async finalizeLoggedModel(modelId: string, status: 'LOGGED_MODEL_READY' | 'LOGGED_MODEL_UPLOAD_FAILED') {
      await call('PATCH', `logged-models/${encodeURIComponent(modelId)}`, { model_id: modelId, status });
    },

    /** The run's outputs: the models it made, at a step. */
    async logOutputs(runId: string, models: { model_id: string; step: number }[]) {
      await call('POST', 'runs/outputs', { run_id: runId, models });
    },

    /** Creates the registered model; one that exists already is fine. */
    async ensureRegisteredModel(name: string) {
      try {
        await call('POST', 'registered-models/create', { name });
      } catch (err) {
        if (!(err instanceof MlflowError && err.code === 'RESOURCE_ALREADY_EXISTS')) throw err;
      }
    },

    async getRegisteredModel(name: string): Promise<{ name: string; aliases?: { alias: string; version: string }[] }> {
      return (await call<{ registered_model: { name: string } }>('GET', 'registered-models/get', { name }))
        .registered_model;
    },

    async searchModelVersions(filter: string): Promise<ModelVersion[]> {
      const r = await call<{ model_versions?: ModelVersion[] }>('GET', 'model-versions/search', {
        filter,
        max_results: 1000,
      });
      return r.model_versions ?? [];
    },

    /** One attempt only: a retry after a lost response would make a second version. */
    async createModelVersion(args: {
      name: string;
      source: string;
      runId: string;
      modelId?: string;
      tags?: Tag[];
    }): Promise<ModelVersion> {
      const r = await call<{ model_version: ModelVersion }>(
        'POST',
        'model-versions/create',
        { name: args.name, source: args.source, run_id: args.runId, model_id: args.modelId, tags: args.tags },
        1,
      );
      return r.model_version;
    },

    async getModelVersion(name: string, version: string): Promise<ModelVersion> {
      return (await call<{ model_version: ModelVersion }>('GET', 'model-versions/get', { name, version }))
        .model_version;
    },

    async setModelVersionTag(name: string, version: string, key: string, value: string) {
      await call('POST', 'model-versions/set-tag', { name, version, key, value });
    },

    async setAlias(name: string, alias: string, version: string) {
      await call('POST', 'registered-models/alias', { name, alias, version });
    },

    async versionByAlias(name: string, alias: string): Promise<ModelVersion> {
      return (await call<{ model_version: ModelVersion }>('GET', 'registered-models/alias', { name, alias }))
        .model_version;
    },

    async versionDownloadUri(name: string, version: string): Promise<string> {
      return (await call<{ artifact_uri: string }>('GET', 'model-versions/get-download-uri', { name, version }))
        .artifact_uri;
    },

    /** A metric's whole history, every page read. */
    async metricHistory(runId: string, key: string): Promise<Metric[]> {
      const out: Metric[] = [];
      let pageToken: string | undefined;
      do {
        const r = await call<{ metrics?: Metric[]; next_page_token?: string }>('GET', 'metrics/get-history', {
          run_id: runId,
          metric_key: key,
          max_results: 25000,
          page_token: pageToken,
        });
        out.push(...(r.metrics ?? []).map((m) => ({ ...m, value: Number(m.value) })));
        pageToken = r.next_page_token;
      } while (pageToken);
      return out;
    },

    /** Uploads a local file as `artifactPath` under the run's artifact root. */
    async uploadArtifact(artifactUri: string, artifactPath: string, file: string): Promise<void> {
      const root = artifactRoot(artifactUri);
      if (root === null) return direct(artifactUri, (store) => store.upload(artifactPath, file));
      const target = `${root}/${artifactPath}`;
      const size = statSync(file).size;
      if (size >= multipartMin && (await multipartUpload(target, file, size))) return;
      const blob = await openAsBlob(file);
      await request(
        'PUT',
        `/api/2.0/mlflow-artifacts/artifacts/${encodePath(target)}`,
        () => blob,
        'application/octet-stream',
      );
    },

    /** Uploads `text` as the file `artifactPath` under the artifact root. */
    async uploadArtifactText(artifactUri: string, artifactPath: string, text: string): Promise<void> {
      const root = artifactRoot(artifactUri);
      if (root === null) return direct(artifactUri, (store) => store.uploadText(artifactPath, text));
      const target = `${root}/${artifactPath}`;
      await request(
        'PUT',
        `/api/2.0/mlflow-artifacts/artifacts/${encodePath(target)}`,
        () => text,
        'application/octet-stream',
      );
    },

    /** Every file under the run's artifact root (or a folder in it), with sizes; paths relative to the root. */
    async listArtifacts(artifactUri: string, folder = ''): Promise<FileInfo[]> {
      const root = artifactRoot(artifactUri);
      if (root === null) return direct(artifactUri, (store) => store.list(folder));
      const res = await request(
        'GET',
        `/api/2.0/mlflow-artifacts/artifacts?${new URLSearchParams({ path: folder ? `${root}/${folder}` : root })}`,
      );
      const { files = [] } = (await res.json()) as { files?: FileInfo[] };
      const out: FileInfo[] = [];
      for (const f of files) {
        const rel = folder ? `${folder}/${f.path}` : f.path;
        if (f.is_dir) out.push(...(await client.listArtifacts(artifactUri, rel)));
        else out.push({ path: rel, is_dir: false, file_size: Number(f.file_size) });
      }
      return out.sort((a, b) => a.path.localeCompare(b.path));
    },

    async downloadArtifact(artifactUri: string, artifactPath: string): Promise<Buffer> {
      const root = artifactRoot(artifactUri);
      if (root === null) return direct(artifactUri, (store) => store.download(artifactPath));
      const target = `${root}/${artifactPath}`;
      const res = await request('GET', `/api/2.0/mlflow-artifacts/artifacts/${encodePath(target)}`);
      return Buffer.from(await res.arrayBuffer());
    },
  };

  /** MLflow's multipart protocol: create, PUT each part to the URL the server gives, complete. False when unsupported. */
  async function multipartUpload(target: string, file: string, size: number): Promise<boolean> {
    const parts = Math.max(1, Math.ceil(size / chunkBytes));
    // The server takes the folder in the URL and the file's name from `path`.
    const folder = target.slice(0, target.lastIndexOf('/'));
    const name = target.slice(target.lastIndexOf('/') + 1);
    let created: { upload_id?: string; credentials: { url: string; part_number: number; headers?: object }[] };
    try {
      const res = await request(
        'POST',
        `/api/2.0/mlflow-artifacts/mpu/create/${encodePath(folder)}`,
        () => JSON.stringify({ path: name, num_parts: parts }),
        'application/json',
      );
      created = (await res.json()) as typeof created;
    } catch (err) {
      if (err instanceof MlflowError && err.message.includes(UNSUPPORTED_MULTIPART)) return false;
      throw err;
    }
    const blob = await openAsBlob(file);
    try {
      const done: { part_number: number; etag: string; url: string }[] = [];
      for (const c of created.credentials) {
        const start = (c.part_number - 1) * chunkBytes;
        const res = await once(c.url, {
          method: 'PUT',
          headers: c.headers as Record<string, string>,
          body: blob.slice(start, Math.min(size, start + chunkBytes)),
        });
        done.push({ part_number: c.part_number, etag: res.headers.get('etag') ?? '', url: c.url });
      }
      await request(
        'POST',
        `/api/2.0/mlflow-artifacts/mpu/complete/${encodePath(folder)}`,
        () => JSON.stringify({ path: name, upload_id: created.upload_id, parts: done }),
        'application/json',
      );
      return true;
    } catch (err) {
      await request(
        'POST',
        `/api/2.0/mlflow-artifacts/mpu/abort/${encodePath(folder)}`,
        () => JSON.stringify({ path: name, upload_id: created.upload_id }),
        'application/json',
      ).catch(() => {});
      throw err;
    }
  }

  return client;
}

/** Values cut to MLflow's limits (the full config travels as an artifact). */
function cutParam(p: Param): Param {
  return { key: p.key.slice(0, LIMITS.key), value: p.value.slice(0, LIMITS.paramValue) };
}
function cutTag(t: Tag): Tag {
  return { key: t.key.slice(0, LIMITS.key), value: t.value.slice(0, LIMITS.tagValue) };
}
