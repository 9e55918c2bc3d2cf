import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

// Starts the gitblixt binary (GITBLIXT_BIN) on 127.0.0.1:0 with a fresh data directory, waits for it
// to announce its address, and waits until the page answers.
export default async function globalSetup() {
  const bin = process.env.GITBLIXT_BIN;
  if (!bin) throw new Error('GITBLIXT_BIN must name the gitblixt binary (make test sets it)');
  const data = mkdtempSync(join(tmpdir(), 'gitblixt-e2e-'));
  const child = spawn(bin, ['serve'], {
    env: {
      ...process.env,
      GITBLIXT_ADDR: '127.0.0.1:0',
      GITBLIXT_DATA: data,
      LEPTOS_SITE_ROOT: resolve(__dirname, '..', 'target', 'site'),
      LEPTOS_OUTPUT_NAME: 'gitblixt',
      RUST_LOG: process.env.RUST_LOG || 'info',
    },
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  const url = await new Promise<string>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error('gitblixt did not start within 60 s')), 60_000);
    let seen = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      process.stderr.write(chunk);
      seen += chunk.toString();
      const m = seen.match(/GitBlixt is running at (http:\/\/127\.0\.0\.1:\d+)/);
      if (m) {
        clearTimeout(timer);
        ok(m[1]);
      }
    });
    child.on('exit', (code) => fail(new Error(`gitblixt exited early with ${code}`)));
  });
  child.stderr!.on('data', (chunk: Buffer) => process.stderr.write(chunk));
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
  writeFileSync(join(data, 'e2e.pid'), String(child.pid));
  process.env.GITBLIXT_E2E_PID = String(child.pid);
}
