import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

// The OAuth App GitBlixt is configured with, registered at the GitHub double.
const CLIENT_ID = 'Iv1.e2e-gitblixt';
const CLIENT_SECRET = 'e2e-client-secret';

// Starts the GitHub double (GITHUB_DOUBLE_BIN), waits for the one JSON line with its URLs.
async function startDouble(): Promise<{ web_url: string; api_url: string; pid: number }> {
  const bin = process.env.GITHUB_DOUBLE_BIN;
  if (!bin) throw new Error('GITHUB_DOUBLE_BIN must name the github-double binary (make test sets it)');
  const child = spawn(bin, [], { stdio: ['pipe', 'pipe', 'inherit'] });
  return await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error('the GitHub double did not start within 30 s')), 30_000);
    let seen = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      const line = seen.split('\n')[0];
      if (seen.includes('\n')) {
        clearTimeout(timer);
        const urls = JSON.parse(line);
        ok({ ...urls, pid: child.pid! });
      }
    });
    child.on('exit', (code) => fail(new Error(`the GitHub double exited early with ${code}`)));
  });
}

async function control(doubleUrl: string, path: string, body: unknown) {
  const r = await fetch(doubleUrl + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!r.ok) throw new Error(`GitHub double ${path}: ${r.status} ${await r.text()}`);
}

// Starts the GitHub double, then the gitblixt binary (GITBLIXT_BIN) on 127.0.0.1:0 the way `make run`
// starts it: from a fresh working directory, with the default data directory (./data) and nothing
// telling it where the compiled site is; configured to use the double as GitHub; waits until the page answers; registers
// GitBlixt's OAuth App and the user `octocat` (signed in to the double's pages) at the double.
export default async function globalSetup() {
  const bin = process.env.GITBLIXT_BIN;
  if (!bin) throw new Error('GITBLIXT_BIN must name the gitblixt binary (make test sets it)');
  const double = await startDouble();
  process.env.GITHUB_DOUBLE_URL = double.web_url;
  process.env.GITHUB_DOUBLE_API_URL = double.api_url;
  process.env.GITHUB_DOUBLE_PID = String(double.pid);
  const cwd = mkdtempSync(join(tmpdir(), 'gitblixt-e2e-'));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    GITBLIXT_ADDR: '127.0.0.1:0',
    GITBLIXT_SSH_ADDR: '127.0.0.1:0',
    GITHUB_URL: double.web_url,
    GITHUB_API_URL: double.api_url,
    GITHUB_CLIENT_ID: CLIENT_ID,
    GITHUB_CLIENT_SECRET: CLIENT_SECRET,
    RUST_LOG: process.env.RUST_LOG || 'info',
  };
  for (const name of Object.keys(env)) {
    if (name === 'GITBLIXT_DATA' || name === 'DATABASE_URL' || name.startsWith('LEPTOS_')) delete env[name];
  }
  const child = spawn(resolve(bin), ['serve'], { cwd, env, stdio: ['ignore', 'inherit', 'pipe'] });
  let sshAddr = '';
  const url = await new Promise<string>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error('gitblixt did not start within 60 s')), 60_000);
    let seen = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      process.stderr.write(chunk);
      seen += chunk.toString();
      const ssh = seen.match(/GitBlixt serves git over SSH at (127\.0\.0\.1:\d+)/);
      if (ssh) sshAddr = ssh[1];
      const m = seen.match(/GitBlixt is running at (http:\/\/127\.0\.0\.1:\d+)/);
      if (m) {
        clearTimeout(timer);
        ok(m[1]);
      }
    });
    child.on('exit', (code) => fail(new Error(`gitblixt exited early with ${code}`)));
  });
  for (let i = 0; i < 100; i++) {
    try {
      const r = await fetch(url + '/');
      if (r.ok) break;
    } catch {
      // not answering yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  process.env.GITBLIXT_URL = url;
  process.env.GITBLIXT_SSH_ADDR = sshAddr;
  await control(double.web_url, '/_double/users', { login: 'octocat' });
  await control(double.web_url, '/_double/browser-user', { login: 'octocat' });
  await control(double.web_url, '/_double/oauth-apps', {
    name: 'GitBlixt',
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    callback_url: url + '/oauth/github/callback',
    expiring_tokens: true,
  });
  process.env.GITBLIXT_E2E_PID = String(child.pid);
}
