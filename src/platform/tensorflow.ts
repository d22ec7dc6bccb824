// Loads TensorFlow.js on the native libtensorflow backend, once per process.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { RunExpError } from '../spec/errors.ts';
import { installKernelOverrides } from './kernel-overrides.ts';

export type Tf = typeof import('@tensorflow/tfjs-node');

export interface LoadOptions {
  /** Intra-op threads for TensorFlow kernels; default: one per core. */
  threads?: number;
  /** Accept the pure-JS CPU backend when the native one cannot load (slow: for debugging only). */
  allowNonNative?: boolean;
}

export class BackendError extends RunExpError {
  override name = 'BackendError';
  constructor(message: string) {
    super(message, { exitCode: 1 });
  }
  override display(): string {
    return this.message;
  }
}

const FIX = [
  'The native TensorFlow backend is not installed. To fix it:',
  '  npm run postinstall',
  'or, to force the PyPI route: RUN_EXP_TF_SOURCE=pypi npm run postinstall',
  'Run `run-exp doctor` to see what is missing.',
].join('\n');

// Both packages are CommonJS: require gives the same module object under tsx and plain Node.
const require = createRequire(import.meta.url);

export interface LoadedBackend {
  tf: Tf;
  native: boolean;
  /** Intra-op threads TensorFlow was started with (it reads them once, when it loads). */
  threads: number;
}

let loaded: LoadedBackend | undefined;

/** Sets the environment TensorFlow reads when it creates its context. */
function configureEnv(threads: number | undefined): void {
  // INFO lines from TensorFlow's C++ start-up would otherwise clutter every run.
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
  // oneDNN's kernels on every x86 host, not only those TensorFlow turns them on for (AVX-512 VNNI,
  // BF16, AMX): the same kernels everywhere, twice as fast as Eigen's for the face detector's
  // convolutions on an AVX2-only EPYC, and a face's boxes the same whatever batch it is detected in.
  process.env.TF_ENABLE_ONEDNN_OPTS ??= '1';
  if (threads !== undefined) {
    process.env.TF_NUM_INTRAOP_THREADS = String(threads);
    process.env.TF_NUM_INTEROP_THREADS = String(Math.max(1, Math.min(2, threads)));
  }
}

/**
 * Loads TensorFlow.js once per process: the first call decides the backend and
 * its threads. A later call gets the same backend, and throws when it asks for
 * what the first one did not give: another thread count, or the native backend
 * after the first call accepted the pure-JS one.
 */
export async function loadTensorflow(options: LoadOptions = {}): Promise<LoadedBackend> {
  if (!loaded) loaded = await load(options);
  if (options.threads !== undefined && options.threads !== loaded.threads) {
    throw new Error(
      `TensorFlow was loaded with ${loaded.threads} threads before ${options.threads} were asked for: load it with the experiment's training.threads first`,
    );
  }
  if (!loaded.native && !options.allowNonNative) throw new BackendError(FIX);
  return loaded;
}

async function load(options: LoadOptions): Promise<LoadedBackend> {
  configureEnv(options.threads);
  const threads = options.threads ?? Number(process.env.TF_NUM_INTRAOP_THREADS || os.availableParallelism());
  let backend: LoadedBackend;
  try {
    const tf = require('@tensorflow/tfjs-node') as Tf;
    backend = { tf, native: tf.getBackend() === 'tensorflow', threads };
  } catch (err) {
    if (!options.allowNonNative) {
      throw new BackendError(`${FIX}\n(cause: ${err instanceof Error ? err.message.split('\n')[0] : String(err)})`);
    }
    const tf = require('@tensorflow/tfjs') as Tf;
    await tf.setBackend('cpu');
    backend = { tf, native: false, threads };
  }
  // RUN_EXP_KERNEL_OVERRIDES=0 keeps tfjs-node's own kernels, for comparison in bench/backend.
  if (backend.native && process.env.RUN_EXP_KERNEL_OVERRIDES !== '0') installKernelOverrides(backend.tf);
  return backend;
}

export interface BackendReport {
  backend: string;
  native: boolean;
  libtensorflow: string | null;
  tfjs: string;
  node: string;
  intraOpThreads: number;
  interOpThreads: number | null;
  cores: number;
  build: { version: string; filename: string; sha256: string } | null;
  checks: { name: string; ok: boolean; detail: string }[];
}

function tfjsNodeDir(): string | null {
  try {
    return path.dirname(require.resolve('@tensorflow/tfjs-node/package.json'));
  } catch {
    return null;
  }
}

/** What `run-exp doctor` prints: the backend in use and whether everything needed is present. */
export async function backendReport(): Promise<BackendReport> {
  const dir = tfjsNodeDir();
  const deps = dir ? path.join(dir, 'deps') : null;
  const buildFile = deps ? path.join(deps, 'run-exp-build.json') : null;
  const build = buildFile && existsSync(buildFile) ? JSON.parse(readFileSync(buildFile, 'utf8')) : null;
  const libDir = dir ? path.join(dir, 'lib') : null;
  const binding =
    libDir && existsSync(libDir)
      ? readdirSync(libDir)
          .map((d) => path.join(libDir, d, 'tfjs_binding.node'))
          .find((f) => existsSync(f))
      : undefined;
  const checks = [
    { name: '@tensorflow/tfjs-node package', ok: dir !== null, detail: dir ?? 'not installed' },
    {
      name: 'libtensorflow libraries',
      ok: !!deps && existsSync(path.join(deps, 'lib', 'libtensorflow.so.2.9.1')),
      detail: deps ? path.join(deps, 'lib') : '-',
    },
    { name: 'native binding', ok: binding !== undefined, detail: binding ?? 'not built' },
  ];
  let backend = 'none';
  let libtensorflow: string | null = null;
  let tfjs = 'not loaded';
  let native = false;
  try {
    const { tf } = await loadTensorflow({ allowNonNative: true });
    backend = tf.getBackend();
    native = backend === 'tensorflow';
    tfjs = tf.version.tfjs;
    // biome-ignore lint/suspicious/noExplicitAny: the binding is untyped
    libtensorflow = native ? ((tf.backend() as any).binding.TF_Version as string) : null;
  } catch (err) {
    checks.push({ name: 'load TensorFlow.js', ok: false, detail: err instanceof Error ? err.message : String(err) });
  }
  checks.push({ name: 'native backend in use', ok: native, detail: backend });
  const env = (name: string) => (process.env[name] ? Number(process.env[name]) : null);
  return {
    backend,
    native,
    libtensorflow,
    tfjs,
    node: process.version,
    intraOpThreads: env('TF_NUM_INTRAOP_THREADS') ?? os.availableParallelism(),
    interOpThreads: env('TF_NUM_INTEROP_THREADS'),
    cores: os.availableParallelism(),
    build,
    checks,
  };
}
