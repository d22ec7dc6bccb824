// Watching a metric epoch by epoch, with Keras's rule: each epoch that does not
// improve on the best by more than min_delta adds one to `wait`, an improvement
// sets it back to 0, and `wait >= patience` means the patience is used up.
// Early stopping, the plateau schedule and the best checkpoint all watch this way.
import { type EpochMetrics, metricOf } from '../spec/events.ts';
import { metricGoal } from '../spec/metric-names.ts';

export interface MonitorOptions {
  metric: string;
  /** auto: down for losses, up otherwise (spec/metric-names.ts). */
  mode?: 'auto' | 'min' | 'max';
  minDelta?: number;
  patience?: number;
}

export class Monitor {
  readonly metric: string;
  private readonly higherIsBetter: boolean;
  private readonly minDelta: number;
  private readonly patience: number;
  best: number;
  /** Epochs since the last improvement. */
  wait = 0;

  constructor(o: MonitorOptions) {
    this.metric = o.metric;
    const mode = o.mode ?? 'auto';
    this.higherIsBetter = (mode === 'auto' ? metricGoal(o.metric) : mode) === 'max';
    this.minDelta = o.minDelta ?? 0;
    this.patience = o.patience ?? 0;
    this.best = this.higherIsBetter ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  }

  /** Takes one epoch's record; true when its value improved on the best. An epoch without the metric changes nothing. */
  observe(record: EpochMetrics): boolean {
    const v = metricOf(record, this.metric);
    if (v === null || Number.isNaN(v)) return false;
    this.wait++;
    const improved = this.higherIsBetter ? v > this.best + this.minDelta : v < this.best - this.minDelta;
    if (!improved) return false;
    this.best = v;
    this.wait = 0;
    return true;
  }

  /** The patience is used up: `patience` epochs in a row without improvement. */
  get exhausted(): boolean {
    return this.wait > 0 && this.wait >= this.patience;
  }
}
