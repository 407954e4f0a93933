// The routes a node owes its IPAM state (calico-routing.md §7.5): it follows the IPAM records in the
// datastore (list, then watch) and recomputes, after each burst of changes, which prefixes the node
// originates (its confirmed blocks and the addresses it borrowed) and which it blackholes.

import { BehaviorSubject } from 'rxjs/internal/BehaviorSubject';
import type { Observable, Subscription } from 'rxjs';
import type { Logger } from '../lib/log.ts';
import { isStoreError } from '../datastore/store.ts';
import type { Store, WatchEvent } from '../datastore/store.ts';
import { AFFINITY_PREFIX, BLOCK_PREFIX, IPAM_PREFIX } from '../ipam/keys.ts';
import { decodeAffinity, decodeBlock } from '../ipam/records.ts';
import type { BlockAffinity } from '../ipam/records.ts';
import type { AllocationBlock } from '../ipam/block.ts';
import { nodeRoutes } from '../ipam/routes.ts';
import type { NodeRoutes } from '../ipam/routes.ts';
import type { IPPool } from '../resources/types.ts';

const DEBOUNCE_MS = 50;
const RETRY_MS = 2000;

export class IpamRoutes {
  private readonly affinities = new Map<string, BlockAffinity>();
  private readonly blocks = new Map<string, AllocationBlock>();
  private pools: readonly IPPool[] = [];
  private readonly subject = new BehaviorSubject<NodeRoutes>({ originate: [], blackhole: [] });
  readonly routes$: Observable<NodeRoutes> = this.subject.asObservable();
  private watch: Subscription | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly store: Store,
    private readonly node: string,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    if (this.stopped) return;
    try {
      const { items, revision } = await this.store.list(IPAM_PREFIX);
      this.affinities.clear();
      this.blocks.clear();
      for (const kv of items) this.put(kv.key, kv.value);
      this.recompute();
      this.watch?.unsubscribe();
      this.watch = this.store.watch(IPAM_PREFIX, revision).subscribe({
        next: (event) => this.apply(event),
        error: (error: unknown) => {
          if (!this.stopped && !isStoreError(error, 'closed')) void this.start();
        },
      });
    } catch (error) {
      this.log.warn({ event: 'ipam-unavailable', reason: String(error) }, 'cannot list IPAM state; retrying');
      setTimeout(() => void this.start(), RETRY_MS).unref();
    }
  }

  /** The pools decide which blocks are exported (disableBGPExport). */
  setPools(pools: readonly IPPool[]): void {
    this.pools = pools;
    this.schedule();
  }

  private put(key: string, value: string): void {
    try {
      if (key.startsWith(AFFINITY_PREFIX)) this.affinities.set(key, decodeAffinity(key, value));
      else if (key.startsWith(BLOCK_PREFIX)) this.blocks.set(key, decodeBlock(key, value));
    } catch (error) {
      this.log.error({ event: 'ipam-record', key, reason: String(error) }, 'unreadable IPAM record ignored');
    }
  }

  private apply(event: WatchEvent): void {
    if (event.type === 'delete') {
      this.affinities.delete(event.key);
      this.blocks.delete(event.key);
    } else if (event.value !== undefined) {
      this.put(event.key, event.value);
    }
    this.schedule();
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.recompute();
    }, DEBOUNCE_MS);
    this.timer.unref();
  }

  private recompute(): void {
    this.subject.next(this.routesFor(this.pools));
  }

  /** The routes this node's blocks call for under `pools` (apply --dry-run asks it of candidate pools). */
  routesFor(pools: readonly IPPool[]): NodeRoutes {
    return nodeRoutes(this.node, [...this.affinities.values()], [...this.blocks.values()], pools);
  }

  stop(): void {
    this.stopped = true;
    this.watch?.unsubscribe();
    if (this.timer) clearTimeout(this.timer);
    this.subject.complete();
  }
}
