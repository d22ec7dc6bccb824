// A run's artifacts written where its artifact location says, as MLflow's own
// Python client writes them when the tracking server does not proxy them: a
// local or mounted path (a plain absolute path or a file: URI) copied into
// place, and s3:// written to the bucket (the standard AWS credential chain,
// MLFLOW_S3_ENDPOINT_URL, multipart for large files). mlflow-artifacts: goes
// through the tracking server (mlflow-client.ts); any other scheme is refused
// with a line that says what to do.
import {
  copyFileSync,
  createReadStream,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { FileInfo } from './mlflow-client.ts';

/** What can be done with an artifact location without the tracking server. */
export interface ArtifactStore {
  upload(artifactPath: string, file: string): Promise<void>;
  uploadText(artifactPath: string, text: string): Promise<void>;
  /** Every file under the location (or a folder in it), paths relative to the location. */
  list(folder?: string): Promise<FileInfo[]>;
  download(artifactPath: string): Promise<Buffer>;
}

/** An error of a store: `retryable` as for the tracking server's. */
export class ArtifactStoreError extends Error {}

/** Why run-exp cannot write artifacts at `uri` itself (null when it can: proxied, a path, s3). */
export function unwritableLocation(uri: string): string | null {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(uri)?.[1]?.toLowerCase();
  if (!scheme || scheme === 'file' || scheme === 'mlflow-artifacts' || scheme === 's3') {
    if (!scheme && !path.isAbsolute(uri))
      return `the artifact location ${uri} is a relative path (relative to the tracking server's working directory); start the server with an absolute --default-artifact-root`;
    return null;
  }
  return `the artifact location ${uri} is a ${scheme}: store, which run-exp does not write itself; start the tracking server with artifact proxying (mlflow server --artifacts-destination ${scheme}://...) so run-exp uploads through it, or use an s3:// or local artifact root; the run is recorded locally and its files stay in the run folder`;
}

/** The store for a location that is a path or an s3:// URI. */
export function artifactStore(uri: string, env: NodeJS.ProcessEnv): ArtifactStore {
  const why = unwritableLocation(uri);
  if (why) throw new ArtifactStoreError(why);
  return uri.toLowerCase().startsWith('s3:') ? s3Store(uri, env) : localStore(uri);
}

function localStore(uri: string): ArtifactStore {
  const root = uri.startsWith('file:') ? fileURLToPath(uri.replace(/^file:(?!\/\/)/, 'file://')) : uri;
  const target = (p: string) => path.join(root, ...p.split('/'));
  // Written beside the target and renamed into place, so a reader never sees half a file.
  const place = (p: string, write: (tmp: string) => void) => {
    const file = target(p);
    mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.run-exp-${process.pid}.tmp`;
    write(tmp);
    renameSync(tmp, file);
  };
  const store: ArtifactStore = {
    async upload(p, file) {
      place(p, (tmp) => copyFileSync(file, tmp));
    },
    async uploadText(p, text) {
      place(p, (tmp) => writeFileSync(tmp, text));
    },
    async list(folder = '') {
      const dir = folder ? target(folder) : root;
      let entries: string[];
      try {
        entries = readdirSync(dir);
      } catch {
        return [];
      }
      const out: FileInfo[] = [];
      for (const name of entries) {
        const rel = folder ? `${folder}/${name}` : name;
        if (statSync(path.join(dir, name)).isDirectory()) out.push(...(await store.list(rel)));
        else out.push({ path: rel, is_dir: false, file_size: statSync(path.join(dir, name)).size });
      }
      return out.sort((a, b) => a.path.localeCompare(b.path));
    },
    async download(p) {
      return readFileSync(target(p));
    },
  };
  return store;
}

function s3Store(uri: string, env: NodeJS.ProcessEnv): ArtifactStore {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/i.exec(uri);
  if (!m) throw new ArtifactStoreError(`the artifact location ${uri} is not an s3://bucket/path URI`);
  const bucket = m[1] as string;
  const prefix = (m[2] as string).replace(/\/+$/, '');
  const endpoint = env.MLFLOW_S3_ENDPOINT_URL || undefined;
  const client = new S3Client({
    region: env.AWS_DEFAULT_REGION || env.AWS_REGION || 'us-east-1',
    ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
    // From the environment run-exp was given; else the SDK's own chain (profile, SSO, instance role).
    ...(env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
      ? {
          credentials: {
            accessKeyId: env.AWS_ACCESS_KEY_ID,
            secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
            ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
          },
        }
      : {}),
  });
  const key = (p: string) => (prefix ? `${prefix}/${p}` : p);
  const fail = (what: string, p: string, err: unknown) =>
    new ArtifactStoreError(`S3 ${what} s3://${bucket}/${key(p)}: ${(err as Error).name}: ${(err as Error).message}`);
  const put = async (p: string, body: Buffer | ReturnType<typeof createReadStream>) => {
    try {
      // Multipart above 8 MiB, two parts at a time.
      await new Upload({
        client,
        params: { Bucket: bucket, Key: key(p), Body: body },
        partSize: 8 * 2 ** 20,
        queueSize: 2,
      }).done();
    } catch (err) {
      throw fail('PUT', p, err);
    }
  };
  const store: ArtifactStore = {
    upload: (p, file) => put(p, createReadStream(file)),
    uploadText: (p, text) => put(p, Buffer.from(text)),
    async list(folder = '') {
      const out: FileInfo[] = [];
      const from = key(folder ? `${folder}/` : '');
      let token: string | undefined;
      try {
        do {
          const page = await client.send(
            new ListObjectsV2Command({ Bucket: bucket, Prefix: from, ContinuationToken: token }),
          );
          for (const o of page.Contents ?? [])
            out.push({
              path: (o.Key as string).slice(prefix ? prefix.length + 1 : 0),
              is_dir: false,
              file_size: o.Size ?? 0,
            });
          token = page.NextContinuationToken;
        } while (token);
      } catch (err) {
        throw fail('LIST', folder, err);
      }
      return out.sort((a, b) => a.path.localeCompare(b.path));
    },
    async download(p) {
      try {
        const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key(p) }));
        return Buffer.from(await (res.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
      } catch (err) {
        throw fail('GET', p, err);
      }
    },
  };
  return store;
}
