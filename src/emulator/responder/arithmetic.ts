/**
 * Answers simple arithmetic ("What is 2+2?", "what's 3 times (4 + 1)") so demos get a sensible reply.
 * A tiny recursive-descent evaluator: numbers, + - * / ^, parentheses, unary minus. Never uses eval.
 */
export function answerArithmetic(text: string): string | undefined {
  const normalized = text
    .toLowerCase()
    .replace(/\bmultiplied by\b|\btimes\b|×/g, '*')
    .replace(/\bdivided by\b|÷/g, '/')
    .replace(/\bplus\b/g, '+')
    .replace(/\bminus\b/g, '-')
    .replace(/(\d)\s*x\s*(\d)/g, '$1*$2')
    .replace(/\bto the power of\b/g, '^');
  const candidates = normalized.match(/[-+*/^().\d\s]+/g) ?? [];
  for (const raw of candidates) {
    const expr = raw.trim();
    if (!/\d\s*[-+*/^]\s*[-(\d.]/.test(expr)) continue;
    if (/\d{4}-\d{2}-\d{2}/.test(expr)) continue; // a date, not a subtraction
    const value = evaluate(expr);
    if (value !== undefined && Number.isFinite(value)) return format(value);
  }
  return undefined;
}

function format(n: number): string {
  return Number.isInteger(n) ? String(n) : String(Number(n.toPrecision(12)));
}

function evaluate(expr: string): number | undefined {
  const tokens = expr.match(/\d+(?:\.\d+)?|\.\d+|[-+*/^()]/g);
  if (!tokens) return undefined;
  let pos = 0;
  const peek = () => tokens[pos];
  const next = () => tokens[pos++];

  const primary = (): number | undefined => {
    const t = next();
    if (t === undefined) return undefined;
    if (t === '-') {
      const v = primary();
      return v === undefined ? undefined : -v;
    }
    if (t === '(') {
      const v = sum();
      if (next() !== ')') return undefined;
      return v;
    }
    const n = Number(t);
    return Number.isNaN(n) ? undefined : n;
  };
  const power = (): number | undefined => {
    const base = primary();
    if (base === undefined) return undefined;
    if (peek() === '^') {
      next();
      const exp = power();
      return exp === undefined ? undefined : base ** exp;
    }
    return base;
  };
  const product = (): number | undefined => {
    let v = power();
    while (v !== undefined && (peek() === '*' || peek() === '/')) {
      const op = next();
      const r = power();
      if (r === undefined) return undefined;
      v = op === '*' ? v * r : v / r;
    }
    return v;
  };
  const sum = (): number | undefined => {
    let v = product();
    while (v !== undefined && (peek() === '+' || peek() === '-')) {
      const op = next();
      const r = product();
      if (r === undefined) return undefined;
      v = op === '+' ? v + r : v - r;
    }
    return v;
  };
  const value = sum();
  return pos === tokens.length ? value : undefined;
}
