// Which model a command uses: a run or model folder (--run), or a registered
// model (--model models:/<name>@<alias>), downloaded once into the cache.
import { downloadModel, RegistryError } from '../record/registry.ts';

export async function modelFolder(
  options: { run?: string; model?: string; env?: NodeJS.ProcessEnv },
  err: (s: string) => void,
): Promise<string> {
  if (!options.run && !options.model)
    throw new RegistryError('say which model: --run <run folder> or --model models:/<name>@<alias>');
  if (!options.model) return options.run as string;
  const got = await downloadModel(options.model, options.env);
  if (got.downloaded) err(`${options.model}: version ${got.version} downloaded to ${got.dir}\n`);
  return got.dir;
}
