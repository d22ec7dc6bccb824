// `run-exp doctor`: is the native TensorFlow backend installed and in use?

import { jpegFastPath } from '../data/jpeg-fast.ts';
import { backendReport } from '../platform/tensorflow.ts';
import { graphMode } from '../platform/tf-graph.ts';

export async function doctor(options: { json?: boolean }, out: (s: string) => void): Promise<number> {
  const r = await backendReport();
  const ok = r.checks.every((c) => c.ok);
  // Optional: without it sharp decodes every image, correctly but slower for small JPEGs.
  const jpeg = jpegFastPath();
  const graph = graphMode();
  if (options.json) {
    out(`${JSON.stringify({ ok, ...r, jpegFastPath: jpeg, graphEngine: graph }, null, 2)}\n`);
    return ok ? 0 : 1;
  }
  const lines = [
    `backend          ${r.backend}${r.native ? ' (native libtensorflow)' : ''}`,
    `libtensorflow    ${r.libtensorflow ?? '-'}${r.build ? ` (from ${r.build.filename})` : ''}`,
    `tfjs             ${r.tfjs}`,
    `node             ${r.node}`,
    `threads          intra-op ${r.intraOpThreads}, inter-op ${r.interOpThreads ?? 'default'}, cores ${r.cores}`,
    `graph engine     ${graph.available ? 'on (TensorFlow graph mode through the C API)' : `off, training runs eagerly: ${graph.why}`}`,
    `jpeg fast path   ${jpeg.available ? 'on (libjpeg-turbo inside libtensorflow, DCT scaling; sharp for other formats)' : `off, sharp decodes everything: ${jpeg.why}`}`,
    '',
    ...r.checks.map((c) => `${c.ok ? 'ok  ' : 'FAIL'}  ${c.name}: ${c.detail}`),
    '',
    ok ? 'everything needed is present' : 'something is missing: see the FAIL lines',
  ];
  out(`${lines.join('\n')}\n`);
  return ok ? 0 : 1;
}
