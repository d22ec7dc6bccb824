// How far apart two models' weights are: the largest absolute difference, weight by weight.

/** The largest |a - b| over every value of every weight (a missing value in `b` counts as 0). */
export function maxDiff(a: number[][], b: number[][]): number {
  let d = 0;
  for (const [i, row] of a.entries())
    for (const [j, v] of row.entries()) d = Math.max(d, Math.abs(v - (b[i]?.[j] ?? 0)));
  return d;
}
