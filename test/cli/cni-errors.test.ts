// The CNI plugin's failures as the CNI spec's "Error" section asks: the error result (cniVersion, code,
// msg, details) on stdout, exit 1, and one line on stderr — never a JavaScript stack trace, not even
// for an error nobody expected.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import test from 'ava';
import { runPlugin } from '../../src/cni/main.ts';
import { cleanEnv } from '../helpers/brindle.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const STACK = /^\s+at /m;

const CONF = JSON.stringify({
  cniVersion: '1.0.0',
  name: 'k8s-pod-network',
  type: 'ptp',
  ipam: { type: 'brindle-ipam', socket: '/nonexistent/brindle.sock' },
});

function plugin(
  env: NodeJS.ProcessEnv,
  stdin: string,
): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, [join(ROOT, 'bin/brindle-ipam')], { env: { ...cleanEnv(), ...env } });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  child.stdin.end(stdin);
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  return new Promise((resolve) =>
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    }),
  );
}

test('bin/brindle-ipam: undecodable config and a bad CNI_COMMAND are error results, no stack', async (t) => {
  const garbage = await plugin({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1' }, '{ not json');
  t.is(garbage.code, 1);
  const result = JSON.parse(garbage.out) as { code: number; msg: string };
  t.is(result.code, 6, 'CNI "failed to decode content"');
  t.truthy(result.msg);
  t.notRegex(garbage.err, STACK);
  t.is(garbage.err.trim().split('\n').length, 1, garbage.err);

  const command = await plugin({ CNI_COMMAND: 'JUMP' }, CONF);
  t.is(command.code, 1);
  t.like(JSON.parse(command.out), { cniVersion: '1.0.0', code: 4 });
  t.notRegex(command.err, STACK);
});

test('an unexpected error is internal (999) with its class in details, and no stack on stderr', async (t) => {
  const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_NETNS: '/proc/1/ns/net', CNI_IFNAME: 'eth0' };
  const output = await runPlugin(env, CONF, {
    daemonTimeoutMs: 200,
    direct: () => Promise.reject(new TypeError('boom')),
  });
  t.is(output.exitCode, 1);
  t.deepEqual(JSON.parse(output.stdout), {
    cniVersion: '1.0.0',
    code: 999,
    msg: 'internal error: boom',
    details: 'TypeError',
  });
  t.notRegex(output.stderr, STACK);
  t.regex(output.stderr, /brindle-ipam: internal error: boom\n$/);
});
