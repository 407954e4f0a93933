// The Loc-RIB's decision queue (rib/decision-queue.ts): first in first out across its chunks, a take
// bounded by the turn's budget, and an iteration that meets what was queued when it started.
import test from 'ava';
import { CHUNK, DecisionQueue } from '../../src/rib/decision-queue.ts';

const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);

function filled(count: number): DecisionQueue<number> {
  const queue = new DecisionQueue<number>();
  for (const n of range(0, count)) queue.push(n);
  return queue;
}

test('takes come out in the order pushed, a chunk at most, and the length follows', (t) => {
  const queue = filled(2 * CHUNK + 10);
  t.is(queue.length, 2 * CHUNK + 10);
  const taken: number[][] = [];
  while (queue.length > 0) taken.push(queue.take(Infinity));
  t.deepEqual(
    taken.map((batch) => batch.length),
    [CHUNK, CHUNK, 10],
  );
  t.deepEqual(taken.flat(), range(0, 2 * CHUNK + 10));
  t.deepEqual(queue.take(5), [], 'empty');
});

test('a take bounded below a chunk leaves the rest first in line; pushes meanwhile go last', (t) => {
  const queue = filled(CHUNK + 3);
  t.deepEqual(queue.take(2), [0, 1]);
  queue.push(-1);
  t.deepEqual(queue.take(CHUNK), range(2, CHUNK - 2));
  t.deepEqual(queue.take(2), [CHUNK, CHUNK + 1]);
  t.deepEqual(queue.take(10), [CHUNK + 2, -1]);
  t.is(queue.length, 0);
});

test('an iteration meets what was queued when it started, whatever is taken or pushed meanwhile', (t) => {
  const queue = filled(CHUNK + 5);
  const values = queue.values();
  const seen = [values.next().value];
  queue.take(3);
  queue.push(-1);
  for (let next = values.next(); !next.done; next = values.next()) seen.push(next.value);
  t.deepEqual(seen, range(0, CHUNK + 5));
  t.deepEqual([...queue.values()], [...range(3, CHUNK + 2), -1]);
});

test('under a standing backlog the emptied chunks leave the front: order and length hold', (t) => {
  const queue = new DecisionQueue<number>();
  let pushed = 0;
  let expected = 0;
  // Always more than one full chunk queued, for 200 chunks taken.
  for (let i = 0; i < 2 * CHUNK; i++) queue.push(pushed++);
  for (let round = 0; round < 200; round++) {
    for (let i = 0; i < CHUNK; i++) queue.push(pushed++);
    const batch = queue.take(CHUNK);
    if (batch[0] !== expected || batch.length !== CHUNK) {
      t.fail(`round ${round}: took ${batch.length} from ${batch[0]}, expected ${CHUNK} from ${expected}`);
      return;
    }
    expected += CHUNK;
  }
  t.is(queue.length, pushed - expected);
  t.is([...queue.values()][0], expected);
});
