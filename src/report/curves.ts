// Calibration and ranking of a set's predictions: the reliability diagram and
// its expected calibration error, ROC and precision-recall curves; drawn as
// small inline SVG charts, so a report needs no script or network to show them.

export interface Reliability {
  /** Per confidence bin (of equal width): images, mean confidence, accuracy. */
  bins: { from: number; to: number; images: number; confidence: number; accuracy: number }[];
  /** Expected calibration error: the images-weighted mean |accuracy - confidence|. */
  ece: number;
}

/** Bins the top-class confidence of each prediction; `correct[i]` says whether prediction i was right. */
export function reliability(confidence: number[], correct: boolean[], bins = 10): Reliability {
  const out = Array.from({ length: bins }, (_, b) => ({ from: b / bins, to: (b + 1) / bins, n: 0, conf: 0, right: 0 }));
  for (const [i, c] of confidence.entries()) {
    const bin = out[Math.min(bins - 1, Math.floor(c * bins))] as (typeof out)[number];
    bin.n++;
    bin.conf += c;
    if (correct[i]) bin.right++;
  }
  const n = confidence.length;
  const ece = out.reduce((s, b) => s + (b.n ? (b.n / n) * Math.abs(b.right / b.n - b.conf / b.n) : 0), 0);
  return {
    bins: out.map((b) => ({
      from: b.from,
      to: b.to,
      images: b.n,
      confidence: b.n ? b.conf / b.n : 0,
      accuracy: b.n ? b.right / b.n : 0,
    })),
    ece,
  };
}

export type Point = [number, number];

/** ROC (false positive rate, true positive rate) and precision-recall points of `score` for `positive`, and their areas. */
export function rankingCurves(
  score: number[],
  positive: boolean[],
): { roc: Point[]; pr: Point[]; auc: number; ap: number } | null {
  const pos = positive.filter(Boolean).length;
  const neg = positive.length - pos;
  if (pos === 0 || neg === 0) return null;
  const order = score.map((s, i) => [s, i] as const).sort((a, b) => b[0] - a[0]);
  const roc: Point[] = [[0, 0]];
  const pr: Point[] = [[0, 1]];
  let [tp, fp, auc, ap] = [0, 0, 0, 0];
  for (let k = 0; k < order.length; ) {
    // Tied scores move together: one step of the curve.
    let j = k;
    const [tp0, fp0] = [tp, fp];
    while (
      j < order.length &&
      (order[j] as readonly [number, number])[0] === (order[k] as readonly [number, number])[0]
    ) {
      if (positive[(order[j] as readonly [number, number])[1]]) tp++;
      else fp++;
      j++;
    }
    auc += ((fp - fp0) / neg) * ((tp + tp0) / 2 / pos);
    ap += ((tp - tp0) / pos) * (tp / (tp + fp));
    roc.push([fp / neg, tp / pos]);
    pr.push([tp / pos, tp / (tp + fp)]);
    k = j;
  }
  return { roc, pr, auc, ap };
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A square line chart on [0, 1] x [0, 1]: each series a polyline, an optional diagonal, axis titles. */
export function lineChart(
  title: string,
  axes: [string, string],
  series: { name: string; points: Point[]; colour: string; dots?: boolean }[],
  diagonal = false,
): string {
  const [w, h, m] = [260, 260, 40];
  const x = (v: number) => (m + v * (w - m - 10)).toFixed(1);
  const y = (v: number) => (h - m - v * (h - m - 10)).toFixed(1);
  const grid = [0, 0.25, 0.5, 0.75, 1]
    .map(
      (t) =>
        `<line x1="${x(t)}" y1="${y(0)}" x2="${x(t)}" y2="${y(1)}" class="grid"/><line x1="${x(0)}" y1="${y(t)}" x2="${x(1)}" y2="${y(t)}" class="grid"/>` +
        `<text x="${x(t)}" y="${h - m + 14}" text-anchor="middle">${t}</text><text x="${m - 6}" y="${Number(y(t)) + 4}" text-anchor="end">${t}</text>`,
    )
    .join('');
  const lines = series
    .map((s) => {
      const pts = s.points.map(([a, b]) => `${x(a)},${y(b)}`).join(' ');
      const dots = s.dots
        ? s.points.map(([a, b]) => `<circle cx="${x(a)}" cy="${y(b)}" r="3" fill="${s.colour}"/>`).join('')
        : '';
      return `<polyline points="${pts}" fill="none" stroke="${s.colour}" stroke-width="2"><title>${esc(s.name)}</title></polyline>${dots}`;
    })
    .join('');
  const diag = diagonal ? `<line x1="${x(0)}" y1="${y(0)}" x2="${x(1)}" y2="${y(1)}" class="diag"/>` : '';
  return `<figure class="chart"><svg viewBox="0 0 ${w} ${h}" width="${w}" height="${h}" role="img" aria-label="${esc(title)}">${grid}${diag}${lines}<text x="${(w + m) / 2}" y="${h - 6}" text-anchor="middle" class="axis">${esc(axes[0])}</text><text x="12" y="${(h - m) / 2}" text-anchor="middle" class="axis" transform="rotate(-90 12 ${(h - m) / 2})">${esc(axes[1])}</text></svg><figcaption>${esc(title)}</figcaption></figure>`;
}
