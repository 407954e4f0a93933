// One allocating process for the contention tests (`node --import tsx test/ipam/worker.ts …`), standing
// in for a CNI plugin invocation stream on one node:
//   worker.ts ENDPOINT PREFIX NODE COUNT ID [CONCURRENCY]
// It connects, says 'ready', waits for 'go' (so every worker starts at once), then makes COUNT
// single-address autoAssigns for NODE with handles `<ID>-<i>`, CONCURRENCY at a time, and reports each
// over IPC once autoAssign has resolved — i.e. after its block write committed.

import { openEtcdStore } from '../../src/datastore/etcd-store.ts';
import { IpamClient } from '../../src/ipam/allocator.ts';

export type WorkerMessage =
  | { readonly type: 'ready' }
  | {
      readonly type: 'assigned';
      readonly address: string;
      readonly handleId: string;
      readonly sequenceNumber: number;
    }
  | { readonly type: 'done'; readonly elapsedMs: number; readonly cpuMs: number }
  | { readonly type: 'failed'; readonly message: string };

const [endpoint, prefix, node, countArg, id, concurrencyArg] = process.argv.slice(2);

function send(message: WorkerMessage): Promise<void> {
  return new Promise((resolve, reject) => {
    process.send?.(message, undefined, {}, (error) => (error ? reject(error) : resolve()));
  });
}

function go(): Promise<void> {
  return new Promise((resolve) => {
    process.on('message', (message: { type?: string }) => {
      if (message.type === 'go') resolve();
    });
  });
}

async function main(): Promise<void> {
  if (endpoint === undefined || prefix === undefined || node === undefined || id === undefined) {
    throw new Error('usage: worker.ts ENDPOINT PREFIX NODE COUNT ID [CONCURRENCY]');
  }
  const count = Number(countArg);
  const store = openEtcdStore({ endpoints: [endpoint], prefix });
  const ipam = new IpamClient({ store });
  const started = go();
  await send({ type: 'ready' });
  await started;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) {
      const handleId = `${id}-${next++}`;
      const { ipv4 } = await ipam.autoAssign({
        node,
        handleId,
        attrs: { pod: handleId, namespace: 'contention' },
        num4: 1,
        intendedUse: 'Workload',
      });
      await send({
        type: 'assigned',
        address: ipv4[0].address,
        handleId,
        sequenceNumber: ipv4[0].sequenceNumber,
      });
    }
  };
  await Promise.all(Array.from({ length: Number(concurrencyArg ?? 1) }, lane));
  const cpu = process.cpuUsage(cpu0);
  await send({ type: 'done', elapsedMs: performance.now() - t0, cpuMs: (cpu.user + cpu.system) / 1_000 });
  await store.close();
  process.disconnect();
}

main().catch(async (error: unknown) => {
  await send({
    type: 'failed',
    message: error instanceof Error ? (error.stack ?? error.message) : String(error),
  }).catch(() => undefined);
  process.exit(1);
});
