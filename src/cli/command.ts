import type { CommandSpec, ParsedArgs } from './args.js';

/** One `idemkit <name>` command: its arguments and help, and what it does. */
export interface Command {
  spec: CommandSpec;
  /** Resolves when a one-shot command is done; long-running ones resolve once they are serving. */
  run(args: ParsedArgs): Promise<void>;
}
