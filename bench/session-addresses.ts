// Addresses of the session scale benchmark: all on loopback, one source address per generated peer.
export const TARGET_ADDRESS = '127.88.0.1';
export const TARGET_PORT = 17_979;

export function generatorAddress(i: number): string {
  return `127.88.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`;
}
