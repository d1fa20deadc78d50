import { describe, expect, it } from 'vitest';
import { isTransientDbError, retryTransient } from '../../src/maintenance/retry.js';

const pgError = (code: string, message = 'x') => Object.assign(new Error(message), { code });

describe('transient database errors', () => {
  it('tells connection and availability problems from statement errors', () => {
    for (const e of [
      pgError('57P01', 'terminating connection due to administrator command'),
      pgError('57P03', 'the database system is starting up'),
      pgError('08006'),
      pgError('40P01'),
      pgError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432'),
      new Error('Connection terminated unexpectedly'),
      new Error('wrapped', { cause: pgError('08003') }),
    ]) {
      expect(isTransientDbError(e), String(e)).toBe(true);
    }
    for (const e of [pgError('23505'), pgError('42P01'), new Error('pg driver is closed'), 'nope']) {
      expect(isTransientDbError(e), String(e)).toBe(false);
    }
  });

  it('retries a transient failure until it works, and gives up on other errors or past the deadline', async () => {
    let calls = 0;
    await expect(
      retryTransient(async () => {
        if (++calls < 3) throw pgError('57P01');
        return 'recorded';
      }, { deadlineMs: 5000 }),
    ).resolves.toBe('recorded');
    expect(calls).toBe(3);

    calls = 0;
    await expect(retryTransient(async () => (calls++, Promise.reject(pgError('23505'))), { deadlineMs: 5000 })).rejects.toMatchObject({ code: '23505' });
    expect(calls).toBe(1);

    calls = 0;
    const started = Date.now();
    await expect(retryTransient(async () => (calls++, Promise.reject(pgError('08006'))), { deadlineMs: 300 })).rejects.toMatchObject({ code: '08006' });
    expect(Date.now() - started).toBeLessThan(1500);
    expect(calls).toBeGreaterThan(1);
  });
});
