// Brindle's FIB engine as a benchmark subject: runs inside the benchmark's namespace (pinned by the
// runner like BIRD and `ip`), starts the engine on an empty table, warms up (20,000 other routes in and
// out, twice: a running daemon's JIT is warm), then on "install" wants N host routes
// and on "remove" wants none, answering {"done", ms} once its own writes are acknowledged. The runner
// times it from the outside, by the kernel's notifications, exactly as it times BIRD.
import { createInterface } from 'node:readline';
import { ipv4Prefix } from '../src/lib/prefix.ts';
import type { Prefix } from '../src/lib/prefix.ts';
import { Fib } from '../src/fib/fib.ts';
import { NetlinkBackend } from '../src/fib/netlink-backend.ts';
import type { FibNextHop } from '../src/fib/types.ts';

const [count, base, table, protocol, gateway, device] = process.argv.slice(2);
const WARMUP_ROUTES = Number(process.env.BENCH_FIB_WARMUP ?? 20_000);
const routes = Number(count);
const first = Number(base);
const nextHops: readonly FibNextHop[] = [{ gateway, device }];
const prefixes: Prefix[] = Array.from({ length: routes }, (_, i) => ipv4Prefix(first + i, 32));

const backend = new NetlinkBackend();
const fib = new Fib(backend, { table: Number(table), protocol: Number(protocol), keepRoutesOnStop: false });
const print = (line: object) => process.stdout.write(`${JSON.stringify(line)}\n`);

async function handle(command: string): Promise<void> {
  const started = performance.now();
  if (command === 'install')
    for (const prefix of prefixes) fib.setDesired({ prefix, kind: 'unicast', nextHops });
  else if (command === 'remove') for (const prefix of prefixes) fib.remove(prefix);
  else if (command === 'stop') {
    await fib.stop();
    process.exit(0);
  }
  await fib.idle();
  print({ done: command, ms: performance.now() - started, status: fib.status, counters: fib.counters });
}

await fib.start();
// A daemon has been running for a while when routes arrive: warm the JIT up the way it would have been,
// on other prefixes, gone again before the runner starts its clock.
const warmup = Array.from({ length: WARMUP_ROUTES }, (_, i) => ipv4Prefix(first + routes + i, 32));
for (let round = 0; round < 2; round++) {
  for (const prefix of warmup) fib.setDesired({ prefix, kind: 'unicast', nextHops });
  await fib.idle();
  for (const prefix of warmup) fib.remove(prefix);
  await fib.idle();
}
createInterface({ input: process.stdin }).on('line', (line) => {
  handle(line.trim()).catch((error: unknown) => {
    print({ error: error instanceof Error ? error.message : String(error) });
    process.exit(1);
  });
});
print({ ready: true });
