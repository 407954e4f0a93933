// The Calico label selector language (libcalico-go/lib/selector: tokenizer + parser), used by
// BGPPeer.nodeSelector/peerSelector and IPPool.nodeSelector (calico-routing.md §3.1, §6).
//
//   expr      = and ("||" and)*                      lowest precedence
//   and       = operation ("&&" operation)*
//   operation = "!"* ( "all()" | "global()" | "has(" label ")" | "(" expr ")"
//                    | label ("==" | "!=" | "contains" | "starts with" | "ends with") string
//                    | label ("in" | "not in") "{" [string ("," string)* [","]] "}" )
//
// Labels are [A-Za-z0-9_./-]+, strings are '…' or "…" without escapes, whitespace is space or tab
// (Calico's tokenizer skips nothing else). An empty selector means all(), as Calico's parser does.

export type Labels = Readonly<Record<string, string>>;

export interface Selector {
  /** The text as written. */
  readonly text: string;
  /** True when the expression contains global() (IPPool.nodeSelector forbids it, §6). */
  readonly usesGlobal: boolean;
  matches(labels: Labels): boolean;
  /** A canonical rendering, e.g. `(has(a) && b == "c")`. */
  toString(): string;
}

/** Why a selector does not parse: the 1-based column and what the parser expected there. */
export class SelectorError {
  constructor(
    readonly selector: string,
    readonly column: number,
    readonly expected: string,
  ) {}

  get message(): string {
    return `selector ${JSON.stringify(this.selector)}: column ${this.column}: ${this.expected}`;
  }

  toString(): string {
    return this.message;
  }
}

export function parseSelector(text: string): Selector | SelectorError {
  const tokens = tokenize(text);
  if (tokens instanceof SelectorError) return tokens;
  const parser = new Parser(text, tokens);
  const root = parser.parseRoot();
  if (root instanceof SelectorError) return root;
  return new ParsedSelector(text, root);
}

// ---------------------------------------------------------------------------------------------
// Syntax tree and evaluation (libcalico-go/lib/selector/parser/ast.go semantics).

type SelectorNode =
  | { readonly op: 'all' | 'global' }
  | { readonly op: 'has'; readonly label: string }
  | {
      readonly op: 'eq' | 'ne' | 'contains' | 'startsWith' | 'endsWith';
      readonly label: string;
      readonly value: string;
    }
  | { readonly op: 'in' | 'notIn'; readonly label: string; readonly values: ReadonlySet<string> }
  | { readonly op: 'not'; readonly operand: SelectorNode }
  | { readonly op: 'and' | 'or'; readonly operands: readonly SelectorNode[] };

function labelValue(labels: Labels, label: string): string | undefined {
  return Object.hasOwn(labels, label) ? labels[label] : undefined;
}

/** `!=` and `not in` also match when the label is absent, as in Calico. */
function evaluate(node: SelectorNode, labels: Labels): boolean {
  switch (node.op) {
    case 'all':
    case 'global':
      return true;
    case 'has':
      return Object.hasOwn(labels, node.label);
    case 'eq':
      return labelValue(labels, node.label) === node.value;
    case 'ne':
      return labelValue(labels, node.label) !== node.value;
    case 'contains':
      return labelValue(labels, node.label)?.includes(node.value) ?? false;
    case 'startsWith':
      return labelValue(labels, node.label)?.startsWith(node.value) ?? false;
    case 'endsWith':
      return labelValue(labels, node.label)?.endsWith(node.value) ?? false;
    case 'in':
    case 'notIn': {
      const value = labelValue(labels, node.label);
      const member = value !== undefined && node.values.has(value);
      return node.op === 'in' ? member : !member;
    }
    case 'not':
      return !evaluate(node.operand, labels);
    case 'and':
      return node.operands.every((operand) => evaluate(operand, labels));
    case 'or':
      return node.operands.some((operand) => evaluate(operand, labels));
  }
}

const OPERATOR_TEXT = {
  eq: '==',
  ne: '!=',
  contains: 'contains',
  startsWith: 'starts with',
  endsWith: 'ends with',
  in: 'in',
  notIn: 'not in',
} as const;

function quote(value: string): string {
  return value.includes('"') ? `'${value}'` : `"${value}"`;
}

function render(node: SelectorNode): string {
  switch (node.op) {
    case 'all':
    case 'global':
      return `${node.op}()`;
    case 'has':
      return `has(${node.label})`;
    case 'eq':
    case 'ne':
    case 'contains':
    case 'startsWith':
    case 'endsWith':
      return `${node.label} ${OPERATOR_TEXT[node.op]} ${quote(node.value)}`;
    case 'in':
    case 'notIn':
      return `${node.label} ${OPERATOR_TEXT[node.op]} {${[...node.values].sort().map(quote).join(', ')}}`;
    case 'not':
      return `!${render(node.operand)}`;
    case 'and':
    case 'or':
      return `(${node.operands.map(render).join(node.op === 'and' ? ' && ' : ' || ')})`;
  }
}

function containsGlobal(node: SelectorNode): boolean {
  switch (node.op) {
    case 'global':
      return true;
    case 'not':
      return containsGlobal(node.operand);
    case 'and':
    case 'or':
      return node.operands.some(containsGlobal);
    default:
      return false;
  }
}

class ParsedSelector implements Selector {
  readonly usesGlobal: boolean;

  constructor(
    readonly text: string,
    private readonly root: SelectorNode,
  ) {
    this.usesGlobal = containsGlobal(root);
  }

  matches(labels: Labels): boolean {
    return evaluate(this.root, labels);
  }

  toString(): string {
    return render(this.root);
  }
}

// ---------------------------------------------------------------------------------------------
// Tokenizer (libcalico-go/lib/selector/tokenizer/tokenizer.go). `offset` is 0-based.

type TokenKind =
  | 'label'
  | 'string'
  | 'has'
  | 'all'
  | 'global'
  | '{'
  | '}'
  | ','
  | '('
  | ')'
  | '=='
  | '!='
  | '!'
  | '&&'
  | '||'
  | 'in'
  | 'not in'
  | 'contains'
  | 'starts with'
  | 'ends with'
  | 'eof';

interface Token {
  readonly kind: TokenKind;
  readonly offset: number;
  /** The label name (label, has) or the string literal's content. */
  readonly value: string;
}

const PUNCTUATION: Readonly<Record<string, TokenKind>> = {
  '{': '{',
  '}': '}',
  ',': ',',
  '(': '(',
  ')': ')',
};

/** Two-character operators; the value is what a lone first character should have been. */
const DOUBLED: Readonly<Record<string, readonly [TokenKind, string]>> = {
  '=': ['==', 'expected =='],
  '&': ['&&', 'expected &&'],
  '|': ['||', 'expected ||'],
};

/** Operators written as words; they are only recognised right after a label. */
const WORD_OPERATORS: readonly (readonly [RegExp, TokenKind])[] = [
  [/^contains/, 'contains'],
  [/^starts[ \t]*with/, 'starts with'],
  [/^ends[ \t]*with/, 'ends with'],
  [/^not[ \t]*in/, 'not in'],
  [/^in/, 'in'],
];

const FUNCTIONS: readonly (readonly [string, TokenKind])[] = [
  ['has(', 'has'],
  ['all(', 'all'],
  ['global(', 'global'],
];

const LABEL = /^[A-Za-z0-9_./-]+/;
const EXPECTED_OPERATOR = 'expected an operator (==, !=, in, not in, contains, starts with, ends with)';

function skipBlanks(text: string, offset: number): number {
  while (offset < text.length && (text[offset] === ' ' || text[offset] === '\t')) offset++;
  return offset;
}

class Tokenizer {
  readonly tokens: Token[] = [];
  offset = 0;

  constructor(private readonly text: string) {}

  private fail(offset: number, expected: string): SelectorError {
    return new SelectorError(this.text, offset + 1, expected);
  }

  private push(kind: TokenKind, length: number, value = ''): undefined {
    this.tokens.push({ kind, offset: this.offset, value });
    this.offset += length;
    return undefined;
  }

  /** Scans one token at `offset`, or returns why it cannot. */
  next(): SelectorError | undefined {
    const c = this.text[this.offset];
    const rest = this.text.slice(this.offset);
    if (PUNCTUATION[c]) return this.push(PUNCTUATION[c], 1);
    if (c === '"' || c === "'") return this.stringLiteral(c);
    if (c === '!') return rest.startsWith('!=') ? this.push('!=', 2) : this.push('!', 1);
    const doubled = DOUBLED[c];
    if (doubled)
      return rest.startsWith(c + c) ? this.push(doubled[0], 2) : this.fail(this.offset, doubled[1]);
    if (this.tokens.at(-1)?.kind === 'label') return this.wordOperator(rest);
    for (const [prefix, kind] of FUNCTIONS)
      if (rest.startsWith(prefix)) return this.functionCall(prefix, kind);
    const label = LABEL.exec(rest);
    if (label) return this.push('label', label[0].length, label[0]);
    return this.fail(this.offset, `unexpected character ${JSON.stringify(c)}`);
  }

  private stringLiteral(quoteChar: string): SelectorError | undefined {
    const end = this.text.indexOf(quoteChar, this.offset + 1);
    if (end < 0) return this.fail(this.offset, `expected a closing ${quoteChar} for this string`);
    return this.push('string', end + 1 - this.offset, this.text.slice(this.offset + 1, end));
  }

  private wordOperator(rest: string): SelectorError | undefined {
    for (const [pattern, kind] of WORD_OPERATORS) {
      const match = pattern.exec(rest);
      if (match) return this.push(kind, match[0].length);
    }
    return this.fail(this.offset, EXPECTED_OPERATOR);
  }

  /** `has(label)`, `all()`, `global()`: blanks are allowed inside the parentheses. */
  private functionCall(prefix: string, kind: TokenKind): SelectorError | undefined {
    const start = this.offset;
    let offset = skipBlanks(this.text, start + prefix.length);
    let label = '';
    if (kind === 'has') {
      label = LABEL.exec(this.text.slice(offset))?.[0] ?? '';
      if (label === '') return this.fail(offset, 'expected a label name');
      offset = skipBlanks(this.text, offset + label.length);
    }
    if (this.text[offset] !== ')') return this.fail(offset, 'expected )');
    return this.push(kind, offset + 1 - start, label);
  }
}

function tokenize(text: string): Token[] | SelectorError {
  const tokenizer = new Tokenizer(text);
  for (;;) {
    tokenizer.offset = skipBlanks(text, tokenizer.offset);
    if (tokenizer.offset >= text.length) break;
    const error = tokenizer.next();
    if (error) return error;
  }
  tokenizer.tokens.push({ kind: 'eof', offset: text.length, value: '' });
  return tokenizer.tokens;
}

// ---------------------------------------------------------------------------------------------
// Recursive-descent parser (libcalico-go/lib/selector/parser/parser.go): `||` binds loosest,
// then `&&`, then `!` (which applies to one operation).

const STRING_OPERATORS: Partial<Record<TokenKind, 'eq' | 'ne' | 'contains' | 'startsWith' | 'endsWith'>> = {
  '==': 'eq',
  '!=': 'ne',
  contains: 'contains',
  'starts with': 'startsWith',
  'ends with': 'endsWith',
};

class Parser {
  private position = 0;

  constructor(
    private readonly text: string,
    private readonly tokens: readonly Token[],
  ) {}

  private get token(): Token {
    return this.tokens[this.position];
  }

  /** A call, not a property, so that TypeScript does not narrow it across `position++`. */
  private kind(): TokenKind {
    return this.tokens[this.position].kind;
  }

  private fail(token: Token, expected: string): SelectorError {
    return new SelectorError(this.text, token.offset + 1, expected);
  }

  parseRoot(): SelectorNode | SelectorError {
    if (this.kind() === 'eof') return { op: 'all' };
    const root = this.parseOr();
    if (root instanceof SelectorError) return root;
    if (this.kind() !== 'eof') return this.fail(this.token, 'expected &&, || or the end of the selector');
    return root;
  }

  private parseOr(): SelectorNode | SelectorError {
    return this.parseList('||', 'or', () => this.parseAnd());
  }

  private parseAnd(): SelectorNode | SelectorError {
    return this.parseList('&&', 'and', () => this.parseOperation());
  }

  private parseList(
    separator: TokenKind,
    op: 'and' | 'or',
    parseItem: () => SelectorNode | SelectorError,
  ): SelectorNode | SelectorError {
    const operands: SelectorNode[] = [];
    for (;;) {
      const operand = parseItem();
      if (operand instanceof SelectorError) return operand;
      operands.push(operand);
      if (this.kind() !== separator) break;
      this.position++;
    }
    return operands.length === 1 ? operands[0] : { op, operands };
  }

  private parseOperation(): SelectorNode | SelectorError {
    let negated = false;
    while (this.kind() === '!') {
      negated = !negated;
      this.position++;
    }
    const operation = this.parseUnnegated();
    if (operation instanceof SelectorError || !negated) return operation;
    return { op: 'not', operand: operation };
  }

  private parseUnnegated(): SelectorNode | SelectorError {
    const token = this.token;
    switch (token.kind) {
      case 'all':
      case 'global':
        this.position++;
        return { op: token.kind };
      case 'has':
        this.position++;
        return { op: 'has', label: token.value };
      case 'label':
        this.position++;
        return this.parseComparison(token.value);
      case '(':
        return this.parseParenthesised();
      default:
        return this.fail(token, 'expected an expression');
    }
  }

  private parseParenthesised(): SelectorNode | SelectorError {
    this.position++;
    const inner = this.parseOr();
    if (inner instanceof SelectorError) return inner;
    if (this.kind() !== ')') return this.fail(this.token, 'expected )');
    this.position++;
    return inner;
  }

  private parseComparison(label: string): SelectorNode | SelectorError {
    const operator = this.token;
    const op = STRING_OPERATORS[operator.kind];
    this.position++;
    if (op) {
      const value = this.token;
      if (value.kind !== 'string') return this.fail(value, 'expected a quoted string');
      this.position++;
      return { op, label, value: value.value };
    }
    if (operator.kind === 'in' || operator.kind === 'not in') {
      const values = this.parseSet();
      if (values instanceof SelectorError) return values;
      return { op: operator.kind === 'in' ? 'in' : 'notIn', label, values };
    }
    return this.fail(operator, EXPECTED_OPERATOR);
  }

  /** `{'a', 'b'}`; Calico accepts an empty set and a trailing comma. */
  private parseSet(): Set<string> | SelectorError {
    if (this.kind() !== '{') return this.fail(this.token, 'expected {');
    this.position++;
    const values = new Set<string>();
    while (this.kind() === 'string') {
      values.add(this.token.value);
      this.position++;
      if (this.kind() !== ',') break;
      this.position++;
    }
    if (this.kind() !== '}') return this.fail(this.token, 'expected a quoted string, "," or }');
    this.position++;
    return values;
  }
}
