import { expect, test, type Page } from '@playwright/test';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectGithub, createRepo, freePort, git, ready, signUp } from './support';

const base = () => process.env.GITBLIXT_URL!;
const double = () => process.env.GITHUB_DOUBLE_URL!;

async function control(path: string, body: unknown, method = 'POST') {
  const r = await fetch(double() + path, {
    method,
    headers: { 'content-type': 'application/json' },
    body: method === 'DELETE' ? undefined : JSON.stringify(body),
  });
  expect(r.ok, `${path}: ${r.status}`).toBeTruthy();
}

const slowGithub = (ms: number) => control('/_double/fault', { latency_ms: ms });

// A local repository with one commit and a tag, pushed to GitBlixt's `user/repo` over HTTP.
function pushContent(url: string, user: string, repo: string): string {
  const work = mkdtempSync(join(tmpdir(), 'gitblixt-e2e-work-'));
  git(work, 'init', '-q', '-b', 'main');
  git(work, '-c', 'user.name=E2E', '-c', 'user.email=e2e@example.com', 'commit', '-q', '--allow-empty', '-m', 'first');
  git(work, 'tag', 'v1');
  const host = new URL(url).host;
  git(work, 'remote', 'add', 'origin', `http://${user}:${user}-password@${host}/${user}/${repo}.git`);
  git(work, 'push', '-q', 'origin', 'main', '--tags');
  return work;
}

function commitAndPush(work: string, message: string) {
  git(work, '-c', 'user.name=E2E', '-c', 'user.email=e2e@example.com', 'commit', '-q', '--allow-empty', '-m', message);
  git(work, 'push', '-q', 'origin', 'main');
}

async function signUpAndConnect(page: Page, name: string) {
  await signUp(page, base(), name);
  await connectGithub(page, base());
}

// Opens the settings page and waits until its live status socket is connected.
async function openSettings(page: Page, url: string, owner: string, repo: string) {
  await page.goto(`${url}/${owner}/${repo}/settings`);
  await ready(page);
  await expect(page.locator('.live-status')).toContainText('Live');
  // Marks this document: if the page reloads, the mark is gone.
  await page.evaluate(() => ((window as any).__sameDocument = true));
}

const sameDocument = (page: Page) => page.evaluate(() => (window as any).__sameDocument === true);

// Records every status text shown in `section` from now on, in order.
async function recordStatuses(page: Page, section: string) {
  await page.evaluate((selector) => {
    const seen: string[] = [];
    (window as any).__statuses = seen;
    const note = () => {
      for (const el of document.querySelectorAll(`${selector} li.mirror .status`)) {
        const text = (el.textContent || '').split(' ')[0];
        if (seen[seen.length - 1] !== text) seen.push(text);
      }
    };
    new MutationObserver(note).observe(document.querySelector(selector)!, { subtree: true, childList: true, characterData: true });
    note();
  }, section);
}

const statuses = (page: Page): Promise<string[]> => page.evaluate(() => (window as any).__statuses as string[]);

test('push mirror: enable, Queued → Syncing → Active live, an Error appears live, Sync now, Pause/Resume, Remove', async ({ page }) => {
  await signUpAndConnect(page, 'henry');
  await control('/_double/repos', { owner: 'octocat', name: 'henry-mirror', private: false });
  await createRepo(page, base(), 'henry', 'site');
  const work = pushContent(base(), 'henry', 'site');
  await openSettings(page, base(), 'henry', 'site');
  await expect(page.getByRole('heading', { name: 'Push mirroring' })).toBeVisible();

  const push = page.locator('#push-mirroring');
  // Bad input: a clear message, nothing saved.
  await push.getByLabel('GitHub repository (push)').fill('not a repo');
  await push.getByRole('button', { name: 'Enable mirror' }).click();
  await expect(push.getByRole('alert')).toContainText('Enter the GitHub repository as owner/repo');
  await expect(push.locator('li.mirror')).toHaveCount(0);
  // A repository that doesn't exist on GitHub: the spec's 404 message, nothing saved.
  await push.getByLabel('GitHub repository (push)').fill('octocat/does-not-exist');
  await push.getByRole('button', { name: 'Enable mirror' }).click();
  await expect(push.getByRole('alert')).toContainText('Repository not found (404)');
  await expect(push.locator('li.mirror')).toHaveCount(0);

  // Enabled while GitHub is slow: the status goes Queued/Syncing → Active by itself, no reload.
  await recordStatuses(page, '#push-mirroring');
  await slowGithub(700);
  await push.getByLabel('GitHub repository (push)').fill('https://github.com/octocat/henry-mirror');
  await push.getByRole('button', { name: 'Enable mirror' }).click();
  const mirror = push.locator('li.mirror', { hasText: 'octocat/henry-mirror' });
  await expect(mirror.locator('.status')).toHaveText('Syncing');
  await expect(mirror.locator('.status')).toContainText('Active');
  await slowGithub(0);
  const seen = await statuses(page);
  expect(seen.indexOf('Syncing'), seen.join(' → ')).toBeGreaterThanOrEqual(0);
  expect(seen.indexOf('Active'), seen.join(' → ')).toBeGreaterThan(seen.indexOf('Syncing'));
  expect(seen.filter((s) => s !== 'Queued' && s !== 'Syncing' && s !== 'Active'), seen.join(' → ')).toEqual([]);
  expect(await sameDocument(page)).toBe(true);

  // GitHub starts refusing (the repository is deleted); a push from the command line shows the
  // spec's message under the mirror, live.
  await control('/_double/repos/octocat/henry-mirror', undefined, 'DELETE');
  commitAndPush(work, 'second');
  await expect(mirror.locator('.status')).toHaveText('Error');
  await expect(mirror.locator('.mirror-error')).toHaveText(
    'Repository not found (404): verify that octocat/henry-mirror is the correct owner/repo and that the repository exists on GitHub.',
  );
  expect(await sameDocument(page)).toBe(true);

  // Fixed on GitHub; Sync now recovers.
  await control('/_double/repos', { owner: 'octocat', name: 'henry-mirror', private: false });
  await mirror.getByRole('button', { name: 'Sync now' }).click();
  await expect(mirror.locator('.status')).toContainText('Active');
  await expect(mirror.locator('.mirror-error')).toHaveCount(0);
  await mirror.locator('details.runs summary').click();
  await expect(mirror.locator('details.runs')).toContainText('created');

  await mirror.getByRole('button', { name: 'Pause' }).click();
  await expect(mirror.locator('.status')).toHaveText('Paused');
  await mirror.getByRole('button', { name: 'Resume' }).click();
  await expect(mirror.locator('.status')).toContainText('Active');

  await mirror.getByRole('button', { name: 'Remove' }).click();
  await expect(push.locator('li.mirror')).toHaveCount(0);

  // Henry was told once when it broke and once when it worked again.
  await page.goto(base() + '/settings/notifications');
  await expect(page.locator('header .bell')).toHaveText('Notifications (2)');
  await expect(page.locator('li.notification strong')).toHaveText([
    'The push mirror of henry/site to octocat/henry-mirror works again',
    'The push mirror of henry/site to octocat/henry-mirror is failing',
  ]);
  await ready(page);
  await page.getByRole('button', { name: 'Mark all as read' }).click();
  await expect(page.locator('li.notification.unread')).toHaveCount(0);
});

test('pull mirror and one-time fetch from the page', async ({ page }) => {
  await signUpAndConnect(page, 'ivy');
  // GitHub's side, filled through GitBlixt: ivy/origin push-mirrored to octocat/ivy-upstream.
  await control('/_double/repos', { owner: 'octocat', name: 'ivy-upstream', private: false });
  await createRepo(page, base(), 'ivy', 'origin');
  pushContent(base(), 'ivy', 'origin');
  await openSettings(page, base(), 'ivy', 'origin');
  await page.locator('#push-mirroring').getByLabel('GitHub repository (push)').fill('octocat/ivy-upstream');
  await page.locator('#push-mirroring').getByRole('button', { name: 'Enable mirror' }).click();
  await expect(page.locator('#push-mirroring li.mirror .status')).toContainText('Active');

  // Pull mirror every 5 minutes into ivy/copy.
  await createRepo(page, base(), 'ivy', 'copy');
  await openSettings(page, base(), 'ivy', 'copy');
  const pull = page.locator('#pull-mirroring');
  await pull.getByLabel('GitHub repository (pull)').fill('octocat/ivy-upstream');
  await pull.getByLabel('Sync interval').selectOption({ label: '5 minutes' });
  await pull.getByRole('button', { name: 'Enable mirror' }).click();
  const mirror = pull.locator('li.mirror', { hasText: 'octocat/ivy-upstream' });
  await expect(mirror.locator('.status')).toContainText('Active');
  await expect(mirror).toContainText('Next scheduled sync');
  await mirror.locator('details.runs summary').click();
  await expect(mirror.locator('details.runs')).toContainText('refs/heads/main');
  await mirror.getByRole('button', { name: 'Sync now' }).click();
  await expect(mirror.locator('.status')).toContainText('Active');
  // Picking an interval applies it.
  await mirror.getByLabel('Interval').selectOption({ label: '1 hour' });
  await expect(mirror.getByLabel('Interval')).toHaveValue('60');
  await page.reload();
  await expect(pull.locator('li.mirror').getByLabel('Interval')).toHaveValue('60');
  // Both directions at the same GitHub repository: the spec's warning.
  await page.locator('#push-mirroring').getByLabel('GitHub repository (push)').fill('octocat/ivy-upstream');
  await page.locator('#push-mirroring').getByRole('button', { name: 'Enable mirror' }).click();
  await expect(page.locator('#push-mirroring .warning')).toContainText('they can overwrite each other');
  await expect(page.locator('#push-mirroring li.mirror .status')).toContainText('Active');
  await page.screenshot({ path: test.info().outputPath('settings-push-and-pull.png'), fullPage: true });

  // One-time fetch into ivy/fetched: the refs it created are shown when done.
  await createRepo(page, base(), 'ivy', 'fetched');
  await openSettings(page, base(), 'ivy', 'fetched');
  const fetchSection = page.locator('#fetch-from-remote');
  await fetchSection.getByLabel('GitHub repository (fetch)').fill('octocat/ivy-upstream');
  await fetchSection.getByRole('button', { name: 'Fetch' }).click();
  const fetched = fetchSection.locator('li.mirror', { hasText: 'octocat/ivy-upstream' });
  await expect(fetched.locator('.status')).toContainText('Fetched');
  await expect(fetched.locator('.fetch-result')).toContainText('2 refs created');
  await expect(fetched.locator('.fetch-result')).toContainText('refs/tags/v1');
  await page.screenshot({ path: test.info().outputPath('settings-fetch.png'), fullPage: true });
  await fetched.getByRole('button', { name: 'Fetch again' }).click();
  await expect(fetched.locator('.fetch-result')).toContainText('Already up to date');
  await page.goto(base() + '/ivy/fetched');
  await ready(page);
  await expect(page.getByText('main').first()).toBeVisible();
});

// A GitBlixt instance of this test's own, so it can be restarted.
function startGitblixt(addr: string, data: string): Promise<ChildProcess> {
  const child = spawn(process.env.GITBLIXT_BIN!, ['serve'], {
    env: {
      ...process.env,
      GITBLIXT_ADDR: addr,
      GITBLIXT_SSH_ADDR: '127.0.0.1:0',
      GITBLIXT_DATA: data,
      GITHUB_URL: double(),
      GITHUB_API_URL: process.env.GITHUB_DOUBLE_API_URL!,
      RUST_LOG: 'warn,gitblixt=info',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error('gitblixt did not start within 60 s')), 60_000);
    let seen = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.includes('GitBlixt is running at')) {
        clearTimeout(timer);
        ok(child);
      }
    });
    child.on('exit', (code) => fail(new Error(`gitblixt exited early with ${code}: ${seen}`)));
  });
}

const stopped = (child: ChildProcess) => new Promise<void>((ok) => (child.exitCode !== null ? ok() : child.on('exit', () => ok())));

test('the page reconnects by itself after a server restart and shows what happens next', async ({ page, browser }) => {
  const port = await freePort();
  const addr = `127.0.0.1:${port}`;
  const url = `http://${addr}`;
  const data = mkdtempSync(join(tmpdir(), 'gitblixt-e2e-restart-'));
  writeFileSync(join(data, '.keep'), '');
  let server = await startGitblixt(addr, data);
  try {
    await control('/_double/repos', { owner: 'octocat', name: 'jack-public', private: false });
    await signUp(page, url, 'jack');
    await createRepo(page, url, 'jack', 'notes');
    await openSettings(page, url, 'jack', 'notes');

    server.kill('SIGTERM');
    await stopped(server);
    await expect(page.locator('.live-status')).toContainText('reconnecting');
    server = await startGitblixt(addr, data);
    await expect(page.locator('.live-status')).toContainText('Live');

    // Another tab starts a one-time fetch of a public repository (no GitHub connection needed);
    // the first page shows it arrive and finish without a reload.
    const other = await browser.newContext();
    const tab = await other.newPage();
    await tab.goto(url + '/login');
    await ready(tab);
    await tab.getByLabel('Username').fill('jack');
    await tab.getByLabel('Password').fill('jack-password');
    await tab.getByRole('button', { name: 'Sign in' }).click();
    await expect(tab.getByRole('button', { name: 'Sign out' })).toBeVisible();
    await tab.goto(url + '/jack/notes/settings');
    await ready(tab);
    await tab.locator('#fetch-from-remote').getByLabel('GitHub repository (fetch)').fill('octocat/jack-public');
    await tab.locator('#fetch-from-remote').getByRole('button', { name: 'Fetch' }).click();
    const item = page.locator('#fetch-from-remote li.mirror', { hasText: 'octocat/jack-public' });
    await expect(item).toBeVisible();
    await expect(item.locator('.status')).not.toHaveText(/Queued|Fetching/);
    expect(await sameDocument(page)).toBe(true);
    await other.close();
  } finally {
    server.kill('SIGTERM');
    await stopped(server);
  }
});

// Fills octocat/<name> on the GitHub double through git smart HTTP: an unrelated main, a branch
// and a tag GitBlixt will not have.
async function githubRepoWithContent(name: string) {
  await control('/_double/repos', { owner: 'octocat', name, private: false });
  const r = await fetch(double() + '/_double/tokens', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ login: 'octocat', scopes: ['repo'] }),
  });
  const { token } = await r.json();
  const work = mkdtempSync(join(tmpdir(), 'gitblixt-e2e-github-'));
  git(work, 'init', '-q', '-b', 'main');
  git(work, '-c', 'user.name=GH', '-c', 'user.email=gh@example.com', 'commit', '-q', '--allow-empty', '-m', 'on github');
  git(work, 'branch', 'gh-branch');
  git(work, 'tag', 'gh-tag');
  const host = new URL(double()).host;
  git(work, 'push', '-q', `http://x-access-token:${token}@${host}/octocat/${name}.git`, 'main', 'gh-branch', 'gh-tag');
}

const githubRefs = async (name: string): Promise<Record<string, string>> =>
  (await fetch(`${double()}/_double/repos/octocat/${name}/refs`)).json();

test('push mirror onto a GitHub repository with content: asks first, keeps what it replaces, Restore and Discard', async ({ page }) => {
  await signUpAndConnect(page, 'kate');
  await githubRepoWithContent('kate-existing');
  const before = await githubRefs('kate-existing');
  await createRepo(page, base(), 'kate', 'site');
  pushContent(base(), 'kate', 'site');
  await openSettings(page, base(), 'kate', 'site');

  const push = page.locator('#push-mirroring');
  await push.getByLabel('GitHub repository (push)').fill('octocat/kate-existing');
  await push.getByRole('button', { name: 'Enable mirror' }).click();
  const confirm = page.locator('#confirm-replace');
  await expect(confirm).toContainText('the first sync would overwrite 1 branch or tag and delete 2 branches and tags there');
  await expect(confirm.locator('li')).toHaveText([
    /deleted refs\/heads\/gh-branch .* — 1 commit only on GitHub/,
    /overwritten refs\/heads\/main .* — 1 commit only on GitHub/,
    /deleted refs\/tags\/gh-tag .* — 1 commit only on GitHub/,
  ]);
  await expect(push.locator('li.mirror')).toHaveCount(0);
  expect(await githubRefs('kate-existing')).toEqual(before);

  await confirm.getByRole('button', { name: "Replace GitHub's branches and tags" }).click();
  const mirror = push.locator('li.mirror', { hasText: 'octocat/kate-existing' });
  await expect(mirror.locator('.status')).toContainText('Active');
  await mirror.locator('details.runs summary').click();
  const kept = mirror.locator('li.kept-ref');
  await expect(kept).toHaveCount(3);
  await expect(mirror.locator('details.runs')).toContainText("deleted GitHub's gh-branch (1 commit only on GitHub); kept, restore from this run");

  // Restore gh-branch: back in GitBlixt, and the push mirror brings it back to GitHub.
  await kept.filter({ hasText: 'gh-branch' }).getByRole('button', { name: 'Restore' }).click();
  await expect(page.locator('#restored')).toHaveText('Restored as gh-branch.');
  await expect(kept).toHaveCount(2);
  await expect.poll(async () => (await githubRefs('kate-existing'))['refs/heads/gh-branch'], { timeout: 15_000 }).toBe(before['refs/heads/gh-branch']);
  // Discard the tag: gone from the list.
  await kept.filter({ hasText: 'gh-tag' }).getByRole('button', { name: 'Discard' }).click();
  await expect(page.locator('#restored')).toHaveText('Discarded.');
  await expect(kept).toHaveCount(1);
  expect(await sameDocument(page)).toBe(true);
});
