/**
 * Independent BFD decoder for golden tests: each Control packet becomes one UDP datagram to port 3784
 * (RFC 5881 §4) in a pcap made by `text2pcap`, dissected by tshark's BFD dissector (`-T json -J bfd`).
 * The result per packet is tshark's flat field map, e.g. `bfd.sta` = `0x03`, `bfd.flags.p` = `1`,
 * `bfd.my_discriminator` = `0x00000001`, `bfd.desired_min_tx_interval` = `1000000`.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export type TsharkBfdFields = Readonly<Record<string, string>>;

export async function tsharkDecodeBfd(
  packets: readonly Uint8Array[],
  timeoutMs = 60_000,
): Promise<TsharkBfdFields[]> {
  const dir = await mkdtemp(join(tmpdir(), 'brindle-tshark-bfd-'));
  try {
    const text = join(dir, 'packets.txt');
    const pcap = join(dir, 'packets.pcap');
    await writeFile(text, packets.map(hexdump).join('\n'));
    await execFileAsync('text2pcap', ['-q', '-4', '192.0.2.1,192.0.2.2', '-u', '49152,3784', text, pcap], {
      timeout: timeoutMs,
    });
    const env = { ...process.env, WIRESHARK_CONFIG_DIR: dir };
    const args = ['-r', pcap, '-n', '-T', 'json', '-J', 'bfd'];
    const { stdout } = await execFileAsync('tshark', args, { timeout: timeoutMs, env, maxBuffer: 64 << 20 });
    const frames = JSON.parse(stdout) as { _source: { layers: Record<string, unknown> } }[];
    return frames.map((f) => flatten(f._source.layers.bfd as Record<string, unknown>));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function hexdump(packet: Uint8Array): string {
  const lines: string[] = [];
  for (let off = 0; off < packet.length; off += 16) {
    const bytes = [...packet.subarray(off, off + 16)].map((b) => b.toString(16).padStart(2, '0'));
    lines.push(`${off.toString(16).padStart(6, '0')} ${bytes.join(' ')}`);
  }
  return lines.join('\n') + '\n';
}

// tshark nests bit fields under `<name>_tree`; the leaves are unique names, so one flat map suffices.
function flatten(
  tree: Record<string, unknown> | undefined,
  out: Record<string, string> = {},
): Record<string, string> {
  for (const [key, value] of Object.entries(tree ?? {})) {
    if (typeof value === 'string') out[key] = value;
    else if (value !== null && typeof value === 'object') flatten(value as Record<string, unknown>, out);
  }
  return out;
}
