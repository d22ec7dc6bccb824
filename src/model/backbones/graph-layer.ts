// A TF.js graph model as one frozen layer of a run's model. Its graph goes in
// the layer's config and its constants become the layer's (non-trainable)
// weights, so the run's model.json and weights hold it whole: predict and
// evaluate load it like any layer, from the run folder alone.
import type { LayersModel, NamedTensorMap, SymbolicTensor, Tensor } from '@tensorflow/tfjs-node';
import { registerCustomLayers } from '../../layers/spatial-dropout.ts';
import type { Tf } from '../../platform/tensorflow.ts';

/** A weight of a graph model: its name in the graph, shape and type. */
export interface GraphWeight {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
}

/** What the layer keeps of a graph model: its graph, its weights' names and shapes, the node it reads out. */
export interface GraphSpec {
  topology: object;
  weightSpecs: GraphWeight[];
  outputNode: string;
  /** The output's shape without the batch dimension. */
  outputShape: number[];
}

type Layer = LayersModel['layers'][number];

/** The layer's config as model.json holds it: the spec as JSON text, hex-encoded. */
interface SavedConfig {
  graphSpec: string;
}
type GraphLayerClass = new (config: GraphSpec & { name: string }) => Layer;

let registered: GraphLayerClass | undefined;

/** A graph model with its graph and weight values (in `weightSpecs` order). */
export function graphModel(
  tf: Tf,
  spec: Pick<GraphSpec, 'topology' | 'weightSpecs'>,
  values: Tensor[],
): ReturnType<Tf['loadGraphModelSync']> {
  const parts = values.map((v) => new Uint8Array(v.dataSync().slice().buffer));
  const data = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    data.set(p, at);
    at += p.byteLength;
  }
  const graph = tf.loadGraphModelSync({
    modelTopology: spec.topology,
    weightSpecs: spec.weightSpecs,
    weightData: data.buffer,
  });
  // Made inside a layer call, which tidies: its weights must outlive the call.
  for (const list of Object.values(graph.weights)) for (const t of list) tf.keep(t);
  return graph;
}

/** The graph-model layer class, registered for (de)serialization on first use. */
export function graphLayer(tf: Tf): GraphLayerClass {
  if (registered) return registered;
  type GraphModel = ReturnType<Tf['loadGraphModelSync']>;
  class GraphBackbone extends tf.layers.Layer {
    static className = 'RunExpGraphBackbone';
    readonly spec: GraphSpec;
    private graph: GraphModel | null = null;

    constructor(config: (GraphSpec | SavedConfig) & { name: string }) {
      super({ name: config.name, trainable: false });
      const { topology, weightSpecs, outputNode, outputShape } =
        'graphSpec' in config
          ? (JSON.parse(Buffer.from(config.graphSpec, 'hex').toString('utf8')) as GraphSpec)
          : config;
      this.spec = { topology, weightSpecs, outputNode, outputShape };
    }

    override build(): void {
      // Named by position: graph names may hold characters tfjs does not allow in weight names.
      for (const [i, w] of this.spec.weightSpecs.entries())
        this.addWeight(`w${i}`, w.shape, w.dtype, tf.initializers.zeros(), undefined, false);
      this.built = true;
    }

    override computeOutputShape(inputShape: (number | null)[]): (number | null)[] {
      return [inputShape[0] ?? null, ...this.spec.outputShape];
    }

    /** The graph on the layer's current weights, made at the first call (after they were loaded). */
    private model(): GraphModel {
      this.graph ??= graphModel(
        tf,
        this.spec,
        this.weights.map((w) => w.read()),
      );
      return this.graph;
    }

    override setWeights(weights: Tensor[]): void {
      super.setWeights(weights);
      this.graph?.dispose();
      this.graph = null;
    }

    override call(inputs: Tensor | Tensor[]): Tensor {
      const x = Array.isArray(inputs) ? (inputs[0] as Tensor) : inputs;
      return this.model().execute(x, this.spec.outputNode) as Tensor;
    }

    // model.json lower-cases and snake_cases every key and string of a layer's config
    // (and camelCases them back): a GraphDef's keys, node and op names would not survive.
    // Lower-case hex does.
    override getConfig(): ReturnType<Layer['getConfig']> {
      return { ...super.getConfig(), graphSpec: Buffer.from(JSON.stringify(this.spec)).toString('hex') };
    }
  }
  tf.serialization.registerClass(GraphBackbone as never);
  registered = GraphBackbone as unknown as GraphLayerClass;
  return registered;
}

/** A graph layer on `x` holding `weights` (decoded from the model's files); returns its output. */
export function applyGraphLayer(
  tf: Tf,
  x: SymbolicTensor,
  name: string,
  spec: GraphSpec,
  weights: NamedTensorMap,
): SymbolicTensor {
  const Class = graphLayer(tf);
  const layer = new Class({ name, ...spec });
  // Built by apply, inside the layer's name scope, as loading the saved model builds it.
  const out = layer.apply(x) as SymbolicTensor;
  layer.setWeights(spec.weightSpecs.map((w) => weights[w.name] as Tensor));
  return out;
}

/** Loads a saved run model (or any layers model) that may hold a graph layer or a layer saved under an old class name. */
export function loadModel(tf: Tf, file: string): Promise<LayersModel> {
  graphLayer(tf);
  registerCustomLayers(tf);
  return tf.loadLayersModel(`file://${file}`);
}
