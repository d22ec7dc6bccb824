// The frozen part of a model as one TensorFlow session: its layers emitted in
// inference mode (layers/emit-layers.ts), its weights as constants, a batch per
// C API call, instead of one TF.js kernel dispatch per layer op.
import type { LayersModel } from '@tensorflow/tfjs-node';
import { EMITTERS, emitForward, UnsupportedInGraph } from '../layers/emit-layers.ts';
import { DT, graphMode, type Output, TfGraph } from '../platform/tf-graph.ts';

/** Runs `n` inputs (float32, back to back) through the model; its outputs, back to back. */
export type FrozenRun = (x: Float32Array, n: number) => Promise<Float32Array>;

/** `model` as a session on `threads` intra-op threads, or null (and why) where graph mode or a layer's graph form is missing. */
/** Why `model` cannot run as a session (no graph mode, a layer class without graph ops), or null. Cheap: builds nothing. */
export function noFrozenSession(model: LayersModel): string | null {
  const mode = graphMode();
  if (!mode.available) return mode.why;
  const layer = model.layers.find((l) => !EMITTERS[l.getClassName()]);
  return layer ? `no graph form for layer ${layer.name} (${layer.getClassName()})` : null;
}

export function frozenSession(model: LayersModel, threads: number): { run: FrozenRun | null; why: string } {
  const why = noFrozenSession(model);
  if (why) return { run: null, why };
  const g = new TfGraph();
  const inputShape = (model.inputs[0]?.shape ?? []).slice(1) as number[];
  const x = g.op('Placeholder', [], {
    dtype: { kind: 'type', value: DT.float32 },
    shape: { kind: 'shape', value: [-1, ...inputShape] },
  });
  const constant = (data: ArrayLike<number>, shape: number[], dtype?: number): Output => g.constant(data, shape, dtype);
  let y: Output;
  try {
    y = emitForward(model, {
      g,
      x,
      inputShape,
      training: false,
      weight: (w) => ({ read: constant(w.read().dataSync() as Float32Array, w.shape as number[]) }),
      updates: [],
      seed: () => constant([0, 0], [2], DT.int32),
      constant,
    });
  } catch (err) {
    if (err instanceof UnsupportedInGraph) return { run: null, why: `no graph form for ${err.message}` };
    throw err;
  }
  g.startSession(threads, 1);
  return {
    run: async (data, n) => {
      const [out] = await g.runAsync([[x, { dtype: DT.float32, shape: [n, ...inputShape], data }]], [y]);
      return out?.data as Float32Array;
    },
    why: '',
  };
}
