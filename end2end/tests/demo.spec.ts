import { expect, test } from '@playwright/test';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { enablePushMirror, freePort, git, ready } from './support';

// `make demo` as the README describes it: end2end/demo.sh starts GitBlixt and the GitHub double
// wired together and prints three steps; following them makes a push reach the stand-in.

test('make demo: the three printed steps mirror a push to the GitHub stand-in', async ({ page }) => {
  const port = await freePort();
  const addr = `127.0.0.1:${port}`;
  const demo = spawn(resolve(__dirname, '..', 'demo.sh'), [process.env.GITBLIXT_BIN!, process.env.GITHUB_DOUBLE_BIN!], {
    env: { ...process.env, GITBLIXT_ADDR: addr, GITBLIXT_SSH_ADDR: '127.0.0.1:0', RUST_LOG: 'warn,gitblixt=info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  demo.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  demo.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  try {
    await expect.poll(() => out, { timeout: 60_000 }).toContain('GitBlixt is running at');
    const standIn = out.match(/GitHub stand-in: (http:\/\/127\.0\.0\.1:\d+)/)![1];
    const dataDir = out.match(/Data: +(\S+)/)![1];
    expect(existsSync(dataDir)).toBe(true);
    expect(out).toContain(`http://${addr}      user demo, password demo-password`);

    // 1. Sign in, connect GitHub.
    await page.goto(`http://${addr}/login`);
    await ready(page);
    await page.getByLabel('Username').fill('demo');
    await page.getByLabel('Password').fill('demo-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByRole('button', { name: 'Sign out' })).toBeVisible();
    await page.getByRole('link', { name: 'Connected Accounts' }).click();
    await page.waitForURL('**/settings/connected-accounts');
    await ready(page);
    await page.getByRole('button', { name: 'Connect GitHub' }).click();
    await page.getByRole('button', { name: 'Authorize', exact: true }).click();
    await expect(page.locator('.github-login')).toHaveText('octocat');

    // 2. Enable the push mirror.
    await page.goto(`http://${addr}/demo/project/settings`);
    await ready(page);
    await expect(page.locator('.live-status')).toContainText('Live');
    await enablePushMirror(page, 'octocat/demo');

    // 3. Clone, commit, push: the branch reaches the stand-in.
    const work = mkdtempSync(join(tmpdir(), 'gitblixt-demo-test-'));
    git(work, 'clone', '-q', `http://demo:demo-password@${addr}/demo/project.git`, 'project');
    const project = join(work, 'project');
    git(project, '-c', 'user.name=Demo', '-c', 'user.email=demo@example.com', 'commit', '-q', '--allow-empty', '-m', 'hello GitHub');
    git(project, 'push', '-q', 'origin', 'HEAD');
    const head = git(project, 'rev-parse', 'HEAD').trim();
    await expect
      .poll(async () => Object.values(await (await fetch(`${standIn}/_double/repos/octocat/demo/refs`)).json()), { timeout: 15_000 })
      .toContain(head);
    const page2 = await (await fetch(`${standIn}/octocat/demo`)).text();
    expect(page2).toContain('octocat/demo');

    // Stopping the demo removes its data.
    demo.kill('SIGTERM');
    await new Promise<void>((ok) => (demo.exitCode !== null ? ok() : demo.on('exit', () => ok())));
    expect(existsSync(dataDir)).toBe(false);
  } finally {
    if (demo.exitCode === null) demo.kill('SIGKILL');
  }
});
