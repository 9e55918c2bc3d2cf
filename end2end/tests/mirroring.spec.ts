import { expect, test, type Page } from '@playwright/test';

const base = () => process.env.GITBLIXT_URL!;
const double = () => process.env.GITHUB_DOUBLE_URL!;

async function control(path: string, body: unknown) {
  const r = await fetch(double() + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(r.ok, `${path}: ${r.status}`).toBeTruthy();
}

async function signUpAndConnect(page: Page, name: string) {
  await page.goto(base() + '/signup');
  await page.getByLabel('Username').fill(name);
  await page.getByLabel('Password').fill(name + '-password');
  await page.getByRole('button', { name: 'Sign up' }).click();
  await expect(page.getByRole('button', { name: 'Sign out' })).toBeVisible();
  await page.goto(base() + '/settings/connected-accounts');
  await page.getByRole('button', { name: 'Connect GitHub' }).click();
  await page.getByRole('button', { name: 'Authorize', exact: true }).click();
  await expect(page.locator('.github-login')).toHaveText('octocat');
}

test('enable a push mirror, watch it become Active, pause, resume, sync now, remove', async ({ page }) => {
  await signUpAndConnect(page, 'henry');
  await control('/_double/repos', { owner: 'octocat', name: 'henry-mirror', private: false });
  await page.goto(base() + '/new');
  await page.getByLabel('Repository name').fill('site');
  await page.getByRole('button', { name: 'Create repository' }).click();
  await expect(page).toHaveURL(/\/henry\/site$/);
  await page.goto(base() + '/henry/site/settings');
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

  // Enabled: it syncs by itself and shows Active without a reload.
  await push.getByLabel('GitHub repository (push)').fill('https://github.com/octocat/henry-mirror');
  await push.getByRole('button', { name: 'Enable mirror' }).click();
  const mirror = push.locator('li.mirror', { hasText: 'octocat/henry-mirror' });
  await expect(mirror).toBeVisible();
  await expect(mirror.locator('.status')).toContainText('Active', { timeout: 15_000 });

  await mirror.getByRole('button', { name: 'Pause' }).click();
  await expect(mirror.locator('.status')).toHaveText('Paused');
  await mirror.getByRole('button', { name: 'Resume' }).click();
  await expect(mirror.locator('.status')).toContainText('Active');
  await mirror.getByRole('button', { name: 'Sync now' }).click();
  await expect(mirror.locator('.status')).toContainText('Active', { timeout: 15_000 });
  await expect(mirror.locator('details.runs')).toBeVisible();

  await mirror.getByRole('button', { name: 'Remove' }).click();
  await expect(push.locator('li.mirror')).toHaveCount(0);
});
