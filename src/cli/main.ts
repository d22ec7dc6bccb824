// The command line: parsing and output only; the work lives in the modules it calls.
import { Command } from 'commander';
import { doctor } from './doctor.ts';

const program = new Command('run-exp')
  .description('Declarative, config-driven experiment runner for image classification')
  .showHelpAfterError();

program
  .command('doctor')
  .description('show the TensorFlow backend, libtensorflow version and threads, and check the install')
  .option('--json', 'print JSON')
  .action(async (opts: { json?: boolean }) => {
    process.exitCode = await doctor(opts);
  });

await program.parseAsync(process.argv);
