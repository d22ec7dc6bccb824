// The graph engine: the experiment's model, loss and optimizer update as one
// TensorFlow graph, run one session call per training step. The tfjs model
// stays the source of truth between epochs: weights go into the graph at the
// start and come back before validation, checkpoints and the end, so
// validation, predict, evaluate and the saved model.json are the eager path's.

import type { LayersModel, LayerVariable, Optimizer, Variable } from '@tensorflow/tfjs-node';
import type { OutputTargets } from '../../data/targets.ts';
import { type ConvRecord, EMITTERS, emitOutputs } from '../../layers/emit-layers.ts';
import { bf16Support } from '../../platform/cpu-features.ts';
import type { Tf } from '../../platform/tensorflow.ts';
import { type Attr, DT, type GraphVar, type HostTensor, type Output, TfGraph } from '../../platform/tf-graph.ts';
import type { Experiment } from '../../spec/experiment.ts';
import { BIN_SPAN, binCenters } from '../../spec/outputs.ts';
import { graphLoss } from '../losses.ts';
import { optimizerParts, ownerScope } from '../optimizer-groups.ts';
import { optimizerSlots, optimizerUpdate } from '../optimizers.ts';
import { kernelGradient, kernelGradientAsConvolution } from './kernel-gradient.ts';

const f32: Attr = { kind: 'type', value: DT.float32 };
const i32: Attr = { kind: 'type', value: DT.int32 };
const NON_FINITE = 'run-exp non-finite';
/** A model weight held in the graph. */
interface GraphVariable extends GraphVar {
  variable: LayerVariable;
}

/** Optimizer state held in the graph, named `<variable>/<suffix>` as tfjs names it. */
interface Slot extends GraphVar {
  name: string;
  /** Holds a value: `initial` once its update exists, or what a checkpoint restored. */
  ready: boolean;
  initial: number;
}

/** Scalars tfjs optimizers keep as variables: Adam's and Adamax's beta powers, Adamax's step count. */
type OptimizerScalars = Partial<Record<'accBeta1' | 'accBeta2' | 'iteration', Variable>>;

/** Why an experiment cannot train in graph mode, or null when it can. */
export function graphUnsupported(exp: Experiment, model: LayersModel): string | null {
  for (const layer of model.layers) {
    const cls = layer.getClassName();
    if (!EMITTERS[cls]) return `layer ${layer.name} (${cls})`;
    // A frozen batch norm runs in inference mode in tfjs; the graph's only runs in training mode.
    if (cls === 'BatchNormalization' && !layer.trainable) return `frozen batch norm ${layer.name}`;
  }
  if (exp.data.augmentation.some((a) => a.type === 'mixup' || a.type === 'cutmix')) return 'mixup/cutmix';
  return null;
}

const prod = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

export class GraphTrainer {
  private readonly g = new TfGraph();
  /** Serialized RunOptions for each step (a trace level, for a profile); the step's RunMetadata lands in `metadata`. */
  runOptions: Uint8Array | undefined;
  metadata: Uint8Array | undefined;
  private readonly vars: GraphVariable[] = [];
  private readonly slots: Slot[] = [];
  /** The training graph's convolutions, whose kernels' gradients may be formed here (kernel-gradient.ts). */
  private readonly convs: ConvRecord[] = [];
  private readonly x: Output;
  private readonly y: Output;
  /** Each example's loss weight (class_weights), or null when the loss is a plain mean. */
  private readonly w: Output | null;
  private readonly lr: Output;
  private readonly seed: Output;
  private readonly loss: Output;
  private readonly predicted: Output;
  private readonly checks: string[];
  /** Ops every training step runs besides the updates: batch norm's moving statistics. */
  private readonly sideEffects: string[] = [];
  private seedCount = 0;
  /** Per trainable set: the update op, the optimizer parts it steps and the op that then folds in the average. */
  private readonly trainOps = new Map<string, { op: string; parts: number[]; average: string | null }>();
  /** training.ema: each averaged weight and its average, a variable of the graph. */
  private readonly averages: { of: GraphVariable; variable: Variable; avg: GraphVar }[] = [];
  /** training.ema: the step's decay d and 1 - d, fed as the weight average computes them. */
  private readonly decay: [Output, Output] | null = null;
  /** Steps taken per optimizer part (tfjs counts them per part). */
  private readonly iterations: number[] = [];
  /** Adam, Adamax: per optimizer part, the fed beta1^t, beta2^t and their values as tfjs keeps them (float32). */
  private readonly fedPowers = new Map<number, [Output, Output]>();
  private readonly betaPowers: [number, number][] = [];
  private readonly inputShape: number[];
  /** Several outputs: per output, its fed targets (one-hot, standardized or 0/1) and which examples have them. */
  private readonly heads: { y: Output; weight: Output; width: number }[] = [];

  constructor(
    private readonly tf: Tf,
    private readonly exp: Experiment,
    private readonly model: LayersModel,
    threads: number,
    private readonly precision: 'float32' | 'bf16' = 'float32',
    /** Several outputs: the training split's targets (their types, widths, losses and weights). */
    targets?: OutputTargets[],
    /** training.ema: the weights averaged (the WeightAverage's), whose average the graph keeps and updates after each step. */
    averaged?: Variable[],
  ) {
    const g = this.g;
    const inputShape = (model.inputs[0]?.shape ?? []).slice(1) as number[];
    this.inputShape = inputShape;
    const k = (model.outputs[0]?.shape.at(-1) as number) ?? 2;
    this.x = g.op('Placeholder', [], { dtype: f32, shape: { kind: 'shape', value: [-1, ...inputShape] } }, 'x');
    this.y = g.op('Placeholder', [], { dtype: f32, shape: { kind: 'shape', value: [-1, k] } }, 'y');
    this.lr = g.op('Placeholder', [], { dtype: f32, shape: { kind: 'shape', value: [] } }, 'lr');
    this.seed = g.op('Placeholder', [], { dtype: i32, shape: { kind: 'shape', value: [2] } }, 'seed');
    this.w =
      exp.training.class_weights === null
        ? null
        : g.op('Placeholder', [], { dtype: f32, shape: { kind: 'shape', value: [-1] } }, 'w');
    const outs = this.forward();
    if (averaged) {
      for (const variable of averaged) {
        const of = this.vars.find((v) => v.variable.read() === variable);
        if (!of) throw new Error(`training.ema: ${variable.name} is not a weight of the model`);
        this.averages.push({ of, variable, avg: this.g.variable(`${variable.name}/average`, of.shape) });
      }
      const scalar = () => g.op('Placeholder', [], { dtype: f32, shape: { kind: 'shape', value: [] } });
      this.decay = [scalar(), scalar()];
    }
    const probs = outs[0] as Output;
    this.loss = targets ? this.outputsLoss(outs, targets) : this.lossOf(probs);
    this.predicted = g.op('ArgMax', [probs, this.constant([1], [], DT.int32)], {
      T: f32,
      Tidx: i32,
      output_type: { kind: 'type', value: DT.int32 },
    });
    // Updates wait for these: a non-finite output or loss fails the step before any weight changes, as in eager.
    const check = (x: Output, what: string) =>
      g.op('CheckNumerics', [x], { T: f32, message: { kind: 'string', value: `${NON_FINITE}: ${what}` } })[0];
    this.checks = [...outs.map((o, i) => check(o, `model output ${i + 1}`)), check(this.loss, 'loss')];
    g.startSession(threads, threads > 1 ? 2 : 1);
    this.loadWeights();
  }

  private constant(data: number[], shape: number[], dtype: number = DT.float32): Output {
    return this.g.constant(data, shape, dtype);
  }

  /** The model's layers as graph operations, each weight a variable of the graph; every output of the model. */
  private forward(): Output[] {
    return emitOutputs(this.model, {
      g: this.g,
      x: this.x,
      inputShape: this.inputShape,
      training: true,
      weight: (w) => {
        const v = { variable: w, ...this.g.variable(w.name, w.shape as number[]) };
        this.vars.push(v);
        return { read: v.read, handle: v.handle };
      },
      updates: this.sideEffects,
      // Each random layer its own stream: the step's seed moved by a per-layer offset.
      seed: () =>
        this.g.op('AddV2', [this.seed, this.constant([++this.seedCount * 1_000_003, 0], [2], DT.int32)], { T: i32 }),
      constant: (d, s, t) => this.constant(d, s, t),
      compute: this.precision === 'bf16' ? 'bfloat16' : 'float32',
      convs: this.convs,
    });
  }

  /** makeLoss's loss, op for op (losses.ts), as a batch mean. */
  private lossOf(p: Output): Output {
    const g = this.g;
    const op = (type: string, ...inputs: Output[]) => g.op(type, inputs, { T: f32 });
    const reduce = (type: 'Sum' | 'Mean', x: Output, axis: number) =>
      g.op(type, [x, this.constant([axis], [1], DT.int32)], { T: f32, Tidx: i32 });
    const k = (this.model.outputs[0]?.shape.at(-1) as number) ?? 2;
    const { value, perClass } = graphLoss(
      this.exp.training.loss,
      { y: this.y, p, c: (v) => this.constant([v], []), op, sum: (x, axis) => reduce('Sum', x, axis) },
      k,
    );
    if (!perClass) return reduce('Mean', this.w ? op('Mul', value, this.w) : value, 0);
    // As makeLoss: weighted, each example's mean times its weight over the batch; else the mean over every element.
    if (this.w) return reduce('Mean', op('Mul', reduce('Mean', value, 1), this.w), 0);
    return g.op('Mean', [value, this.constant([0, 1], [2], DT.int32)], { T: f32, Tidx: i32 });
  }

  /**
   * Several outputs: the loss-weighted sum of each output's masked mean, op for
   * op as output-losses.ts (a number output's targets come standardized).
   */
  private outputsLoss(outs: Output[], targets: OutputTargets[]): Output {
    const g = this.g;
    const op = (type: string, ...inputs: Output[]) => g.op(type, inputs, { T: f32 });
    const c = (v: number) => this.constant([v], []);
    const reduce = (type: 'Sum' | 'Mean', x: Output, axis: number) =>
      g.op(type, [x, this.constant([axis], [1], DT.int32)], { T: f32, Tidx: i32 });
    const all = (x: Output) => g.op('Sum', [x, this.constant([0], [1], DT.int32)], { T: f32, Tidx: i32 });
    let total: Output | null = null;
    for (const [o, t] of targets.entries()) {
      const width = t.spec.type === 'category' ? t.names.length : t.width;
      const y = g.op('Placeholder', [], { dtype: f32, shape: { kind: 'shape', value: [-1, width] } }, `y_${t.name}`);
      // Each example's loss weight: 0 without the label, else its class's or band's weight.
      const weight = g.op('Placeholder', [], { dtype: f32, shape: { kind: 'shape', value: [-1] } }, `weight_${t.name}`);
      this.heads.push({ y, weight, width });
      const p = outs[o] as Output;
      const ctx = { y, p, c, op, sum: (x: Output, axis: number) => reduce('Sum', x, axis) };
      let each: Output;
      const spec = t.spec;
      if (spec.type === 'number') {
        // A binned output's first unit is the bins' expectation: the point loss is on it.
        const slice = (begin: number, size: number) =>
          g.op('Slice', [p, this.constant([0, begin], [2], DT.int32), this.constant([-1, size], [2], DT.int32)], {
            T: f32,
            Index: i32,
          });
        const e = reduce('Sum', op('Sub', slice(0, 1), y), 1);
        const a = op('Abs', e);
        const q = op('Minimum', a, c(spec.huber_delta));
        each =
          spec.loss === 'mse'
            ? op('Square', e)
            : spec.loss === 'mae'
              ? a
              : op('AddV2', op('Mul', op('Square', q), c(0.5)), op('Mul', op('Sub', a, q), c(spec.huber_delta)));
        if (spec.bins) {
          // As output-losses.ts' binCrossEntropy: a Gaussian around the clipped target, normalized over the bins.
          const centers = this.constant(binCenters(spec.bins), [1, spec.bins]);
          const z = op('Minimum', op('Maximum', y, c(-BIN_SPAN)), c(BIN_SPAN));
          const d = op('RealDiv', op('Sub', centers, z), c(spec.bin_sigma));
          const near = op('Exp', op('Mul', op('Square', d), c(-0.5)));
          const keep = g.op('Sum', [near, this.constant([1], [1], DT.int32)], {
            T: f32,
            Tidx: i32,
            keep_dims: { kind: 'bool', value: true },
          });
          const probs = op('Minimum', op('Maximum', slice(1, spec.bins), c(1e-7)), c(1));
          const ce = op('Neg', reduce('Sum', op('Mul', op('RealDiv', near, keep), op('Log', probs)), 1));
          each = op('AddV2', each, ce);
        }
      } else {
        const type = spec.type === 'category' ? 'categorical_crossentropy' : 'binary_crossentropy';
        const smoothing = spec.type === 'set' ? 0 : spec.label_smoothing;
        const loss = graphLoss({ type, label_smoothing: smoothing }, ctx, width);
        each = loss.perClass ? reduce('Mean', loss.value, 1) : loss.value;
      }
      const labelled = all(g.op('Sign', [weight], { T: f32 }));
      const mean = op('RealDiv', all(op('Mul', each, weight)), op('Maximum', labelled, c(1)));
      const weighted = op('Mul', mean, c(spec.loss_weight));
      total = total ? op('AddV2', total, weighted) : weighted;
    }
    return total as Output;
  }

  /** The update op for the variables trainable now (built once per distinct set: a backbone may unfreeze). */
  private trainOp(): { op: string; parts: number[]; average: string | null } {
    // The model's own list, as the eager engine takes it: a layer built with trainable: false
    // (face_resnet's fixed shortcut projections) keeps weights whose own flag still says trainable.
    const now = new Set(this.model.trainableWeights.map((w) => w.name));
    const trainable = this.vars.filter((v) => now.has(v.variable.name));
    const key = trainable.map((v) => v.variable.name).join('\n');
    const known = this.trainOps.get(key);
    if (known) return known;
    const g = this.g;
    // Kernels whose gradient is formed as a convolution take it from their convolution's output gradient.
    const support = this.precision === 'bf16' ? bf16Support() : null;
    const formed = trainable.map((v) => {
      const conv = this.convs.find((c) => c.kernel === v.variable);
      return conv && support && kernelGradientAsConvolution(conv, support) ? conv : undefined;
    });
    const convs = formed.filter((c) => c !== undefined);
    const all = g.gradients([this.loss], [...trainable.map((v) => v.read), ...convs.map((c) => c.y)]);
    const grads = formed.map((conv, i) =>
      conv ? kernelGradient(g, conv, all[trainable.length + convs.indexOf(conv)] as Output) : all[i],
    );
    const multipliers = this.multipliers();
    const scopes = Object.keys(multipliers);
    const updates: string[] = [];
    const parts = new Set<number>();
    for (const [i, v] of trainable.entries()) {
      const scope = ownerScope(v.variable.name, scopes);
      const m = scope === null ? 1 : (multipliers[scope] as number);
      if (m === 0) continue;
      // Parts in optimizerParts' order: the multiplier scopes, then every other weight.
      const part = scope === null ? scopes.length : scopes.indexOf(scope);
      parts.add(part);
      const lr = m === 1 ? this.lr : g.op('Mul', [this.lr, this.constant([m], [])], { T: f32 });
      updates.push(...this.update(v, grads[i] as Output, lr, part));
    }
    const op = g.op('NoOp', [], {}, `train_${this.trainOps.size}`, [...updates, ...this.sideEffects])[0] as string;
    const train = { op, parts: [...parts], average: this.averageOp(op) };
    this.trainOps.set(key, train);
    // New slots start as tfjs optimizers' accumulators do: at zero, Adagrad's at its initial value.
    for (const slot of this.slots.filter((x) => !x.ready))
      this.setSlot(slot, new Float32Array(prod(slot.shape)).fill(slot.initial));
    return train;
  }

  /**
   * training.ema after the update op `after`: average = d * average + (1 - d) *
   * weight for a weight that learns now, the weight itself for one that does
   * not (yet), as WeightAverage.update.
   */
  private averageOp(after: string): string | null {
    if (!this.decay) return null;
    const g = this.g;
    const [d, rest] = this.decay;
    const assigns = this.averages.map(({ of, variable, avg }) => {
      const now = g.op('ReadVariableOp', [of.handle], { dtype: f32 }, undefined, [after]);
      // Its flag as WeightAverage.update reads it; the op is built per trainable set, so it holds.
      const value = variable.trainable
        ? g.op('AddV2', [g.op('Mul', [avg.read, d], { T: f32 }), g.op('Mul', [now, rest], { T: f32 })], { T: f32 })
        : now;
      return g.op('AssignVariableOp', [avg.handle, value], { dtype: f32 })[0] as string;
    });
    return g.op('NoOp', [], {}, `average_${this.trainOps.size}`, assigns)[0] as string;
  }

  /** training.ema: the average (as WeightAverage.averaged gives it) into the graph. */
  loadAverage(values: Float32Array[]): void {
    this.g.assign(
      this.averages.map(({ avg }) => avg),
      values,
    );
  }

  /** training.ema: the graph's average, in the averaged weights' order. */
  readAverage(): Float32Array[] {
    return this.g
      .run(
        [],
        this.averages.map(({ avg }) => avg.read),
      )
      .map((t) => t.data as Float32Array);
  }

  /** The experiment optimizer's update of one variable (optimizers.ts); the ops that write it and its slots. */
  private update(v: GraphVariable, grad: Output, lr: Output, part: number): string[] {
    const g = this.g;
    const o = this.exp.training.optimizer as unknown as Record<string, number | boolean>;
    const assign = (handle: Output, value: Output, type = 'AssignVariableOp') =>
      g.op(type, [handle, value], { dtype: f32 }, undefined, this.checks)[0] as string;
    return optimizerUpdate(this.exp.training.optimizer, {
      grad,
      lr,
      num: (key) => Number(o[key] ?? 0),
      flag: (key) => Boolean(o[key]),
      c: (value) => this.constant([value], []),
      op: (type, ...inputs) => g.op(type, inputs, { T: f32 }),
      kernel: (type, inputs, attrs = {}) =>
        g.op(type, inputs, { T: f32, ...attrs }, undefined, this.checks)[0] as string,
      slot: (suffix, initial = 0) => this.slot(`${v.variable.name}/${suffix}`, v.shape, initial),
      variable: v.handle,
      assign: (handle, value) => assign(handle, value),
      move: (step) => assign(v.handle, step, 'AssignAddVariableOp'),
      betaPowers: () => this.fedPowersOf(part),
    });
  }

  /** Adam's beta1 and beta2 as float32, as tfjs multiplies by them. */
  private betas(): [number, number] {
    const o = this.exp.training.optimizer as { beta1?: number; beta2?: number };
    return [Math.fround(o.beta1 ?? 0), Math.fround(o.beta2 ?? 0)];
  }

  /** beta1^t and beta2^t of optimizer part `part`: tfjs starts them at beta^1. */
  private powers(part: number): [number, number] {
    return this.betaPowers[part] ?? this.betas();
  }

  /** The fed beta1^t and beta2^t of optimizer part `part`. */
  private fedPowersOf(part: number): [Output, Output] {
    let known = this.fedPowers.get(part);
    if (!known) {
      const scalar = () => this.g.op('Placeholder', [], { dtype: f32, shape: { kind: 'shape', value: [] } });
      known = [scalar(), scalar()];
      this.fedPowers.set(part, known);
    }
    return known;
  }

  private setSlot(slot: Slot, data: Float32Array): void {
    this.g.assign([slot], [data]);
    slot.ready = true;
  }

  private multipliers(): Record<string, number> {
    return (this.exp.training.optimizer.lr_multipliers ?? {}) as Record<string, number>;
  }

  private slot(name: string, shape: number[], initial = 0): Slot {
    const known = this.slots.find((s) => s.name === name);
    if (known) return known;
    const s = { name, ...this.g.variable(name, shape), ready: false, initial };
    this.slots.push(s);
    return s;
  }

  /**
   * The tfjs optimizer's state (as a checkpoint restored it) into the graph's
   * slots. tfjs keeps it by position (the i-th accumulator of a part belongs to
   * the part's i-th trained variable in `order`), not by name: names carry
   * the suffixes tfjs adds to keep them unique in a process.
   */
  async loadOptimizerState(optimizer: Optimizer, order: string[]): Promise<void> {
    const scopes = Object.keys(this.multipliers());
    const suffixes = this.slotSuffixes();
    for (const [p, part] of optimizerParts(optimizer).entries()) {
      const mine = order.filter((name) => ownerScope(name, scopes) === part.scope);
      const named = await part.optimizer.getWeights();
      const iter = named.find((w) => w.name === 'iter');
      this.iterations[p] = (iter?.tensor.dataSync()[0] as number) ?? 0;
      iter?.tensor.dispose();
      const state = named.filter((w) => w.name !== 'iter');
      const count = state.length / suffixes.length;
      for (const [j, suffix] of suffixes.entries())
        for (let i = 0; i < count; i++) {
          const w = state[j * count + i] as (typeof state)[number];
          this.setSlot(this.slot(`${mine[i]}/${suffix}`, w.tensor.shape), w.tensor.dataSync() as Float32Array);
        }
      const scalars = part.optimizer as unknown as OptimizerScalars;
      if (scalars.accBeta1 && (this.iterations[p] ?? 0) > 0)
        this.betaPowers[p] = [
          scalars.accBeta1.dataSync()[0] as number,
          (scalars.accBeta2?.dataSync()[0] as number | undefined) ?? (this.powers(p)[1] as number),
        ];
    }
  }

  /** The per-variable state of the optimizer, in tfjs' order: (Adam) every first moment, then every second. */
  private slotSuffixes(): readonly string[] {
    return optimizerSlots(this.exp.training.optimizer);
  }

  /**
   * The graph's slots into the tfjs optimizer, as its own updates would have
   * left it (per part, one accumulator per trained variable in `order`), so
   * that a checkpoint holds the same optimizer state in either engine.
   */
  async saveOptimizerState(optimizer: Optimizer, order: string[]): Promise<void> {
    const scopes = Object.keys(this.multipliers());
    for (const [p, part] of optimizerParts(optimizer).entries()) {
      const mine = order.filter((name) => ownerScope(name, scopes) === part.scope);
      // tfjs' order: Adam keeps every first moment, then every second; momentum one accumulator each.
      const names = this.slotSuffixes()
        .flatMap((suffix) => mine.map((name) => `${name}/${suffix}`))
        .filter((name) => this.slots.some((s) => s.name === name));
      const slots = names.map((name) => this.slots.find((s) => s.name === name) as Slot);
      const values = this.g.run(
        [],
        slots.map((s) => s.read),
      );
      const old = await part.optimizer.getWeights();
      // tfjs makes variables of these (copies): they, and the state they replace, are disposed here.
      const fresh = [
        { name: 'iter', tensor: this.tf.scalar(this.iterations[p] ?? 0, 'int32') },
        ...slots.map((s, i) => ({
          name: s.name,
          tensor: this.tf.tensor((values[i] as { data: Float32Array }).data, s.shape, 'float32'),
        })),
      ];
      await part.optimizer.setWeights(fresh);
      this.tf.dispose([...old, ...fresh].map((w) => w.tensor));
      // setWeights recomputes Adam's beta powers from the step count; tfjs' own are products, a few bits apart.
      const powers = this.betaPowers[p];
      const scalars = part.optimizer as unknown as OptimizerScalars;
      const set = (variable: Variable | undefined, value: number) => {
        const t = this.tf.scalar(value);
        variable?.assign(t);
        t.dispose();
      };
      if (powers) {
        set(scalars.accBeta1, powers[0]);
        set(scalars.accBeta2, powers[1]);
      }
      // Adamax counts its steps in a variable of its own too.
      set(scalars.iteration, this.iterations[p] ?? 0);
    }
  }

  /** The tfjs model's weights into the graph. */
  loadWeights(): void {
    this.g.assign(
      this.vars,
      this.vars.map((v) => v.variable.read().dataSync() as Float32Array),
    );
  }

  /** The graph's weights back into the tfjs model. */
  saveWeights(): void {
    const values = this.g.run(
      [],
      this.vars.map((v) => v.read),
    );
    for (const [i, v] of this.vars.entries()) {
      const t = this.tf.tensor((values[i] as { data: Float32Array }).data, v.shape, 'float32');
      v.variable.write(t);
      t.dispose();
    }
  }

  /**
   * One training step; resolves to the mean loss, the predicted classes and whether the outputs were
   * finite. The session runs on a worker thread: the inputs are copied before this returns, so the caller
   * may fill its buffers with the next batch while the step runs (one step at a time: await each).
   */
  async step(
    x: Float32Array,
    batch: number,
    y: Float32Array,
    lr: number,
    seed: [number, number],
    weights?: Float32Array,
    /** Several outputs: each output's targets [batch, width] and example weights [batch] (0: no label), in order. */
    heads?: { y: Float32Array; weight: Float32Array }[],
    /** training.ema: this step's decay. */
    decay?: number,
  ): Promise<{ loss: number; predicted: Int32Array; finite: boolean }> {
    const train = this.trainOp();
    const k = y.length / batch;
    const feeds: [Output, HostTensor][] = [];
    for (const [o, h] of this.heads.entries()) {
      const fed = heads?.[o];
      if (!fed) throw new Error("a model with several outputs: every step needs each output's targets");
      feeds.push([h.y, { dtype: DT.float32, shape: [batch, h.width], data: fed.y }]);
      feeds.push([h.weight, { dtype: DT.float32, shape: [batch], data: fed.weight }]);
    }
    if (this.w) {
      if (!weights) throw new Error('class_weights: every step needs the weight of each example');
      feeds.push([this.w, { dtype: DT.float32, shape: [batch], data: weights }]);
    }
    for (const [p, fed] of this.fedPowers)
      for (const [i, power] of this.powers(p).entries())
        feeds.push([fed[i] as Output, { dtype: DT.float32, shape: [], data: Float32Array.of(power) }]);
    if (this.decay) {
      if (decay === undefined) throw new Error('training.ema: every step needs the decay of the average');
      feeds.push([this.decay[0], { dtype: DT.float32, shape: [], data: Float32Array.of(decay) }]);
      feeds.push([this.decay[1], { dtype: DT.float32, shape: [], data: Float32Array.of(1 - decay) }]);
    }
    try {
      const out = await this.g.runAsync(
        [
          [this.x, { dtype: DT.float32, shape: [batch, ...this.inputShape], data: x }],
          ...(this.heads.length
            ? []
            : ([[this.y, { dtype: DT.float32, shape: [batch, k], data: y }]] as [Output, HostTensor][])),
          [this.lr, { dtype: DT.float32, shape: [], data: Float32Array.of(lr) }],
          [this.seed, { dtype: DT.int32, shape: [2], data: Int32Array.from(seed) }],
          ...feeds,
        ],
        [this.loss, this.predicted],
        train.average ? [train.op, train.average] : [train.op],
        this.runOptions,
      );
      this.metadata = out.metadata;
      const [loss, predicted] = out;
      for (const p of train.parts) {
        this.iterations[p] = (this.iterations[p] ?? 0) + 1;
        if (!this.fedPowers.has(p)) continue;
        const [[a1, a2], [b1, b2]] = [this.powers(p), this.betas()];
        this.betaPowers[p] = [Math.fround(a1 * b1), Math.fround(a2 * b2)];
      }
      return { loss: (loss?.data[0] as number) ?? Number.NaN, predicted: predicted?.data as Int32Array, finite: true };
    } catch (err) {
      if (err instanceof Error && err.message.includes(NON_FINITE)) {
        return { loss: Number.NaN, predicted: new Int32Array(batch), finite: false };
      }
      throw err;
    }
  }
}
