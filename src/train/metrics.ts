// Classification metrics from labels and predicted class probabilities.

export interface ClassMetrics {
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

export interface Evaluation {
  accuracy: number;
  /** confusion[true][predicted] */
  confusion: number[][];
  perClass: Record<string, ClassMetrics>;
  macro: { precision: number; recall: number; f1: number };
  /** ROC AUC of the second class against the first; two classes only. */
  auc: number | null;
}

const ratio = (a: number, b: number) => (b === 0 ? 0 : a / b);

/** `probs` holds labels.length rows of classes.length probabilities. */
export function evaluate(labels: ArrayLike<number>, probs: Float32Array, classes: string[]): Evaluation {
  const k = classes.length;
  const n = labels.length;
  const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < k; c++) if ((probs[i * k + c] as number) > (probs[i * k + best] as number)) best = c;
    const row = confusion[labels[i] as number] as number[];
    row[best] = (row[best] as number) + 1;
  }
  const perClass: Record<string, ClassMetrics> = {};
  let correct = 0;
  for (const [c, name] of classes.entries()) {
    const tp = (confusion[c] as number[])[c] as number;
    correct += tp;
    const predicted = confusion.reduce((s, row) => s + (row[c] as number), 0);
    const actual = (confusion[c] as number[]).reduce((s, v) => s + v, 0);
    const precision = ratio(tp, predicted);
    const recall = ratio(tp, actual);
    perClass[name] = { precision, recall, f1: ratio(2 * precision * recall, precision + recall), support: actual };
  }
  const mean = (f: (m: ClassMetrics) => number) => Object.values(perClass).reduce((s, m) => s + f(m), 0) / k;
  return {
    accuracy: ratio(correct, n),
    confusion,
    perClass,
    macro: { precision: mean((m) => m.precision), recall: mean((m) => m.recall), f1: mean((m) => m.f1) },
    auc: k === 2 ? rocAuc(labels, probs) : null,
  };
}

/** ROC AUC as the probability that a random positive scores above a random negative (ties count half). */
function rocAuc(labels: ArrayLike<number>, probs: Float32Array): number | null {
  const scored = Array.from({ length: labels.length }, (_, i) => ({
    s: probs[i * 2 + 1] as number,
    y: labels[i] as number,
  })).sort((a, b) => a.s - b.s);
  let pos = 0;
  let rankSum = 0;
  for (let i = 0; i < scored.length; ) {
    let j = i;
    while (j < scored.length && (scored[j] as { s: number }).s === (scored[i] as { s: number }).s) j++;
    const avgRank = (i + 1 + j) / 2;
    for (let t = i; t < j; t++) {
      if ((scored[t] as { y: number }).y === 1) {
        pos++;
        rankSum += avgRank;
      }
    }
    i = j;
  }
  const neg = scored.length - pos;
  if (pos === 0 || neg === 0) return null;
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}
