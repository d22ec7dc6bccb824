// Tree-structured Parzen estimator (Bergstra et al., NeurIPS 2011), one
// parameter at a time as Optuna's default sampler does. The trials with a
// result split into the best quarter (good) and the rest (bad); each
// parameter's next value is, among 24 draws from the good trials' density
// l(x), the one with the highest l(x) / g(x), g being the bad trials' density.
// Until `startupTrials` results exist, proposals are plain random draws. A
// proposal depends only on the seed, the trial's index and the results given,
// so the same history gives the same trial on every machine.

import { rng } from '../platform/random.ts';
import type { Json, Sweep, SweepParameter } from '../spec/experiment.ts';
import { drawValue } from './expand.ts';

export interface Observation {
  overrides: Record<string, Json>;
  value: number;
  /** Epochs the trial trained: a trial pruned early ranks below every trial that went further. */
  epochs: number;
}

const CANDIDATES = 24;
const GOOD_FRACTION = 0.25;

/** Random proposals until this many trials have a result: a sixth of the trials, 2 to 10 (more random starts lost to random search more often on the test objectives). */
export const startupTrials = (trials: number) => Math.min(10, Math.max(2, Math.ceil(trials / 6)));

/** The seeded generator of one trial's proposal. */
const trialRandom = (seed: number, index: number) =>
  rng((Math.imul(seed + 1, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0);

function normal(random: () => number): number {
  const u = 1 - random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/** erf by Abramowitz and Stegun 7.1.26 (error below 1.5e-7): enough for kernel weights. */
function erf(x: number): number {
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const y =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return x >= 0 ? y : -y;
}
const cdf = (z: number) => 0.5 * (1 + erf(z / Math.SQRT2));

type Range = { min: number; max: number; scale?: 'linear' | 'log'; type?: 'float' | 'int' };
/** A parameter as the estimator sees it: an interval (a log scale as its logarithm) or a list of choices. */
type Dim = { kind: 'range'; lo: number; hi: number; param: Range } | { kind: 'choice'; values: Json[] };

function dimension(p: SweepParameter): Dim {
  if (Array.isArray(p) || 'values' in p) return { kind: 'choice', values: Array.isArray(p) ? p : p.values };
  const log = p.scale === 'log';
  return { kind: 'range', lo: log ? Math.log(p.min) : p.min, hi: log ? Math.log(p.max) : p.max, param: p };
}

/** A trial's overrides as one point: each range's position, each choice's index. */
function toPoint(dims: Dim[], keys: string[], o: Record<string, Json>): number[] {
  return dims.map((d, k) => {
    const v = o[keys[k] as string] as Json;
    if (d.kind === 'choice')
      return Math.max(
        0,
        d.values.findIndex((x) => JSON.stringify(x) === JSON.stringify(v)),
      );
    return d.param.scale === 'log' ? Math.log(v as number) : (v as number);
  });
}

/**
 * A Parzen estimator over all the parameters at once (Optuna's multivariate TPE): one kernel
 * per trial, a product of a truncated Gaussian for each range and, for each choice, the trial's
 * choice with weight 1 + 1/K and every choice with 1/K (normalised); plus a wide prior kernel.
 * Jointly, a good learning rate that went with a bad optimizer does not make that optimizer look good.
 */
class Parzen {
  private readonly sigmas: number[];

  constructor(
    private readonly dims: Dim[],
    private readonly points: number[][],
  ) {
    const n = Math.max(1, points.length);
    // Scott-like bandwidth, shrinking with the number of trials.
    this.sigmas = dims.map((d) => (d.kind === 'range' ? (d.hi - d.lo || 1) * 0.2 * n ** (-1 / (dims.length + 4)) : 0));
  }

  /** Kernel i: a trial's point, or the prior (i = points.length) centred on every range. */
  private centre(i: number, k: number): number {
    const d = this.dims[k] as Dim;
    const p = this.points[i];
    return p ? (p[k] as number) : d.kind === 'range' ? (d.lo + d.hi) / 2 : -1;
  }

  private sigma(i: number, k: number): number {
    const d = this.dims[k] as Dim;
    return i === this.points.length && d.kind === 'range' ? d.hi - d.lo || 1 : (this.sigmas[k] as number);
  }

  sample(random: () => number): number[] {
    const i = Math.floor(random() * (this.points.length + 1));
    return this.dims.map((d, k) => {
      const c = this.centre(i, k);
      if (d.kind === 'choice') {
        const K = d.values.length;
        // The kernel's choice with probability (1 + 1/K) / 2, else any choice evenly; the prior: any.
        return c >= 0 && random() < 0.5 ? c : Math.floor(random() * K);
      }
      const s = this.sigma(i, k);
      for (let tries = 0; tries < 100; tries++) {
        const x = c + s * normal(random);
        if (x >= d.lo && x <= d.hi) return x;
      }
      return Math.min(d.hi, Math.max(d.lo, c));
    });
  }

  logDensity(x: number[]): number {
    let p = 0;
    for (let i = 0; i <= this.points.length; i++) {
      let q = 1;
      this.dims.forEach((d, k) => {
        const c = this.centre(i, k);
        if (d.kind === 'choice') {
          const K = d.values.length;
          q *= c < 0 ? 1 / K : ((x[k] === c ? 1 : 0) + 1 / K) / 2;
          return;
        }
        const s = this.sigma(i, k);
        const mass = cdf((d.hi - c) / s) - cdf((d.lo - c) / s);
        q *= Math.exp(-0.5 * (((x[k] as number) - c) / s) ** 2) / (s * Math.sqrt(2 * Math.PI) * Math.max(mass, 1e-12));
      });
      p += q;
    }
    return Math.log(p / (this.points.length + 1) + 1e-300);
  }
}

/** A point back to overrides, written as method: random writes its draws. */
function fromPoint(dims: Dim[], keys: string[], x: number[]): Record<string, Json> {
  return Object.fromEntries(
    dims.map((d, k) => {
      const u = x[k] as number;
      if (d.kind === 'choice') return [keys[k], d.values[u] as Json];
      const v = Math.min(d.param.max, Math.max(d.param.min, d.param.scale === 'log' ? Math.exp(u) : u));
      return [keys[k], d.param.type === 'int' ? Math.round(v) : Number(v.toPrecision(6))];
    }),
  );
}

/** The overrides of trial `index`, proposed from the results so far. */
export function proposeTpe(sweep: Sweep, index: number, history: Observation[]): Record<string, Json> {
  const random = trialRandom(sweep.seed, index);
  const keys = Object.keys(sweep.parameters);
  const param = (k: string) => sweep.parameters[k] as SweepParameter;
  if (history.length < startupTrials(sweep.trials ?? 1)) {
    return Object.fromEntries(keys.map((k) => [k, drawValue(param(k), random)]));
  }
  const sign = sweep.goal === 'maximize' ? -1 : 1;
  const ranked = [...history].sort((a, b) => b.epochs - a.epochs || sign * (a.value - b.value));
  const nGood = Math.max(1, Math.ceil(GOOD_FRACTION * ranked.length));
  const dims = keys.map((k) => dimension(param(k)));
  const points = ranked.map((o) => toPoint(dims, keys, o.overrides));
  const l = new Parzen(dims, points.slice(0, nGood));
  const g = new Parzen(dims, points.slice(nGood));
  let best: number[] = [];
  let score = Number.NEGATIVE_INFINITY;
  for (let c = 0; c < CANDIDATES; c++) {
    const x = l.sample(random);
    const s = l.logDensity(x) - g.logDensity(x);
    if (s > score) [best, score] = [x, s];
  }
  return fromPoint(dims, keys, best);
}
