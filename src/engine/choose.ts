// Which engine trains an experiment: graph (the default) when graph mode is
// available and the experiment has a graph form; eager otherwise, with why.
import type { LayersModel, Optimizer } from '@tensorflow/tfjs-node';
import type { InputSource } from '../data/batches.ts';
import type { Tf } from '../platform/tensorflow.ts';
import { graphMode } from '../platform/tf-graph.ts';
import type { Experiment } from '../spec/experiment.ts';
import { eagerEngine } from './eager.ts';
import type { Engine } from './engine.ts';
import { graphEngine } from './graph/graph-engine.ts';
import { GraphTrainer, graphUnsupported } from './graph/graph-trainer.ts';
import { learningOrder } from './variables.ts';
import type { WeightAverage } from './weight-average.ts';

export interface EngineParts {
  tf: Tf;
  exp: Experiment;
  /** The model training changes (with cached backbone features: the part after them). */
  model: LayersModel;
  optimizer: Optimizer;
  source: InputSource;
  classes: number;
  classWeights: Float32Array | null;
  average?: WeightAverage;
  /** The threads TensorFlow was loaded with: the graph's session uses as many. */
  threads: number;
}

/** Why an experiment trains eagerly, or null when the graph engine can train it. */
function eagerBecause(exp: Experiment, model: LayersModel): string | null {
  if (exp.training.engine === 'eager') return 'training.engine: eager';
  const mode = graphMode();
  if (!mode.available) return `graph mode unavailable: ${mode.why}`;
  const unsupported = graphUnsupported(exp, model);
  return unsupported ? `no graph form for ${unsupported}` : null;
}

/** The engine, with the model's weights (and a resumed optimizer's state) in it. */
export async function makeEngine(p: EngineParts): Promise<{ engine: Engine; reason: string | null }> {
  // Decided on the model as built: a backbone frozen at the start counts, whatever unfreezes later.
  const reason = eagerBecause(p.exp, p.model);
  const trainer = reason ? null : new GraphTrainer(p.tf, p.exp, p.model, p.threads);
  const variables = learningOrder(p.exp, p.model);
  const engine = trainer
    ? await graphEngine({ ...p, trainer, variables, seed: p.exp.seed })
    : eagerEngine({ ...p, variables });
  return { engine, reason };
}
