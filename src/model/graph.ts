// The layer graph of model.layers: each layer reads the layer listed before it
// unless it names its `inputs`. Planning checks the graph as a whole (names,
// references, arity, cycles, unused outputs) before any layer is built, so
// every problem is reported at the layer and key that cause it.

import { didYouMean } from '../spec/errors.ts';
import type { RegistryChoice } from '../spec/experiment.ts';
import { LAYERS, type LayerTypeName, layerName, MODEL_INPUT } from '../spec/layers.ts';
import { LayerError } from './layer-error.ts';

/** One layer placed in the graph. */
export interface GraphNode {
  /** Position in model.layers. */
  index: number;
  name: string;
  spec: RegistryChoice;
  /** Positions of the layers it reads; -1 is the model's input. */
  inputs: number[];
}

const MERGES = Object.entries(LAYERS)
  .filter(([, l]) => 'merge' in l)
  .map(([t]) => t);

/** `layer 3 add 'sum'`: how errors name a layer. */
export function describeLayer(spec: RegistryChoice, index: number): string {
  return `layer ${index + 1} ${spec.type}${typeof spec.name === 'string' ? ` '${spec.name}'` : ''}`;
}

function resolveNames(layers: RegistryChoice[]): Map<string, number> {
  const names = new Map<string, number>();
  layers.forEach((spec, index) => {
    const name = layerName(spec, index);
    const at = describeLayer(spec, index);
    if (name === MODEL_INPUT)
      throw new LayerError(index, `${at}: '${MODEL_INPUT}' names the model's input; choose another name`, 'name');
    const taken = names.get(name);
    if (taken !== undefined)
      throw new LayerError(
        index,
        `${at}: the name '${name}' is already taken by ${describeLayer(layers[taken] as RegistryChoice, taken)}; names must be unique`,
        'name',
      );
    names.set(name, index);
  });
  return names;
}

function resolveInputs(layers: RegistryChoice[], names: Map<string, number>): GraphNode[] {
  return layers.map((spec, index) => {
    const at = describeLayer(spec, index);
    const given = spec.inputs as string[] | undefined;
    const wanted = given ?? [index === 0 ? MODEL_INPUT : layerName(layers[index - 1] as RegistryChoice, index - 1)];
    const inputs = wanted.map((name, k) => {
      if (name === MODEL_INPUT) return -1;
      const found = names.get(name);
      if (found !== undefined) return found;
      const hint = didYouMean(name, [MODEL_INPUT, ...names.keys()]);
      throw new LayerError(
        index,
        `${at}: no layer is named '${name}'${hint ? `; did you mean '${hint}'?` : `; names: ${[MODEL_INPUT, ...names.keys()].join(', ')}`}`,
        `inputs[${k}]`,
      );
    });
    const merges = 'merge' in LAYERS[spec.type as LayerTypeName];
    if (merges && inputs.length < 2)
      throw new LayerError(
        index,
        `${at}: merges two or more inputs but has ${inputs.length}; list them in inputs: [<name>, <name>]`,
        given ? 'inputs' : undefined,
      );
    if (!merges && inputs.length > 1)
      throw new LayerError(
        index,
        `${at}: takes one input but lists ${inputs.length}; join them first with one of ${MERGES.join(', ')}`,
        'inputs',
      );
    return { index, name: layerName(spec, index), spec, inputs };
  });
}

/** Throws at the first cycle found, naming every layer on it. */
function checkAcyclic(nodes: GraphNode[]): void {
  const state = new Array<'new' | 'open' | 'done'>(nodes.length).fill('new');
  const path: number[] = [];
  const visit = (i: number): void => {
    if (state[i] === 'done') return;
    if (state[i] === 'open') {
      const cycle = [...path.slice(path.indexOf(i)), i].map((j) => (nodes[j] as GraphNode).name);
      const first = Math.min(...path.slice(path.indexOf(i)));
      throw new LayerError(
        first,
        `${describeLayer((nodes[first] as GraphNode).spec, first)}: the layers form a cycle (${cycle
          .slice(0, -1)
          .map((name, k) => `${name} reads ${cycle[k + 1]}`)
          .join(', ')}); a layer cannot read a layer that depends on it`,
        (nodes[first] as GraphNode).spec.inputs ? 'inputs' : undefined,
      );
    }
    state[i] = 'open';
    path.push(i);
    for (const j of (nodes[i] as GraphNode).inputs) if (j >= 0) visit(j);
    path.pop();
    state[i] = 'done';
  };
  for (let i = 0; i < nodes.length; i++) visit(i);
}

/** Every layer's output must be read by another, except the last layer's, which is the model's output. */
function checkUsed(nodes: GraphNode[]): void {
  const read = new Set(nodes.flatMap((n) => n.inputs));
  for (const n of nodes.slice(0, -1)) {
    if (!read.has(n.index))
      throw new LayerError(
        n.index,
        `${describeLayer(n.spec, n.index)}: its output is never used; name it in a later layer's inputs, or remove it (the last layer listed is the model's output)`,
      );
  }
}

/** The layers in an order where each comes after the layers it reads (list order wherever the list allows it). */
function topological(nodes: GraphNode[]): GraphNode[] {
  const placed = new Set<number>([-1]);
  const order: GraphNode[] = [];
  while (order.length < nodes.length) {
    const next = nodes.find((n) => !placed.has(n.index) && n.inputs.every((i) => placed.has(i))) as GraphNode;
    placed.add(next.index);
    order.push(next);
  }
  return order;
}

/** Checks the graph of `layers` and returns its layers in the order to build them. */
export function planGraph(layers: RegistryChoice[]): GraphNode[] {
  const nodes = resolveInputs(layers, resolveNames(layers));
  checkAcyclic(nodes);
  checkUsed(nodes);
  return topological(nodes);
}
