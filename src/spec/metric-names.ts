// The metrics a run records by name, and which way each is better.

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

/**
 * Which way a metric improves: losses go down, everything else (accuracy,
 * precision, recall, F1, ROC AUC, on any split or evaluation set) goes up.
 * The one rule early stopping, the best checkpoint and the plateau schedule share.
 */
export function metricGoal(metric: string): 'min' | 'max' {
  return metric === 'loss' || metric.endsWith('_loss') ? 'min' : 'max';
}
