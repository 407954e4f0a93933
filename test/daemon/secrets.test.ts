import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { readSecret, secretPath } from '../../src/daemon/secrets.ts';

const dir = mkdtempSync(join(tmpdir(), 'brindle-secrets-'));
mkdirSync(join(dir, 'bgp'));
const put = (key: string, text: string, mode = 0o600) => {
  writeFileSync(join(dir, 'bgp', key), text);
  chmodSync(join(dir, 'bgp', key), mode);
};
const read = (key: string) => readSecret(dir, { name: 'bgp', key });

test('a secret is its file less one trailing newline', (t) => {
  put('a', 's3cret\n');
  t.like(read('a'), { ok: true, value: 's3cret' });
  put('b', 'two words\n\n', 0o640);
  t.like(read('b'), { ok: true, value: 'two words\n' });
});

test('what cannot be used as a TCP MD5 key is an error naming the secret and why', (t) => {
  const reason = (key: string) => {
    const r = read(key);
    return r.ok ? 'ok' : r.reason;
  };
  t.regex(reason('missing'), /^secret bgp\/missing: no file .*bgp\/missing$/);
  put('open', 'x', 0o644);
  t.regex(reason('open'), /is readable by others/);
  put('empty', '\n');
  t.regex(reason('empty'), /is empty/);
  put('long', 'x'.repeat(81));
  t.regex(reason('long'), /longer than the 80 octets/);
  put('max', 'x'.repeat(80));
  t.true(read('max').ok);
});

test('a name or key that would leave the directory is refused; the stamp follows the file', (t) => {
  t.is(secretPath(dir, { name: '..', key: 'x' }), undefined);
  t.is(secretPath(dir, { name: 'bgp', key: '../../etc/shadow' }), undefined);
  t.false(readSecret(dir, { name: 'bgp', key: '..' }).ok);
  put('c', 'one');
  const first = read('c').stamp;
  put('c', 'another');
  t.not(read('c').stamp, first);
  t.is(read('nothing').stamp, 'absent');
});
