// BGP speakers for the CLI tests, in a child process inside the peers' network namespace (started
// under `ip netns exec`, so they can use fixed addresses and port 179): each listens on its address,
// waits passively for the daemon under test and, once Established, announces its routes. Prints
// {"event":"ready"} once listening and {"event":"established","address"} per session; exits when
// stdin closes, so a crashed test never leaves it behind.
import { announce } from '../helpers/routes.ts';
import type { TestRoute } from '../helpers/routes.ts';
import { speaker } from '../helpers/session.ts';

export interface SpeakersSpec {
  readonly port: number;
  readonly as: number;
  readonly speakers: readonly {
    readonly address: string;
    /** Needed for an IPv6 address; the address itself otherwise. */
    readonly routerId?: string;
    /** The daemon's address on the session: the speaker accepts its connections only. */
    readonly remote: string;
    readonly routes: readonly TestRoute[];
  }[];
}

const print = (line: object) => process.stdout.write(`${JSON.stringify(line)}\n`);

const spec = JSON.parse(process.argv[2] ?? '{}') as SpeakersSpec;
for (const s of spec.speakers) {
  const bgp = await speaker({ address: s.address, routerId: s.routerId, port: spec.port });
  const peer = bgp.peerWith(s.remote, { localAs: spec.as, peerAs: spec.as, passive: true });
  peer.events$.subscribe((event) => {
    if (event.kind !== 'established') return;
    announce(peer, s.routes);
    print({ event: 'established', address: s.address });
  });
}
print({ event: 'ready' });
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
