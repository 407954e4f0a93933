// The Brindle side of interop tests, before the RIB exists: send routes on an established session
// (packed by the codec's UpdatePacker) and collect what a peer announces, applying withdrawals and
// RFC 7606 treat-as-withdraw like an Adj-RIB-In would.
import type { Subscription } from 'rxjs';
import { encodeAttributeSet, UpdatePacker } from '../../src/bgp/codec/update-packer.ts';
import { encodeEndOfRib, endOfRibFamily } from '../../src/bgp/codec/update.ts';
import { ErrorAction } from '../../src/bgp/errors.ts';
import type { PathAttributes, UpdateMessage } from '../../src/bgp/types.ts';
import type { Peer } from '../../src/bgp/session/peer.ts';
import { familyAfi, familyKey, familyName, familySafi, Safi } from '../../src/lib/family.ts';
import { formatPrefix, parsePrefix } from '../../src/lib/prefix.ts';
import type { Nlri } from '../../src/lib/prefix.ts';

export interface TestRoute {
  readonly prefix: string;
  readonly attributes: PathAttributes;
  /** IPv6 routes: the MP_REACH_NLRI next hop. */
  readonly nextHop6?: string;
}

/** Announces `routes` on the peer's established session, then End-of-RIB for each family sent. */
export function announce(peer: Peer, routes: readonly TestRoute[], endOfRib = true): void {
  const session = peer.session;
  if (!session) throw new Error(`${peer.config.name} is not Established`);
  const ctx = session.encodeContext;
  const packer = new UpdatePacker(ctx);
  const families = new Set<number>();
  for (const route of routes) {
    const prefix = parsePrefix(route.prefix) as Nlri;
    families.add(familyKey(prefix.afi, Safi.Unicast));
    const mpNextHop = route.nextHop6 ? { nextHop: route.nextHop6 } : undefined;
    packer.announce(encodeAttributeSet(prefix.afi, Safi.Unicast, route.attributes, ctx, mpNextHop), [prefix]);
  }
  const count = packer.messageCount;
  session.sendUpdates(packer.take(), count);
  if (!endOfRib) return;
  for (const family of families)
    session.sendUpdates(encodeEndOfRib(familyAfi(family), familySafi(family), ctx), 1);
}

export function withdraw(peer: Peer, prefixes: readonly string[]): void {
  const session = peer.session;
  if (!session) throw new Error(`${peer.config.name} is not Established`);
  const packer = new UpdatePacker(session.encodeContext);
  for (const text of prefixes) {
    const prefix = parsePrefix(text) as Nlri;
    packer.withdraw(prefix.afi, Safi.Unicast, [prefix]);
  }
  const count = packer.messageCount;
  session.sendUpdates(packer.take(), count);
}

export interface ReceivedRoute {
  readonly prefix: string;
  readonly pathId: number;
  readonly attributes: PathAttributes;
  readonly nextHop: string | undefined;
}

/** What a peer has announced to us, keyed "prefix#pathId". */
export class RouteCollector {
  readonly routes = new Map<string, ReceivedRoute>();
  readonly endOfRib = new Set<string>();
  updates = 0;
  private readonly subscription: Subscription;

  constructor(peer: Peer) {
    this.subscription = peer.events$.subscribe((event) => {
      if (event.kind === 'update') this.apply(event.update);
      if (event.kind === 'down') this.routes.clear();
    });
  }

  private apply(u: UpdateMessage): void {
    this.updates++;
    const eor = endOfRibFamily(u);
    if (eor) this.endOfRib.add(familyName(eor.afi, eor.safi));
    const key = (p: Nlri) => `${formatPrefix(p)}#${p.pathId}`;
    for (const p of [...u.withdrawnRoutes, ...(u.mpUnreach?.withdrawn ?? [])]) this.routes.delete(key(p));
    const withdrawAll = u.errorAction !== undefined && u.errorAction >= ErrorAction.TreatAsWithdraw;
    for (const p of u.nlri) this.put(key(p), p, u, u.attributes.nextHop, withdrawAll);
    for (const p of u.mpReach?.nlri ?? []) this.put(key(p), p, u, u.mpReach?.nextHop, withdrawAll);
  }

  private put(
    key: string,
    p: Nlri,
    u: UpdateMessage,
    nextHop: string | undefined,
    withdrawAll: boolean,
  ): void {
    if (withdrawAll) this.routes.delete(key);
    else
      this.routes.set(key, { prefix: formatPrefix(p), pathId: p.pathId, attributes: u.attributes, nextHop });
  }

  /** Routes for one prefix (all paths). */
  get(prefix: string): ReceivedRoute[] {
    return [...this.routes.values()].filter((r) => r.prefix === prefix);
  }

  prefixes(): string[] {
    return [...new Set([...this.routes.values()].map((r) => r.prefix))].sort();
  }

  close(): void {
    this.subscription.unsubscribe();
  }
}
