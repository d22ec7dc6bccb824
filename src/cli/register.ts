// `run-exp register --run <run> --name <name> [--alias <alias>] [--tag k=v]`:
// a finished run's logged model as a version of a registered model in MLflow.
import { RegistryError, registerRun } from '../record/registry.ts';

/** `k=v` pairs as an object; a pair without '=' is bad input. */
export function parseTags(pairs: string[]): Record<string, string> {
  return Object.fromEntries(
    pairs.map((p) => {
      const at = p.indexOf('=');
      if (at <= 0) throw new RegistryError(`--tag ${p}: expected key=value`);
      return [p.slice(0, at), p.slice(at + 1)];
    }),
  );
}

export async function registerCommand(
  options: { run: string; name: string; alias?: string; tag: string[]; json?: boolean; env?: NodeJS.ProcessEnv },
  out: (s: string) => void,
): Promise<number> {
  const r = await registerRun(
    options.run,
    { name: options.name, alias: options.alias, tags: parseTags(options.tag) },
    options.env,
  );
  if (options.json) {
    out(`${JSON.stringify(r)}\n`);
    return 0;
  }
  const ref = r.alias ? `models:/${r.name}@${r.alias}` : `models:/${r.name}/${r.version}`;
  out(
    `${r.created ? 'registered' : 'already registered'}: ${r.name} version ${r.version}${r.alias ? ` (alias ${r.alias})` : ''} from ${options.run}\n` +
      `use it with: MLFLOW_TRACKING_URI=${r.uri} run-exp predict --model ${ref} <images>\n`,
  );
  return 0;
}
