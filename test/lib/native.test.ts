// The native addon against the real kernel: rtnetlink (dump, strict checking, multicast watch in a
// fresh netns) and the TCP options a BGP connection uses (RFC 2385 MD5, RFC 5082 GTSM, TTL) on
// loopback. Needs root. A negative case waits NOT_CONNECTED_MS: on loopback a permitted connect takes
// a few milliseconds, and a dropped SYN is only retransmitted after a one-second RTO.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  EAGAIN,
  IP_MINTTL,
  IP_TTL,
  IPPROTO_IP,
  IPPROTO_TCP,
  IPPROTO_IPV6,
  IPV6_MINHOPCOUNT,
  IPV6_UNICAST_HOPS,
  NETLINK_ROUTE,
  TCP_MD5SIG,
  bindAddress,
  bindToDevice,
  defaultAddonPath,
  gtsmMinTtl,
  loadNative,
  loadNativeFrom,
  mallocTrim,
  requireNative,
  socketFd,
  tcpMd5SigStruct,
} from '../../src/lib/native.ts';
import type { NativeAddon } from '../../src/lib/native.ts';
import { applyListenerOptions, connectWithOptions } from '../../src/lib/tcp-options.ts';
import type { ConnectWithOptions, ListenerOptions } from '../../src/lib/tcp-options.ts';
import { createNetns, run, startDaemon, waitFor, withCleanup } from '../helpers/netns.ts';
import type { Cleanup } from '../helpers/netns.ts';

const NOT_CONNECTED_MS = 1_000;
const CONNECTED_MS = 5_000;

// include/uapi/linux/{netlink,rtnetlink}.h
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const RTM_NEWLINK = 16;
const RTM_GETLINK = 18;
const NLM_F_REQUEST = 0x1;
const NLM_F_DUMP = 0x300;
const IFLA_IFNAME = 3;

function native(): NativeAddon {
  return requireNative();
}

// ---------------------------------------------------------------------------------------------------
// Loading

test('the addon loads from build/Release with every function', (t) => {
  const load = loadNative();
  t.true(load.ok, load.ok ? '' : load.reason);
  t.regex(defaultAddonPath(), /\/build\/Release\/brindle_native\.node$/);
});

test('a missing or broken addon file is a reason, not an exception', (t) => {
  const missing = loadNativeFrom('/nonexistent/brindle_native.node');
  t.false(missing.ok);
  if (!missing.ok)
    t.regex(missing.reason, /\/nonexistent\/brindle_native\.node does not exist.*npm run build:native/);
  const garbage = join(tmpdir(), `brindle-native-${process.pid}.node`);
  writeFileSync(garbage, 'not an ELF object');
  t.teardown(() => rmSync(garbage, { force: true }));
  const broken = loadNativeFrom(garbage);
  t.false(broken.ok);
  if (!broken.ok) t.regex(broken.reason, /failed to load: .*npm run build:native/);
});

test('malloc_trim is callable: glibc answers whether memory went back, elsewhere nothing', (t) => {
  const glibc = (process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header
    ?.glibcVersionRuntime;
  const trimmed = mallocTrim();
  if (glibc === undefined) t.is(trimmed, undefined);
  else t.is(typeof trimmed, 'boolean');
});

// ---------------------------------------------------------------------------------------------------
// rtnetlink

function nlRequest(type: number, flags: number, seq: number, body: Buffer): Buffer {
  const header = Buffer.alloc(16);
  header.writeUInt32LE(16 + body.length, 0);
  header.writeUInt16LE(type, 4);
  header.writeUInt16LE(flags, 6);
  header.writeUInt32LE(seq, 8);
  return Buffer.concat([header, body]);
}

interface NlMessage {
  readonly type: number;
  readonly seq: number;
  readonly body: Buffer;
}

/** Every message of a dump reply, up to and including NLMSG_DONE or NLMSG_ERROR, read via watch(). */
function receiveReply(addon: NativeAddon, fd: number, timeoutMs: number): Promise<NlMessage[]> {
  const messages: NlMessage[] = [];
  const buffer = Buffer.alloc(64 * 1024);
  return new Promise((resolve, reject) => {
    const finish = (error?: Error): void => {
      clearTimeout(timer);
      addon.unwatch(handle);
      if (error) reject(error);
      else resolve(messages);
    };
    const timer = setTimeout(
      () => finish(new Error(`no complete netlink reply in ${timeoutMs} ms`)),
      timeoutMs,
    );
    const handle = addon.watch(fd, (status) => {
      if (status < 0) return finish(new Error(`watch failed: ${status}`));
      for (let n = addon.recv(fd, buffer); n !== -EAGAIN; n = addon.recv(fd, buffer)) {
        if (n < 0) return finish(new Error(`recv failed: ${n}`));
        for (let offset = 0; offset + 16 <= n;) {
          const length = buffer.readUInt32LE(offset);
          const type = buffer.readUInt16LE(offset + 4);
          const body = Buffer.from(buffer.subarray(offset + 16, offset + length));
          messages.push({ type, seq: buffer.readUInt32LE(offset + 8), body });
          if (type === NLMSG_DONE || type === NLMSG_ERROR) return finish();
          offset += (length + 3) & ~3;
        }
      }
    });
  });
}

/** IFLA_IFNAME of an RTM_NEWLINK body (struct ifinfomsg, 16 bytes, then attributes). */
function linkName(body: Buffer): string | undefined {
  for (let offset = 16; offset + 4 <= body.length;) {
    const length = body.readUInt16LE(offset);
    if (length < 4) return undefined;
    if (body.readUInt16LE(offset + 2) === IFLA_IFNAME)
      return body.toString('latin1', offset + 4, offset + length - 1);
    offset += (length + 3) & ~3;
  }
  return undefined;
}

test('an RTM_GETLINK dump returns the loopback link; strict checking rejects a bare rtgenmsg', async (t) => {
  const addon = native();
  const fd = addon.nlOpen(NETLINK_ROUTE, 0, 1 << 20);
  t.teardown(() => addon.close(fd));

  // With NETLINK_GET_STRICT_CHK the kernel wants a whole ifinfomsg: the legacy 20-byte request (a
  // 1-byte rtgenmsg padded to 4) ends at once in an NLMSG_DONE carrying -EINVAL (a dump's errors
  // arrive in its DONE), which proves the option is on.
  t.is(addon.nlSend(fd, nlRequest(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, 1, Buffer.alloc(4))), 20);
  const refusal = await receiveReply(addon, fd, 5_000);
  t.deepEqual(
    refusal.map((m) => [m.type, m.body.readInt32LE(0)]),
    [[NLMSG_DONE, -22]],
  );

  t.is(addon.nlSend(fd, nlRequest(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, 2, Buffer.alloc(16))), 32);
  const reply = await receiveReply(addon, fd, 5_000);
  t.is(reply.at(-1)?.type, NLMSG_DONE);
  const lo = reply.find((m) => m.type === RTM_NEWLINK && m.body.readInt32LE(4) === 1);
  t.truthy(lo, 'ifindex 1 is in the dump');
  t.is(lo && linkName(lo.body), 'lo');
  t.true(reply.every((m) => m.seq === 2));
  t.is(addon.recv(fd, Buffer.alloc(64)), -EAGAIN);
});

// Runs under `ip netns exec`: no tsx, just the addon. Prints "ready", then one JSON line per
// RTM_NEWROUTE, and exits once it has seen the route named in argv.
const ROUTE_WATCHER = `
import { createRequire } from 'node:module';
const [addonPath, wanted] = process.argv.slice(1);
const addon = createRequire(addonPath)(addonPath);
const fd = addon.nlOpen(0, 0x40 /* RTMGRP_IPV4_ROUTE */, 0);
const buffer = Buffer.alloc(65536);
const handle = addon.watch(fd, (status) => {
  if (status < 0) throw new Error('watch status ' + status);
  for (let n = addon.recv(fd, buffer); n > 0; n = addon.recv(fd, buffer)) {
    for (let off = 0; off + 16 <= n; off += (buffer.readUInt32LE(off) + 3) & ~3) {
      const end = off + buffer.readUInt32LE(off);
      if (buffer.readUInt16LE(off + 4) !== 24 /* RTM_NEWROUTE */) continue;
      let dst = '0.0.0.0';
      for (let a = off + 28; a + 4 <= end && buffer.readUInt16LE(a) >= 4; a += (buffer.readUInt16LE(a) + 3) & ~3)
        if (buffer.readUInt16LE(a + 2) === 1 /* RTA_DST */) dst = [...buffer.subarray(a + 4, a + 8)].join('.');
      const route = dst + '/' + buffer[off + 17];
      console.log(JSON.stringify({ type: 'RTM_NEWROUTE', route }));
      if (route === wanted) { addon.unwatch(handle); addon.close(fd); return; }
    }
  }
});
console.log('ready');
setTimeout(() => process.exit(3), 10000).unref();
`;

test('watch fires on the JS thread for an RTM_NEWROUTE in a fresh netns', async (t) => {
  const cleanup = withCleanup(t);
  const netns = await createNetns('nlwatch', cleanup);
  const watcher = startDaemon(
    process.execPath,
    ['--input-type=module', '-e', ROUTE_WATCHER, defaultAddonPath(), '192.0.2.0/24'],
    { netns, name: 'route watcher' },
    cleanup,
  );
  await waitFor(() => watcher.output().includes('ready'), {
    timeoutMs: 10_000,
    what: 'the watcher to start',
  });
  await run('ip', ['-n', netns, 'route', 'add', 'blackhole', '192.0.2.0/24']);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise((resolve) => (timer = setTimeout(() => resolve('timeout'), 10_000)));
  const code = await Promise.race([watcher.exited, timeout]).finally(() => clearTimeout(timer));
  t.is(code, 0, watcher.output());
  t.true(watcher.output().includes('{"type":"RTM_NEWROUTE","route":"192.0.2.0/24"}'));
});

// ---------------------------------------------------------------------------------------------------
// TCP options on loopback

async function listen(
  cleanup: Cleanup,
  host: string,
  options: ListenerOptions,
): Promise<{ server: Server; port: number; accepted: Socket[] }> {
  const accepted: Socket[] = [];
  const server = createServer((socket) => accepted.push(socket));
  cleanup.add(() => new Promise<void>((resolve) => server.close(() => resolve())));
  cleanup.add(() => accepted.forEach((socket) => socket.destroy()));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  applyListenerOptions(server, options);
  return { server, port: (server.address() as AddressInfo).port, accepted };
}

/** 'connected', 'timeout' after ms, or the error code; the socket is destroyed at cleanup. */
function outcome(cleanup: Cleanup, socket: Socket, ms: number): Promise<string> {
  cleanup.add(() => socket.destroy());
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('timeout'), ms);
    socket.once('connect', () => (clearTimeout(timer), resolve('connected')));
    socket.once(
      'error',
      (error: NodeJS.ErrnoException) => (clearTimeout(timer), resolve(error.code ?? error.message)),
    );
  });
}

async function attempt(
  t: ExecutionContext,
  host: string,
  listener: ListenerOptions,
  client: Omit<ConnectWithOptions, 'host' | 'port'>,
  expected: 'connected' | 'timeout',
): Promise<Socket[]> {
  const cleanup = withCleanup(t);
  const { port, accepted } = await listen(cleanup, host, listener);
  // The client connects from the listener's own loopback address, so that is the keyed peer.
  const socket = connectWithOptions({ host: host.replace('::ffff:', ''), port, ...client });
  t.is(await outcome(cleanup, socket, expected === 'connected' ? CONNECTED_MS : NOT_CONNECTED_MS), expected);
  if (expected === 'connected')
    await waitFor(() => accepted.length === 1, { timeoutMs: CONNECTED_MS, what: 'accept' });
  else t.is(accepted.length, 0);
  return accepted;
}

test('TCP MD5: matching keys connect', async (t) => {
  await attempt(
    t,
    '127.0.0.1',
    { md5: [{ address: '127.0.0.1', key: 'bgp-secret' }] },
    { md5Key: 'bgp-secret' },
    'connected',
  );
});

test('TCP MD5: mismatched keys do not connect', async (t) => {
  await attempt(
    t,
    '127.0.0.1',
    { md5: [{ address: '127.0.0.1', key: 'bgp-secret' }] },
    { md5Key: 'other' },
    'timeout',
  );
});

test('TCP MD5: a key on the listener only does not connect', async (t) => {
  await attempt(
    t,
    '127.0.0.1',
    { md5: [{ address: '127.0.0.1', key: 'bgp-secret' }] },
    { ttl: 64 },
    'timeout',
  );
});

test('TCP MD5 over IPv6: matching keys connect, mismatched do not', async (t) => {
  const md5 = [{ address: '::1', key: Buffer.from('0123456789abcdef', 'hex') }];
  await attempt(t, '::1', { md5 }, { md5Key: Buffer.from('0123456789abcdef', 'hex') }, 'connected');
  await attempt(t, '::1', { md5 }, { md5Key: Buffer.from('0123456789abcdee', 'hex') }, 'timeout');
});

test('TCP MD5 on an AF_INET6 listener keys an IPv4 peer as ::ffff:a.b.c.d', async (t) => {
  const md5 = [{ address: '127.0.0.1', key: 'mapped' }];
  await attempt(t, '::ffff:127.0.0.1', { md5 }, { md5Key: 'mapped' }, 'connected');
  await attempt(t, '::ffff:127.0.0.1', { md5 }, { md5Key: 'mapped!' }, 'timeout');
});

test('GTSM: minimum TTL 255 admits TTL 255 and drops TTL 64; accepted sockets inherit the options', async (t) => {
  const listener = { minTtl: gtsmMinTtl(1), ttl: 255 };
  const [accepted] = await attempt(t, '127.0.0.1', listener, { ttl: 255 }, 'connected');
  const addon = native();
  t.is(addon.getsockoptInt(socketFd(accepted), IPPROTO_IP, IP_MINTTL), 255);
  t.is(addon.getsockoptInt(socketFd(accepted), IPPROTO_IP, IP_TTL), 255);
  await attempt(t, '127.0.0.1', listener, { ttl: 64 }, 'timeout');
});

test('GTSM over IPv6: IPV6_MINHOPCOUNT 255 admits hop limit 255 and drops 64', async (t) => {
  const [accepted] = await attempt(t, '::1', { minTtl: 255, ttl: 255 }, { ttl: 255 }, 'connected');
  t.is(native().getsockoptInt(socketFd(accepted), IPPROTO_IPV6, IPV6_MINHOPCOUNT), 255);
  t.is(native().getsockoptInt(socketFd(accepted), IPPROTO_IPV6, IPV6_UNICAST_HOPS), 255);
  await attempt(t, '::1', { minTtl: 255 }, { ttl: 64 }, 'timeout');
});

test('GTSM with TCP MD5 together', async (t) => {
  const listener = { minTtl: 255, md5: [{ address: '127.0.0.1', key: 'k' }] };
  await attempt(t, '127.0.0.1', listener, { ttl: 255, md5Key: 'k' }, 'connected');
});

test('connectWithOptions binds, sets the TTL before connecting, and reports refusals like net.connect', async (t) => {
  const cleanup = withCleanup(t);
  const { port } = await listen(cleanup, '127.0.0.1', {});
  const socket = connectWithOptions({
    host: '127.0.0.1',
    port,
    localAddress: '127.0.0.1',
    ttl: 7,
    minTtl: 1,
    device: 'lo',
  });
  t.is(native().getsockoptInt(socketFd(socket), IPPROTO_IP, IP_TTL), 7);
  t.is(await outcome(cleanup, socket, CONNECTED_MS), 'connected');
  t.is(socket.localAddress, '127.0.0.1');
  t.is(native().getsockoptInt(socketFd(socket), IPPROTO_IP, IP_TTL), 7);

  const refusedPort = await new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port: free } = probe.address() as AddressInfo;
      probe.close(() => resolve(free));
    });
  });
  t.is(
    await outcome(
      cleanup,
      connectWithOptions({ host: '127.0.0.1', port: refusedPort, ttl: 255 }),
      CONNECTED_MS,
    ),
    'ECONNREFUSED',
  );
});

// ---------------------------------------------------------------------------------------------------
// Structs and errors

test('struct tcp_md5sig layout: 216 bytes, family/address, flags, prefixlen, keylen, key', (t) => {
  const v4 = tcpMd5SigStruct('192.0.2.1', 'abc');
  t.is(v4.length, 216);
  t.is(v4.readUInt16LE(0), 2);
  t.deepEqual([...v4.subarray(4, 8)], [192, 0, 2, 1]);
  t.is(v4.readUInt16LE(130), 3);
  t.is(v4.toString('latin1', 136, 139), 'abc');
  t.is(v4[128], 0);

  const v6 = tcpMd5SigStruct('2001:db8::1', 'k', 64);
  t.is(v6.readUInt16LE(0), 10);
  t.is(v6.toString('hex', 8, 24), '20010db8000000000000000000000001');
  t.is(v6[128], 1, 'TCP_MD5SIG_FLAG_PREFIX');
  t.is(v6[129], 64);

  const mapped = tcpMd5SigStruct('192.0.2.0', 'k', 24, 6);
  t.is(mapped.readUInt16LE(0), 10);
  t.is(mapped.toString('hex', 8, 24), '00000000000000000000ffffc0000200');
  t.is(mapped[129], 120);

  t.is(tcpMd5SigStruct('192.0.2.1', 'x'.repeat(80)).readUInt16LE(130), 80);
  t.throws(() => tcpMd5SigStruct('192.0.2.1', 'x'.repeat(81)), {
    instanceOf: RangeError,
    message: /81 bytes.*limited to 80/,
  });
  t.throws(() => tcpMd5SigStruct('2001:db8::1', 'k', undefined, 4), { message: /not an IPv4 address/ });
  t.is(gtsmMinTtl(1), 255);
  t.is(gtsmMinTtl(3), 253);
});

test('a failing syscall throws an Error naming the call, the option and the errno', (t) => {
  const addon = native();
  const fd = addon.tcpSocket(4);
  t.teardown(() => addon.close(fd));
  const error = t.throws(() => addon.setsockoptBuffer(fd, IPPROTO_TCP, TCP_MD5SIG, Buffer.alloc(8)));
  t.is(error?.message, 'setsockopt(IPPROTO_TCP, TCP_MD5SIG): EINVAL');
  t.is((error as NodeJS.ErrnoException | undefined)?.code, 'EINVAL');
  t.throws(() => bindAddress(fd, '192.0.2.1'), {
    code: 'EADDRNOTAVAIL',
    message: /^bind\(\d+\): EADDRNOTAVAIL \(local address 192\.0\.2\.1\)$/,
  });
  t.throws(() => bindToDevice(fd, 'nosuchdev0'), { code: 'ENODEV', message: /SO_BINDTODEVICE/ });
  t.throws(() => addon.getsockoptInt(-1, IPPROTO_IP, IP_TTL), { code: 'EBADF' });
  t.throws(() => addon.tcpSocket(5 as 4), { instanceOf: RangeError });
  t.throws(() => addon.setsockoptInt(fd, IPPROTO_IP, IP_TTL, 'x' as unknown as number), {
    instanceOf: TypeError,
  });
});
