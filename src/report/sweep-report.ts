// `run-exp sweep <file> --report`: one PNG of a sweep, every trial's metric by
// epoch (pruned trials dashed, a cross where they stopped) above the final
// metric against each swept parameter.
import type { Json, Sweep } from '../spec/experiment.ts';
import { CONFIG, toPng } from './plots.ts';
import type { SweepSummary } from './sweep-summary.ts';

const numeric = (values: Json[]) => values.every((v) => typeof v === 'number');

export async function sweepReport(s: SweepSummary, sweep: Sweep, title: string, file: string): Promise<void> {
  const curves = s.rows.flatMap((r) =>
    r.curve.map((p) => ({
      trial: `trial ${r.index}`,
      epoch: p.epoch,
      value: p.value,
      status: r.status,
      end: p.epoch === r.curve.at(-1)?.epoch && r.status === 'PRUNED',
    })),
  );
  const done = s.rows.filter((r) => r.value !== null && (r.status === 'FINISHED' || r.status === 'PRUNED'));
  const color = {
    field: 'status',
    type: 'nominal' as const,
    scale: { domain: ['FINISHED', 'PRUNED', 'RUNNING', 'KILLED', 'FAILED'] },
  };
  const byEpoch = {
    title: `${s.metric} by epoch, every trial`,
    width: 620,
    height: 260,
    data: { values: curves },
    layer: [
      {
        mark: { type: 'line' as const, opacity: 0.8 },
        encoding: {
          x: { field: 'epoch', type: 'quantitative' as const, axis: { format: 'd', tickMinStep: 1 } },
          y: { field: 'value', type: 'quantitative' as const, title: s.metric, scale: { zero: false } },
          detail: { field: 'trial', type: 'nominal' as const },
          color,
          strokeDash: {
            field: 'status',
            type: 'nominal' as const,
            scale: {
              domain: ['FINISHED', 'PRUNED'],
              range: [
                [1, 0],
                [4, 3],
              ],
            },
            legend: null,
          },
        },
      },
      {
        transform: [{ filter: 'datum.end' }],
        mark: { type: 'point' as const, shape: 'cross', size: 90, filled: true },
        encoding: {
          x: { field: 'epoch', type: 'quantitative' as const },
          y: { field: 'value', type: 'quantitative' as const },
          color,
        },
      },
    ],
  };
  const perParameter = Object.entries(sweep.parameters).map(([key, p]) => {
    const listed = Array.isArray(p) ? p : 'values' in p ? p.values : null;
    const log = !listed && 'scale' in p && p.scale === 'log';
    const values = done.map((r) => ({
      x: typeof r.overrides[key] === 'number' ? r.overrides[key] : JSON.stringify(r.overrides[key]),
      value: r.value,
      status: r.status,
      trial: r.index,
    }));
    const ordinal = listed !== null && !numeric(listed);
    return {
      title: key,
      width: 200,
      height: 180,
      data: { values },
      mark: { type: 'point' as const, filled: true, size: 60 },
      encoding: {
        x: ordinal
          ? { field: 'x', type: 'ordinal' as const, title: key }
          : {
              field: 'x',
              type: 'quantitative' as const,
              title: key,
              scale: { type: log ? 'log' : 'linear', zero: false },
            },
        y: { field: 'value', type: 'quantitative' as const, title: s.metric, scale: { zero: false } },
        color,
        tooltip: [{ field: 'trial' }],
      },
    };
  });
  await toPng(
    {
      $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
      title,
      config: CONFIG,
      vconcat: [byEpoch, { hconcat: perParameter }],
    } as never,
    file,
  );
}
