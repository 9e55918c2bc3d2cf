// Helpers shared by the browser tests.
import { expect, type Locator, type Page } from '@playwright/test';
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

// Waits until the page is ready: hydrated (an interactive page, which loads the wasm) or marked
// static (a plain page, which loads none; see app/src/bundles.rs).
export async function ready(page: Page) {
  await expect(page.locator('body[data-hydrated], body[data-static]')).toBeAttached();
}

// Signs up `name` (password `<name>-password`) at the GitBlixt at `url`.
export async function signUp(page: Page, url: string, name: string) {
  await page.goto(url + '/signup');
  await ready(page);
  await page.getByLabel('Username').fill(name);
  await page.getByLabel('Password').fill(name + '-password');
  await page.getByRole('button', { name: 'Sign up' }).click();
  await expect(page.getByRole('button', { name: 'Sign out' })).toBeVisible();
}

// Connects the signed-in user's GitHub account: consent as octocat on the GitHub double.
export async function connectGithub(page: Page, url: string) {
  await page.goto(url + '/settings/connected-accounts');
  await ready(page);
  await page.getByRole('button', { name: 'Connect GitHub' }).click();
  await page.getByRole('button', { name: 'Authorize', exact: true }).click();
  await expect(page.locator('.github-login')).toHaveText('octocat');
}

// Creates the repository `owner/name` from the New repository page.
export async function createRepo(page: Page, url: string, owner: string, name: string) {
  await page.goto(url + '/new');
  await ready(page);
  await page.getByLabel('Repository name').fill(name);
  await page.getByRole('button', { name: 'Create repository' }).click();
  await expect(page).toHaveURL(new RegExp(`/${owner}/${name}$`));
}

// On an open Settings page: enables a push mirror to `remote` and waits until it is Active.
export async function enablePushMirror(page: Page, remote: string): Promise<Locator> {
  const push = page.locator('#push-mirroring');
  await push.getByLabel('GitHub repository (push)').fill(remote);
  await push.getByRole('button', { name: 'Enable mirror' }).click();
  const mirror = push.locator('li.mirror', { hasText: remote });
  await expect(mirror.locator('.status')).toContainText('Active');
  return mirror;
}
