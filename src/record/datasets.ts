// What a run trained and was evaluated on, as MLflow dataset inputs
// (`runs/log-inputs`): the MLflow UI shows them in the runs table's Dataset
// column and on the run page, so runs can be compared by their data.
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

/** One MLflow DatasetInput: the dataset and the context tag. */
export interface DatasetInput {
  dataset: {
    name: string;
    digest: string;
    source_type: string;
    source: string;
    schema: string;
    profile: string;
  };
  tags: { key: string; value: string }[];
}

/** MLflow keeps at most 36 characters of digest: the start of run-exp's sha256 is unique enough. */
export const DIGEST_LENGTH = 32;

export const CONTEXT_TAG = 'mlflow.data.context';

/** The facts of the run's data that its inputs are made of (data.json holds the same). */
export interface DataFacts {
  /** The data folder or manifest. */
  path: string;
  classes: string[];
  hash: string;
  counts: Record<'train' | 'validation' | 'test', number[]>;
  evaluationSets: Record<string, { path: string; hash: string; labels: ArrayLike<number> }>;
}

/** Images with their class label: MLflow's column schema, with the class names beside it. */
function schema(classes: string[]): string {
  return JSON.stringify({
    mlflow_colspec: [
      { type: 'binary', name: 'image', required: true },
      { type: 'string', name: 'label', required: true },
    ],
    classes,
  });
}

function input(
  name: string,
  where: string,
  hash: string,
  classes: string[],
  profile: object,
  context: string,
): DatasetInput {
  return {
    dataset: {
      name,
      digest: hash.slice(0, DIGEST_LENGTH),
      source_type: 'local',
      source: JSON.stringify({ uri: pathToFileURL(where).href }),
      schema: schema(classes),
      profile: JSON.stringify(profile),
    },
    tags: [{ key: CONTEXT_TAG, value: context }],
  };
}

const perClass = (classes: string[], counts: number[]) =>
  Object.fromEntries(classes.map((c, i) => [c, counts[i] ?? 0]));

/**
 * The training data (context `training`; its profile counts images per split
 * and class) and each evaluation set (context `evaluation`, under its name).
 */
export function datasetInputs(data: DataFacts): DatasetInput[] {
  const { classes, counts } = data;
  const total = (['train', 'validation', 'test'] as const).reduce(
    (n, s) => n + counts[s].reduce((a, b) => a + b, 0),
    0,
  );
  const training = input(
    path.basename(data.path),
    data.path,
    data.hash,
    classes,
    {
      num_rows: total,
      train: perClass(classes, counts.train),
      validation: perClass(classes, counts.validation),
      test: perClass(classes, counts.test),
    },
    'training',
  );
  const sets = Object.entries(data.evaluationSets).map(([name, set]) => {
    const n = classes.map((_, c) => Array.prototype.filter.call(set.labels, (l: number) => l === c).length);
    return input(
      name,
      set.path,
      set.hash,
      classes,
      { num_rows: set.labels.length, ...perClass(classes, n) },
      'evaluation',
    );
  });
  return [training, ...sets];
}
