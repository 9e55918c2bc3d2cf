import { expect, test } from '@playwright/test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectGithub, git, ready, signUp } from './support';

const base = () => process.env.GITBLIXT_URL!;
const double = () => process.env.GITHUB_DOUBLE_URL!;

async function control(path: string, body: unknown): Promise<any> {
  const r = await fetch(double() + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect(r.ok, `${path}: ${r.status}`).toBeTruthy();
  return r.json().catch(() => null);
}

// `octocat/<name>` on the GitHub double with two branches and a tag, pushed with a token.
async function githubRepoWithContent(name: string) {
  await control('/_double/repos', { owner: 'octocat', name, private: true });
  const { token } = await control('/_double/tokens', { login: 'octocat', scopes: ['repo'] });
  const work = mkdtempSync(join(tmpdir(), 'gitblixt-e2e-import-'));
  git(work, 'init', '-q', '-b', 'main');
  git(work, '-c', 'user.name=E2E', '-c', 'user.email=e2e@example.com', 'commit', '-q', '--allow-empty', '-m', 'first');
  git(work, 'tag', 'v1');
  git(work, 'checkout', '-q', '-b', 'dev');
  git(work, '-c', 'user.name=E2E', '-c', 'user.email=e2e@example.com', 'commit', '-q', '--allow-empty', '-m', 'second');
  const host = new URL(double()).host;
  git(work, 'push', '-q', `http://octocat:${token}@${host}/octocat/${name}.git`, 'main', 'dev', '--tags');
}

test('import: pick a repository, watch it live, land on the repository; the help page shows this instance', async ({ page }) => {
  await signUp(page, base(), 'lena');
  await connectGithub(page, base());
  await githubRepoWithContent('lena-source');
  await control('/_double/repos', { owner: 'octocat', name: 'lena-other', private: false });

  // From the dashboard.
  await page.goto(base() + '/');
  await ready(page);
  await page.getByRole('link', { name: 'Import repository' }).click();
  await expect(page).toHaveURL(/\/import\/github$/);
  await ready(page);
  await page.evaluate(() => ((window as any).__sameDocument = true));

  // The account's repositories, private ones marked, narrowed by the filter.
  const listed = page.locator('#github-repositories');
  const source = listed.locator('li.candidate[data-repo="octocat/lena-source"]');
  await expect(source).toContainText('Private');
  await listed.getByRole('searchbox').fill('lena-');
  await expect(listed.locator('li.candidate:visible')).toHaveCount(2);
  await expect(listed.locator('li.candidate[data-repo="octocat/lena-other"]')).toBeVisible();

  // Pick one, keep it in sync, import it with GitHub answering slowly: its progress shows live.
  await source.getByRole('checkbox').check();
  await expect(source.getByLabel('GitBlixt name')).toHaveValue('lena-source');
  await source.getByLabel('GitBlixt name').fill('imported');
  await source.getByLabel('Keep in sync: pull mirror').selectOption({ label: '30 minutes' });
  await page.evaluate(() => {
    const seen: string[] = [];
    (window as any).__states = seen;
    const note = () => {
      for (const el of document.querySelectorAll('#imports li.import .status')) {
        const text = (el.textContent || '').split(' ')[0];
        if (seen[seen.length - 1] !== text) seen.push(text);
      }
    };
    new MutationObserver(note).observe(document.querySelector('#imports')!, { subtree: true, childList: true, characterData: true });
  });
  await control('/_double/fault', { latency_ms: 700 });
  try {
    await listed.getByRole('button', { name: 'Import 1 repository' }).click();
    await expect(listed.getByRole('status')).toContainText('octocat/lena-source: importing into lena/imported');
    const item = page.locator('#imports li.import', { hasText: 'octocat/lena-source' });
    await expect(item.locator('.status')).toContainText('Importing', { timeout: 15_000 });
    await expect(item.locator('.status')).toContainText('Done', { timeout: 30_000 });
  } finally {
    await control('/_double/fault', {});
  }
  const states: string[] = await page.evaluate(() => (window as any).__states);
  expect(states).toContain('Importing');
  expect(states[states.length - 1]).toBe('Done');
  expect(await page.evaluate(() => (window as any).__sameDocument === true)).toBeTruthy();
  const item = page.locator('#imports li.import', { hasText: 'octocat/lena-source' });
  await expect(item).toContainText('Kept in sync every 30 minutes.');
  await page.screenshot({ path: test.info().outputPath('import-done.png'), fullPage: true });

  // The repository, with GitHub's branches and tags; its settings have the pull mirror.
  await item.getByRole('link', { name: 'Open repository' }).click();
  await expect(page).toHaveURL(/\/lena\/imported$/);
  await ready(page);
  await expect(page.getByRole('heading', { name: 'Branches (2)' })).toBeVisible();
  await expect(page.getByRole('heading', { name: 'Tags (1)' })).toBeVisible();
  await expect(page.locator('#import-notice')).toHaveCount(0);
  await page.goto(base() + '/lena/imported/settings');
  await expect(page.locator('#pull-mirroring li.mirror', { hasText: 'octocat/lena-source' })).toContainText('Active');
  await expect(page.locator('#fetch-from-remote').getByLabel('GitHub repository (fetch)')).toHaveValue('octocat/lena-source');

  // Back on the import page, the repository is marked as imported.
  await page.goto(base() + '/import/github');
  await expect(page.locator('li.candidate[data-repo="octocat/lena-source"]')).toContainText('imported to lena/imported');

  // The help page, linked from the import page, computes this instance's callback URL.
  await page.getByRole('link', { name: 'How importing works' }).click();
  await expect(page).toHaveURL(/\/help\/importing-from-github$/);
  await expect(page.locator('#callback-url')).toHaveText(base() + '/oauth/github/callback');
  await expect(page.locator('#homepage-url')).toHaveText(base());
  await expect(page.locator('#oauth-status')).toContainText('has a GitHub OAuth App configured');
  await page.goto(base() + '/help/mirroring');
  for (const message of ['No github OAuth token found', 'OAuth token has expired', 'Permission denied (403)', 'Repository not found (404)']) {
    await expect(page.locator('#mirror-errors')).toContainText(message);
  }
});
