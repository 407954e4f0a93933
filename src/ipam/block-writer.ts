// The block write of an assignment (calico-routing.md §7.2 step 7), batched per block. Assignments of
// one client that want the same block at the same time are planned one after another, each on the
// block as the earlier ones left it, and written in one transaction together with their handles
// (IpamDatastore.commitBlock): one compare-and-swap of the block record and one durable commit for the
// whole batch, instead of one each racing the others for the same record.
//
// The block comes from what the client last saw of it (knownBlock) when it has seen it, else from a
// read; the CAS checks it either way. A lost race re-plans the whole batch from the block the failed
// CAS returned, at most ctx.retries times (§7.4). "Nothing for this task" is only believed of a block
// read from the store or written by this batch: planned on a remembered block, it is checked again
// against a fresh read first, so a stale memory never makes a host claim a block it does not need.

import type { Prefix } from '../lib/prefix.ts';
import type { AllocationBlock, Assignment } from './block.ts';
import { formatCidr } from './cidr.ts';
import { conflictError } from './context.ts';
import type { IpamContext } from './context.ts';
import type { Versioned } from './datastore.ts';
import { handleWrites } from './handle.ts';
import type { IpamHandle } from './records.ts';

export interface AssignTask {
  /** The IPAMHandle that counts what this task assigns. */
  readonly handleId: string | undefined;
  /**
   * This task's share of `block` (as the batch's earlier tasks left it): undefined or no ordinals when
   * the block has nothing for it. May throw (an IpamError) to refuse; the batch's other tasks go on.
   */
  plan(block: AllocationBlock): Assignment | undefined;
}

type Outcome =
  | { readonly ok: true; readonly assignment: Assignment | undefined }
  | { readonly ok: false; readonly error: unknown };

interface Waiter {
  readonly task: AssignTask;
  readonly resolve: (assignment: Assignment | undefined) => void;
  readonly reject: (error: unknown) => void;
}

interface Queue {
  readonly cidr: Prefix;
  readonly waiting: Waiter[];
}

/** Tasks per transaction: with the block, at most one handle op each stays far below MAX_TXN_OPS. */
const MAX_BATCH = 64;

export class BlockWriter {
  /** Block CIDR → the tasks waiting for its next write; present while a drain runs for it. */
  private readonly queues = new Map<string, Queue>();

  constructor(private readonly ctx: IpamContext) {}

  /**
   * Resolves once the task's addresses are committed, with them; undefined when the block does not
   * exist or has nothing for the task. Rejects with the task's own refusal or a datastore error.
   */
  assign(cidr: Prefix, task: AssignTask): Promise<Assignment | undefined> {
    const key = formatCidr(cidr);
    let queue = this.queues.get(key);
    if (queue === undefined) {
      queue = { cidr, waiting: [] };
      this.queues.set(key, queue);
      void this.drain(key, queue);
    }
    const waiting = queue.waiting;
    return new Promise((resolve, reject) => waiting.push({ task, resolve, reject }));
  }

  /**
   * One batch after another until no task waits. Each batch starts a turn of the event loop later,
   * so that the requests started in the same turn (and those freed by the previous batch) join it.
   */
  private async drain(key: string, queue: Queue): Promise<void> {
    try {
      do {
        await new Promise<void>((resolve) => setImmediate(resolve));
        const batch = queue.waiting.splice(0, MAX_BATCH);
        await this.writeBatch(queue.cidr, batch);
      } while (queue.waiting.length > 0);
    } finally {
      this.queues.delete(key);
    }
  }

  private async writeBatch(cidr: Prefix, batch: readonly Waiter[]): Promise<void> {
    let outcomes: Outcome[];
    try {
      outcomes = await this.commitBatch(
        cidr,
        batch.map((w) => w.task),
      );
    } catch (error) {
      for (const waiter of batch) waiter.reject(error);
      return;
    }
    outcomes.forEach((outcome, i) =>
      outcome.ok ? batch[i].resolve(outcome.assignment) : batch[i].reject(outcome.error),
    );
  }

  private async commitBatch(cidr: Prefix, tasks: readonly AssignTask[]): Promise<Outcome[]> {
    const cidrText = formatCidr(cidr);
    const known = this.ctx.ds.knownBlock(cidr);
    let current = known ?? (await this.ctx.ds.getBlock(cidr));
    let verified = known === undefined;
    /** What the failed CASes said of the handles; a handle not in here is assumed not to exist yet. */
    const handles = new Map<string, Versioned<IpamHandle> | undefined>();
    for (let attempt = 0; attempt < this.ctx.retries; attempt += 1) {
      if (current === undefined) return tasks.map(() => ({ ok: true, assignment: undefined }));
      const planned = planBatch(current.value, tasks);
      if (planned.block === current.value) {
        if (verified) return planned.outcomes;
        current = await this.ctx.ds.getBlock(cidr);
        verified = true;
        continue;
      }
      const writes = handleWrites(cidrText, planned.handleDeltas, handles, this.ctx.now());
      const result = await this.ctx.ds.commitBlock(planned.block, current.modRevision, writes);
      if (result.ok) return planned.outcomes;
      current = result.block;
      verified = true;
      for (const [handleId, handle] of result.handles) handles.set(handleId, handle);
    }
    throw conflictError(`block ${cidrText}`, this.ctx.retries);
  }
}

/** Each task planned on the block the previous ones left; the handle counts they add. */
function planBatch(
  block: AllocationBlock,
  tasks: readonly AssignTask[],
): { block: AllocationBlock; outcomes: Outcome[]; handleDeltas: Map<string, number> } {
  let next = block;
  const handleDeltas = new Map<string, number>();
  const outcomes = tasks.map((task): Outcome => {
    let assignment: Assignment | undefined;
    try {
      assignment = task.plan(next);
    } catch (error) {
      return { ok: false, error };
    }
    if (assignment === undefined || assignment.ordinals.length === 0)
      return { ok: true, assignment: undefined };
    next = assignment.block;
    if (task.handleId !== undefined) {
      handleDeltas.set(task.handleId, (handleDeltas.get(task.handleId) ?? 0) + assignment.ordinals.length);
    }
    return { ok: true, assignment };
  });
  return { block: next, outcomes, handleDeltas };
}
