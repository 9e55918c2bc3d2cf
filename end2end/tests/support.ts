// Helpers shared by the browser tests.
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:net';

// The real git client, never prompting.
export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8', env: { ...process.env, GIT_TERMINAL_PROMPT: '0' } });
}

// A port on 127.0.0.1 free right now.
export function freePort(): Promise<number> {
  return new Promise((ok) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => ok(port));
    });
  });
}
