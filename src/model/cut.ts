// Where a model splits into a part whose output is fixed per image (the frozen
// layers of its backbone) and the part that training changes: the fixed part's
// output can then be computed once and the rest trained on it.
import type { LayersModel, SymbolicTensor } from '@tensorflow/tfjs-node';
import type { Tf } from '../platform/tensorflow.ts';

type Layer = LayersModel['layers'][number];

/** A layer's inputs and output as first built (applying it again adds nodes). */
function firstNode(layer: Layer): { inputs: SymbolicTensor[]; output: SymbolicTensor } {
  const node = layer.inboundNodes[0] as (typeof layer.inboundNodes)[number];
  return { inputs: node.inputTensors, output: node.outputTensors[0] as SymbolicTensor };
}

/**
 * The single tensor that separates the fixed layers under `scope` (no trainable
 * weights, fed only by the image or other fixed layers) from the rest, or null
 * when nothing before the first trained layer is fixed. When the fixed part hands
 * on several tensors (a residual block's two paths), its last layers are given
 * back to the trained part until one tensor is left.
 */
export function fixedCut(model: LayersModel, scope: string): SymbolicTensor | null {
  const order = model.layers;
  const fixed = new Set<Layer>();
  for (const layer of order) {
    const { inputs } = firstNode(layer);
    const isInput = inputs.length === 1 && inputs[0]?.sourceLayer === layer;
    const frozen = layer.name.startsWith(`${scope}/`) && layer.trainableWeights.length === 0;
    if (isInput || (frozen && inputs.every((t) => fixed.has(t.sourceLayer as Layer)))) fixed.add(layer);
  }
  for (;;) {
    const handed = new Set<Layer>();
    for (const layer of order) {
      if (fixed.has(layer)) continue;
      for (const t of firstNode(layer).inputs)
        if (fixed.has(t.sourceLayer as Layer)) handed.add(t.sourceLayer as Layer);
    }
    const last = order.filter((l) => handed.has(l)).at(-1);
    if (!last) return null;
    if (handed.size === 1) return firstNode(last).inputs[0]?.sourceLayer === last ? null : firstNode(last).output;
    fixed.delete(last);
  }
}

/**
 * The part of `model` from `cut` to `to` (by default the model's outputs), as a model
 * on a new input of the cut's shape; its layers are `model`'s own.
 */
export function modelAfter(
  tf: Tf,
  model: LayersModel,
  cut: SymbolicTensor,
  to: SymbolicTensor[] = model.outputs,
): LayersModel {
  const input = tf.input({ shape: cut.shape.slice(1) as number[], name: 'features' });
  const outputs = new Map<number, SymbolicTensor>([[cut.id, input]]);
  for (const layer of model.layers) {
    const { inputs, output } = firstNode(layer);
    const mapped = inputs.map((t) => outputs.get(t.id));
    if (mapped.some((t) => !t)) continue;
    const args = mapped as SymbolicTensor[];
    outputs.set(output.id, layer.apply(args.length > 1 ? args : (args[0] as SymbolicTensor)) as SymbolicTensor);
  }
  // Every output asked for (the model's: each head's, in order).
  const outs = to.map((o) => outputs.get(o.id));
  if (outs.some((o) => !o)) throw new Error(`the model's output does not follow from ${cut.sourceLayer.name}`);
  const all = outs as SymbolicTensor[];
  return tf.model({ inputs: input, outputs: all.length === 1 ? (all[0] as SymbolicTensor) : all, name: 'after_cut' });
}
