/** Small helpers for terminal output: aligned tables, times, durations, clipped text. */

export type Cell = string | number | null | undefined;

/** Left-aligned columns separated by two spaces; numbers are right-aligned. Header in upper case. */
export function table(headers: string[], rows: Cell[][]): string {
  const text = rows.map((r) => headers.map((_, i) => cell(r[i])));
  const numeric = headers.map(
    (_, i) => rows.some((r) => typeof r[i] === 'number') && rows.every((r) => r[i] === null || r[i] === undefined || typeof r[i] === 'number'),
  );
  const widths = headers.map((h, i) => Math.max(h.length, ...text.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers.map((h) => h.toUpperCase())), ...text.map(line)].join('\n');
}

function cell(v: Cell): string {
  if (v === null || v === undefined) return '-';
  return String(v);
}

/** `2026-11-30 14:02:11` in UTC. */
export function time(d: Date | null | undefined): string {
  if (!d) return '-';
  return d.toISOString().replace('T', ' ').slice(0, 19);
}

/** `340ms`, `2.1s`, `3m04s`, `1h02m`. */
export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '-';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** Milliseconds between two dates, or null when one is missing. */
export function between(from: Date | null | undefined, to: Date | null | undefined): number | null {
  return from && to ? to.getTime() - from.getTime() : null;
}

/** One line of at most `max` characters. */
export function clip(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= max ? flat : `${flat.slice(0, Math.max(0, max - 1))}…`;
}

/** A JSON value as compact one-line text (strings as they are). */
export function compact(value: unknown, max = 60): string {
  if (value === null || value === undefined) return '-';
  return clip(typeof value === 'string' ? value : JSON.stringify(value), max);
}
