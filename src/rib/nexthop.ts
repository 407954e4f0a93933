// Next-hop resolution for the decision process (RFC 4271 §9.1.2: a route whose NEXT_HOP cannot be
// resolved is not eligible; §9.1.2.2 (e): prefer the lowest interior cost to it). The RIB asks a
// resolver; the node speaker plugs in the kernel's view (src/fib), a route reflector keeps the default,
// which takes every next hop as reachable at cost 0 (reflected next hops are left unchanged anyway).

import { EMPTY } from 'rxjs/internal/observable/empty';
import type { Observable } from 'rxjs';

export interface NextHopState {
  readonly reachable: boolean;
  /** Interior cost to the next hop; lower is better. */
  readonly igpCost: number;
}

export interface NextHopResolver {
  resolve(nextHop: string): NextHopState;
  /** Batches of next hops whose state may have changed: the RIB re-evaluates the paths using them. */
  readonly changes$: Observable<readonly string[]>;
}

const REACHABLE: NextHopState = Object.freeze({ reachable: true, igpCost: 0 });

export const ALWAYS_REACHABLE: NextHopResolver = {
  resolve: () => REACHABLE,
  changes$: EMPTY,
};
