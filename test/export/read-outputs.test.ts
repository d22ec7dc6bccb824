// The web page's readOutputs (browser JS, src/export/web/run-exp-web.js) and
// run-exp's own (src/model/output-meta.ts) read the same row alike, for every
// output type: the page's copy cannot drift.
import { describe, expect, it } from 'vitest';
import { readOutputs as pageReadOutputs } from '../../src/export/web/run-exp-web.js';
import { type OutputMeta, readOutputs } from '../../src/model/output-meta.ts';

describe("the page's readOutputs", () => {
  it('reads category, binary, number (plain and log) and set outputs as run-exp does', () => {
    const outputs: OutputMeta[] = [
      { name: 'gender', type: 'category', names: ['male', 'female'], units: 2 },
      { name: 'age', type: 'number', names: [], units: 1, scale: { mean: 33.2, std: 19.8 } },
      { name: 'smiling', type: 'binary', names: ['not smiling', 'smiling'], units: 1 },
      { name: 'tags', type: 'set', names: ['hat', 'glasses', 'beard'], units: 3, threshold: 0.4 },
      { name: 'years', type: 'number', names: [], units: 1, scale: { mean: 3.3, std: 0.8 }, transform: 'log' },
    ];
    let seed = 11;
    const random = () => {
      seed = (seed * 16807) % 2147483647;
      return seed / 2147483647;
    };
    for (let i = 0; i < 50; i++) {
      const p = random();
      const row = [p, 1 - p, random() * 4 - 2, random(), random(), random(), random(), random() * 4 - 2];
      expect(pageReadOutputs(outputs, row)).toEqual(readOutputs(outputs, row));
    }
  });
});
