/**
 * CPU time spent, in ms: the benchmark's own processes report `process.cpuUsage()`; PostgreSQL's is read from
 * /proc (the postmaster, its live children, and its reaped children's totals), so backends that exited count too.
 * On a shared machine wall-clock throughput moves with other load; CPU per item does not (much).
 */
import { readdirSync, readFileSync } from 'node:fs';
import type pg from 'pg';

const TICK_MS = 10; // USER_HZ is 100 on Linux

function statFields(pid: number): string[] | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

export async function postmasterPid(db: pg.Pool): Promise<number | null> {
  const { rows } = await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  const f = statFields(rows[0]!.pid);
  return f ? Number(f[1]) : null;
}

/** Cumulative CPU ms of the server whose postmaster is `pm` (null when it is not on this machine). */
export function serverCpuMs(pm: number | null): number | null {
  if (pm === null) return null;
  const own = statFields(pm);
  if (!own) return null;
  let ticks = Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14]);
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const f = statFields(Number(d));
    if (f && Number(f[1]) === pm) ticks += Number(f[11]) + Number(f[12]);
  }
  return ticks * TICK_MS;
}

export function ownCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}
