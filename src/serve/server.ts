// `run-exp serve`: MLflow's scoring protocol over a run's model. Each request's
// images go through predict's own path (files, the one preprocessing path, the
// model's test-time flip), so an answer is exactly `run-exp predict`'s; the
// model calls of concurrent requests are batched together.
import { timingSafeEqual } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { channelsOf } from '../data/decode.ts';
import type { Tf } from '../platform/tensorflow.ts';
import { type LoadedRun, modelScorer, type Prediction, predictFiles } from '../report/predict.ts';
import { batchingScorer } from './batcher.ts';
import { servePage } from './page.ts';
import { HttpError, readBody, requestImages } from './requests.ts';

export interface ServeOptions {
  host: string;
  port: number;
  /** Bearer token /invocations asks for; /ping, /health and /version stay open for health checks. */
  token?: string;
  maxBodyBytes: number;
  /** Images larger than this (width x height) are refused before decoding: a decompression bomb is small on the wire. */
  maxPixels: number;
  /** Images per model call at most, across the requests batched together. */
  maxBatch: number;
  version: string;
  title: string;
}

export interface Server {
  url: string;
  /** Stops taking connections and resolves once the requests in flight are answered. */
  close(): Promise<void>;
}

/** A prediction as the server answers it: the image's position in the request instead of a file. */
export type Answer = Omit<Prediction, 'file'> & { image: number };

const ERROR_CODES: Record<number, string> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHENTICATED',
  404: 'ENDPOINT_NOT_FOUND',
  405: 'BAD_REQUEST',
  413: 'BAD_REQUEST',
  415: 'BAD_REQUEST',
  500: 'INTERNAL_ERROR',
};

function send(res: ServerResponse, status: number, body: string, type: string, headers: Record<string, string> = {}) {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

const sendJson = (res: ServerResponse, status: number, value: unknown, headers?: Record<string, string>) =>
  send(res, status, `${JSON.stringify(value)}\n`, 'application/json', headers);

const sendError = (res: ServerResponse, status: number, message: string) =>
  sendJson(res, status, { error_code: ERROR_CODES[status] ?? 'BAD_REQUEST', message: message.split('\n')[0] });

function authorized(req: IncomingMessage, token: string | undefined): boolean {
  if (!token) return true;
  const given = Buffer.from(String(req.headers.authorization ?? ''));
  const want = Buffer.from(`Bearer ${token}`);
  return given.length === want.length && timingSafeEqual(given, want);
}

/** Refuses what is not an image, or one too large to decode, reading only its header. */
async function checkImage(bytes: Buffer, i: number, maxPixels: number): Promise<void> {
  let meta: sharp.Metadata;
  try {
    // The header only, without sharp's own pixel limit: this check says what the limit is.
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw new HttpError(400, `image ${i} is not an image sharp can read (${(err as Error).message})`);
  }
  const pixels = (meta.width ?? 0) * (meta.pageHeight ?? meta.height ?? 0);
  if (pixels > maxPixels)
    throw new HttpError(
      400,
      `image ${i} is ${meta.width}x${meta.pageHeight ?? meta.height} pixels, more than the ${maxPixels} the server decodes (--max-pixels)`,
    );
}

export async function startServer(tf: Tf, run: LoadedRun, options: ServeOptions): Promise<Server> {
  const [h, w] = run.preprocessing.size;
  const score = batchingScorer(modelScorer(tf, run), h * w * channelsOf(run.preprocessing), options.maxBatch);
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'run-exp-serve-'));
  const page = servePage(options.title, run.classes);
  let inFlight = 0;
  let drained: (() => void) | null = null;
  let counter = 0;

  const invocations = async (req: IncomingMessage, res: ServerResponse) => {
    const images = await requestImages(req.headers['content-type'], await readBody(req, options.maxBodyBytes));
    await Promise.all(images.map((bytes, i) => checkImage(bytes, i, options.maxPixels)));
    // Through files, as predict reads them: the same decoder choice (JPEG fast path or sharp), byte for byte.
    const files = images.map(() => path.join(scratch, String(counter++)));
    let requests = 0;
    try {
      await Promise.all(files.map((file, i) => writeFile(file, images[i] as Buffer)));
      const predictions = await predictFiles(tf, run, files, {
        // Uploads are one-off files: no face-box cache to grow or to share between concurrent requests.
        cacheDir: null,
        score: async (x, n) => {
          const got = await score(x, n);
          requests = Math.max(requests, got.requests);
          return got.probs;
        },
      });
      const bad = predictions.find((p) => p.error);
      if (bad) throw new HttpError(400, `image ${files.indexOf(bad.file)} cannot be decoded (${bad.error})`);
      const answers: Answer[] = predictions.map(({ file, ...p }) => ({ image: files.indexOf(file), ...p }));
      sendJson(res, 200, { predictions: answers }, { 'x-run-exp-batched-requests': String(requests) });
    } finally {
      await Promise.all(files.map((f) => rm(f, { force: true })));
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const route = `${req.method} ${url.pathname}`;
    if (route === 'GET /ping' || route === 'GET /health') return send(res, 200, '\n', 'text/plain');
    if (route === 'GET /version') return send(res, 200, `${options.version}\n`, 'text/plain');
    if (route === 'GET /') return send(res, 200, page, 'text/html; charset=utf-8');
    if (url.pathname !== '/invocations')
      return sendError(res, 404, `no ${url.pathname}: POST /invocations scores images`);
    if (req.method !== 'POST') return sendError(res, 405, 'POST images to /invocations');
    if (!authorized(req, options.token))
      return sendError(res, 401, 'this server needs Authorization: Bearer <token> (the token it was started with)');
    await invocations(req, res);
  };

  const server = createServer((req, res) => {
    inFlight++;
    handle(req, res)
      .catch((err: unknown) => {
        // A refused body is not read to its end: close the connection rather than parse the rest as a request.
        if (err instanceof HttpError && err.status === 413) res.setHeader('connection', 'close');
        if (err instanceof HttpError) sendError(res, err.status, err.message);
        else sendError(res, 500, err instanceof Error ? err.message : String(err));
      })
      .finally(() => {
        inFlight--;
        if (inFlight === 0) drained?.();
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${port}`,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      if (inFlight > 0) await new Promise<void>((resolve) => (drained = resolve));
      server.closeAllConnections();
      await closed;
      rmSync(scratch, { recursive: true, force: true });
    },
  };
}
