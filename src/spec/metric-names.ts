// The metrics a run records by name, and which way each is better.
import type { OutputSpec } from './experiment.ts';
import { OUTPUT_TYPES } from './outputs.ts';

/** The per-epoch metrics a sweep can rank its trials by (their value at the last epoch). */
export const RANKING_METRICS = [
  'val_accuracy',
  'val_loss',
  'val_f1',
  'val_auc',
  'val_precision',
  'val_recall',
  'accuracy',
  'loss',
  'f1',
] as const;

/** What each evaluation set scores, named `<set>_<metric>` in records, MLflow and sweeps. */
export const EVALUATION_SET_METRICS = ['accuracy', 'loss', 'precision', 'recall', 'f1', 'auc'] as const;

/** The per-epoch metrics early stopping, the best checkpoint and the plateau schedule can watch. */
export const MONITORED = ['val_loss', 'val_accuracy', 'val_f1', 'val_auc', 'loss', 'accuracy'] as const;

/** What a monitor may name: MONITORED, or with outputs val_loss and each output's (see monitorable). */
export const MONITOR_DOC = `one of ${MONITORED.join(', ')}; with outputs: val_loss (their loss-weighted sum) or val_<output>_<metric>`;

/**
 * What a model with several outputs records per output, without the split's
 * prefix: <output>_loss, <output>_<metric>, and a set output's f1_<label>.
 */
export function outputMetricNames(outputs: Record<string, OutputSpec>): string[] {
  return Object.entries(outputs).flatMap(([name, o]) => {
    // Before defaults are filled (a sweep's check), an output's metrics are its type's default.
    const metrics: readonly string[] = o.metrics ?? OUTPUT_TYPES[o.type].params.metrics.default;
    return [
      `${name}_loss`,
      ...metrics.map((m) => `${name}_${m}`),
      ...(o.type === 'set' && metrics.includes('f1') ? o.labels.map((l) => `${name}_f1_${l}`) : []),
    ];
  });
}

/** The metrics a monitor (early stopping, the best checkpoint, the plateau schedule) can watch. */
export function monitorable(outputs: Record<string, OutputSpec> | undefined): string[] {
  return outputs ? ['val_loss', 'loss', ...outputMetricNames(outputs).map((m) => `val_${m}`)] : [...MONITORED];
}

/**
 * Which way a metric improves: losses and errors (MAE, RMSE, per band too) go
 * down, everything else (accuracy, precision, recall, F1, ROC AUC, R2, on any
 * split or evaluation set) goes up. The one rule early stopping, the best
 * checkpoint and the plateau schedule share.
 */
export function metricGoal(metric: string): 'min' | 'max' {
  return metric === 'loss' || /_(loss|mae|rmse)$/.test(metric) || /_mae_/.test(metric) ? 'min' : 'max';
}
