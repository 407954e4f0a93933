// Interface names ↔ ifindex, and whether each is up: filled from an RTM_GETLINK dump and kept current
// from RTM_NEWLINK / RTM_DELLINK. Desired routes name devices; the kernel speaks ifindexes.

import { IFF_UP } from './netlink.ts';
import type { KernelLink } from './netlink.ts';

/** What changed for one interface, as the FIB engine and the next-hop resolver react to it. */
export interface LinkChange {
  readonly link: KernelLink;
  /** New interface, deleted one, admin state flipped, or renamed. */
  readonly change: 'added' | 'deleted' | 'up' | 'down' | 'renamed' | 'other';
  readonly previousName?: string;
}

export class LinkTable {
  private readonly byIndex = new Map<number, KernelLink>();
  private readonly byName = new Map<string, number>();

  reset(links: readonly KernelLink[]): void {
    this.byIndex.clear();
    this.byName.clear();
    for (const link of links) this.set(link);
  }

  ifindex(name: string): number | undefined {
    return this.byName.get(name);
  }

  name(ifindex: number): string | undefined {
    return this.byIndex.get(ifindex)?.name;
  }

  isUp(ifindex: number): boolean {
    return ((this.byIndex.get(ifindex)?.flags ?? 0) & IFF_UP) !== 0;
  }

  /** Applies a notification and says what it changed. */
  apply(action: 'new' | 'delete', link: KernelLink): LinkChange {
    const previous = this.byIndex.get(link.ifindex);
    if (action === 'delete') {
      if (previous) this.remove(previous);
      return { link: previous ?? link, change: 'deleted' };
    }
    // RTM_NEWLINK notifications may omit IFLA_IFNAME in principle; keep the name we know.
    const current = link.name === '' && previous ? { ...link, name: previous.name } : link;
    if (previous) this.remove(previous);
    this.set(current);
    if (!previous) return { link: current, change: 'added' };
    if (previous.name !== current.name)
      return { link: current, change: 'renamed', previousName: previous.name };
    const wasUp = (previous.flags & IFF_UP) !== 0;
    const isUp = (current.flags & IFF_UP) !== 0;
    if (wasUp !== isUp) return { link: current, change: isUp ? 'up' : 'down' };
    return { link: current, change: 'other' };
  }

  private set(link: KernelLink): void {
    this.byIndex.set(link.ifindex, link);
    if (link.name !== '') this.byName.set(link.name, link.ifindex);
  }

  private remove(link: KernelLink): void {
    this.byIndex.delete(link.ifindex);
    if (this.byName.get(link.name) === link.ifindex) this.byName.delete(link.name);
  }
}
