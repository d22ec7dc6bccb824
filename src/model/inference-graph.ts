// A model's layers as one TensorFlow graph in inference mode
// (layers/emit-layers.ts), started as a session: what the frozen feature pass
// and the scoring session share. How the graph reads each weight (a constant,
// a variable) is theirs to say.
import type { LayersModel, LayerVariable } from '@tensorflow/tfjs-node';
import { EMITTERS, emitOutputs, UnsupportedInGraph } from '../layers/emit-layers.ts';
import { DT, graphMode, type Output, TfGraph } from '../platform/tf-graph.ts';

export interface InferenceGraph {
  g: TfGraph;
  /** The input placeholder: float32, [n, ...inputShape]. */
  x: Output;
  inputShape: number[];
  /** Every output of the model, float32. */
  outputs: Output[];
}

/** Why `model` cannot run as a session (no graph mode, a layer class without graph ops), or null. Cheap: builds nothing. */
export function noModelSession(model: LayersModel): string | null {
  const mode = graphMode();
  if (!mode.available) return mode.why;
  const layer = model.layers.find((l) => !EMITTERS[l.getClassName()]);
  return layer ? `no graph form for layer ${layer.name} (${layer.getClassName()})` : null;
}

/**
 * `model` as a session on `threads` intra-op threads, each weight read as `weight(g, w)` gives it,
 * its layers computing in `compute` (bfloat16: mixed precision, float32 in and out);
 * or null (and why) where graph mode or a layer's graph form is missing.
 */
export function inferenceGraph(
  model: LayersModel,
  threads: number,
  weight: (g: TfGraph, w: LayerVariable) => { read: Output; handle?: Output },
  compute: 'float32' | 'bfloat16' = 'float32',
): { graph: InferenceGraph | null; why: string } {
  const why = noModelSession(model);
  if (why) return { graph: null, why };
  const g = new TfGraph();
  const inputShape = (model.inputs[0]?.shape ?? []).slice(1) as number[];
  const x = g.op('Placeholder', [], {
    dtype: { kind: 'type', value: DT.float32 },
    shape: { kind: 'shape', value: [-1, ...inputShape] },
  });
  let outputs: Output[];
  try {
    outputs = emitOutputs(model, {
      g,
      x,
      inputShape,
      training: false,
      weight: (w) => weight(g, w),
      updates: [],
      seed: () => g.constant([0, 0], [2], DT.int32),
      constant: (data, shape, dtype) => g.constant(data, shape, dtype),
      compute,
    });
  } catch (err) {
    if (err instanceof UnsupportedInGraph) return { graph: null, why: `no graph form for ${err.message}` };
    throw err;
  }
  g.startSession(threads, 1);
  return { graph: { g, x, inputShape, outputs }, why: '' };
}
