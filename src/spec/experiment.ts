// The validated, fully resolved experiment every later stage sees and records.
export interface FaceCrop {
  type: 'face';
  detector: string;
  margin: number;
  min_confidence: number;
  align: boolean;
  fill: CropFill;
  on_miss: 'keep' | 'center' | 'skip';
  pad: number;
}

/** The face crop of some preprocessing, or null when it crops no face. */
export function faceCropOf(p: { crop?: { type: string } }): FaceCrop | null {
  return p.crop?.type === 'face' ? (p.crop as FaceCrop) : null;
}

/** What fills a crop where it leaves the image. */
export type CropFill = 'black' | 'edge' | 'mirror';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export interface RegistryChoice {
  type: string;
  [param: string]: Json;
}

export interface Experiment {
  version: number;
  name: string;
  description: string;
  seed: number;
  data: {
    source: 'folder' | 'filename' | 'manifest';
    path: string;
    validation_path?: string;
    test_path?: string;
    classes?: string[];
    pattern?: string;
    label_map?: Record<string, string>;
    path_column: string;
    label_column: string;
    split: { validation: number; test: number; seed?: number; stratify?: string };
    preprocessing: {
      size: [number, number];
      fit: 'cover' | 'contain' | 'fill';
      center_crop: number;
      crop: { type: 'none' } | FaceCrop;
      color: 'rgb' | 'grayscale';
      normalize: 'unit' | 'symmetric' | 'standard';
      mean?: number[];
      std?: number[];
    };
    augmentation: RegistryChoice[];
    /** Score by the mean of the probabilities on the image and on its mirror image. */
    test_time_flip: boolean;
    /** Name -> absolute folder or manifest path. */
    evaluation_sets: Record<string, string>;
    evaluation_every: number;
    on_bad_file: 'skip' | 'fail';
  };
  model: {
    layers: RegistryChoice[];
    /** A pretrained network in front of the layers: a catalog name or a model folder, and which of its layers training may change. */
    backbone?: {
      from?: string;
      path?: string;
      output?: string;
      input_size?: [number, number];
      normalize?: 'unit' | 'symmetric' | 'standard';
      mean?: number[];
      std?: number[];
      trainable: boolean | { from: string; at_epoch?: number };
    };
    /** A run (or model) folder whose weights start the layers they fit, matched by name. */
    init_from?: string;
  };
  training: {
    epochs: number;
    batch_size: number;
    optimizer: RegistryChoice;
    loss: RegistryChoice;
    metrics: string[];
    lr_schedule: RegistryChoice;
    early_stopping: null | {
      monitor: string;
      mode: 'auto' | 'min' | 'max';
      patience: number;
      min_delta: number;
      restore_best_weights: boolean;
    };
    class_weights: null | 'balanced' | Record<string, number>;
    /** An exponential moving average of the weights, used for evaluation and saving. */
    ema: null | { decay: number };
    checkpoints: { every: number; best: boolean; monitor: string };
    threads?: number;
    engine: 'graph' | 'eager';
    /** bf16: mixed precision (bfloat16 compute, float32 weights and loss) on the graph engine. */
    precision: 'float32' | 'bf16';
    allow_non_native_backend: boolean;
  };
  tracking: { dir: string; mlflow_uri: string | null; experiment_name?: string; tags: Record<string, string> };
  report: ReportSpec;
  /** Several things to predict per image (left out: one category output, the data's class). */
  outputs?: Record<string, OutputSpec>;
  sweep?: Sweep;
}

interface OutputCommon {
  /** A named group of data.pattern, a manifest column, or `class`. */
  from: string;
  loss_weight: number;
  metrics: string[];
  /** Layers between the trunk and the output's unit layer. */
  head: RegistryChoice[];
}

/** Per-example loss weights by class or band: from the training split's counts, or given. */
export type LossWeights<Given> = 'balanced' | Given;

/** One output of a model that predicts several things (spec/outputs.ts declares each type's params). */
export type OutputSpec =
  | (OutputCommon & {
      type: 'category';
      values?: Record<string, string>;
      classes?: string[];
      label_smoothing: number;
      class_weights?: LossWeights<Record<string, number>>;
    })
  | (OutputCommon & {
      type: 'binary';
      values?: Record<string, string>;
      positive: string;
      label_smoothing: number;
      class_weights?: LossWeights<Record<string, number>>;
    })
  | (OutputCommon & {
      type: 'number';
      loss: 'huber' | 'mse' | 'mae';
      transform: 'none' | 'log';
      huber_delta: number;
      bins: number;
      bin_sigma: number;
      bands?: number[];
      band_weights?: LossWeights<number[]>;
    })
  | (OutputCommon & { type: 'set'; labels: string[]; separator: string; threshold: number });

/** What a run's report.html shows (report/run-report.ts). */
export interface ReportSpec {
  enabled: boolean;
  images_per_cell: number;
  mistakes: number;
  panel: boolean;
  slices: { pattern?: string; bands: Record<string, number[]>; columns: string[] };
}

/** One swept key: a list of values, `{values}`, or a range for random draws. */
export type SweepParameter =
  | Json[]
  | { values: Json[] }
  | { min: number; max: number; scale?: 'linear' | 'log'; type?: 'float' | 'int' };

/** Stops losing trials early: asynchronous successive halving over the experiment's epochs. */
export interface Scheduler {
  type: 'asha';
  reduction_factor: number;
  min_epochs: number;
}

export interface Sweep {
  method: 'grid' | 'random' | 'tpe';
  trials?: number;
  seed: number;
  metric: string;
  goal: 'maximize' | 'minimize';
  seeds?: number[];
  /** null: none (as a --set can say). */
  scheduler?: Scheduler | null;
  parameters: Record<string, SweepParameter>;
}
