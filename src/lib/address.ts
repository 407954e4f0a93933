// IPv4 and IPv6 addresses as the codec and the RIB hold them: IPv4 as an unsigned 32-bit number,
// IPv6 as four unsigned 32-bit words (most significant first). Text conversion is hand-rolled because
// it sits on the UPDATE path; `ip-address` stays at the config and API edges.

/** "192.0.2.1" → 0xc0000201, or -1 when the text is not a dotted quad. */
export function parseIpv4(text: string): number {
  let value = 0;
  let octet = -1;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (octet < 0 || dots === 3) return -1;
      value = value * 256 + octet;
      octet = -1;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (octet === 0) return -1; // no leading zeros: "01" is ambiguous (octal in some parsers)
      octet = octet < 0 ? c - 48 : octet * 10 + (c - 48);
      if (octet > 255) return -1;
    } else {
      return -1;
    }
  }
  if (octet < 0 || dots !== 3) return -1;
  return value * 256 + octet;
}

export function formatIpv4(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 0xff}.${(value >>> 8) & 0xff}.${value & 0xff}`;
}

export function isIpv4(text: string): boolean {
  return parseIpv4(text) >= 0;
}

/** Parses an IPv6 address (RFC 4291 §2.2 text forms, including an embedded dotted quad) into 16 bytes. */
export function parseIpv6(text: string): Uint8Array | undefined {
  if (text.length < 2 || text.length > 45) return undefined;
  const gap = text.indexOf('::');
  if (gap >= 0 && text.indexOf('::', gap + 1) >= 0) return undefined;
  const head = gap >= 0 ? text.slice(0, gap) : text;
  const tail = gap >= 0 ? text.slice(gap + 2) : '';
  const headGroups = parseGroups(head);
  const tailGroups = parseGroups(tail);
  if (!headGroups || !tailGroups) return undefined;
  const total = headGroups.length + tailGroups.length;
  if (gap < 0 ? total !== 8 : total > 7) return undefined;
  const out = new Uint8Array(16);
  headGroups.forEach((g, i) => writeGroup(out, i, g));
  tailGroups.forEach((g, i) => writeGroup(out, 8 - tailGroups.length + i, g));
  return out;
}

function writeGroup(out: Uint8Array, index: number, group: number): void {
  out[index * 2] = group >>> 8;
  out[index * 2 + 1] = group & 0xff;
}

function parseGroups(part: string): number[] | undefined {
  if (part === '') return [];
  const pieces = part.split(':');
  const groups: number[] = [];
  for (let i = 0; i < pieces.length; i++) {
    const piece = pieces[i];
    if (i === pieces.length - 1 && piece.includes('.')) {
      const v4 = parseIpv4(piece);
      if (v4 < 0) return undefined;
      groups.push(v4 >>> 16, v4 & 0xffff);
    } else {
      if (!/^[0-9a-fA-F]{1,4}$/.test(piece)) return undefined;
      groups.push(parseInt(piece, 16));
    }
  }
  return groups;
}

/** RFC 5952 canonical text: lower case, longest run (≥2) of zero groups compressed, first one on ties. */
export function formatIpv6(bytes: Uint8Array, offset = 0): string {
  const groups = new Array<number>(8);
  for (let i = 0; i < 8; i++) groups[i] = (bytes[offset + i * 2] << 8) | bytes[offset + i * 2 + 1];
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) =>
    groups
      .slice(from, to)
      .map((g) => g.toString(16))
      .join(':');
  if (bestStart < 0) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLen, 8)}`;
}

export function isIpv6(text: string): boolean {
  return parseIpv6(text) !== undefined;
}
