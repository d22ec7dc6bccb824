// `run-exp serve` with a real model, real sharp and real HTTP: MLflow's scoring
// protocol in each body shape answering exactly what `run-exp predict` says,
// concurrent requests batched, every kind of bad input a one-line 4xx with the
// server still serving after 1,000 of them, the token, and SIGTERM draining.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveExperiment } from '../../src/config/resolve.ts';
import { loadTensorflow } from '../../src/platform/tensorflow.ts';
import { type LoadedRun, loadRun, type Prediction, predictFiles } from '../../src/report/predict.ts';
import { runExperiment } from '../../src/runner/run.ts';
import { type ServeOptions, type Server, startServer } from '../../src/serve/server.ts';
import { tempDir } from '../data/fixtures.ts';
import { dataset, experimentFile } from '../support/toy.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const OPTIONS: ServeOptions = {
  host: '127.0.0.1',
  port: 0,
  maxBodyBytes: 1024 * 1024,
  maxPixels: 50_000_000,
  maxBatch: 64,
  version: 'test',
  title: 'toy',
};

let dir = '';
let runDir = '';
let run: LoadedRun;
let server: Server;
let files: string[] = [];
let expected: Prediction[] = [];

beforeAll(async () => {
  const { tf } = await loadTensorflow();
  dir = tempDir('run-exp-serve-');
  await dataset(path.join(dir, 'images'), 6);
  const resolved = resolveExperiment(experimentFile(dir), {
    env: {},
    set: ['training.epochs=2', 'data.test_time_flip=true'],
  });
  const result = await runExperiment(resolved, {}, path.join(dir, 'cache'));
  runDir = result.run.dir;
  run = await loadRun(tf, runDir);
  files = ['top/0.png', 'top/1.png', 'bottom/0.png', 'bottom/1.png'].map((f) => path.join(dir, 'images', f));
  expected = await predictFiles(tf, run, files);
  server = await startServer(tf, run, OPTIONS);
}, 120_000);

afterAll(async () => {
  await server?.close();
});

/**
 * Checks a server answer against predict's for `files[i]` at each place: the same label, face and
 * note, and probabilities to 1e-6 (a batch of another size may round the last bit otherwise).
 */
function expectAnswers(got: unknown, images: number[]) {
  const predictions = (got as { predictions: (Omit<Prediction, 'file'> & { image: number })[] }).predictions;
  expect(predictions).toHaveLength(images.length);
  for (const [at, i] of images.entries()) {
    const { file: _, probabilities, ...rest } = expected[i] as Prediction;
    const { probabilities: theirs, ...mine } = predictions[at] as Omit<Prediction, 'file'> & { image: number };
    expect(mine).toEqual({ image: at, ...rest });
    for (const [cls, p] of Object.entries(probabilities ?? {}))
      expect(Math.abs((theirs?.[cls] as number) - p)).toBeLessThan(1e-6);
  }
}

async function post(body: RequestInit['body'], type: string, headers: Record<string, string> = {}, url = server.url) {
  const res = await fetch(`${url}/invocations`, {
    method: 'POST',
    body,
    headers: { 'content-type': type, ...headers },
  });
  const text = await res.text();
  return { status: res.status, text, json: JSON.parse(text), headers: res.headers };
}

const b64 = (i: number) => readFileSync(files[i] as string).toString('base64');

/** A PNG whose header says `width` x `height` and whose data is a few bytes: small on the wire, huge decoded. */
function bombPng(width: number, height: number): Buffer {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (b: Buffer) => {
    let c = 0xffffffff;
    for (const x of b) c = (crcTable[(c ^ x) & 0xff] as number) ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(body));
    return Buffer.concat([len, body, sum]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.alloc(1024))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

describe('run-exp serve', () => {
  it("answers MLflow's scoring protocol in every body shape with predict's figures", async () => {
    for (const route of ['/ping', '/health']) {
      const res = await fetch(`${server.url}${route}`);
      expect(res.status).toBe(200);
    }
    expect(await (await fetch(`${server.url}/version`)).text()).toBe('test\n');
    const page = await (await fetch(`${server.url}/`)).text();
    expect(page).toContain('<title>toy</title>');
    expect(page).toContain('bottom, top');

    const raw = await post(readFileSync(files[0] as string), 'image/png');
    expect(raw.status).toBe(200);
    expectAnswers(raw.json, [0]);

    const inputs = await post(JSON.stringify({ inputs: [{ b64: b64(1) }, b64(2)] }), 'application/json');
    expectAnswers(inputs.json, [1, 2]);
    const instances = await post(JSON.stringify({ instances: [{ b64: b64(3) }] }), 'application/json');
    expectAnswers(instances.json, [3]);
    const split = await post(
      JSON.stringify({ dataframe_split: { columns: ['image'], data: [[b64(2)], [b64(0)]] } }),
      'application/json',
    );
    expectAnswers(split.json, [2, 0]);
    const records = await post(JSON.stringify({ dataframe_records: [{ image: b64(1) }] }), 'application/json');
    expectAnswers(records.json, [1]);

    const form = new FormData();
    for (const i of [3, 0]) form.append(`photo${i}`, new Blob([readFileSync(files[i] as string)]), `${i}.png`);
    const res = await fetch(`${server.url}/invocations`, { method: 'POST', body: form });
    expectAnswers(await res.json(), [3, 0]);
  });

  it('batches 16 concurrent clients together, each answer still exactly predict', async () => {
    const clients = Array.from({ length: 16 }, async (_, c) => {
      const got: { i: number; status: number; json: unknown; batched: number }[] = [];
      for (let r = 0; r < 4; r++) {
        const i = (c + r) % files.length;
        const res = await post(readFileSync(files[i] as string), 'image/png');
        got.push({
          i,
          status: res.status,
          json: res.json,
          batched: Number(res.headers.get('x-run-exp-batched-requests')),
        });
      }
      return got;
    });
    const all = (await Promise.all(clients)).flat();
    expect(all).toHaveLength(64);
    for (const g of all) {
      expect(g.status).toBe(200);
      expectAnswers(g.json, [g.i]);
    }
    const batched = all.map((g) => g.batched);
    console.log(`serve: requests per batch ${JSON.stringify(batched.sort((a, b) => a - b))}`);
    expect(Math.max(...batched)).toBeGreaterThan(1);
  });

  it('bad input: a one-line 4xx JSON error each, and the server still answers after 1,000 of them', async () => {
    const jpeg = await sharp(readFileSync(files[0] as string))
      .resize(200, 200)
      .jpeg()
      .toBuffer();
    const png = readFileSync(files[1] as string);
    const bad: [string, () => Promise<{ status: number; text: string }>, number, RegExp][] = [
      ['not an image', () => post(Buffer.from('hello, not an image'), 'image/png'), 400, /image 0 is not an image/],
      ['truncated JPEG', () => post(jpeg.subarray(0, jpeg.length >> 1), 'image/jpeg'), 400, /image 0/],
      ['truncated PNG', () => post(png.subarray(0, png.length - 20), 'image/png'), 400, /image 0/],
      [
        'decompression bomb',
        () => post(bombPng(60_000, 60_000), 'image/png'),
        400,
        /60000x60000 pixels, more than the 50000000/,
      ],
      ['oversized body', () => post(Buffer.alloc(2 * 1024 * 1024), 'image/png'), 413, /larger than the 1048576 bytes/],
      ['not JSON', () => post('{"inputs": [', 'application/json'), 400, /not JSON/],
      ['wrong JSON shape', () => post('{"rows": []}', 'application/json'), 400, /no "inputs"/],
      ['not base64', () => post('{"inputs": ["%%%"]}', 'application/json'), 400, /inputs\[0\] is not a base64 image/],
      ['empty list', () => post('{"inputs": []}', 'application/json'), 400, /non-empty list/],
      ['wrong content type', () => post('x', 'text/plain'), 415, /content type 'text\/plain'/],
      ['empty body', () => post(Buffer.alloc(0), 'image/png'), 400, /body is empty/],
      [
        'a form without files',
        () => post(new URLSearchParams({ a: 'b' }), 'multipart/form-data; boundary=x'),
        400,
        /multipart/,
      ],
    ];
    for (const [what, send, status, message] of bad) {
      const res = await send();
      expect(res.status, what).toBe(status);
      expect(res.text.trimEnd().split('\n'), what).toHaveLength(1);
      expect(JSON.parse(res.text).message, what).toMatch(message);
    }
    const notFound = await fetch(`${server.url}/predict`);
    expect(notFound.status).toBe(404);
    expect((await fetch(`${server.url}/invocations`)).status).toBe(405);

    for (let k = 0; k < 1000; k++) {
      const [what, send, status] = bad[k % bad.length] as (typeof bad)[number];
      expect((await send()).status, what).toBe(status);
    }
    const good = await post(readFileSync(files[2] as string), 'image/png');
    expect(good.status).toBe(200);
    expectAnswers(good.json, [2]);
  }, 120_000);

  it('asks for the bearer token on /invocations only, when started with one', async () => {
    const { tf } = await loadTensorflow();
    const guarded = await startServer(tf, run, { ...OPTIONS, token: 's3cret' });
    try {
      const image = readFileSync(files[0] as string);
      expect((await post(image, 'image/png', {}, guarded.url)).status).toBe(401);
      expect((await post(image, 'image/png', { authorization: 'Bearer wrong' }, guarded.url)).status).toBe(401);
      const ok = await post(image, 'image/png', { authorization: 'Bearer s3cret' }, guarded.url);
      expectAnswers(ok.json, [0]);
      expect((await fetch(`${guarded.url}/ping`)).status).toBe(200);
    } finally {
      await guarded.close();
    }
  });

  it('the CLI: refuses a non-loopback host without a token (exit 2); SIGTERM answers the request in flight, then exits 0', async () => {
    const cli = (args: string[]) =>
      spawn(process.execPath, [path.join(root, 'bin', 'run-exp.js'), 'serve', '--run', runDir, ...args], {
        env: { ...process.env, RUN_EXP_SERVE_TOKEN: '' },
      });
    const open = cli(['--host', '0.0.0.0']);
    let openErr = '';
    open.stderr.on('data', (d) => {
      openErr += d;
    });
    expect(await new Promise((resolve) => open.on('exit', resolve))).toBe(2);
    expect(openErr).toMatch(/^run-exp: --host 0\.0\.0\.0 takes requests from other machines: give a token/);

    const child = cli(['--port', '0']);
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    const url = await new Promise<string>((resolve) => {
      const poll = setInterval(() => {
        const m = /at (http:\/\/\S+) /.exec(out);
        if (m) {
          clearInterval(poll);
          resolve(m[1] as string);
        }
      }, 50);
    });
    const image = readFileSync(files[3] as string);
    // Half the body sent, then SIGTERM, then the rest: the request is in flight when the signal comes.
    const answered = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(`${url}/invocations`, {
        method: 'POST',
        headers: { 'content-type': 'image/png', 'content-length': image.length },
      });
      req.on('response', (res) => {
        let body = '';
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.write(image.subarray(0, 100));
      setTimeout(() => {
        child.kill('SIGTERM');
        setTimeout(() => req.end(image.subarray(100)), 300);
      }, 300);
    });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    const res = await answered;
    expect(res.status).toBe(200);
    expectAnswers(JSON.parse(res.body), [3]);
    expect(await exited).toBe(0);
    expect(out).toContain('stopping: finishing the requests in flight');
  }, 60_000);
});
