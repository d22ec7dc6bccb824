// `run-exp serve --run <run> | --model models:/...`: the model behind MLflow's
// scoring protocol until SIGTERM or Ctrl-C, which finish the requests in flight.
import { readFileSync } from 'node:fs';
import { loadTensorflow } from '../platform/tensorflow.ts';
import { loadRun } from '../report/predict.ts';
import { startServer } from '../serve/server.ts';
import { RunExpError } from '../spec/errors.ts';
import { modelFolder } from './model-source.ts';

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);
const VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

export interface ServeCommandOptions {
  run?: string;
  model?: string;
  host: string;
  port: string;
  token?: string;
  maxBody: string;
  maxPixels: string;
  maxBatch: string;
  env?: NodeJS.ProcessEnv;
}

const positive = (value: string, flag: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new RunExpError(`${flag} '${value}': give a positive whole number`);
  return n;
};

export async function serveCommand(
  options: ServeCommandOptions,
  out: (s: string) => void,
  err: (s: string) => void,
): Promise<number> {
  const token = options.token ?? options.env?.RUN_EXP_SERVE_TOKEN;
  if (!LOOPBACK.has(options.host) && !token)
    throw new RunExpError(
      `--host ${options.host} takes requests from other machines: give a token (--token or RUN_EXP_SERVE_TOKEN) that clients send as Authorization: Bearer <token>`,
    );
  const port = Number(options.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new RunExpError(`--port '${options.port}': give a port number from 0 to 65535`);
  const folder = await modelFolder(options, err);
  const { tf } = await loadTensorflow();
  const run = await loadRun(tf, folder);
  const server = await startServer(tf, run, {
    host: options.host,
    port,
    token,
    maxBodyBytes: positive(options.maxBody, '--max-body') * 1024 * 1024,
    maxPixels: positive(options.maxPixels, '--max-pixels') * 1_000_000,
    maxBatch: positive(options.maxBatch, '--max-batch'),
    version: VERSION,
    title: `run-exp: ${options.model ?? folder}`,
  }).catch((e: NodeJS.ErrnoException) => {
    throw e.code === 'EADDRINUSE'
      ? new RunExpError(`port ${port} on ${options.host} is in use: give another with --port`)
      : e;
  });
  out(
    `serving ${run.classes.join('/')} from ${folder} at ${server.url} (POST /invocations; a page at /)${token ? ', token required' : ''}\n`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
  out('stopping: finishing the requests in flight\n');
  await server.close();
  return 0;
}
