// EchoQueue (echoes.ts): our writes' notifications are recognised in kernel order, refused writes are
// skipped, anyone else's notification is not swallowed.
import test from 'ava';
import { EchoQueue, echoScope } from '../../src/fib/echoes.ts';

const OURS = echoScope(100, 196);

test('echoes are consumed in order; a refused write in between is skipped', (t) => {
  const q = new EchoQueue();
  const tickets = [1, 2, 3, 4].map((key) => q.expect(OURS, key));
  t.true(q.consume(OURS, 1));
  // Write 2 was refused, but its error has not been read yet: the echo of 3 arrives first.
  t.true(q.consume(OURS, 3));
  q.cancel(tickets[1]); // late, harmless
  t.false(q.consume(OURS, 2), 'a refused write has no echo to consume');
  t.true(q.consume(OURS, 4));
  t.is(q.size, 0);
});

test("someone else's notification is not an echo: other prefix, other table or protocol", (t) => {
  const q = new EchoQueue();
  q.expect(OURS, 'a');
  t.false(q.consume(OURS, 'b'));
  t.false(q.consume(echoScope(100, 4), 'a'));
  t.false(q.consume(echoScope(254, 196), 'a'));
  t.true(q.consume(OURS, 'a'));
});

test('the same prefix written twice echoes twice; a cancelled ticket is skipped', (t) => {
  const q = new EchoQueue();
  const first = q.expect(OURS, 7);
  q.expect(OURS, 7);
  q.cancel(first);
  t.true(q.consume(OURS, 7));
  t.false(q.consume(OURS, 7));
});

test('the lookahead bounds the search; clear() forgets everything; tickets survive compaction', (t) => {
  const q = new EchoQueue(10);
  for (let i = 0; i < 20; i++) q.expect(OURS, i);
  t.false(q.consume(OURS, 15), 'beyond the lookahead');
  t.true(q.consume(OURS, 5));
  q.clear();
  t.false(q.consume(OURS, 6));
  const big = new EchoQueue();
  const tickets = Array.from({ length: 10_000 }, (_, i) => big.expect(OURS, i));
  let consumed = 0;
  for (let i = 0; i < 6_000; i++) if (big.consume(OURS, i)) consumed += 1;
  t.is(consumed, 6_000);
  big.cancel(tickets[6_001]);
  t.true(big.consume(OURS, 6_000));
  t.true(big.consume(OURS, 6_002), 'the cancelled write is skipped after compaction');
  t.is(big.size, 10_000 - 6_003);
});
