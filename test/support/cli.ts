// The CLI run in-process as a user runs it, with what it prints captured; or
// as a real process, to signal and kill.
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/program.ts';

const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'run-exp.js');

/** bin/run-exp.js in a child process; `onLine` sees each line it prints and may signal it. */
export function spawnCli(
  args: string[],
  cwd: string,
  onLine?: (line: string, kill: (signal?: NodeJS.Signals) => void) => void,
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    let out = '';
    // Lines of either stream, as they come.
    const read = (d: Buffer) => {
      out += d;
      for (const line of String(d).split('\n')) if (line) onLine?.(line, (signal = 'SIGINT') => child.kill(signal));
    };
    child.stdout.on('data', read);
    child.stderr.on('data', read);
    child.on('close', (code) => resolve({ code, out }));
  });
}

export async function cli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(args, {
    out: (s) => {
      out += s;
    },
    err: (s) => {
      err += s;
    },
    env,
  });
  return { code, out, err };
}
