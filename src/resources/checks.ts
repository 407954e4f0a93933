// A small schema language for checking resources field by field. A Check looks at one value at one
// path, records what is wrong as an Issue and returns the value (normalised, e.g. AS numbers become
// numbers) or undefined. Object checks reject unknown fields — the typo protection Kubernetes'
// strict decoding gives — and treat an explicit `null` as an absent field, as Kubernetes does.

export interface Issue {
  readonly path: string;
  readonly reason: string;
}

export type Check<T> = (value: unknown, path: string, issues: Issue[]) => T | undefined;

/** One check per field of T, and no others: the schema and the type cannot drift apart. */
export type Fields<T> = { readonly [K in keyof T]-?: Check<NonNullable<T[K]>> };

/**
 * What a check is made of, so that a schema's fields can be listed (`fieldPaths`): an object's
 * fields, a list's item, or — for checks that wrap another (`crossChecked`, `refine`) — the check
 * they wrap. Checks of plain values have no entry.
 */
type Shape =
  | { readonly fields: Readonly<Record<string, Check<unknown>>> }
  | { readonly item: Check<unknown> }
  | { readonly wraps: Check<unknown> };

const shapes = new WeakMap<Check<unknown>, Shape>();

function shaped<T>(check: Check<T>, shape: Shape): Check<T> {
  shapes.set(check, shape);
  return check;
}

/**
 * The path of every field a check accepts, below `path`, in schema order: `spec.peerIP`,
 * `spec.communities[].name` (`[]` for each item of a list of objects). A list of plain values, a
 * map and a plain value are one field each.
 */
export function fieldPaths(check: Check<unknown>, path: string): string[] {
  const shape = shapes.get(check);
  if (shape === undefined) return [path];
  if ('wraps' in shape) return fieldPaths(shape.wraps, path);
  if ('fields' in shape)
    return Object.entries(shape.fields).flatMap(([key, field]) => fieldPaths(field, fieldPath(path, key)));
  const items = fieldPaths(shape.item, `${path}[]`);
  return items.length === 1 && items[0] === `${path}[]` ? [path] : items;
}

/** How a value is quoted in a reason: strings as JSON, lists and objects by their shape. */
export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value === null || value === undefined) return String(value);
  return Array.isArray(value) ? 'a list' : 'an object';
}

export function fieldPath(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  const name = /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? key : JSON.stringify(key);
  if (path === '') return name;
  return name.startsWith('"') ? `${path}[${name}]` : `${path}.${name}`;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A string that passes `test`; otherwise `"<value>" <what>` (what: "is not an IP address"). */
export function text(
  test: (value: string) => boolean = () => true,
  what = '',
  maxLength?: number,
): Check<string> {
  return (value, path, issues) => {
    if (typeof value !== 'string') {
      issues.push({ path, reason: `expected a string, got ${show(value)}` });
      return undefined;
    }
    if (maxLength !== undefined && value.length > maxLength) {
      issues.push({ path, reason: `${show(value)} is longer than ${maxLength} characters` });
      return undefined;
    }
    if (!test(value)) {
      issues.push({ path, reason: `${show(value)} ${what}` });
      return undefined;
    }
    return value;
  };
}

export const bool: Check<boolean> = (value, path, issues) => {
  if (typeof value === 'boolean') return value;
  issues.push({ path, reason: `expected true or false, got ${show(value)}` });
  return undefined;
};

export function integer(min: number, max: number): Check<number> {
  return (value, path, issues) => {
    if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max) return value;
    issues.push({ path, reason: `${show(value)} is not an integer from ${min} to ${max}` });
    return undefined;
  };
}

/** One of a table's values (exact spelling unless `ignoreCase`, which keeps the input spelling). */
export function oneOf<T extends string>(table: readonly T[], ignoreCase = false): Check<T> {
  const fold = (s: string) => (ignoreCase ? s.toLowerCase() : s);
  const allowed = new Set(table.map(fold));
  return (value, path, issues) => {
    if (typeof value === 'string' && allowed.has(fold(value))) return value as T;
    issues.push({ path, reason: `${show(value)} is not one of ${table.join(', ')}` });
    return undefined;
  };
}

/** A value parsed by `parse` (AS numbers, durations); otherwise `<value> is not <what>`. */
export function parsed<T>(parse: (value: unknown) => T | undefined, what: string): Check<T> {
  return (value, path, issues) => {
    const result = parse(value);
    if (result === undefined) issues.push({ path, reason: `${show(value)} is not ${what}` });
    return result;
  };
}

/** A further condition on an already-checked value; `test` returns the reason it fails, if it does. */
export function refine<T>(check: Check<T>, test: (value: T) => string | undefined): Check<T> {
  const refined: Check<T> = (value, path, issues) => {
    const result = check(value, path, issues);
    if (result === undefined) return undefined;
    const reason = test(result);
    if (reason === undefined) return result;
    issues.push({ path, reason });
    return undefined;
  };
  return shaped(refined, { wraps: check });
}

/**
 * `check`, then `rules` across its fields. When some fields are invalid the rules still run, on the
 * fields that are valid, provided every field in `needs` is among them — so one apply reports every
 * mistake, not the first — and a rule never reports a field already reported. Without `needs` the
 * rules run only on a wholly valid value.
 */
export function crossChecked<T>(
  check: Check<T>,
  rules: (value: T, path: string) => Issue[],
  needs?: readonly (keyof T & string)[],
): Check<T> {
  const checked: Check<T> = (value, path, issues) => {
    const before = issues.length;
    const result = check(value, path, issues);
    if (result !== undefined) {
      const found = rules(result, path);
      issues.push(...found);
      return found.length === 0 ? result : undefined;
    }
    const partial = partials.get(issues)?.get(path) as T | undefined;
    if (needs === undefined || partial === undefined) return undefined;
    const failed = issues.slice(before).map((i) => i.path);
    if (needs.some((key) => failed.some((f) => covers(fieldPath(path, key), f)))) return undefined;
    for (const issue of rules(partial, path))
      if (!failed.some((f) => covers(f, issue.path))) issues.push(issue);
    return undefined;
  };
  return shaped(checked, { wraps: check });
}

/** Whether an issue at `inner` concerns the field at `outer` (the field itself or inside it). */
function covers(outer: string, inner: string): boolean {
  return inner === outer || inner.startsWith(`${outer}.`) || inner.startsWith(`${outer}[`);
}

/** The valid fields of an object that failed, by issue list and path, for crossChecked's rules. */
const partials = new WeakMap<Issue[], Map<string, unknown>>();

export function listOf<T>(item: Check<T>, limits: { min?: number; max?: number } = {}): Check<T[]> {
  const list: Check<T[]> = (value, path, issues) => {
    if (!Array.isArray(value)) {
      issues.push({ path, reason: `expected a list, got ${show(value)}` });
      return undefined;
    }
    const { min = 0, max = Infinity } = limits;
    if (value.length < min || value.length > max) {
      const bound = max === Infinity ? `at least ${min}` : min === 0 ? `at most ${max}` : `${min} to ${max}`;
      issues.push({ path, reason: `has ${value.length} items, expected ${bound}` });
      return undefined;
    }
    const before = issues.length;
    const items = value.map((element, i) => item(element, fieldPath(path, i), issues));
    return issues.length === before ? (items as T[]) : undefined;
  };
  return shaped(list, { item });
}

/** A string-to-string map (labels, annotations) whose keys and values pass their checks. */
export function stringMap(key: Check<string>, entry: Check<string>): Check<Record<string, string>> {
  return (value, path, issues) => {
    if (!isRecord(value)) {
      issues.push({ path, reason: `expected a map of strings, got ${show(value)}` });
      return undefined;
    }
    const before = issues.length;
    const result: Record<string, string> = {};
    for (const [k, v] of Object.entries(value)) {
      const at = fieldPath(path, k);
      key(k, at, issues);
      if (typeof v !== 'string') {
        const hint = typeof v === 'boolean' || typeof v === 'number' ? ` (quote it: "${String(v)}")` : '';
        issues.push({ path: at, reason: `expected a string, got ${show(v)}${hint}` });
      } else if (entry(v, at, issues) !== undefined) {
        result[k] = v;
      }
    }
    return issues.length === before ? result : undefined;
  };
}

/** An object with exactly the given fields; unknown ones are errors that suggest the near miss. */
export function object<T>(fields: Fields<T>, required: readonly (keyof T & string)[] = []): Check<T> {
  const known = Object.keys(fields);
  const checks = fields as Readonly<Record<string, Check<unknown>>>;
  const checked: Check<T> = (value, path, issues) => {
    if (!isRecord(value)) {
      issues.push({ path, reason: `expected an object, got ${show(value)}` });
      return undefined;
    }
    const before = issues.length;
    const result: Record<string, unknown> = {};
    for (const [key, field] of Object.entries(value)) {
      const at = fieldPath(path, key);
      if (!Object.hasOwn(checks, key)) issues.push({ path: at, reason: unknownField(key, known) });
      else if (field !== null) result[key] = checks[key](field, at, issues);
    }
    for (const key of required) {
      if (value[key] === undefined || value[key] === null)
        issues.push({ path: fieldPath(path, key), reason: 'required' });
    }
    if (issues.length === before) return result as T;
    for (const [key, field] of Object.entries(result)) if (field === undefined) delete result[key];
    const byPath = partials.get(issues) ?? new Map<string, unknown>();
    partials.set(issues, byPath.set(path, result));
    return undefined;
  };
  return shaped(checked, { fields: checks });
}

function unknownField(key: string, known: readonly string[]): string {
  const near = known.find((name) => name.toLowerCase() === key.toLowerCase() || editDistance(name, key) <= 2);
  return near ? `unknown field (did you mean ${near}?)` : 'unknown field';
}

/** Levenshtein distance, for "did you mean" on short field names. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j] + 1, current[j - 1] + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length];
}
