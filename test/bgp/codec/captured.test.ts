// Bytes written by real BGP daemons (BIRD 2, GoBGP, FRR; see test/fixtures/captured/README.md): every
// message decodes cleanly, agrees with what tshark read when it was captured (the comment before each
// message), and survives re-encoding with our codec.
import { readdirSync, readFileSync } from 'node:fs';
import test from 'ava';
import { decodeMessage } from '../../../src/bgp/codec/message.ts';
import { encodeUpdate, endOfRibFamily } from '../../../src/bgp/codec/update.ts';
import { encodeOpen } from '../../../src/bgp/codec/open.ts';
import { MessageType } from '../../../src/bgp/constants.ts';
import type { BgpMessage, CodecContext, UpdateMessage } from '../../../src/bgp/types.ts';
import { IPV4_UNICAST, IPV6_UNICAST, familyName } from '../../../src/lib/family.ts';
import { formatPrefix } from '../../../src/lib/prefix.ts';
import type { Nlri } from '../../../src/lib/prefix.ts';

const DIR = new URL('../../fixtures/captured/', import.meta.url);

interface Captured {
  readonly file: string;
  readonly messages: { comment: string; bytes: Buffer }[];
}

function load(file: string): Captured {
  const lines = readFileSync(new URL(file, DIR), 'utf8').split('\n');
  const messages: { comment: string; bytes: Buffer }[] = [];
  let comment = '';
  for (const line of lines) {
    if (line.startsWith('# ') && /^# \d+ /.test(line)) comment = line;
    else if (line && !line.startsWith('#')) messages.push({ comment, bytes: Buffer.from(line, 'hex') });
  }
  return { file, messages };
}

const captures = readdirSync(DIR)
  .filter((f) => f.endsWith('.hex'))
  .map(load);

function contextFor(file: string): CodecContext {
  const addPath = file.includes('addpath') ? new Set([IPV4_UNICAST, IPV6_UNICAST]) : new Set<number>();
  return { fourOctetAs: true, addPath, maxMessageLength: 4096, external: file.includes('ebgp') };
}

function prefixList(list: readonly Nlri[], addPath: boolean): string[] {
  return list.map((p) => (addPath ? `${formatPrefix(p)}#${p.pathId}` : formatPrefix(p)));
}

/** "nlri=a,b mp_reach=c" as the capture comment writes it. */
function describeUpdate(u: UpdateMessage, addPath: boolean): string {
  const eor = endOfRibFamily(u);
  if (eor) return `End-of-RIB ${familyName(eor.afi, eor.safi).replace('-', ' ')}`;
  const parts: string[] = [];
  const add = (name: string, list: readonly Nlri[]) =>
    list.length > 0 && parts.push(`${name}=${prefixList(list, addPath).join(',')}`);
  add('withdrawn', u.withdrawnRoutes);
  add('nlri', u.nlri);
  add('mp_reach', u.mpReach?.nlri ?? []);
  add('mp_unreach', u.mpUnreach?.withdrawn ?? []);
  return parts.join(' ');
}

test('there are captures from all three daemons', (t) => {
  const peers = new Set(captures.map((c) => c.file.split('-')[0]));
  t.deepEqual([...peers].sort(), ['bird2', 'frr', 'gobgp']);
  t.true(captures.every((c) => c.messages.length > 10));
});

for (const capture of captures) {
  test(`${capture.file}: every message decodes cleanly and matches tshark's reading`, (t) => {
    const ctx = contextFor(capture.file);
    const addPath = ctx.addPath.size > 0;
    const types = new Set<number>();
    for (const { comment, bytes } of capture.messages) {
      const decoded = decodeMessage(bytes, ctx);
      if (!decoded.ok) return t.fail(`${comment}: ${decoded.error.message}`);
      const m: BgpMessage = decoded.message;
      types.add(m.type);
      if (m.type !== MessageType.Update) continue;
      t.is(m.errorAction, undefined, comment);
      const prefixes = comment.replace(/^# \d+ UPDATE (attrs=[\d,]+ )?/, '');
      t.is(describeUpdate(m, addPath), prefixes, comment);
      const codes = /attrs=([\d,]+)/.exec(comment)?.[1].split(',').map(Number) ?? [];
      if (codes.includes(8)) t.true((m.attributes.communities?.length ?? 0) > 0, comment);
      if (codes.includes(32)) t.true((m.attributes.largeCommunities?.length ?? 0) > 0, comment);
      if (codes.includes(5) && !ctx.external) t.is(typeof m.attributes.localPref, 'number', comment);
    }
    t.true(
      types.has(MessageType.Open) && types.has(MessageType.Update) && types.has(MessageType.Notification),
    );
  });

  test(`${capture.file}: re-encoding with our codec gives back the same messages`, (t) => {
    const ctx = contextFor(capture.file);
    for (const { comment, bytes } of capture.messages) {
      const decoded = decodeMessage(bytes, ctx);
      if (!decoded.ok) return t.fail(comment);
      const m = decoded.message;
      let again: Buffer | undefined;
      if (m.type === MessageType.Update) again = encodeUpdate(m, ctx);
      if (m.type === MessageType.Open) again = encodeOpen(m);
      if (!again) continue;
      const redecoded = decodeMessage(again, ctx);
      t.true(redecoded.ok, comment);
      if (redecoded.ok) t.deepEqual(redecoded.message, m, comment);
    }
  });

  test(`${capture.file}: the shutdown communication is read from the Cease`, (t) => {
    const ctx = contextFor(capture.file);
    const last = capture.messages
      .map((m) => decodeMessage(m.bytes, ctx))
      .find((d) => d.ok && d.message.type === MessageType.Notification);
    t.like(last?.ok ? last.message : undefined, { code: 6, subcode: 2 });
    const text =
      last?.ok && last.message.type === MessageType.Notification
        ? last.message.shutdownCommunication
        : undefined;
    t.regex(text ?? '', /brindle capture/);
  });
}
