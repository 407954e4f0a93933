import test from 'ava';
import { parseSelector, SelectorError } from '../../src/resources/selector.ts';
import type { Labels, Selector } from '../../src/resources/selector.ts';

function parse(text: string): Selector {
  const selector = parseSelector(text);
  if (selector instanceof SelectorError) throw new Error(selector.message);
  return selector;
}

const LABEL_SETS: Readonly<Record<string, Labels>> = {
  none: {},
  rr: { 'route-reflector': 'true', rack: 'r1' },
  worker: { role: 'worker', rack: 'r2', zone: 'eu-west-1a' },
  edge: { role: 'edge', rack: 'r12', 'topology.kubernetes.io/zone': 'eu-west-1b' },
};

// Each expression, and the label sets (by name) it matches.
const MATCHES: readonly [string, readonly string[]][] = [
  ['', ['none', 'rr', 'worker', 'edge']],
  ['   ', ['none', 'rr', 'worker', 'edge']],
  ['all()', ['none', 'rr', 'worker', 'edge']],
  ['global()', ['none', 'rr', 'worker', 'edge']],
  ['has(route-reflector)', ['rr']],
  ['!has(route-reflector)', ['none', 'worker', 'edge']],
  ['has( rack )', ['rr', 'worker', 'edge']],
  ["route-reflector == 'true'", ['rr']],
  ['route-reflector == "true"', ['rr']],
  ["role != 'worker'", ['none', 'rr', 'edge']],
  ["rack in {'r1', 'r2'}", ['rr', 'worker']],
  ["rack in {'r1',}", ['rr']],
  ['rack in {}', []],
  ["rack not in {'r1'}", ['none', 'worker', 'edge']],
  ["rack notin {'r1'}", ['none', 'worker', 'edge']],
  ["zone contains 'west'", ['worker']],
  ["rack starts with 'r1'", ['rr', 'edge']],
  ["rack startswith 'r1'", ['rr', 'edge']],
  ["zone ends with '1a'", ['worker']],
  ["topology.kubernetes.io/zone == 'eu-west-1b'", ['edge']],
  ["has(rack) && role == 'worker'", ['worker']],
  ["role == 'worker' || role == 'edge'", ['worker', 'edge']],
  // `&&` binds tighter than `||`.
  ["has(route-reflector) || role == 'edge' && rack == 'r2'", ['rr']],
  ["(has(route-reflector) || role == 'edge') && rack == 'r12'", ['edge']],
  // `!` binds tighter than `&&` and applies to one operation.
  ['!has(role) && has(rack)', ['rr']],
  ["!role == 'worker' && has(rack)", ['rr', 'edge']],
  ["!(role == 'worker' && has(rack))", ['none', 'rr', 'edge']],
  ['!!has(rack)', ['rr', 'worker', 'edge']],
  ["\thas(rack)\t&&\trole=='edge'", ['edge']],
];

test('selectors match label sets as Calico evaluates them', (t) => {
  for (const [text, expected] of MATCHES) {
    const selector = parse(text);
    const matched = Object.entries(LABEL_SETS)
      .filter(([, labels]) => selector.matches(labels))
      .map(([name]) => name);
    t.deepEqual(matched, [...expected], text);
  }
});

test('an empty selector is all() and global() is recognised', (t) => {
  t.is(parse('').toString(), 'all()');
  t.true(parse('global() && has(a)').usesGlobal);
  t.true(parse('!(global())').usesGlobal);
  t.false(parse('all()').usesGlobal);
});

test('selectors render canonically', (t) => {
  t.is(parse("has(a)&&b=='c'||!d in {'y','x'}").toString(), '((has(a) && b == "c") || !d in {"x", "y"})');
  t.is(parse(`a == 'say "hi"'`).toString(), `a == 'say "hi"'`);
  t.is(parse("a starts with 'x'").toString(), 'a starts with "x"');
});

// Each bad expression, the 1-based column of the problem, and what was expected there.
const SYNTAX_ERRORS: readonly [string, number, string][] = [
  ['has(a) &&', 10, 'expected an expression'],
  ['has(a) ||', 10, 'expected an expression'],
  ['(has(a)', 8, 'expected )'],
  ['has(a))', 7, 'expected &&, || or the end of the selector'],
  ['has(a) has(b)', 8, 'expected &&, || or the end of the selector'],
  ['a', 2, 'expected an operator (==, !=, in, not in, contains, starts with, ends with)'],
  ['a b', 3, 'expected an operator (==, !=, in, not in, contains, starts with, ends with)'],
  ["a = 'b'", 3, 'expected =='],
  ["a == 'b' & c == 'd'", 10, 'expected &&'],
  ["a == 'b' | c == 'd'", 10, 'expected ||'],
  ['a == b', 6, 'expected a quoted string'],
  ["a == 'b", 6, "expected a closing ' for this string"],
  ['a == "b', 6, 'expected a closing " for this string'],
  ["a in 'b'", 6, 'expected {'],
  ["a in {'b' 'c'}", 11, 'expected a quoted string, "," or }'],
  ["a in {'b',", 11, 'expected a quoted string, "," or }'],
  ['has()', 5, 'expected a label name'],
  ['has(a', 6, 'expected )'],
  ['all(x)', 5, 'expected )'],
  ['&& has(a)', 1, 'expected an expression'],
  ['!', 2, 'expected an expression'],
  ['()', 2, 'expected an expression'],
  ['has(a) && #', 11, 'unexpected character "#"'],
];

test('syntax errors name the column and what was expected', (t) => {
  for (const [text, column, expected] of SYNTAX_ERRORS) {
    const result = parseSelector(text);
    if (!(result instanceof SelectorError)) {
      t.fail(`${text} parsed`);
      continue;
    }
    t.is(result.column, column, text);
    t.is(result.expected, expected, text);
  }
  t.is(
    (parseSelector('has(a) &&') as SelectorError).message,
    'selector "has(a) &&": column 10: expected an expression',
  );
});
