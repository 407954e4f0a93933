// The rt_protos helper against a scratch directory: nothing under /etc is touched by tests.
import test from 'ava';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  parseRtProtos,
  PROTOCOL_NAME,
  registerProtocolName,
  rtProtosEntry,
  RT_PROTOS_DIR,
  unregisterProtocolName,
} from '../../src/fib/rt-protos.ts';
import { DEFAULT_FIB_PROTOCOL } from '../../src/fib/types.ts';

async function scratch(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'brindle-rtprotos-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  return join(root, 'iproute2', 'rt_protos.d');
}

test('defaults: protocol 205 named brindle in /etc/iproute2/rt_protos.d/brindle.conf', (t) => {
  t.is(DEFAULT_FIB_PROTOCOL, 205);
  t.is(PROTOCOL_NAME, 'brindle');
  t.is(RT_PROTOS_DIR, '/etc/iproute2/rt_protos.d');
  t.deepEqual(parseRtProtos(rtProtosEntry()), new Map([[205, 'brindle']]));
});

test('register writes the file once, reports other names for the number, unregister removes only ours', async (t) => {
  const dir = await scratch(t);
  const first = await registerProtocolName({ dir });
  t.deepEqual(first, { file: join(dir, 'brindle.conf'), written: true, conflicts: [] });
  t.is(await readFile(first.file, 'utf8'), rtProtosEntry(205, 'brindle'));
  t.like(await registerProtocolName({ dir }), { written: false });

  // FRR's rt_protos.d/frr.conf names 186-197, not 205: no conflict. Another file naming 205 is one.
  await writeFile(join(dir, 'frr.conf'), '# frr\n186  bgp\n196  static\n');
  t.deepEqual((await registerProtocolName({ dir })).conflicts, []);
  await writeFile(join(dir, 'other.conf'), '205  other\n');
  await writeFile(join(dir, '..', 'rt_protos'), '4\tstatic\n0xcd\tzother\n');
  t.deepEqual((await registerProtocolName({ dir })).conflicts, [
    { file: join(dir, '..', 'rt_protos'), name: 'zother' },
    { file: join(dir, 'other.conf'), name: 'other' },
  ]);

  t.false(await unregisterProtocolName({ dir, protocol: 206 }), 'the file names 205, not 206');
  t.true(await unregisterProtocolName({ dir }));
  t.false(await unregisterProtocolName({ dir }));
  t.is(await readFile(join(dir, 'frr.conf'), 'utf8'), '# frr\n186  bgp\n196  static\n');
});

test('another number and name; bad ones are refused before anything is written', async (t) => {
  const dir = await scratch(t);
  await mkdir(dir, { recursive: true });
  const result = await registerProtocolName({ dir, protocol: 201, name: 'brindle-lab' });
  t.is(await readFile(result.file, 'utf8'), rtProtosEntry(201, 'brindle-lab'));
  await t.throwsAsync(registerProtocolName({ dir, protocol: 256 }), { instanceOf: RangeError });
  await t.throwsAsync(registerProtocolName({ dir, protocol: 0 }), { instanceOf: RangeError });
  await t.throwsAsync(registerProtocolName({ dir, name: 'no spaces' }), { instanceOf: TypeError });
});
