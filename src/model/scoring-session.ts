// The model as a TensorFlow session for scoring it while it trains: validation
// and evaluation sets go through one C API call per batch instead of a TF.js
// kernel dispatch per layer op. Its weights are variables that load() fills
// from the tfjs model, which stays the source of truth: a score is the
// model's as it was at load().
import type { LayersModel, LayerVariable, Tensor } from '@tensorflow/tfjs-node';
import type { Tf } from '../platform/tensorflow.ts';
import { DT, type GraphVar } from '../platform/tf-graph.ts';
import { inferenceGraph } from './inference-graph.ts';
import type { Predicts } from './predict-probs.ts';

export interface ScoringSession {
  /** The model's weights as they are now into the session; it then predicts as the model would, in float32. */
  load(): Predicts;
}

/** `model` as a scoring session on `threads` intra-op threads, or null (and why) where it cannot be one. */
export function scoringSession(
  tf: Tf,
  model: LayersModel,
  threads: number,
): { session: ScoringSession | null; why: string } {
  const vars: GraphVar[] = [];
  const weights: LayerVariable[] = [];
  const { graph, why } = inferenceGraph(model, threads, (g, w) => {
    const v = g.variable(`w${vars.length}`, w.shape as number[]);
    vars.push(v);
    weights.push(w);
    return { read: v.read, handle: v.handle };
  });
  if (!graph) return { session: null, why };
  const { g, x, inputShape, outputs } = graph;
  const predicts: Predicts = {
    predict: (input: Tensor) => {
      const n = input.shape[0] as number;
      const data = input.dataSync() as Float32Array;
      const results = g.run([[x, { dtype: DT.float32, shape: [n, ...inputShape], data }]], outputs);
      return results.map((r) => tf.tensor(r.data as Float32Array, r.shape, 'float32'));
    },
  };
  return {
    session: {
      load: () => {
        g.assign(
          vars,
          weights.map((w) => w.read().dataSync() as Float32Array),
        );
        return predicts;
      },
    },
    why: '',
  };
}
