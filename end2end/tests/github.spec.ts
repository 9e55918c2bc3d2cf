import { expect, test } from '@playwright/test';
import { ready } from './support';

const base = () => process.env.GITBLIXT_URL!;

test('connect GitHub through the consent page, see the login, disconnect', async ({ page }) => {
  await page.goto(base() + '/signup');
  await ready(page);
  await page.getByLabel('Username').fill('gina');
  await page.getByLabel('Password').fill('gina-password');
  await page.getByRole('button', { name: 'Sign up' }).click();
  await expect(page.getByRole('button', { name: 'Sign out' })).toBeVisible();

  await page.getByRole('link', { name: 'Connected Accounts' }).click();
  await expect(page.getByRole('heading', { name: 'Connected Accounts' })).toBeVisible();
  await expect(page.getByText('No GitHub account is connected.')).toBeVisible();
  await page.getByRole('button', { name: 'Connect GitHub' }).click();

  // GitHub's (the double's) consent page.
  await expect(page).toHaveURL(new RegExp('^' + process.env.GITHUB_DOUBLE_URL + '/login/oauth/authorize'));
  await page.getByRole('button', { name: 'Authorize', exact: true }).click();

  // Back at GitBlixt, connected.
  await expect(page).toHaveURL(/\/settings\/connected-accounts\?connected=github$/);
  await expect(page.getByRole('status')).toHaveText('Your GitHub account is connected.');
  await expect(page.locator('.github-login')).toHaveText('octocat');
  await expect(page.getByText('Scopes: repo')).toBeVisible();

  await page.getByRole('button', { name: 'Disconnect' }).click();
  await expect(page.getByText('No GitHub account is connected.')).toBeVisible();

  // Cancelling at GitHub connects nothing and says so.
  await page.getByRole('button', { name: 'Connect GitHub' }).click();
  await page.getByRole('button', { name: 'Cancel' }).click();
  await expect(page.getByRole('alert')).toHaveText('You did not authorize GitBlixt on GitHub, so no account was connected.');
  await expect(page.getByText('No GitHub account is connected.')).toBeVisible();

  // GitHub failing when GitBlixt revokes the token: disconnected anyway, and told to revoke it there.
  await page.getByRole('button', { name: 'Connect GitHub' }).click();
  await page.getByRole('button', { name: 'Authorize', exact: true }).click();
  await expect(page.locator('.github-login')).toHaveText('octocat');
  await ready(page);
  await setFault({ status: 502 });
  try {
    await page.getByRole('button', { name: 'Disconnect' }).click();
    await expect(page.getByRole('alert')).toHaveText(
      "Disconnected. GitHub could not be reached to revoke GitBlixt's access; revoke it yourself at " +
        process.env.GITHUB_DOUBLE_URL + '/settings/applications.',
    );
    await expect(page.getByText('No GitHub account is connected.')).toBeVisible();
  } finally {
    await setFault({});
  }
});

async function setFault(fault: { status?: number }) {
  const r = await fetch(process.env.GITHUB_DOUBLE_URL + '/_double/fault', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(fault),
  });
  expect(r.status).toBe(204);
}
