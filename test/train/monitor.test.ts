// The one rule early stopping, the plateau schedule and the best checkpoint
// share, against what Keras's EarlyStopping does on the same values.
import { describe, expect, it } from 'vitest';
import type { EpochMetrics } from '../../src/spec/events.ts';
import { Monitor } from '../../src/train/monitor.ts';

const epochs = (key: string, values: (number | null)[]) => values.map((v) => ({ [key]: v }) as unknown as EpochMetrics);

/** The 1-based epoch after which training stops, or null: the loop's reading of the monitor. */
function stopsAfter(monitor: Monitor, records: EpochMetrics[]): number | null {
  for (const [i, m] of records.entries()) {
    const improved = monitor.observe(m);
    if (!improved && monitor.exhausted) return i + 1;
  }
  return null;
}

describe('Monitor', () => {
  it('stops where keras.callbacks.EarlyStopping stops', () => {
    // keras EarlyStopping(monitor='val_loss', patience=2) on these losses stops after the 4th epoch.
    const losses = [1.0, 0.8, 0.85, 0.9, 0.7];
    expect(stopsAfter(new Monitor({ metric: 'val_loss', patience: 2 }), epochs('val_loss', losses))).toBe(4);
    // patience=0: the first epoch without improvement is the last.
    expect(stopsAfter(new Monitor({ metric: 'val_loss', patience: 0 }), epochs('val_loss', losses))).toBe(3);
    // patience=3: the improvement at epoch 5 comes in time.
    expect(stopsAfter(new Monitor({ metric: 'val_loss', patience: 3 }), epochs('val_loss', losses))).toBeNull();
  });

  it('watches losses downwards and everything else upwards, unless a mode says otherwise', () => {
    const up = new Monitor({ metric: 'val_f1' });
    expect(epochs('val_f1', [0.5, 0.6, 0.55]).map((m) => up.observe(m))).toEqual([true, true, false]);
    expect(up.best).toBe(0.6);
    const forcedDown = new Monitor({ metric: 'val_accuracy', mode: 'min' });
    expect(epochs('val_accuracy', [0.5, 0.6, 0.4]).map((m) => forcedDown.observe(m))).toEqual([true, false, true]);
    const train = new Monitor({ metric: 'loss' });
    expect(epochs('loss', [2, 1]).map((m) => train.observe(m))).toEqual([true, true]);
  });

  it('counts an improvement only beyond min_delta, and skips epochs without the metric', () => {
    const m = new Monitor({ metric: 'val_accuracy', minDelta: 0.05, patience: 2 });
    expect(epochs('val_accuracy', [0.5, 0.54, null, 0.56]).map((r) => m.observe(r))).toEqual([
      true,
      false,
      false,
      true,
    ]);
    // The epoch without a value neither waited nor improved.
    expect(m.wait).toBe(0);
  });
});
