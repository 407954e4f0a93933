// GET /api/v1/events/routes: a best-path change announced over BGP reaches an SSE client; a client
// that stops reading is disconnected once its unsent output passes the limit, while a client that
// keeps up receives every event.
import test from 'ava';
import { request as httpRequest } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { createConnection } from 'node:net';
import { Origin } from '../../src/bgp/constants.ts';
import { Router } from '../../src/daemon/router.ts';
import { parseIpv4 } from '../../src/lib/address.ts';
import { formatPrefix, ipv4Prefix } from '../../src/lib/prefix.ts';
import { waitFor } from '../helpers/netns.ts';
import { announce } from '../helpers/routes.ts';
import { call, LogCapture, reflectorFixture, startApi, tcp } from './support.ts';

interface SseEvent {
  readonly event: string;
  readonly id?: string;
  readonly data: Record<string, unknown>;
}

/** An SSE client that parses events as they arrive. */
class SseClient {
  readonly events: SseEvent[] = [];
  status = 0;
  ended = false;
  private buffer = '';
  private response: IncomingMessage | undefined;

  static open(url: string): Promise<SseClient> {
    const client = new SseClient();
    return new Promise((resolve, reject) => {
      const req = httpRequest(`${url}/api/v1/events/routes`, { timeout: 5000 }, (res) => {
        client.status = res.statusCode ?? 0;
        client.response = res;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => client.feed(chunk));
        res.on('close', () => (client.ended = true));
        res.on('error', () => (client.ended = true));
        resolve(client);
      });
      req.on('timeout', () => req.destroy(new Error('no SSE headers in time')));
      req.on('error', reject);
      req.end();
    });
  }

  private feed(chunk: string): void {
    this.buffer += chunk;
    let end: number;
    while ((end = this.buffer.indexOf('\n\n')) >= 0) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      const fields = new Map<string, string>();
      for (const line of block.split('\n')) {
        const colon = line.indexOf(':');
        if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1).trimStart());
      }
      const data = fields.get('data');
      if (data !== undefined)
        this.events.push({
          event: fields.get('event') ?? 'message',
          id: fields.get('id'),
          data: JSON.parse(data) as Record<string, unknown>,
        });
    }
  }

  close(): void {
    this.response?.destroy();
  }
}

test('a best-path change learned over BGP reaches an SSE client', async (t) => {
  const fixture = await reflectorFixture(t);
  const { api } = await startApi(t, fixture.router);
  const client = await SseClient.open(api.url!);
  t.teardown(() => client.close());
  t.is(client.status, 200);
  await waitFor(() => api.eventClients.connected === 1, {
    timeoutMs: 2000,
    what: 'the client to be attached',
  });

  const a = fixture.speakers[0].address;
  announce(fixture.remotes[0], [
    { prefix: '10.244.7.0/24', attributes: { origin: Origin.Igp, asPath: [], nextHop: a } },
  ]);
  const added = await waitFor(() => client.events.find((e) => e.data.prefix === '10.244.7.0/24'), {
    timeoutMs: 5000,
    what: 'the best-path event',
  });
  t.is(added.event, 'best-path');
  t.like(added.data, {
    family: 'ipv4-unicast',
    best: { from: fixture.router.allPeers()[0].config.name, nextHop: a },
    paths: 1,
  });

  fixture.router.withdrawOriginated('10.250.0.0/26');
  const gone = await waitFor(() => client.events.find((e) => e.data.prefix === '10.250.0.0/26'), {
    timeoutMs: 5000,
    what: 'the withdrawal event',
  });
  t.is(gone.data.best, null);
  t.true(Number(gone.id) > Number(added.id), 'ids increase');
});

test('a client that stops reading is dropped; one that keeps up gets every event', async (t) => {
  const router = new Router({ routerId: parseIpv4('10.0.0.1'), localAs: 64512 });
  t.teardown(() => router.close());
  const logs = new LogCapture();
  const limit = 64 * 1024;
  const { api } = await startApi(t, router, { log: logs.log, events: { maxBufferedBytes: limit } });
  const port = api.address!.port;

  // The slow client: a raw socket that sends its request and never reads the answer.
  const slow = createConnection({ host: '127.0.0.1', port });
  t.teardown(() => slow.destroy());
  let slowClosed = false;
  slow.on('close', () => (slowClosed = true));
  slow.on('error', () => (slowClosed = true));
  await new Promise<void>((resolve) => slow.once('connect', resolve));
  slow.write('GET /api/v1/events/routes HTTP/1.1\r\nHost: test\r\n\r\n');
  slow.pause();
  const fast = await SseClient.open(api.url!);
  t.teardown(() => fast.close());
  await waitFor(() => api.eventClients.connected === 2, { timeoutMs: 2000, what: 'both clients attached' });

  // Originate batches until the stalled client's kernel buffers are full and its backlog passes the
  // limit (a few MB on loopback); bounded by a number of rounds.
  let originated = 0;
  for (let round = 0; round < 40 && api.eventClients.dropped === 0; round++) {
    for (let i = 0; i < 5000; i++, originated++)
      router.originate(ipv4Prefix(0x0a000000 + originated * 256, 24), { nextHop: '10.0.0.1' });
    await router.locRib.settled();
    await new Promise((r) => setTimeout(r, 20));
  }
  t.is(api.eventClients.dropped, 1, 'the stalled client was dropped');
  t.is(api.eventClients.connected, 1, 'the reading client stays');
  const [dropLog] = logs.events('sse-dropped');
  t.truthy(dropLog);
  t.true(
    Number(dropLog.buffered) <= limit + 256 * 1024,
    'dropped once its backlog passed the limit (plus a slice)',
  );

  await waitFor(() => fast.events.length === originated, {
    timeoutMs: 20_000,
    what: `all ${originated} events at the reading client`,
  });
  t.is(fast.events.at(-1)?.data.prefix, formatPrefix(ipv4Prefix(0x0a000000 + (originated - 1) * 256, 24)));
  const metrics = await call(tcp(api), 'GET', '/metrics');
  t.regex(metrics.text, /^brindle_api_route_event_clients_dropped_total 1$/m);
  t.regex(metrics.text, /^brindle_api_route_event_clients 1$/m);
  slow.resume();
  await waitFor(() => slowClosed, { timeoutMs: 10_000, what: 'the stalled connection to be closed' });
});
