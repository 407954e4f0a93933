// How bin/brindle starts the daemon when run as a program: its second line, `exec node FLAGS "$0"
// "$@"`. Benchmarks that start the daemon under `node` themselves (to load a probe, a profiler or an
// inspector) put these flags first, so what they measure is the daemon as the launcher runs it.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const LAUNCHER = fileURLToPath(new URL('../bin/brindle', import.meta.url));
const EXEC_LINE = /exec node (.*) "\$0" "\$@"$/;

/** The Node flags bin/brindle runs the daemon with. */
export function daemonNodeFlags(): string[] {
  const line = readFileSync(LAUNCHER, 'utf8').split('\n')[1] ?? '';
  const match = EXEC_LINE.exec(line);
  if (!match) throw new Error('bin/brindle: line 2 is not the launcher line (exec node FLAGS "$0" "$@")');
  return match[1].split(' ').filter((flag) => flag !== '');
}
