// Per-group learning rates (`training.optimizer.lr_multipliers`): one optimizer
// of the experiment's type per group of layers, each at the base rate times its
// multiplier, behind the single optimizer interface the training loop uses.
// Also the optimizer state a checkpoint keeps, for plain and grouped alike.
import type { NamedTensorMap, Optimizer, Tensor } from '@tensorflow/tfjs-node';
import type { Tf } from '../platform/tensorflow.ts';
import type { RegistryChoice } from '../spec/experiment.ts';
import { makeOptimizer } from './optimizers.ts';

interface Group {
  /** A layer name or scope (`backbone` covers `backbone/...`); null for every other weight. */
  scope: string | null;
  multiplier: number;
  optimizer: Optimizer;
}

/** Whether a variable (named `<layer>/<weight>`, maybe with a `_<n>` suffix) belongs to `scope`. */
const inScope = (variable: string, scope: string) => variable.startsWith(`${scope}/`);

/** Sets an optimizer's rate: tfjs keeps it in a field, and SGD also caches it. */
export function setLearningRate(optimizer: Optimizer, lr: number): void {
  // biome-ignore lint/suspicious/noExplicitAny: tfjs optimizers keep the rate in a field
  const o = optimizer as any;
  if (typeof o.setLearningRate === 'function') o.setLearningRate(lr);
  else o.learningRate = lr;
}

/** The most specific of `scopes` that holds `variable`, or null (the group of every other weight). */
export function ownerScope(variable: string, scopes: string[]): string | null {
  return scopes.filter((s) => inScope(variable, s)).sort((a, b) => b.length - a.length)[0] ?? null;
}

class GroupedOptimizer {
  constructor(readonly groups: Group[]) {}

  /** Each gradient goes to the optimizer of the most specific group that holds its variable. */
  applyGradients(grads: NamedTensorMap | { name: string; tensor: Tensor }[]): void {
    const list = Array.isArray(grads) ? grads : Object.entries(grads).map(([name, tensor]) => ({ name, tensor }));
    const byGroup = new Map<Group, NamedTensorMap>();
    const scopes = this.groups.flatMap((grp) => (grp.scope === null ? [] : [grp.scope]));
    for (const g of list) {
      const scope = ownerScope(g.name, scopes);
      const owner = this.groups.find((grp) => grp.scope === scope) as Group;
      const map = byGroup.get(owner) ?? {};
      map[g.name] = g.tensor;
      byGroup.set(owner, map);
    }
    for (const [group, map] of byGroup) if (group.multiplier > 0) group.optimizer.applyGradients(map);
  }

  setLearningRate(lr: number): void {
    for (const g of this.groups) setLearningRate(g.optimizer, lr * g.multiplier);
  }

  dispose(): void {
    for (const g of this.groups) g.optimizer.dispose();
  }
}

/** The experiment's optimizer: one, or one per `lr_multipliers` group plus one for the rest. */
export function makeTrainingOptimizer(tf: Tf, choice: RegistryChoice): Optimizer {
  const multipliers = (choice.lr_multipliers ?? {}) as Record<string, number>;
  const lr = choice.lr as number;
  if (Object.keys(multipliers).length === 0) return makeOptimizer(tf, choice, lr);
  const groups: Group[] = [
    ...Object.entries(multipliers).map(([scope, m]) => ({
      scope,
      multiplier: m,
      optimizer: makeOptimizer(tf, choice, lr * m),
    })),
    { scope: null, multiplier: 1, optimizer: makeOptimizer(tf, choice, lr) },
  ];
  return new GroupedOptimizer(groups) as unknown as Optimizer;
}

/** The optimizers behind `optimizer`, each with its group's scope (null: every other weight) and multiplier. */
export function optimizerParts(
  optimizer: Optimizer,
): { scope: string | null; multiplier: number; optimizer: Optimizer }[] {
  return optimizer instanceof GroupedOptimizer ? optimizer.groups : [{ scope: null, multiplier: 1, optimizer }];
}

const partsOf = (optimizer: Optimizer): Optimizer[] => optimizerParts(optimizer).map((p) => p.optimizer);

export interface SavedTensor {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  data: string;
}

/** A tensor as JSON: its bytes in base64. */
export const savedTensor = (name: string, tensor: Tensor): SavedTensor => ({
  name,
  shape: tensor.shape,
  dtype: tensor.dtype as 'float32' | 'int32',
  data: Buffer.from((tensor.dataSync() as Float32Array | Int32Array).buffer).toString('base64'),
});

/** The tensor savedTensor wrote. */
export function tensorFromSaved(tf: Tf, w: SavedTensor): Tensor {
  // Copied out of Buffer's shared pool so that the typed array is aligned.
  const bytes = new Uint8Array(Buffer.from(w.data, 'base64')).buffer;
  return tf.tensor(w.dtype === 'int32' ? new Int32Array(bytes) : new Float32Array(bytes), w.shape, w.dtype);
}

/** Everything an optimizer keeps between steps, per part, as JSON. */
export async function optimizerState(
  tf: Tf,
  optimizer: Optimizer,
): Promise<{ weights: SavedTensor[]; extras: Record<string, number> }[]> {
  const out = [];
  for (const part of partsOf(optimizer)) {
    const named = await part.getWeights();
    const weights = named.map((w) => savedTensor(w.name, w.tensor));
    // getWeights() makes the step count a new tensor each time (the rest are the optimizer's own variables).
    tf.dispose(named.filter((w) => w.name === 'iter').map((w) => w.tensor));
    // Scalars some optimizers keep outside getWeights() (Adam's running beta powers):
    // saved as they are, since recomputing them from the step count differs in the last bits.
    const extras = Object.fromEntries(
      Object.entries(part)
        .filter(([, v]) => v instanceof tf.Variable && v.size === 1)
        .map(([k, v]) => [k, (v as Tensor).dataSync()[0] as number]),
    );
    out.push({ weights, extras });
  }
  return out;
}

/** Puts back what optimizerState saved (a single part's state, as older checkpoints hold, is accepted). */
export async function restoreOptimizerState(
  tf: Tf,
  optimizer: Optimizer,
  saved: Awaited<ReturnType<typeof optimizerState>> | Awaited<ReturnType<typeof optimizerState>>[number],
): Promise<void> {
  const states = Array.isArray(saved) ? saved : [saved];
  for (const [i, part] of partsOf(optimizer).entries()) {
    const state = states[i];
    if (!state) continue;
    await part.setWeights(state.weights.map((w) => ({ name: w.name, tensor: tensorFromSaved(tf, w) })));
    for (const [k, v] of Object.entries(state.extras)) {
      const variable = (
        part as unknown as Record<string, { assign(t: Tensor): void; dtype: 'float32' | 'int32' } | undefined>
      )[k];
      variable?.assign(tf.scalar(v, variable.dtype));
    }
  }
}
