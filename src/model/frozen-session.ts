// The frozen part of a model as one TensorFlow session: its layers in
// inference mode, its weights as constants (which Grappler may fold), a batch
// per C API call, instead of one TF.js kernel dispatch per layer op.
import type { LayersModel } from '@tensorflow/tfjs-node';
import { DT, type Output } from '../platform/tf-graph.ts';
import { inferenceGraph } from './inference-graph.ts';

/** Runs `n` inputs (float32, back to back) through the model; its outputs, back to back. */
export type FrozenRun = (x: Float32Array, n: number) => Promise<Float32Array>;

/**
 * `model` as a session on `threads` intra-op threads, computing in `compute`, or null (and why)
 * where graph mode or a layer's graph form is missing.
 */
export function frozenSession(
  model: LayersModel,
  threads: number,
  compute: 'float32' | 'bfloat16' = 'float32',
): { run: FrozenRun | null; why: string } {
  const { graph, why } = inferenceGraph(
    model,
    threads,
    (g, w) => ({ read: g.constant(w.read().dataSync() as Float32Array, w.shape as number[]) }),
    compute,
  );
  if (!graph) return { run: null, why };
  const { g, x, inputShape, outputs } = graph;
  return {
    run: async (data, n) => {
      const [out] = await g.runAsync(
        [[x, { dtype: DT.float32, shape: [n, ...inputShape], data }]],
        [outputs[0] as Output],
      );
      return out?.data as Float32Array;
    },
    why: '',
  };
}
