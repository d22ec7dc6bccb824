// MLflow's model registry: a finished run's logged model becomes a version of
// a registered model (idempotent: the same run registered again is the same
// version), with an alias and tags; `models:/<name>@<alias>` and
// `models:/<name>/<version>` are downloaded (cached by version) to a model
// folder that `predict` loads like a run's own `model/`.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { MLMODEL } from '../model/model-folder.ts';
import { cacheRoot } from '../platform/cache-root.ts';
import { RunExpError } from '../spec/errors.ts';
import {
  clientOptionsFromEnv,
  findOrCreate,
  type MlflowClient,
  MlflowError,
  type ModelVersion,
  mlflowClient,
} from './mlflow-client.ts';
import { drain, hasSpool, openSpool, RUN_ID_TAG } from './mlflow-spool.ts';

/** Bad input to the registry commands: said in one line, exit 2. */
export class RegistryError extends RunExpError {
  override name = 'RegistryError';
}

const ALIAS = /^[\w-]+$/;

function checkName(name: string): void {
  if (!name.trim() || /[/:]/.test(name)) {
    throw new RegistryError(`--name '${name}': a registered model's name is not empty and has no '/' or ':'`);
  }
}

function checkAlias(alias: string): void {
  if (!ALIAS.test(alias) || alias.toLowerCase() === 'latest' || /^v\d+$/i.test(alias)) {
    throw new RegistryError(
      `--alias '${alias}': an alias is letters, digits, '_' and '-', and neither 'latest' nor v<number> (MLflow keeps those)`,
    );
  }
}

export interface Registered {
  name: string;
  version: string;
  alias?: string;
  source: string;
  /** False when the run was registered under this name before: the same version is returned. */
  created: boolean;
  uri: string;
}

const quote = (s: string) => s.replace(/'/g, "\\'");

/** What a version is made from: the MLflow run and its model's location. */
interface Target {
  runId: string;
  source: string;
  modelId?: string;
  runExpId: string;
}

async function registerTarget(
  client: MlflowClient,
  t: Target,
  options: { name: string; alias?: string; tags?: Record<string, string> },
): Promise<Registered> {
  const find = async () =>
    (await client.searchModelVersions(`name='${quote(options.name)}' and run_id='${t.runId}'`)).find(
      (v) => v.source === t.source,
    );
  const existing = await find();
  if (!existing) await client.ensureRegisteredModel(options.name);
  // Never created twice on a lost answer: findOrCreate looks again first.
  const version =
    existing ??
    (await findOrCreate(find, () =>
      client.createModelVersion({
        name: options.name,
        source: t.source,
        runId: t.runId,
        modelId: t.modelId,
        tags: [{ key: RUN_ID_TAG, value: t.runExpId }],
      }),
    ));
  const created = !existing;
  for (const [k, v] of Object.entries(options.tags ?? {}))
    await client.setModelVersionTag(options.name, version.version, k, v);
  if (options.alias) await client.setAlias(options.name, options.alias, version.version);
  return {
    name: options.name,
    version: version.version,
    alias: options.alias,
    source: t.source,
    created,
    uri: client.uri,
  };
}

function checkOptions(options: { name: string; alias?: string }): void {
  checkName(options.name);
  if (options.alias !== undefined) checkAlias(options.alias);
}

/**
 * Registers the logged model of a finished run (its folder) as a version of
 * `name`. Everything that can be wrong with the input is checked before
 * anything is created in MLflow.
 */
export async function registerRun(
  dir: string,
  options: { name: string; alias?: string; tags?: Record<string, string> },
  env: NodeJS.ProcessEnv = process.env,
): Promise<Registered> {
  checkOptions(options);
  const statusFile = path.join(dir, 'status.json');
  if (!existsSync(statusFile)) throw new RegistryError(`${dir} is not a run folder (no status.json)`);
  const { status } = JSON.parse(readFileSync(statusFile, 'utf8')) as { status: string };
  if (status !== 'FINISHED') {
    throw new RegistryError(`${dir}: the run is ${status}; only a FINISHED run's model can be registered`);
  }
  if (!hasSpool(dir)) {
    throw new RegistryError(
      `${dir} was not tracked in MLflow: train with MLFLOW_TRACKING_URI (or tracking.mlflow_uri) set to register its model`,
    );
  }
  const spool = openSpool(dir, '');
  const client = mlflowClient(clientOptionsFromEnv(spool.state.uri, env));
  // What is still spooled (the model itself, perhaps) goes first.
  if (spool.pending().length) await drain(client, spool);
  const { run_id: runId, logged_model_id: modelId, artifact_uri: artifactUri } = spool.state;
  if (!runId || !artifactUri)
    throw new RegistryError(`${dir}: MLflow has no run for it yet; run \`run-exp sync ${dir}\``);
  if (!modelId && spool.state.logged_models !== 'unsupported') {
    throw new RegistryError(`${dir}: no model was logged to MLflow for this run`);
  }
  const source = modelId ? `models:/${modelId}` : `${artifactUri}/model`;
  return registerTarget(client, { runId, source, modelId, runExpId: path.basename(path.resolve(dir)) }, options);
}

/** Registers the logged model of a finished MLflow run (a sweep's best trial, wherever it ran). */
export async function registerMlflowRun(
  client: MlflowClient,
  runId: string,
  options: { name: string; alias?: string; tags?: Record<string, string> },
): Promise<Registered> {
  checkOptions(options);
  const run = await client.getRun(runId);
  if (run.info.status !== 'FINISHED') {
    throw new RegistryError(`MLflow run ${runId} is ${run.info.status}; only a FINISHED run's model can be registered`);
  }
  const runExpId = run.data.tags?.find((t) => t.key === RUN_ID_TAG)?.value ?? runId;
  let modelId: string | undefined;
  try {
    modelId = (await client.searchLoggedModels([run.info.experiment_id], `source_run_id = '${runId}'`)).find(
      (m) => m.info.status === 'LOGGED_MODEL_READY',
    )?.info.model_id;
    if (!modelId) throw new RegistryError(`MLflow run ${runId} has no logged model (READY)`);
  } catch (err) {
    // MLflow 2.x: no logged models; the model is among the run's artifacts.
    if (!(err instanceof MlflowError && err.status === 404)) throw err;
  }
  const source = modelId ? `models:/${modelId}` : `${run.info.artifact_uri}/model`;
  return registerTarget(client, { runId, source, modelId, runExpId }, options);
}

const MODEL_URI = /^models:\/([^/@]+)(?:@([\w-]+)|\/(\d+))$/;

async function resolveVersion(
  client: MlflowClient,
  name: string,
  alias?: string,
  number?: string,
): Promise<ModelVersion> {
  try {
    await client.getRegisteredModel(name);
  } catch (err) {
    if (err instanceof MlflowError && err.code === 'RESOURCE_DOES_NOT_EXIST') {
      throw new RegistryError(`MLflow at ${client.uri} has no registered model named '${name}'`);
    }
    throw err;
  }
  try {
    return alias ? await client.versionByAlias(name, alias) : await client.getModelVersion(name, number as string);
  } catch (err) {
    if (err instanceof MlflowError && (err.status === 400 || err.status === 404)) {
      const { aliases = [] } = await client.getRegisteredModel(name);
      throw new RegistryError(
        alias
          ? `registered model '${name}' has no alias '${alias}' (its aliases: ${aliases.map((a) => `${a.alias} -> v${a.version}`).join(', ') || 'none'})`
          : `registered model '${name}' has no version ${number}`,
      );
    }
    throw err;
  }
}

/**
 * Downloads `models:/<name>@<alias>` or `models:/<name>/<version>` from the
 * tracking server into the cache (once per server, name and version) and
 * returns the model folder.
 */
export async function downloadModel(
  modelUri: string,
  env: NodeJS.ProcessEnv = process.env,
  cacheDir: string = cacheRoot(),
): Promise<{ dir: string; name: string; version: string; downloaded: boolean }> {
  const m = MODEL_URI.exec(modelUri);
  if (!m) {
    throw new RegistryError(`--model ${modelUri}: expected models:/<name>@<alias> or models:/<name>/<version>`);
  }
  const [, name = '', alias, number] = m;
  const uri = env.MLFLOW_TRACKING_URI;
  if (!uri) throw new RegistryError(`--model ${modelUri}: set MLFLOW_TRACKING_URI to the MLflow server that holds it`);
  const client = mlflowClient(clientOptionsFromEnv(uri, env));
  const version = await resolveVersion(client, name, alias, number);
  const server = createHash('sha256').update(client.uri).digest('hex').slice(0, 12);
  const dir = path.join(cacheDir, 'models', server, encodeURIComponent(name), version.version);
  if (existsSync(path.join(dir, MLMODEL))) return { dir, name, version: version.version, downloaded: false };
  const artifactUri = await client.versionDownloadUri(name, version.version);
  const files = await client.listArtifacts(artifactUri);
  // Into a temporary folder, renamed when whole: a download cut short is never taken for the model.
  const partial = `${dir}.partial-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  for (const f of files) {
    const target = path.join(partial, ...f.path.split('/'));
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, await client.downloadArtifact(artifactUri, f.path));
  }
  if (!existsSync(path.join(partial, MLMODEL))) {
    rmSync(partial, { recursive: true, force: true });
    throw new RegistryError(`${modelUri} (version ${version.version}) holds no run-exp model (no ${MLMODEL} file)`);
  }
  mkdirSync(path.dirname(dir), { recursive: true });
  rmSync(dir, { recursive: true, force: true });
  renameSync(partial, dir);
  return { dir, name, version: version.version, downloaded: true };
}
