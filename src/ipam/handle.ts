// IPAMHandle counts (calico-routing.md §7.1, §7.2 step 7, §7.3): per handle, how many addresses it
// holds in each block — the secondary index release-by-handle walks. Blocks are the truth; a handle
// changes only in the same transaction as the block write that allocates or releases its addresses
// (IpamDatastore.commitBlock), so its counts always equal what the blocks hold.

import type { HandleWrite, Versioned } from './datastore.ts';
import type { IpamHandle } from './records.ts';

/**
 * The handle writes that go with one block write: `deltas` (handle id → addresses gained in block
 * `cidr`, negative when released) applied to each handle as `known` has it. A handle missing from
 * `known` (or known to be absent) is created when it gains and left alone when it loses: there is
 * nothing to lower. A count never goes below zero; a handle whose counts all reach zero is deleted
 * (Calico deletes the handle at 0, §7.3).
 */
export function handleWrites(
  cidr: string,
  deltas: ReadonlyMap<string, number>,
  known: ReadonlyMap<string, Versioned<IpamHandle> | undefined>,
  now: number,
): HandleWrite[] {
  const writes: HandleWrite[] = [];
  for (const [handleId, delta] of deltas) {
    if (delta === 0) continue;
    const current = known.get(handleId);
    if (current === undefined) {
      if (delta > 0)
        writes.push({
          value: { handleId, block: { [cidr]: delta }, updatedAt: now },
          modRevision: undefined,
        });
      continue;
    }
    writes.push({ value: withCount(current.value, cidr, delta, now), modRevision: current.modRevision });
  }
  return writes;
}

function withCount(handle: IpamHandle, cidr: string, delta: number, now: number): IpamHandle {
  const block = { ...handle.block };
  const count = Math.max(0, (block[cidr] ?? 0) + delta);
  if (count === 0) delete block[cidr];
  else block[cidr] = count;
  return { handleId: handle.handleId, block, updatedAt: now };
}
