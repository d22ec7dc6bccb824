import { describe, expect, it } from 'vitest';
import { evaluate } from '../../src/train/metrics.ts';

describe('metrics', () => {
  it('accuracy, confusion, per-class and macro precision/recall/F1 as computed by hand', () => {
    // true:      a a a b b c
    // predicted: a a b b c c
    const labels = [0, 0, 0, 1, 1, 2];
    const pick = [0, 0, 1, 1, 2, 2];
    const probs = new Float32Array(pick.flatMap((p) => [0, 1, 2].map((c) => (c === p ? 0.8 : 0.1))));
    const e = evaluate(labels, probs, ['a', 'b', 'c']);
    expect(e.accuracy).toBeCloseTo(4 / 6);
    expect(e.confusion).toEqual([
      [2, 1, 0],
      [0, 1, 1],
      [0, 0, 1],
    ]);
    expect(e.perClass.a).toEqual({ precision: 1, recall: 2 / 3, f1: 0.8, support: 3 });
    expect(e.perClass.b).toEqual({ precision: 0.5, recall: 0.5, f1: 0.5, support: 2 });
    expect(e.perClass.c?.precision).toBeCloseTo(0.5);
    expect(e.perClass.c?.recall).toBe(1);
    expect(e.perClass.c?.f1).toBeCloseTo(2 / 3);
    expect(e.macro.precision).toBeCloseTo((1 + 0.5 + 0.5) / 3);
    expect(e.macro.f1).toBeCloseTo((0.8 + 0.5 + 2 / 3) / 3);
    expect(e.auc).toBeNull();
  });

  it('ROC AUC for two classes, ties counted half', () => {
    // positives score 0.9, 0.4; negatives 0.4, 0.1: pairs (0.9>0.4, 0.9>0.1, 0.4=0.4, 0.4>0.1) -> 3.5 / 4
    const labels = [1, 1, 0, 0];
    const probs = new Float32Array([0.1, 0.9, 0.6, 0.4, 0.6, 0.4, 0.9, 0.1]);
    expect(evaluate(labels, probs, ['neg', 'pos']).auc).toBeCloseTo(3.5 / 4);
  });
});
