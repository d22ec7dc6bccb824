// The MLmodel file as it goes to MLflow: the run's own (model-folder.ts), plus
// what only the server knows: its run id and logged model id, and the MLflow
// version the record was made for, so MLflow's clients (get_model_info,
// Model.load) find them where they look.
import { readFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';

export interface MlflowIds {
  runId: string;
  modelId?: string;
  mlflowVersion: string | null;
}

/** The MLmodel at `file` with the server's ids added. */
export function mlmodelForMlflow(file: string, ids: MlflowIds): string {
  const doc = parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  return stringify({
    ...doc,
    run_id: ids.runId,
    ...(ids.modelId ? { model_id: ids.modelId } : {}),
    ...(ids.mlflowVersion ? { mlflow_version: ids.mlflowVersion } : {}),
  });
}
