// Forward and backward passes of every layer kind over a range of shapes on the
// chosen libtensorflow, eagerly and as graph-engine training steps. Cases run in a child process: a native crash (SIGFPE,
// SIGSEGV) fails that case and the child restarts at the next one.
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { stressCases } from './stress-cases.ts';

const worker = path.join(path.dirname(fileURLToPath(import.meta.url)), 'stress-worker.ts');

interface Outcome {
  id: string;
  result: 'ok' | 'fail' | 'crash';
  detail?: string;
}

function runFrom(start: number, outcomes: Outcome[], engine: 'eager' | 'graph'): Promise<number> {
  const cases = stressCases();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', worker, String(start), engine], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let current = -1;
    let buffered = '';
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr = (stderr + d).slice(-2000);
    });
    child.stdout.on('data', (d) => {
      buffered += d;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        const ev = JSON.parse(line) as { event: string; i: number; message?: string };
        const id = cases[ev.i]?.id ?? `case ${ev.i}`;
        if (ev.event === 'start') current = ev.i;
        else if (ev.event === 'ok') outcomes.push({ id, result: 'ok' });
        else outcomes.push({ id, result: 'fail', detail: ev.message });
        if (ev.event !== 'start') current = -1;
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (current >= 0) {
        outcomes.push({
          id: cases[current]?.id ?? `case ${current}`,
          result: 'crash',
          detail: `${signal ?? `exit ${code}`} ${stderr.trim().split('\n').at(-1) ?? ''}`,
        });
        resolve(current + 1);
      } else if (code !== 0) {
        reject(new Error(`stress worker exited with ${signal ?? code} between cases: ${stderr}`));
      } else {
        resolve(cases.length);
      }
    });
  });
}

for (const engine of ['eager', 'graph'] as const) {
  it(`every layer kind runs forward and backward without crashing (${engine})`, { timeout: 600_000 }, async () => {
    const total = stressCases().length;
    const outcomes: Outcome[] = [];
    for (let next = 0; next < total; ) next = await runFrom(next, outcomes, engine);
    const bad = outcomes.filter((o) => o.result !== 'ok');
    expect(outcomes).toHaveLength(total);
    expect(bad.map((o) => `${o.result}: ${o.id}: ${o.detail}`)).toEqual([]);
  });
}
