// The command line: parsing and output only; the work lives in the modules it calls.

import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { experimentSchema } from '../config/schema.ts';
import { RunExpError } from '../spec/errors.ts';
import type { ServeCommandOptions } from './serve.ts';
import type { SweepCliOptions } from './sweep.ts';

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  env?: NodeJS.ProcessEnv;
}

// Each command's module (and what it pulls in: TensorFlow, sharp, Vega) loads only when that command runs.
const collect = (value: string, previous: string[]) => [...previous, value];
const index = (value: string): number => {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('must be a whole number (0, 1, 2, ...)');
  return Number(value);
};

/** Runs the CLI with `argv` (without node and script); returns the exit code. */
export async function main(argv: string[], io: Io): Promise<number> {
  let code = 0;
  const program = new Command('run-exp')
    .description('Declarative, config-driven experiment runner for image classification')
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .showHelpAfterError()
    // The training options (--set, --json) belong to `run-exp <file>`, not to the subcommands' own.
    .enablePositionalOptions()
    .argument('[file]', 'experiment YAML file to train')
    .option('--set <key.path=value>', 'override a key (repeatable)', collect, [])
    .option('--quiet', 'print only the final line')
    .option('--json', 'print one JSON line per epoch')
    .option('--resume <run>', 'continue a stopped run (its folder) from its last completed epoch')
    .option('--allow-data-change', 'with --resume: go on although the data files changed since the run started')
    .option('--trial <i>', "run trial i of the file's sweep (see run-exp sweep <file> --list)", index)
    .action(
      async (
        file: string | undefined,
        opts: {
          set: string[];
          quiet?: boolean;
          json?: boolean;
          resume?: string;
          allowDataChange?: boolean;
          trial?: number;
        },
      ) => {
        if (!file) {
          program.help({ error: false });
          return;
        }
        code = await (await import('./train.ts')).trainCommand(file, { ...opts, env: io.env }, io.out, io.err);
      },
    );

  program
    .command('validate')
    .description('check experiment files: schema, composition and model shapes; every error at once')
    .argument('<files...>', 'experiment YAML files')
    .option('--json', 'print JSON for tools')
    .option('--set <key.path=value>', 'override a key (repeatable)', collect, [])
    .action(async (files: string[], opts: { json?: boolean; set: string[] }) => {
      code = await (await import('./validate.ts')).validate(files, { ...opts, env: io.env }, io.out);
    });

  program
    .command('data')
    .description("list, split and decode an experiment's images into the cache; print class counts and bad files")
    .argument('<file>', 'experiment YAML file')
    .option('--json', 'print JSON')
    .option('--set <key.path=value>', 'override a key (repeatable)', collect, [])
    .option(
      '--preview [png]',
      'also write a grid of augmented training images (default: <tracking.dir>/<name>/augmentation-preview.png)',
    )
    .action(async (file: string, opts: { json?: boolean; set: string[]; preview?: string | boolean }) => {
      code = await (await import('./data.ts')).dataCommand(file, { ...opts, env: io.env }, io.out, io.err);
    });

  program
    .command('predict')
    .description("label new images with a run's model and its recorded preprocessing")
    .addOption(
      new Option('--run <run>', 'run folder, e.g. runs/baseline/<run-id>, or a model folder').conflicts('model'),
    )
    .option('--model <uri>', 'a registered model in MLflow: models:/<name>@<alias> or models:/<name>/<version>')
    .argument('<inputs...>', 'image files or folders')
    .option('--json', 'print JSON')
    .addOption(
      new Option('--faces <which>', "with the run's face crop: the largest face of each image, or every face")
        .choices(['largest', 'all'])
        .default('largest'),
    )
    .action(
      async (inputs: string[], opts: { run?: string; model?: string; json?: boolean; faces: 'largest' | 'all' }) => {
        code = await (await import('./predict.ts')).predictCommand(inputs, { ...opts, env: io.env }, io.out, io.err);
      },
    );

  program
    .command('serve')
    .description(
      "serve a run's model over HTTP with MLflow's scoring protocol (POST /invocations), and a page at / to try a photo",
    )
    .addOption(new Option('--run <run>', 'run folder or model folder').conflicts('model'))
    .option('--model <uri>', 'a registered model in MLflow: models:/<name>@<alias> or models:/<name>/<version>')
    .option('--host <host>', 'address to listen on (anything but loopback needs a token)', '127.0.0.1')
    .option('--port <port>', 'port (0: any free one)', '8080')
    .option('--token <token>', 'bearer token clients must send to /invocations (or RUN_EXP_SERVE_TOKEN)')
    .option('--max-body <MiB>', 'largest request body, in MiB', '20')
    .option('--max-pixels <megapixels>', 'largest image decoded, in megapixels', '50')
    .option('--max-batch <images>', 'images per model call at most, across concurrent requests', '64')
    .action(async (opts: ServeCommandOptions) => {
      code = await (await import('./serve.ts')).serveCommand({ ...opts, env: io.env }, io.out, io.err);
    });

  program
    .command('export')
    .description(
      "convert a run's model for other runtimes with the official converters, checked against run-exp's predictions",
    )
    .addOption(new Option('--run <run>', 'run folder or model folder').conflicts('model'))
    .option('--model <uri>', 'a registered model in MLflow: models:/<name>@<alias> or models:/<name>/<version>')
    .addOption(
      new Option('--format <format>', 'what to write')
        .choices(['web', 'keras', 'savedmodel', 'onnx'])
        .makeOptionMandatory(),
    )
    .requiredOption('--out <dir>', 'folder to write into')
    .option('--json', 'print JSON')
    .action(
      async (opts: {
        run?: string;
        model?: string;
        format: 'keras' | 'savedmodel' | 'onnx';
        out: string;
        json?: boolean;
      }) => {
        code = await (await import('./export.ts')).exportCommand({ ...opts, env: io.env }, io.out, io.err);
      },
    );

  program
    .command('register')
    .description("register a finished run's model in MLflow's model registry (a new version, or the same one again)")
    .requiredOption('--run <run>', 'run folder of a FINISHED run tracked in MLflow')
    .requiredOption('--name <name>', 'registered model name (created when missing)')
    .option('--alias <alias>', 'point this alias at the version, e.g. champion')
    .option('--tag <key=value>', 'a tag on the version (repeatable)', collect, [])
    .option('--json', 'print JSON')
    .action(async (opts: { run: string; name: string; alias?: string; tag: string[]; json?: boolean }) => {
      code = await (await import('./register.ts')).registerCommand({ ...opts, env: io.env }, io.out);
    });

  program
    .command('evaluate')
    .description("the full evaluation report (and confusion-matrix plot) of a run's model on another data set")
    .requiredOption('--run <run>', 'run folder')
    .requiredOption('--data <data>', 'a folder with one sub-folder per class, or an experiment file whose data to use')
    .option('--json', 'print JSON')
    .action(async (opts: { run: string; data: string; json?: boolean }) => {
      code = await (await import('./evaluate.ts')).evaluateCommand({ ...opts, env: io.env }, io.out);
    });

  program
    .command('runs')
    .description('list recorded runs with their status and final validation metrics')
    .option('--dir <dir>', 'runs folder', 'runs')
    .option('--reap', 'record runs whose process is gone as CRASHED, and end their MLflow runs as FAILED')
    .option('--json', 'print JSON')
    .action(async (opts: { dir: string; json?: boolean; reap?: boolean }) => {
      code = await (await import('./runs.ts')).runsCommand(opts, io.out);
    });

  program
    .command('sweep')
    .description("run a sweep's trials here, list them for CI, or summarize them")
    .argument('<file>', 'experiment YAML file with a sweep section')
    .option('--list', 'print the trials: index and overrides')
    .option('--matrix', 'print the trials (a tpe sweep: its workers) as a GitHub Actions strategy.matrix (JSON)')
    .option('--workers <n>', 'with --matrix: that many --next workers instead of one job per trial', index)
    .option('--parallel <n>', 'trials at once, in worker processes sharing the CPU threads', index, 1)
    .option(
      '--next',
      'claim trials one after another through MLflow and run them, until none is left (CI jobs sharing one sweep)',
    )
    .option('--summarize', 'the best trial and a table of all (to the parent run in MLflow, and here)')
    .option('--report [png]', "a PNG of every trial's metric by epoch and against each parameter")
    .option('--register <name>', "with --summarize: register the best trial's model in MLflow under this name")
    .option('--set <key.path=value>', 'override a key of the experiment (repeatable)', collect, [])
    .option('--json', 'print JSON')
    .action(async (file: string, opts: Omit<SweepCliOptions, 'env'> & { set: string[] }) => {
      code = await (await import('./sweep.ts')).sweepCommand(file, { ...opts, env: io.env }, io.out, io.err);
    });

  program
    .command('sync')
    .description('send to MLflow what runs spooled while the server was unreachable (safe to repeat)')
    .argument('[runs...]', 'run folders (default: every run under --dir with a spool)')
    .option('--dir <dir>', 'runs folder', 'runs')
    .option('--uri <uri>', 'another tracking server than the one the run was tracked on')
    .option('--json', 'print JSON')
    .action(async (runs: string[], opts: { dir: string; uri?: string; json?: boolean }) => {
      code = await (await import('./sync.ts')).syncCommand(runs, opts, io.out);
    });

  program
    .command('compare')
    .description('the params that differ between runs, and their final metrics side by side')
    .argument('<runs...>', 'run folders')
    .option('--json', 'print JSON')
    .option(
      '--report [file]',
      'with two runs: a page of the photos the second gets right and the first wrong and the reverse, with metric and slice deltas (default: compare-<first run>.html in the second run folder; logged to the second run in MLflow when both runs are there)',
    )
    .action(async (runs: string[], opts: { json?: boolean; report?: string | boolean }) => {
      code = opts.report
        ? await (await import('./compare-report.ts')).compareReportCommand(runs, opts.report, io.out)
        : (await import('./runs.ts')).compareCommand(runs, opts, io.out);
    });

  program
    .command('report')
    .description(
      "draw a run's plots (learning curves, confusion matrix) and its report.html (the photos it gets wrong, calibration, slices, a panel to try a photo) from its records; with --data, the report of another data set",
    )
    .argument('[run]', 'run folder (or --run)')
    .option('--run <run>', 'run folder')
    .option(
      '--data <data>',
      "score the run's model on a folder with one sub-folder per class (or an experiment file's data) and make its report in the run's evaluations/<time>/",
    )
    .action(async (positional: string | undefined, opts: { run?: string; data?: string }) => {
      const run = opts.run ?? positional;
      if (!run || (opts.run && positional && opts.run !== positional)) {
        io.err('run-exp report: give one run folder, as an argument or with --run\n');
        code = 2;
        return;
      }
      code = await (await import('./report.ts')).reportCommand(
        { run, ...(opts.data ? { data: opts.data } : {}), env: io.env },
        io.out,
      );
    });

  program
    .command('schema')
    .description('print the experiment JSON Schema')
    .action(() => {
      io.out(`${JSON.stringify(experimentSchema(), null, 2)}\n`);
    });

  program
    .command('doctor')
    .description('show the TensorFlow backend, libtensorflow version and threads, and check the install')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      code = await (await import('./doctor.ts')).doctor(opts, io.out);
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (err instanceof RunExpError) {
      io.err(`${err.display()}\n`);
      return err.exitCode;
    }
    // A bug, not bad input: say so; the stack only on request.
    io.err(`run-exp: internal error: ${err instanceof Error ? err.message : String(err)}\n`);
    if (io.env?.RUN_EXP_DEBUG) io.err(`${err instanceof Error ? err.stack : ''}\n`);
    else io.err('(set RUN_EXP_DEBUG=1 to see the stack trace)\n');
    return 1;
  }
}
