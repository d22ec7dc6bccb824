// The model as a TensorFlow session for scoring it while it trains: validation
// and evaluation sets go through one C API call per batch instead of a TF.js
// kernel dispatch per layer op (face_resnet's frozen stages: 4x faster as a
// session). Its weights are variables that load() fills from the tfjs model,
// which stays the source of truth: a score is the model's as it was at load().
import type { LayersModel, LayerVariable, Tensor } from '@tensorflow/tfjs-node';
import { emitOutputs, UnsupportedInGraph } from '../layers/emit-layers.ts';
import type { Tf } from '../platform/tensorflow.ts';
import { DT, type GraphVar, type Output, TfGraph } from '../platform/tf-graph.ts';
import { noFrozenSession } from './frozen-session.ts';
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
  const why = noFrozenSession(model);
  if (why) return { session: null, why };
  const g = new TfGraph();
  const inputShape = (model.inputs[0]?.shape ?? []).slice(1) as number[];
  const x = g.op('Placeholder', [], {
    dtype: { kind: 'type', value: DT.float32 },
    shape: { kind: 'shape', value: [-1, ...inputShape] },
  });
  const vars: GraphVar[] = [];
  const weights: LayerVariable[] = [];
  let outs: Output[];
  try {
    outs = emitOutputs(model, {
      g,
      x,
      inputShape,
      training: false,
      weight: (w) => {
        const v = g.variable(`w${vars.length}`, w.shape as number[]);
        vars.push(v);
        weights.push(w);
        return { read: v.read, handle: v.handle };
      },
      updates: [],
      seed: () => g.constant([0, 0], [2], DT.int32),
      constant: (data, shape, dtype) => g.constant(data, shape, dtype),
    });
  } catch (err) {
    if (err instanceof UnsupportedInGraph) return { session: null, why: `no graph form for ${err.message}` };
    throw err;
  }
  g.startSession(threads, 1);
  const predicts: Predicts = {
    predict: (input: Tensor) => {
      const n = input.shape[0] as number;
      const results = g.run(
        [[x, { dtype: DT.float32, shape: [n, ...inputShape], data: input.dataSync() as Float32Array }]],
        outs,
      );
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
