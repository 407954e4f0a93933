// Address families (AFI/SAFI, RFC 4760 §3 and the IANA registries). Shared by the codec, the RIB,
// the FIB and IPAM, so it lives below all of them.

/** Address Family Identifiers (IANA "Address Family Numbers"). */
export const Afi = { Ipv4: 1, Ipv6: 2 } as const;
export type Afi = (typeof Afi)[keyof typeof Afi];

/** Subsequent Address Family Identifiers (RFC 4760). Brindle routes unicast only. */
export const Safi = { Unicast: 1, Multicast: 2 } as const;
export type Safi = number;

export interface Family {
  readonly afi: number;
  readonly safi: number;
}

/** One number per AFI/SAFI pair, for sets and maps keyed by family. */
export function familyKey(afi: number, safi: number): number {
  return (afi << 8) | safi;
}

/** The AFI of a familyKey(). */
export function familyAfi(key: number): number {
  return key >>> 8;
}

/** The SAFI of a familyKey(). */
export function familySafi(key: number): number {
  return key & 0xff;
}

/** familyName() of a familyKey(). */
export function familyKeyName(key: number): string {
  return familyName(familyAfi(key), familySafi(key));
}

export const IPV4_UNICAST = familyKey(Afi.Ipv4, Safi.Unicast);
export const IPV6_UNICAST = familyKey(Afi.Ipv6, Safi.Unicast);

/** "ipv4-unicast", the name logs, metrics labels and the CLI use. */
export function familyName(afi: number, safi: number): string {
  const a = afi === Afi.Ipv4 ? 'ipv4' : afi === Afi.Ipv6 ? 'ipv6' : `afi${afi}`;
  const s = safi === Safi.Unicast ? 'unicast' : safi === Safi.Multicast ? 'multicast' : `safi${safi}`;
  return `${a}-${s}`;
}
