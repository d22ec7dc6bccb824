// The loss and schedule registries' factories against hand-computed values.
import { describe, expect, it } from 'vitest';
import { makeLoss } from '../../src/engine/losses.ts';
import { loadTensorflow } from '../../src/platform/tensorflow.ts';
import type { EpochMetrics } from '../../src/spec/events.ts';
import type { LOSSES } from '../../src/spec/losses.ts';
import { SCHEDULES } from '../../src/spec/schedules.ts';
import { makeSchedule } from '../../src/train/make-schedule.ts';

describe('losses', () => {
  it('every registry entry has a factory, with values computed by hand, weighted per example too', async () => {
    const { tf } = await loadTensorflow();
    const y = tf.tensor2d([
      [1, 0],
      [0, 1],
    ]);
    const p = tf.tensor2d([
      [0.8, 0.2],
      [0.4, 0.6],
    ]);
    const want: Record<keyof typeof LOSSES, number> = {
      categorical_crossentropy: -(Math.log(0.8) + Math.log(0.6)) / 2,
      binary_crossentropy: -(Math.log(0.8) + Math.log(0.8) + Math.log(0.6) + Math.log(0.6)) / 4,
      mean_squared_error: (0.04 + 0.04 + 0.16 + 0.16) / 4,
      hinge: (0.2 + 1.2 + 1.4 + 0.4) / 4,
    };
    for (const [type, value] of Object.entries(want)) {
      expect(makeLoss(tf, { type, label_smoothing: 0 })(y, p).dataSync()[0], type).toBeCloseTo(value, 5);
    }
    // Smoothing 0.2 over 2 classes: targets 0.9 / 0.1.
    const smoothed = -(0.9 * Math.log(0.8) + 0.1 * Math.log(0.2) + 0.1 * Math.log(0.4) + 0.9 * Math.log(0.6)) / 2;
    expect(makeLoss(tf, { type: 'categorical_crossentropy', label_smoothing: 0.2 })(y, p).dataSync()[0]).toBeCloseTo(
      smoothed,
      5,
    );
    // Per-example weights (class_weights): each example's loss times its weight, over the batch size.
    const w = tf.tensor1d([0.5, 3]);
    const weighted: Record<keyof typeof LOSSES, number> = {
      categorical_crossentropy: -(0.5 * Math.log(0.8) + 3 * Math.log(0.6)) / 2,
      binary_crossentropy: -(0.5 * Math.log(0.8) + 3 * Math.log(0.6)) / 2,
      mean_squared_error: (0.5 * 0.04 + 3 * 0.16) / 2,
      hinge: ((0.5 * (0.2 + 1.2)) / 2 + (3 * (1.4 + 0.4)) / 2) / 2,
    };
    for (const [type, value] of Object.entries(weighted))
      expect(makeLoss(tf, { type, label_smoothing: 0 })(y, p, w).dataSync()[0], type).toBeCloseTo(value, 5);
  });
});

describe('learning-rate schedules', () => {
  it('every registry entry has a factory', () => {
    for (const type of Object.keys(SCHEDULES)) {
      expect(() =>
        makeSchedule(
          { type, step_size: 1, gamma: 0.5, min_lr: 0, monitor: 'val_loss', factor: 0.5, patience: 1 },
          0.1,
          10,
        ),
      ).not.toThrow();
    }
  });

  it('step, exponential and cosine give the rates of their formulas', () => {
    const step = makeSchedule({ type: 'step', step_size: 2, gamma: 0.1 }, 1, 10);
    expect([0, 1, 2, 3, 4].map((e) => step.lr(e))).toEqual([1, 1, 0.1, 0.1, 0.010000000000000002]);
    const exp = makeSchedule({ type: 'exponential', gamma: 0.5 }, 0.8, 10);
    expect([0, 1, 2].map((e) => exp.lr(e))).toEqual([0.8, 0.4, 0.2]);
    const cos = makeSchedule({ type: 'cosine', min_lr: 0.1 }, 1.1, 5);
    expect(cos.lr(0)).toBeCloseTo(1.1);
    expect(cos.lr(2)).toBeCloseTo(0.6);
    expect(cos.lr(4)).toBeCloseTo(0.1);
  });

  it('plateau drops the rate once `patience` epochs in a row have not improved (as Keras), not below min_lr', () => {
    const rates = (patience: number, losses: number[]) => {
      const s = makeSchedule({ type: 'plateau', monitor: 'val_loss', factor: 0.5, patience, min_lr: 0.2 }, 1, 10);
      return losses.map((loss) => {
        s.observe({ val_loss: loss } as unknown as EpochMetrics);
        return s.lr(0);
      });
    };
    expect(rates(1, [1, 0.9, 0.95, 0.95, 0.95, 0.95])).toEqual([1, 1, 0.5, 0.25, 0.2, 0.2]);
    // Keras ReduceLROnPlateau(patience=2) on the same losses: a drop on the second epoch without improvement.
    expect(rates(2, [1, 0.9, 0.95, 0.95, 0.8, 0.85, 0.85])).toEqual([1, 1, 1, 0.5, 0.5, 0.5, 0.25]);
    // An accuracy is watched upwards (the same rule as early stopping and the best checkpoint).
    const acc = makeSchedule({ type: 'plateau', monitor: 'val_auc', factor: 0.5, patience: 1, min_lr: 0 }, 1, 10);
    for (const auc of [0.8, 0.9]) acc.observe({ val_auc: auc } as unknown as EpochMetrics);
    expect(acc.lr(0)).toBe(1);
  });
});
