// The FIB engine in a child process inside a test's network namespace (started under `ip netns
// exec`), driven by JSON lines on stdin: {"id", "cmd", ...}. Replies {"id", "ok", "result"|"error"};
// refused writes and next-hop changes are pushed as {"event": ...} lines. Exits when stdin closes, so
// a crashed test never leaves it behind.
import { createInterface } from 'node:readline';
import { createLogger } from '../../src/lib/log.ts';
import { parsePrefix } from '../../src/lib/prefix.ts';
import type { Prefix } from '../../src/lib/prefix.ts';
import { Fib } from '../../src/fib/fib.ts';
import type { FibOptions } from '../../src/fib/fib.ts';
import { NetlinkBackend } from '../../src/fib/netlink-backend.ts';
import { NextHopResolver } from '../../src/fib/nexthop.ts';
import type { FibRoute } from '../../src/fib/types.ts';

export interface RouteJson {
  readonly prefix: string;
  readonly kind?: 'unicast' | 'blackhole';
  readonly nextHops?: FibRoute['nextHops'];
  readonly metric?: number;
}

export interface StartCommand {
  readonly options?: Omit<FibOptions, 'clock' | 'logger'>;
  readonly deferPrune?: boolean;
  readonly routes?: readonly RouteJson[];
  readonly resolverTables?: readonly number[];
}

function prefix(text: string): Prefix {
  const parsed = parsePrefix(text);
  if (!parsed) throw new TypeError(`bad prefix ${text}`);
  return parsed;
}

function route(json: RouteJson): FibRoute {
  const { metric } = json;
  const base = { prefix: prefix(json.prefix), kind: json.kind ?? 'unicast', nextHops: json.nextHops ?? [] };
  return metric === undefined ? base : { ...base, metric };
}

const backend = new NetlinkBackend();
let fib: Fib | undefined;
let resolver: NextHopResolver | undefined;
const print = (line: object) => process.stdout.write(`${JSON.stringify(line)}\n`);

function engine(): Fib {
  if (!fib) throw new Error('not started');
  return fib;
}

const commands: Record<string, (args: Record<string, unknown>) => unknown> = {
  async start(args) {
    const command = args as StartCommand;
    if (!fib) {
      fib = new Fib(backend, { ...command.options, logger: createLogger(process.env.FIB_LOG ?? 'silent') });
      fib.failures$.subscribe((failure) => print({ event: 'failure', ...failure }));
    }
    for (const r of command.routes ?? []) fib.setDesired(route(r));
    const summary = await fib.start({ deferPrune: command.deferPrune });
    if (command.resolverTables) {
      resolver = new NextHopResolver(backend, {
        tables: command.resolverTables,
        ownProtocol: command.options?.protocol,
      });
      await resolver.start();
      resolver.changes$.subscribe((change) => print({ event: 'nexthop', ...change }));
    }
    return summary;
  },
  set(args) {
    for (const r of args.routes as RouteJson[]) engine().setDesired(route(r));
    return engine().status;
  },
  remove(args) {
    for (const p of args.prefixes as string[]) engine().remove(prefix(p));
    return engine().status;
  },
  async idle() {
    await engine().idle();
    return engine().status;
  },
  status() {
    const f = engine();
    return { status: f.status, counters: f.counters, failures: f.failures(), backend: backend.counters };
  },
  prune: () => engine().prune(),
  async stop(args) {
    await resolver?.stop();
    await engine().stop({ keepRoutes: args.keepRoutes as boolean | undefined });
    return engine().status;
  },
  resolve(args) {
    if (!resolver) throw new Error('no resolver');
    return resolver.resolve(args.nextHop as string);
  },
};

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const { id, cmd, ...args } = JSON.parse(line) as { id: number; cmd: string } & Record<string, unknown>;
  const handler = commands[cmd];
  Promise.resolve()
    .then(() => {
      if (!handler) throw new Error(`unknown command ${cmd}`);
      return handler(args);
    })
    .then(
      (result) => print({ id, ok: true, result }),
      (error: unknown) =>
        print({ id, ok: false, error: error instanceof Error ? error.stack : String(error) }),
    );
});
lines.on('close', () => process.exit(0));
print({ event: 'ready' });
