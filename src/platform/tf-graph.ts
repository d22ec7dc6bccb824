// TensorFlow graph mode through native/graph: build a graph op by op, add
// symbolic gradients, run whole training steps as one session call on the
// libtensorflow that tfjs-node loads.
import { openAddon } from './native-addon.ts';

export const DT = { float32: 1, int32: 3, uint8: 4, int64: 9, bool: 10, bfloat16: 14 } as const;

/** An operation's output: [operation name, index]. */
export type Output = readonly [string, number];

export type Attr =
  | { kind: 'type'; value: number }
  | { kind: 'int'; value: number }
  | { kind: 'ints'; value: number[] }
  | { kind: 'float'; value: number }
  | { kind: 'bool'; value: boolean }
  | { kind: 'string'; value: string }
  | { kind: 'shape'; value: number[] }
  | { kind: 'tensor'; value: HostTensor };

export interface HostTensor {
  dtype: number;
  shape: number[];
  data: Float32Array | Int32Array | Uint8Array;
}

interface Addon {
  open(libraryPath: string): string | null;
  newGraph(): unknown;
  addOp(
    graph: unknown,
    type: string,
    name: string,
    inputs: (Output | Output[])[],
    attrs: Record<string, Attr>,
    control: string[],
  ): void;
  gradients(graph: unknown, ys: Output[], xs: Output[]): Output[];
  startSession(graph: unknown, config: Uint8Array): void;
  run(
    graph: unknown,
    feeds: [Output, HostTensor][],
    fetches: Output[],
    targets: string[],
    runOptions?: Uint8Array,
  ): RunResult;
  runAsync(...args: Parameters<Addon['run']>): Promise<RunResult>;
}

/** A float32 resource variable: its handle, its read, and the placeholder and assign op that load it. */
export interface GraphVar {
  handle: Output;
  read: Output;
  shape: number[];
  value: Output;
  assign: string;
}

type RunResult = { data: Float32Array | Int32Array | Uint8Array; shape: number[] }[] & { metadata?: Uint8Array };

/** Whether graph mode is available here, and if not, why. */
export function graphMode(): { available: boolean; why: string } {
  const s = openAddon<Addon>('@run-exp/graph');
  return { available: s.addon !== null, why: s.why };
}

/** A serialized ConfigProto with the thread counts (fields 2 and 5, varints). */
function sessionConfig(intraOp: number, interOp: number): Uint8Array {
  return new Uint8Array([0x10, intraOp, 0x28, interOp]);
}

export class TfGraph {
  private readonly addon: Addon;
  private readonly handle: unknown;
  private count = 0;

  constructor() {
    const { addon, why } = openAddon<Addon>('@run-exp/graph');
    if (!addon) throw new Error(`TensorFlow graph mode is unavailable: ${why}`);
    this.addon = addon;
    this.handle = addon.newGraph();
  }

  /** Adds an operation; returns its first output (others by index through `out`). */
  op(
    type: string,
    inputs: (Output | Output[])[],
    attrs: Record<string, Attr> = {},
    name = `${type}_${++this.count}`,
    control: string[] = [],
  ): Output {
    this.addon.addOp(this.handle, type, name, inputs, attrs, control);
    return [name, 0] as const;
  }

  /** A constant of `data`: int32 for DT.int32, else float32. */
  constant(data: ArrayLike<number>, shape: number[], dtype: number = DT.float32, name?: string): Output {
    const value: HostTensor = {
      dtype,
      shape,
      data: dtype === DT.int32 ? Int32Array.from(data) : Float32Array.from(data),
    };
    return this.op('Const', [], { dtype: { kind: 'type', value: dtype }, value: { kind: 'tensor', value } }, name);
  }

  /** A float32 resource variable named `name` in the session's resources; it holds nothing until `assign`. */
  variable(name: string, shape: number[]): GraphVar {
    const f32: Attr = { kind: 'type', value: DT.float32 };
    const shapeAttr: Attr = { kind: 'shape', value: shape };
    const handle = this.op('VarHandleOp', [], {
      dtype: f32,
      shape: shapeAttr,
      shared_name: { kind: 'string', value: name },
    });
    const value = this.op('Placeholder', [], { dtype: f32, shape: shapeAttr });
    const assign = this.op('AssignVariableOp', [handle, value], { dtype: f32 })[0];
    const read = this.op('ReadVariableOp', [handle], { dtype: f32 });
    return { handle, read, shape, value, assign };
  }

  /** Loads each variable with its value (float32, in the variable's shape), in one session run. */
  assign(vars: GraphVar[], values: Float32Array[]): void {
    this.run(
      vars.map((v, i) => [v.value, { dtype: DT.float32, shape: v.shape, data: values[i] as Float32Array }]),
      [],
      vars.map((v) => v.assign),
    );
  }

  gradients(ys: Output[], xs: Output[]): Output[] {
    return this.addon.gradients(this.handle, ys, xs);
  }

  startSession(intraOp: number, interOp: number): void {
    this.addon.startSession(this.handle, sessionConfig(intraOp, interOp));
  }

  /** With `runOptions` (a serialized RunOptions), the result carries the run's serialized RunMetadata. */
  run(feeds: [Output, HostTensor][], fetches: Output[], targets: string[] = [], runOptions?: Uint8Array) {
    // TensorFlow refuses a run with nothing to do (plain SGD has no optimizer state to read).
    if (fetches.length === 0 && targets.length === 0) return [];
    return this.addon.run(this.handle, feeds, fetches, targets, runOptions);
  }

  /** As `run`, on a worker thread: JavaScript goes on meanwhile. The feeds are copied before it returns. */
  runAsync(feeds: [Output, HostTensor][], fetches: Output[], targets: string[] = [], runOptions?: Uint8Array) {
    return this.addon.runAsync(this.handle, feeds, fetches, targets, runOptions);
  }
}
