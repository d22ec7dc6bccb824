// MLflow behind authentication and TLS, for real: `mlflow server --app-name
// basic-auth`, and an HTTPS proxy with a CA of the test's own. Credentials
// from the environment or the URI work; a wrong password is one line before
// anything is recorded; a user without permission on the experiment gets one
// line and the run is recorded locally; the TLS settings MLflow's clients read
// are honoured; and no password appears in a log, the run folder, a message or
// the spool.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mlflowClient } from '../../src/record/mlflow-client.ts';
import { tempDir } from '../data/fixtures.ts';
import { spawnCli } from '../support/cli.ts';
import { type MlflowServer, mlflowServer, testCa, tlsProxy } from '../support/mlflow-server.ts';
import { dataset, experimentFile } from '../support/toy.ts';

const ADMIN = { admin: 'admin', password: 'admin-secret-pw-0001' };
const BOB = { user: 'bob', password: 'bob-secret-pw-0002' };
let server: MlflowServer;

beforeAll(async () => {
  server = await mlflowServer({ auth: ADMIN });
  const admin = mlflowClient({
    uri: server.uri,
    env: { MLFLOW_TRACKING_USERNAME: ADMIN.admin, MLFLOW_TRACKING_PASSWORD: ADMIN.password },
  });
  const res = await fetch(`${server.uri}/api/2.0/mlflow/users/create`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Basic ${Buffer.from(`${ADMIN.admin}:${ADMIN.password}`).toString('base64')}`,
    },
    body: JSON.stringify({ username: BOB.user, password: BOB.password }),
  });
  expect(res.ok, await res.text()).toBe(true);
  // An experiment the admin owns: bob may read it (the default permission), not write to it.
  await admin.createExperiment('admins-only');
}, 150_000);
afterAll(async () => {
  await server?.stop();
});

/** A toy experiment bound for `uri` under `experiment`, in a fresh folder. */
async function toy(uri: string, experiment: string) {
  const dir = tempDir();
  await dataset(path.join(dir, 'images'), 6);
  const file = experimentFile(dir, `  mlflow_uri: ${uri}\n  experiment_name: ${experiment}\n`);
  return { dir, file };
}

/** Every file under `dir`, read as text, so a test can look for a secret anywhere in it. */
function allText(dir: string): string {
  let text = '';
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    text += statSync(p).isDirectory() ? allText(p) : readFileSync(p).toString('latin1');
  }
  return text;
}

const run = (file: string, dir: string, env: Record<string, string>) =>
  spawnCli([file, '--set', 'training.epochs=2'], dir, undefined, { RUN_EXP_MLFLOW_ATTEMPTS: '2', ...env });

describe('MLflow with authentication and TLS', () => {
  it('basic auth: credentials from the environment and from the URI are accepted; no password anywhere in what is kept or printed', async () => {
    const viaEnv = await toy(server.uri, 'auth-env');
    const a = await run(viaEnv.file, viaEnv.dir, {
      MLFLOW_TRACKING_USERNAME: BOB.user,
      MLFLOW_TRACKING_PASSWORD: BOB.password,
    });
    expect(a.code, a.out).toBe(0);
    expect(a.out).toMatch(/MLflow: http:\/\/127\.0\.0\.1:\d+\/#\/experiments\//);
    const inUri = await toy(server.uri.replace('://', `://${BOB.user}:${BOB.password}@`), 'auth-uri');
    const b = await run(inUri.file, inUri.dir, {});
    expect(b.code, b.out).toBe(0);
    expect(b.out).toMatch(/MLflow: http:\/\/bob:\*\*\*@127\.0\.0\.1/);
    for (const [out, dir] of [
      [a.out, viaEnv.dir],
      [b.out, inUri.dir],
    ] as const) {
      expect(out).not.toContain(BOB.password);
      expect(allText(path.join(dir, 'runs'))).not.toContain(BOB.password);
    }
    // What reached MLflow: the run, its params without the password.
    const admin = mlflowClient({
      uri: server.uri,
      env: { MLFLOW_TRACKING_USERNAME: ADMIN.admin, MLFLOW_TRACKING_PASSWORD: ADMIN.password },
    });
    const id = (await admin.experimentByName('auth-uri'))?.experiment_id as string;
    const [found] = await admin.searchRuns([id]);
    expect(found?.info.status).toBe('FINISHED');
    expect(JSON.stringify(found?.data.params)).not.toContain(BOB.password);
    expect(JSON.stringify(found?.data.params)).toContain('bob:***@');
  }, 240_000);

  it('a wrong password: one line before training, exit 2, no run recorded', async () => {
    const { dir, file } = await toy(server.uri, 'auth-wrong');
    const r = await run(file, dir, {
      MLFLOW_TRACKING_USERNAME: BOB.user,
      MLFLOW_TRACKING_PASSWORD: 'not-the-password',
    });
    expect(r.code).toBe(2);
    expect(r.out.trim()).toBe(`MLflow refused the credentials for user bob at ${server.uri}`);
    expect(() => readdirSync(path.join(dir, 'runs'))).toThrow();
  }, 120_000);

  it('a user without permission on the experiment: one line, the run still recorded locally', async () => {
    const { dir, file } = await toy(server.uri, 'admins-only');
    const r = await run(file, dir, { MLFLOW_TRACKING_USERNAME: BOB.user, MLFLOW_TRACKING_PASSWORD: BOB.password });
    expect(r.code, r.out).toBe(0);
    const said = r.out.split('\n').filter((l) => l.includes('does not let user bob'));
    expect(said, r.out).toHaveLength(1);
    expect(r.out).toMatch(/FINISHED {2}\S+/);
    expect(r.out).not.toContain(BOB.password);
  }, 120_000);

  it('TLS: the CA from MLFLOW_TRACKING_SERVER_CERT_PATH, a client certificate, or MLFLOW_TRACKING_INSECURE_TLS; without them the certificate is refused', async () => {
    const certs = testCa(tempDir());
    const creds = { MLFLOW_TRACKING_USERNAME: ADMIN.admin, MLFLOW_TRACKING_PASSWORD: ADMIN.password };
    const proxy = await tlsProxy(server.uri, certs);
    const mutual = await tlsProxy(server.uri, certs, true);
    try {
      const cases: [string, string, Record<string, string>, boolean][] = [
        ['tls-ca', proxy.uri, { MLFLOW_TRACKING_SERVER_CERT_PATH: certs.ca }, true],
        ['tls-insecure', proxy.uri, { MLFLOW_TRACKING_INSECURE_TLS: 'true' }, true],
        [
          'tls-client-cert',
          mutual.uri,
          { MLFLOW_TRACKING_SERVER_CERT_PATH: certs.ca, MLFLOW_TRACKING_CLIENT_CERT_PATH: certs.client },
          true,
        ],
        ['tls-unknown-ca', proxy.uri, {}, false],
      ];
      for (const [name, uri, env, ok] of cases) {
        const { dir, file } = await toy(uri, name);
        const r = await run(file, dir, { ...creds, ...env });
        expect(r.code, `${name}: ${r.out}`).toBe(0);
        if (ok) expect(r.out, name).toMatch(/MLflow: https:\/\/127\.0\.0\.1:\d+\/#\/experiments\//);
        else expect(r.out, name).toMatch(/self-signed|unable to verify|certificate/i);
      }
    } finally {
      await proxy.close();
      await mutual.close();
    }
  }, 360_000);
});
