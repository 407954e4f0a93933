// Figures that need a walk over the Loc-RIB: destinations and paths per family, and per peer the paths
// it sent us (received), the usable ones (accepted: no loop) and those chosen as best. The walk is
// O(paths) — about 100 ms per 500k destinations — so it runs on scrape only when the Loc-RIB changed
// since the last one, at most once per `maxAgeMs`, and in slices of WALK_SLICE destinations per
// event-loop turn so a scrape never stalls sessions. Best-path changes are counted as decided.

import type { Subscription } from 'rxjs';
import { systemClock } from '../lib/clock.ts';
import type { Clock } from '../lib/clock.ts';
import { familyName, Safi } from '../lib/family.ts';
import type { Prefix } from '../lib/prefix.ts';
import type { DecidedBatch, LocRib } from '../rib/loc-rib.ts';
import type { Dest } from '../rib/route.ts';
import { ribDecisions } from './source.ts';
import type { BrindleSource } from './source.ts';

export interface FamilyFigures {
  /** Destinations (prefixes) in the Loc-RIB. */
  prefixes: number;
  /** Candidate paths, every source. */
  paths: number;
  /** Paths Brindle originates itself (its address blocks). */
  originated: number;
}

export interface PeerPrefixFigures {
  received: number;
  /** Received and eligible: not ruled out by an AS_PATH, ORIGINATOR_ID or CLUSTER_LIST loop. */
  accepted: number;
  /** Chosen as the best path of their destination. */
  best: number;
}

export interface RibCensus {
  /** By family name ("ipv4-unicast"); both unicast families are always present. */
  readonly families: ReadonlyMap<string, FamilyFigures>;
  /** By peer name, then family name. */
  readonly peers: ReadonlyMap<string, ReadonlyMap<string, PeerPrefixFigures>>;
}

/** Destinations counted per event-loop turn. */
const WALK_SLICE = 25_000;

const UNICAST_FAMILIES = [familyName(1, Safi.Unicast), familyName(2, Safi.Unicast)] as const;

export function destFamily(prefix: Prefix): string {
  return familyName(prefix.afi, Safi.Unicast);
}

class Tally implements RibCensus {
  readonly families = new Map<string, FamilyFigures>(
    UNICAST_FAMILIES.map((f) => [f, { prefixes: 0, paths: 0, originated: 0 }]),
  );
  readonly peers = new Map<string, Map<string, PeerPrefixFigures>>();

  add(dest: Dest): void {
    const family = destFamily(dest);
    let figures = this.families.get(family);
    if (!figures) this.families.set(family, (figures = { prefixes: 0, paths: 0, originated: 0 }));
    figures.prefixes++;
    figures.paths += dest.paths.length;
    for (const path of dest.paths) {
      if (path.peer.local) {
        figures.originated++;
        continue;
      }
      let byFamily = this.peers.get(path.peer.name);
      if (!byFamily) this.peers.set(path.peer.name, (byFamily = new Map<string, PeerPrefixFigures>()));
      let counts = byFamily.get(family);
      if (!counts) byFamily.set(family, (counts = { received: 0, accepted: 0, best: 0 }));
      counts.received++;
      if (path.eligible) counts.accepted++;
      if (dest.best === path) counts.best++;
    }
  }
}

/**
 * One walk in slices, yielding to the event loop between them. Destinations added or removed during
 * the walk may or may not be counted: the figures are a scrape's approximation, never a decision input.
 */
export async function takeCensusSliced(rib: LocRib | undefined): Promise<RibCensus> {
  const tally = new Tally();
  if (!rib) return tally;
  let n = 0;
  for (const dest of rib.dests()) {
    tally.add(dest);
    if (++n % WALK_SLICE === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  return tally;
}

export interface RibWatcherOptions {
  /** A changed Loc-RIB is walked again at most this often (back-to-back scrapes share a walk). */
  readonly maxAgeMs?: number;
  readonly clock?: Clock;
}

/** Follows whichever router runs: counts best-path changes and keeps the last census while nothing changed. */
export class RibWatcher {
  /** Best-path (or ECMP set) changes by family, since start, across router restarts. */
  readonly bestPathChanges = new Map<string, number>(UNICAST_FAMILIES.map((f) => [f, 0]));
  private readonly subscription: Subscription;
  private cached: RibCensus | undefined;
  private cachedRib: LocRib | undefined;
  private cachedAt = -Infinity;
  private walking: Promise<RibCensus> | undefined;
  private walkingRib: LocRib | undefined;
  private dirty = true;
  private readonly maxAgeMs: number;
  private readonly clock: Clock;

  constructor(
    private readonly source: BrindleSource,
    options: RibWatcherOptions = {},
  ) {
    this.maxAgeMs = options.maxAgeMs ?? 1000;
    this.clock = options.clock ?? systemClock;
    // The decision batches, not `bestPathChanges$`: on a route reflector nothing else listens to the
    // latter, and a listener makes the Loc-RIB build an object per changed destination.
    this.subscription = ribDecisions(source).subscribe((batch) => this.onBatch(batch));
  }

  private onBatch(batch: DecidedBatch): void {
    if (batch.pathsChanged.length > 0) this.dirty = true;
    this.count(UNICAST_FAMILIES[0], batch.bestChanged.length - batch.bestChangedIpv6);
    this.count(UNICAST_FAMILIES[1], batch.bestChangedIpv6);
  }

  private count(family: string, changes: number): void {
    if (changes > 0) this.bestPathChanges.set(family, (this.bestPathChanges.get(family) ?? 0) + changes);
  }

  /** The figures, walked again only when the Loc-RIB changed; concurrent callers share one walk. */
  census(): Promise<RibCensus> {
    const rib = this.source.bgp?.locRib;
    const fresh = this.cached && this.cachedRib === rib;
    if (fresh && (!this.dirty || this.clock.now() - this.cachedAt < this.maxAgeMs))
      return Promise.resolve(this.cached!);
    if (this.walking && this.walkingRib === rib) return this.walking;
    this.dirty = false;
    const walk = takeCensusSliced(rib).then((census) => {
      if (this.walking === walk) {
        this.cached = census;
        this.cachedRib = rib;
        this.cachedAt = this.clock.now();
        this.walking = undefined;
      }
      return census;
    });
    this.walking = walk;
    this.walkingRib = rib;
    return walk;
  }

  close(): void {
    this.subscription.unsubscribe();
  }
}
