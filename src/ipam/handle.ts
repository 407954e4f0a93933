// IPAMHandle counts (calico-routing.md §7.1, §7.2 step 7, §7.3): per handle, how many addresses it
// holds in each block — the secondary index release-by-handle walks. Blocks are the truth; a handle is
// raised before the block write that allocates and lowered after the block write that releases, so at
// every moment handle count ≥ allocations, and the difference is exactly the operations in flight
// (or cut short: check.ts explains and repairs that).

import { conflictError, MAX_HANDLE_HOLD_MS } from './context.ts';
import type { IpamContext } from './context.ts';
import type { Versioned } from './datastore.ts';
import { IpamError } from './errors.ts';
import type { IpamHandle } from './records.ts';

/**
 * Add `delta` (negative to lower) to the count `handleId` holds in block `cidr`, by CAS. A count never
 * goes below zero (lowering a handle that `ipam check --fix` already corrected is a no-op), and a
 * handle whose counts all reach zero is deleted (Calico deletes the handle at 0, §7.3).
 */
export async function adjustHandle(
  ctx: IpamContext,
  handleId: string,
  cidr: string,
  delta: number,
): Promise<void> {
  if (delta === 0) return;
  let current = delta > 0 ? await createHandle(ctx, handleId, cidr, delta) : await ctx.ds.getHandle(handleId);
  for (let attempt = 0; attempt < ctx.retries; attempt += 1) {
    if (current === 'done') return;
    if (current === undefined) {
      if (delta < 0) return;
      current = await createHandle(ctx, handleId, cidr, delta);
      continue;
    }
    const next = withCount(current.value, cidr, delta, ctx.now());
    current =
      Object.keys(next.block).length === 0
        ? await deleteHandle(ctx, current)
        : await updateHandle(ctx, next, current);
  }
  throw conflictError(`handle ${handleId}`, ctx.retries);
}

type Step = Versioned<IpamHandle> | undefined | 'done';

async function createHandle(ctx: IpamContext, handleId: string, cidr: string, count: number): Promise<Step> {
  const result = await ctx.ds.createHandle({ handleId, block: { [cidr]: count }, updatedAt: ctx.now() });
  return result.ok ? 'done' : result.current;
}

async function updateHandle(
  ctx: IpamContext,
  next: IpamHandle,
  current: Versioned<IpamHandle>,
): Promise<Step> {
  const result = await ctx.ds.updateHandle(next, current.modRevision);
  return result.ok ? 'done' : result.current;
}

async function deleteHandle(ctx: IpamContext, current: Versioned<IpamHandle>): Promise<Step> {
  if (await ctx.ds.deleteHandle(current.value.handleId, current.modRevision)) return 'done';
  return ctx.ds.getHandle(current.value.handleId);
}

function withCount(handle: IpamHandle, cidr: string, delta: number, now: number): IpamHandle {
  const block = { ...handle.block };
  const count = Math.max(0, (block[cidr] ?? 0) + delta);
  if (count === 0) delete block[cidr];
  else block[cidr] = count;
  return { handleId: handle.handleId, block, updatedAt: now };
}

/**
 * The handle increment one block write depends on (§7.2 step 7): raised before the write, kept across
 * CAS retries (adjusted if a retry assigns fewer addresses), lowered again unless the write commits.
 */
export class HandleHold {
  private held = 0;
  private since = 0;

  constructor(
    private readonly ctx: IpamContext,
    private readonly handleId: string | undefined,
    private readonly cidr: string,
  ) {}

  /** Make the handle hold exactly `count` for this block, ahead of the block write. */
  async set(count: number): Promise<void> {
    if (this.handleId === undefined || count === this.held) return;
    await adjustHandle(this.ctx, this.handleId, this.cidr, count - this.held);
    if (this.held === 0) this.since = this.ctx.now();
    this.held = count;
  }

  /** Refuse to write a block long after the handle was raised (context.ts MAX_HANDLE_HOLD_MS). */
  checkDeadline(): void {
    if (this.held > 0 && this.ctx.now() - this.since > MAX_HANDLE_HOLD_MS) {
      throw new IpamError(
        'timeout',
        `block ${this.cidr}: the handle was raised over ${MAX_HANDLE_HOLD_MS} ms ago; giving up`,
      );
    }
  }

  /** The block write committed: the increment is now backed by allocations. */
  commit(): void {
    this.held = 0;
  }

  /** The block write did not happen: lower the handle again. */
  async undo(): Promise<void> {
    if (this.handleId === undefined || this.held === 0) return;
    const held = this.held;
    this.held = 0;
    await adjustHandle(this.ctx, this.handleId, this.cidr, -held);
  }
}
