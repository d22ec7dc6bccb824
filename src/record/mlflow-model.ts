// The run's model as an MLflow 3 logged model: created once (found by its
// run-exp tag before one is made, so a replay makes no second model), its
// files uploaded, params logged, the final metrics linked to it, finalized
// READY and named as the run's output. A server without logged models
// (MLflow 2.x) answers 404: the files are among the run's artifacts under
// model/ already, so that is said once, the MLmodel there gets the run's id,
// and no logged model is tried again.
import * as path from 'node:path';
import { MLMODEL } from '../model/model-folder.ts';
import { findOrCreate, type Metric, type MlflowClient, MlflowError, type Param } from './mlflow-client.ts';
import { mlmodelForMlflow } from './mlflow-mlmodel.ts';
import { RUN_ID_TAG, type Spool, type SpooledEvent, saveState, uploadEach } from './mlflow-spool.ts';

export interface ModelEvent {
  type: 'model';
  /** Files of the model folder, relative to the run folder (model/model.json, ...). */
  files: string[];
  folder: string;
  params: Param[];
  /** The final metrics, linked to the model. */
  metrics: Metric[];
  step: number;
}

/** The logged model's name in MLflow: the run's model folder is its only model. */
export const LOGGED_MODEL_NAME = 'model';

const unsupported = (err: unknown) =>
  err instanceof MlflowError && err.status === 404 && err.code !== 'RESOURCE_DOES_NOT_EXIST';

async function loggedModelId(client: MlflowClient, spool: Spool, runExpId: string): Promise<string | null> {
  const { state } = spool;
  if (state.logged_model_id) return state.logged_model_id;
  const experimentId = state.experiment_id as string;
  let id: string;
  try {
    id = await findOrCreate(
      async () =>
        (await client.searchLoggedModels([experimentId], `tags.\`${RUN_ID_TAG}\` = '${runExpId}'`)).at(0)?.info
          .model_id,
      async () =>
        (
          await client.createLoggedModel({
            experimentId,
            name: LOGGED_MODEL_NAME,
            modelType: 'tfjs',
            sourceRunId: state.run_id as string,
            tags: [{ key: RUN_ID_TAG, value: runExpId }],
          })
        ).info.model_id,
    );
  } catch (err) {
    if (unsupported(err)) return null;
    throw err;
  }
  state.logged_model_id = id;
  saveState(spool);
  return id;
}

/** Sends a model event; `notice` hears of a server that has no logged models. */
export async function sendModel(
  client: MlflowClient,
  spool: Spool,
  event: ModelEvent & Pick<SpooledEvent, 'seq'>,
  notice: (message: string) => void,
): Promise<void> {
  const { state } = spool;
  const start = spool.events.find((e) => e.type === 'start');
  const runExpId = start?.type === 'start' ? (start.tags.find((t) => t.key === RUN_ID_TAG)?.value ?? '') : '';
  const id = state.logged_models === 'unsupported' ? null : await loggedModelId(client, spool, runExpId);
  if (!id) {
    if (state.logged_models !== 'unsupported') {
      state.logged_models = 'unsupported';
      saveState(spool);
      notice(
        `MLflow at ${state.uri} has no logged models (MLflow 2.x): the model is among the run's artifacts under ${event.folder}/ instead`,
      );
    }
    // There its MLmodel names the run and the server's version, as MLflow's get_model_info reads them.
    if (state.mlflow_version === undefined) state.mlflow_version = await client.serverVersion();
    saveState(spool);
    const ids = { runId: state.run_id as string, mlflowVersion: state.mlflow_version };
    await client.uploadArtifactText(
      state.artifact_uri as string,
      `${event.folder}/${MLMODEL}`,
      mlmodelForMlflow(path.join(spool.dir, event.folder, MLMODEL), ids),
    );
    return;
  }
  state.logged_model_uri ??= (await client.getLoggedModel(id)).info.artifact_uri;
  if (state.mlflow_version === undefined) state.mlflow_version = await client.serverVersion();
  saveState(spool);
  const { logged_model_uri: uri } = state;
  const mlflowVersion = state.mlflow_version;
  await uploadEach(spool, event, async (f) => {
    const rel = path.relative(event.folder, f).split(path.sep).join('/');
    const file = path.join(spool.dir, f);
    if (rel === MLMODEL) {
      const ids = { runId: state.run_id as string, modelId: id, mlflowVersion };
      await client.uploadArtifactText(uri, rel, mlmodelForMlflow(file, ids));
    } else await client.uploadArtifact(uri, rel, file);
  });
  await client.logLoggedModelParams(id, event.params);
  await client.logBatch(state.run_id as string, { metrics: event.metrics.map((m) => ({ ...m, model_id: id })) });
  await client.finalizeLoggedModel(id, 'LOGGED_MODEL_READY');
  await client.logOutputs(state.run_id as string, [{ model_id: id, step: event.step }]);
}
