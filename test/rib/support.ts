// Shared by the RIB tests: a next-hop resolver whose view the test edits.
import { Subject } from 'rxjs';
import type { NextHopResolver, NextHopState } from '../../src/rib/nexthop.ts';

/** The resolver's view as a table a test edits. */
export class TableResolver implements NextHopResolver {
  readonly states = new Map<string, NextHopState>();
  private readonly subject = new Subject<readonly string[]>();
  readonly changes$ = this.subject.asObservable();
  resolve(nextHop: string): NextHopState {
    return this.states.get(nextHop) ?? { reachable: false, igpCost: 0 };
  }
  set(nextHop: string, state: NextHopState): void {
    this.states.set(nextHop, state);
    this.subject.next([nextHop]);
  }
}
