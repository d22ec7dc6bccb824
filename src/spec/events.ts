// What a run reports as it goes: the records, MLflow and the terminal read these shapes.

/** Per class: training and validation precision, recall and F1. */
export interface ClassMetrics {
  precision: number;
  recall: number;
  f1: number;
  val_precision: number | null;
  val_recall: number | null;
  val_f1: number | null;
}

/**
 * One epoch's record, as metrics.jsonl and MLflow keep it: training and
 * validation metrics, and the `<set>_<metric>` of evaluation sets and the
 * `system/<metric>` samples on the epochs that have them.
 */
export interface EpochMetrics {
  epoch: number;
  lr: number;
  loss: number;
  accuracy: number;
  /** Macro averages over classes, from the training batches' predictions. */
  precision: number;
  recall: number;
  f1: number;
  val_loss: number | null;
  val_accuracy: number | null;
  val_precision: number | null;
  val_recall: number | null;
  val_f1: number | null;
  val_auc: number | null;
  per_class: Record<string, ClassMetrics>;
  seconds: number;
  images_per_s: number;
  [metric: `${string}_${string}` | `system/${string}`]: number | null | Record<string, ClassMetrics>;
}

/** A metric of an epoch's record by name; null when the epoch has none. */
export function metricOf(m: EpochMetrics, name: string): number | null {
  const v = (m as unknown as Record<string, unknown>)[name];
  return typeof v === 'number' ? v : null;
}
