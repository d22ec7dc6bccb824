// Which engine trains an experiment: graph (the default) when graph mode is
// available and the experiment has a graph form; eager otherwise, with why.
// And in which precision: bf16 when asked for, on the graph engine, on a CPU
// whose bfloat16 units beat float32; float32 otherwise, with why.
import type { LayersModel, Optimizer } from '@tensorflow/tfjs-node';
import type { InputSource } from '../data/batches.ts';
import type { OutputTargets } from '../data/targets.ts';
import type { HeadOnlyStage } from '../model/features.ts';
import { type Bf16Support, bf16Support } from '../platform/cpu-features.ts';
import type { Tf } from '../platform/tensorflow.ts';
import { graphMode } from '../platform/tf-graph.ts';
import type { Experiment } from '../spec/experiment.ts';
import { eagerEngine } from './eager.ts';
import type { Engine } from './engine.ts';
import { graphEngine } from './graph/graph-engine.ts';
import { GraphTrainer, graphUnsupported } from './graph/graph-trainer.ts';
import { stagedEngine } from './staged.ts';
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
  /** Several outputs: the training split's targets. */
  targets?: OutputTargets[];
  /** A backbone that unfreezes later: its frozen epochs' model and rows. */
  headOnly?: HeadOnlyStage;
}

/** Why an experiment trains eagerly, or null when the graph engine can train it. */
export function eagerBecause(exp: Experiment, model: LayersModel): string | null {
  if (exp.training.engine === 'eager') return 'training.engine: eager';
  const mode = graphMode();
  if (!mode.available) return `graph mode unavailable: ${mode.why}`;
  const unsupported = graphUnsupported(exp, model);
  return unsupported ? `no graph form for ${unsupported}` : null;
}

export type Precision = Experiment['training']['precision'];

/**
 * The precision a run trains in, and why it is not the one the experiment asks
 * for (null: as asked). bf16 on a CPU whose bfloat16 units do not beat float32
 * (none, emulated; or Intel's AVX512_BF16 without AMX) would only be slower:
 * float32 then, unless RUN_EXP_BF16=force (for accuracy studies and tests on
 * such hosts).
 */
export function trainingPrecision(
  exp: Experiment,
  eagerReason: string | null,
  support: Bf16Support = bf16Support(),
  env: NodeJS.ProcessEnv = process.env,
): { precision: Precision; why: string | null } {
  if (exp.training.precision === 'float32') return { precision: 'float32', why: null };
  if (eagerReason)
    return {
      precision: 'float32',
      why: `bf16 trains on the graph engine only, and this run trains eagerly (${eagerReason})`,
    };
  if (support.slower && env.RUN_EXP_BF16 !== 'force')
    return {
      precision: 'float32',
      why: `this CPU (${support.cpu}) ${support.slower}, so bf16 would train slower than float32 (RUN_EXP_BF16=force trains in bf16 anyway)`,
    };
  return { precision: 'bf16', why: null };
}

/** The engine for `model` fed from `source`, with its weights (and the optimizer's state) in it. */
async function engineFor(
  p: EngineParts,
  model: LayersModel,
  source: InputSource,
  reason: string | null,
  precision: Precision,
) {
  const variables = learningOrder(p.exp, model);
  if (reason) return eagerEngine({ ...p, model, source, variables });
  // With training.ema, the graph keeps the average in the weight average's own order.
  const trainer = new GraphTrainer(p.tf, p.exp, model, p.threads, precision, p.targets, p.average?.variables);
  return graphEngine({ ...p, source, trainer, variables, seed: p.exp.seed });
}

/** The engine, with the model's weights (and a resumed optimizer's state) in it, and the precision it trains in. */
export async function makeEngine(
  p: EngineParts,
): Promise<{ engine: Engine; reason: string | null; precision: Precision; precisionWhy: string | null }> {
  // Decided on the model as built: a backbone frozen at the start counts, whatever unfreezes later.
  const reason = eagerBecause(p.exp, p.model);
  const { precision, why } = trainingPrecision(p.exp, reason);
  const main = () => engineFor(p, p.model, p.source, reason, precision);
  const early = p.headOnly;
  const engine = early
    ? stagedEngine(
        reason ? 'eager' : 'graph',
        early.until,
        () => engineFor(p, early.model, early.source, reason, precision),
        main,
      )
    : await main();
  return { engine, reason, precision, precisionWhy: why };
}
