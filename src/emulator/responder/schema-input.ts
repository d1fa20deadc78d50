import { isStopword } from './text.js';

type Schema = Record<string, unknown>;

const isObj = (v: unknown): v is Schema => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Values found in the user's text, consumed in order as properties ask for them. */
class Candidates {
  readonly strings: string[];
  readonly numbers: number[];
  readonly text: string;
  #s = 0;
  #n = 0;

  constructor(text: string) {
    this.text = text;
    const quoted = [...text.matchAll(/"([^"]+)"|“([^”]+)”|(?:^|\s)'([^']+)'(?=[\s.,!?;:]|$)/g)].map(
      (m) => (m[1] ?? m[2] ?? m[3])!,
    );
    this.strings = [...quoted, ...capitalizedPhrases(text.replace(/"[^"]*"|“[^”]*”/g, ' '))];
    this.numbers = [...text.matchAll(/-?\d+(?:\.\d+)?/g)].map((m) => Number(m[0]));
  }

  nextString(): string {
    return this.strings[this.#s++] ?? remainder(this.text);
  }
  nextNumber(): number | undefined {
    return this.numbers[this.#n++];
  }
}

/**
 * Capitalized words and runs of them ("New York"), those inside a sentence first: a capital at a sentence start
 * says little, so such words come last and only when they are not common words.
 */
function capitalizedPhrases(text: string): string[] {
  const inner: string[] = [];
  const starts: string[] = [];
  for (const m of text.matchAll(/[A-Z][\p{L}\d-]*(?:\s+[A-Z][\p{L}\d-]*)*/gu)) {
    const phrase = m[0];
    const before = text.slice(0, m.index).trimEnd();
    const atStart = before.length === 0 || /[.!?:\n]$/.test(before);
    if (phrase === 'I') continue;
    if (atStart) {
      const words = phrase.split(/\s+/);
      const rest = words.slice(1).join(' ');
      if (!isStopword(words[0]!.replace(/'s$/, '')) && !/'/.test(words[0]!)) starts.push(phrase);
      else if (rest) inner.push(rest);
    } else inner.push(phrase.replace(/'s$/, ''));
  }
  return [...inner, ...starts];
}

/** The part of the text after "for"/"about"/"on" (e.g. "search the docs for retry policy" → "retry policy"), or all of it. */
function remainder(text: string): string {
  const m = /\b(?:for|about|regarding|on)\s+(.+)$/is.exec(text);
  return (m ? m[1]! : text).trim().replace(/[?.!]+$/, '');
}

/**
 * Builds a tool input that satisfies `schema` from the user's text: each required property gets a value derived
 * from the text (strings: a quoted phrase, a capitalized word, or the rest of the text; numbers: the numbers in
 * the text in order; enums: the first value the text mentions, else the first; booleans: false).
 */
export function inputFromSchema(schema: unknown, text: string): Record<string, unknown> {
  const c = new Candidates(text);
  const value = build(isObj(schema) ? schema : {}, '', c);
  return isObj(value) ? value : {};
}

function build(schema: Schema, name: string, c: Candidates): unknown {
  const branch = (Array.isArray(schema.anyOf) && schema.anyOf[0]) || (Array.isArray(schema.oneOf) && schema.oneOf[0]);
  if (isObj(branch)) return build(branch, name, c);
  if ('const' in schema) return schema.const;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) {
    const mentioned = schema.enum.find((v) => typeof v === 'string' && new RegExp(`\\b${escape(v)}\\b`, 'i').test(c.text));
    return mentioned ?? schema.default ?? schema.enum[0];
  }
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== 'null') : schema.type;
  switch (type) {
    case 'object':
    case undefined: {
      if (type === undefined && !isObj(schema.properties)) return c.nextString();
      const props = isObj(schema.properties) ? schema.properties : {};
      const required = Array.isArray(schema.required) ? schema.required.filter((r): r is string => typeof r === 'string') : [];
      const out: Record<string, unknown> = {};
      for (const key of required) out[key] = build(isObj(props[key]) ? props[key] : {}, key, c);
      return out;
    }
    case 'string':
      return stringFor(schema, name, c);
    case 'number':
    case 'integer': {
      const n = c.nextNumber() ?? (typeof schema.default === 'number' ? schema.default : undefined) ?? 0;
      const clamped = Math.min(
        typeof schema.maximum === 'number' ? schema.maximum : Infinity,
        Math.max(typeof schema.minimum === 'number' ? schema.minimum : -Infinity, n),
      );
      return type === 'integer' ? Math.round(clamped) : clamped;
    }
    case 'boolean':
      return typeof schema.default === 'boolean' ? schema.default : false;
    case 'array': {
      const min = typeof schema.minItems === 'number' ? schema.minItems : 0;
      const items = isObj(schema.items) ? schema.items : {};
      return Array.from({ length: min }, () => build(items, name, c));
    }
    case 'null':
      return null;
    default:
      return null;
  }
}

function stringFor(schema: Schema, name: string, c: Candidates): string {
  const key = name.toLowerCase();
  if (schema.format === 'uri' || schema.format === 'url' || /url|uri|link/.test(key)) {
    const url = /https?:\/\/[^\s"'<>]+/.exec(c.text)?.[0];
    if (url) return url.replace(/[.,!?)]+$/, '');
  }
  if (schema.format === 'email' || key.includes('email')) {
    const email = /[\w.+-]+@[\w-]+\.[\w.-]+/.exec(c.text)?.[0];
    if (email) return email;
  }
  let s = c.nextString();
  if (typeof schema.maxLength === 'number' && s.length > schema.maxLength) s = s.slice(0, schema.maxLength);
  if (typeof schema.minLength === 'number' && s.length < schema.minLength) s = s.padEnd(schema.minLength, '.');
  return s;
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
