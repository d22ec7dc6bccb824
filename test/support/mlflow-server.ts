// A real MLflow server for the tests: `mlflow server` from the project's .venv
// (installed by .ci/run from requirements-dev.txt) on a free loopback port,
// with a sqlite store and artifact proxying in a temp folder. It can be
// killed and started again on the same port and store.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll } from 'vitest';

const root = path.resolve(import.meta.dirname, '..', '..');
export const MLFLOW_BIN = path.resolve(process.env.RUN_EXP_MLFLOW_BIN ?? path.join(root, '.venv', 'bin', 'mlflow'));
/** The Python with a run-exp model's side (TensorFlow, tensorflowjs): the suite's .venv, whichever server runs. */
export const MODEL_PYTHON = path.join(root, '.venv', 'bin', 'python');

let major: number | undefined;
/** The major version of the MLflow server the tests start (RUN_EXP_MLFLOW_BIN: 2 in test:compat). */
export function mlflowMajor(): number {
  major ??= Number(/version (\d+)/.exec(execFileSync(MLFLOW_BIN, ['--version'], { encoding: 'utf8' }))?.[1]);
  return major;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export interface MlflowServer {
  uri: string;
  port: number;
  dir: string;
  start(): Promise<void>;
  /** SIGKILL: the server gets no chance to finish anything. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

async function waitHealthy(uri: string, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`mlflow server exited (${child.exitCode}):\n${log()}`);
    const ok = await fetch(`${uri}/health`)
      .then((r) => r.ok)
      .catch(() => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`mlflow server did not answer in 120 s:\n${log()}`);
}

export interface ServerOptions {
  port?: number;
  /** Where the server keeps artifacts (default: a folder beside its store), e.g. s3://bucket. */
  artifacts?: string;
  /**
   * Instead of proxying: the artifact root it hands to clients, which write
   * there themselves (--default-artifact-root <root> --no-serve-artifacts).
   */
  defaultArtifactRoot?: string;
  /** MLflow's basic-auth app, with this admin (MLflow's own default permission for other users: READ). */
  auth?: { admin: string; password: string };
  env?: Record<string, string>;
}

export async function mlflowServer(options: ServerOptions = {}): Promise<MlflowServer> {
  if (!existsSync(MLFLOW_BIN)) {
    throw new Error(
      `no MLflow server at ${MLFLOW_BIN}: install it with python3 -m venv .venv && .venv/bin/pip install -r requirements-dev.txt (or set RUN_EXP_MLFLOW_BIN)`,
    );
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'run-exp-mlflow-'));
  const port = options.port ?? (await freePort());
  const uri = `http://127.0.0.1:${port}`;
  const authEnv: Record<string, string> = {};
  if (options.auth) {
    const ini = path.join(dir, 'basic_auth.ini');
    writeFileSync(
      ini,
      `[mlflow]\ndefault_permission = READ\ndatabase_uri = sqlite:///${path.join(dir, 'auth.db')}\nadmin_username = ${options.auth.admin}\nadmin_password = ${options.auth.password}\nauthorization_function = mlflow.server.auth:authenticate_request_basic_auth\n`,
    );
    authEnv.MLFLOW_AUTH_CONFIG_PATH = ini;
    // Its CSRF protection (on the UI's forms) wants a fixed key.
    authEnv.MLFLOW_FLASK_SERVER_SECRET_KEY = 'run-exp-test-secret';
  }
  let child: ChildProcess | null = null;
  let output = '';
  // Set by kill() and stop(): any other exit is the server dying under a test, which says so.
  let stopping = false;
  const exited = () =>
    new Promise<void>((resolve) => {
      if (!child || child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
  const server: MlflowServer = {
    uri,
    port,
    dir,
    async start() {
      output = '';
      stopping = false;
      child = spawn(
        MLFLOW_BIN,
        [
          'server',
          '--host',
          '127.0.0.1',
          '--port',
          String(port),
          // One worker: uvicorn then runs the app in its own process, with no supervisor. With two, the
          // supervisor kills a worker that misses a 5 s health check, as one booting on busy cores
          // does (again and again: the server never answered in 120 s); and the basic-auth app
          // migrates its user database in every worker, where two can race (mlflow#9155).
          '--workers',
          '1',
          ...(options.auth ? ['--app-name', 'basic-auth'] : []),
          '--backend-store-uri',
          `sqlite:///${path.join(dir, 'mlflow.db')}`,
          ...(options.defaultArtifactRoot
            ? ['--default-artifact-root', options.defaultArtifactRoot, '--no-serve-artifacts']
            : ['--artifacts-destination', options.artifacts ?? path.join(dir, 'artifacts')]),
        ],
        // Its own process group, so that killing it takes its workers along.
        {
          cwd: dir,
          detached: true,
          stdio: ['ignore', 'pipe', 'pipe'],
          env: { ...process.env, NO_COLOR: '1', ...authEnv, ...options.env },
        },
      );
      const keep = (d: Buffer) => {
        output = (output + d).slice(-20_000);
      };
      child.stdout?.on('data', keep);
      child.stderr?.on('data', keep);
      await waitHealthy(uri, child, () => output);
      // From here on a test relies on it: dying unasked is worth its output in the test log.
      child.once('exit', (code, signal) => {
        if (!stopping)
          process.stderr.write(
            `mlflow server on port ${port} exited unasked (${code ?? signal}); its last output:\n${output.slice(-4000)}\n`,
          );
      });
    },
    async kill() {
      stopping = true;
      if (child?.pid && child.exitCode === null) process.kill(-child.pid, 'SIGKILL');
      await exited();
    },
    async stop() {
      stopping = true;
      if (!child?.pid || child.exitCode !== null) return;
      process.kill(-child.pid, 'SIGTERM');
      const pid = child.pid;
      // Its workers may linger over open connections: a few seconds, then for good.
      const timer = setTimeout(() => process.kill(-pid, 'SIGKILL'), 3000);
      await exited();
      clearTimeout(timer);
    },
  };
  await server.start();
  return server;
}

/** One server for a test file: up before its first test, stopped after its last. */
export function serverPerFile(): { readonly uri: string } {
  let server: MlflowServer | undefined;
  beforeAll(async () => {
    server = await mlflowServer();
  }, 150_000);
  afterAll(async () => {
    await server?.stop();
  });
  return {
    get uri() {
      if (!server) throw new Error('the MLflow server is not up');
      return server.uri;
    },
  };
}

/** An S3 API on loopback (moto's server, from .venv) with one bucket, and the settings MLflow needs to use it. */
export async function s3Store(bucket: string) {
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const child = spawn(path.join(path.dirname(MLFLOW_BIN), 'moto_server'), ['-p', String(port)], { stdio: 'ignore' });
  for (let i = 0; ; i++) {
    const res = await fetch(`${endpoint}/${bucket}`, { method: 'PUT' }).catch(() => null);
    if (res?.ok) break;
    if (i > 200) throw new Error('moto_server did not answer');
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    artifacts: `s3://${bucket}`,
    env: {
      MLFLOW_S3_ENDPOINT_URL: endpoint,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_DEFAULT_REGION: 'us-east-1',
    },
    stop: () => {
      child.kill('SIGKILL');
    },
  };
}

export type Fault = 'pass' | '500' | '429' | '404' | 'drop' | 'drop-after';

/**
 * A loopback proxy in front of a server that answers each request as `plan(n, url)` says: forward it,
 * answer 500 or 429 itself, answer 404 as a server without that endpoint does (an HTML page), drop the connection before forwarding, or forward and then drop the
 * connection so the client never sees the answer the server acted on.
 */
export async function faultProxy(target: string, plan: (n: number, url: string) => Fault) {
  const counts: Record<Fault, number> = { pass: 0, '500': 0, '429': 0, '404': 0, drop: 0, 'drop-after': 0 };
  const headers: http.IncomingHttpHeaders[] = [];
  const urls: string[] = [];
  let n = 0;
  const server = http.createServer((req, res) => {
    const fault = plan(n++, req.url ?? '');
    counts[fault]++;
    headers.push(req.headers);
    urls.push(`${req.method} ${req.url}`);
    if (fault === '500' || fault === '429') {
      req.resume();
      res.writeHead(Number(fault), { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error_code: 'INTERNAL_ERROR', message: `injected ${fault}` }));
      return;
    }
    if (fault === '404') {
      req.resume();
      res.writeHead(404, { 'content-type': 'text/html' });
      res.end('<!doctype html><title>404 Not Found</title><h1>Not Found</h1>');
      return;
    }
    if (fault === 'drop') {
      req.socket.destroy();
      return;
    }
    const up = http.request(`${target}${req.url}`, { method: req.method, headers: req.headers }, (upRes) => {
      if (fault === 'drop-after') {
        upRes.resume();
        upRes.on('end', () => req.socket.destroy());
        return;
      }
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    });
    up.on('error', () => req.socket.destroy());
    req.pipe(up);
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    uri: `http://127.0.0.1:${port}`,
    counts,
    headers,
    urls,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * A certificate authority of its own in `dir` (openssl): ca.pem, a server certificate for 127.0.0.1
 * (server.pem, server.key) and a client certificate with its key in one PEM (client.pem).
 */
export function testCa(dir: string): { ca: string; cert: string; key: string; client: string } {
  const f = (n: string) => path.join(dir, n);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  ssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    '/CN=run-exp test CA',
  );
  for (const [name, ext] of [
    ['server', 'subjectAltName=IP:127.0.0.1'],
    ['client', 'extendedKeyUsage=clientAuth'],
  ] as const) {
    ssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      `/CN=${name}`,
    );
    writeFileSync(f(`${name}.ext`), `${ext}\n`);
    ssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${name}.pem`,
      '-days',
      '2',
      '-extfile',
      `${name}.ext`,
    );
  }
  // The client's certificate and key in one file, as MLFLOW_TRACKING_CLIENT_CERT_PATH takes it.
  writeFileSync(f('client-bundle.pem'), Buffer.concat([readFileSync(f('client.pem')), readFileSync(f('client.key'))]));
  return { ca: f('ca.pem'), cert: f('server.pem'), key: f('server.key'), client: f('client-bundle.pem') };
}

/** An HTTPS proxy on loopback in front of `target` with the CA's server certificate; `clientCert` requires a client certificate from the CA. */
export async function tlsProxy(target: string, certs: ReturnType<typeof testCa>, clientCert = false) {
  const to = new URL(target);
  const server = https.createServer(
    {
      key: readFileSync(certs.key),
      cert: readFileSync(certs.cert),
      ca: readFileSync(certs.ca),
      requestCert: clientCert,
      rejectUnauthorized: clientCert,
    },
    (req, res) => {
      const up = http.request(
        { host: to.hostname, port: to.port, path: req.url, method: req.method, headers: req.headers },
        (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        },
      );
      up.on('error', () => res.destroy());
      req.pipe(up);
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    uri: `https://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
