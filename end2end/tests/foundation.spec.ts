import { expect, test, type Page } from '@playwright/test';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ready } from './support';

const base = () => process.env.GITBLIXT_URL!;

async function signUp(page: Page, name: string, password: string) {
  await page.goto(base() + '/signup');
  await ready(page);
  await page.getByLabel('Username').fill(name);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign up' }).click();
  await expect(page.getByRole('button', { name: 'Sign out' })).toBeVisible();
}

test('sign up, create a repository, see its clone URL; others cannot open its settings', async ({ browser }) => {
  const alice = await browser.newPage();
  await signUp(alice, 'alice', 'alice-password');
  await expect(alice.getByRole('heading', { name: 'Repositories', exact: true })).toBeVisible();

  await alice.getByRole('link', { name: 'New repository' }).first().click();
  await alice.getByLabel('Repository name').fill('demo');
  await alice.getByLabel('Description').fill('A demo repository');
  await alice.getByRole('button', { name: 'Create repository' }).click();
  await expect(alice).toHaveURL(/\/alice\/demo$/);
  await expect(alice.getByLabel('Clone URL', { exact: true })).toHaveValue(base() + '/alice/demo.git');
  const sshPort = process.env.GITBLIXT_SSH_ADDR!.split(':')[1];
  await expect(alice.getByLabel('SSH clone URL')).toHaveValue(`ssh://git@127.0.0.1:${sshPort}/alice/demo.git`);
  await expect(alice.getByText('This repository is empty')).toBeVisible();

  // Settings are there for the owner.
  await alice.getByRole('link', { name: 'Settings' }).click();
  await expect(alice.getByRole('heading', { name: /Settings/ })).toBeVisible();

  // A bad name gets a clear message and nothing is created.
  await alice.goto(base() + '/new');
  await ready(alice);
  await alice.getByLabel('Repository name').fill('bad name');
  await alice.getByRole('button', { name: 'Create repository' }).click();
  await expect(alice.getByRole('alert')).toContainText("Repository name may only contain letters, digits, '-', '_' and '.'.");

  // Sign out.
  await alice.getByRole('button', { name: 'Sign out' }).click();
  await expect(alice.getByRole('navigation').getByRole('link', { name: 'Sign in' })).toBeVisible();

  // A second user cannot open the first user's settings page.
  const bob = await browser.newPage();
  await signUp(bob, 'bob', 'bob-password');
  const response = await bob.goto(base() + '/alice/demo/settings');
  await ready(bob);
  expect(response?.status()).toBe(403);
  await expect(bob.getByRole('alert')).toContainText("You don't have permission to do that.");

  // And signs back in as alice with a wrong, then the right password.
  await alice.goto(base() + '/login');
  await ready(alice);
  await alice.getByLabel('Username').fill('alice');
  await alice.getByLabel('Password').fill('wrong-password');
  await alice.getByRole('button', { name: 'Sign in' }).click();
  await expect(alice.getByRole('alert')).toContainText('Incorrect username or password.');
  await alice.getByLabel('Password').fill('alice-password');
  await alice.getByRole('button', { name: 'Sign in' }).click();
  await expect(alice.getByRole('button', { name: 'Sign out' })).toBeVisible();
});

test('create a personal access token, shown once, then revoke it', async ({ page }) => {
  await signUp(page, 'carol', 'carol-password');
  // A settings page: the browser loads it (with the settings bundle); wait until it is interactive.
  await page.getByRole('link', { name: 'Access Tokens' }).click();
  await page.waitForURL('**/settings/tokens');
  await ready(page);
  await page.getByLabel('Token name').fill('laptop');
  await page.getByRole('checkbox', { name: /write_repository/ }).check();
  await page.getByRole('button', { name: 'Create token' }).click();
  const token = page.getByLabel('New token');
  await expect(token).toHaveValue(/^gbpat_[A-Za-z0-9]{40}$/);
  const row = page.getByRole('row', { name: /laptop/ });
  await expect(row).toContainText('write_repository');
  await row.getByRole('button', { name: 'Revoke' }).click();
  await expect(page.getByRole('row', { name: /laptop/ })).toContainText('Revoked');
});

test('Settings → Sessions: sign out another browser, change the password', async ({ browser }) => {
  const laptop = await browser.newPage();
  await signUp(laptop, 'sam', 'sam-password-1');
  const phone = await browser.newPage();
  await phone.goto(base() + '/login');
  await ready(phone);
  await phone.getByLabel('Username').fill('sam');
  await phone.getByLabel('Password').fill('sam-password-1');
  await phone.getByRole('button', { name: 'Sign in' }).click();
  await expect(phone.getByRole('button', { name: 'Sign out' })).toBeVisible();

  // The user's name in the header leads to the page.
  await laptop.getByRole('link', { name: 'sam', exact: true }).click();
  await expect(laptop).toHaveURL(/\/settings\/sessions$/);
  await ready(laptop);
  const rows = laptop.locator('table.sessions tbody tr');
  await expect(rows).toHaveCount(2);
  await expect(laptop.getByText('This session')).toBeVisible();
  await laptop.getByRole('button', { name: 'Sign out all other sessions' }).click();
  await expect(rows).toHaveCount(1);
  await phone.reload();
  await expect(phone.getByRole('navigation').getByRole('link', { name: 'Sign in' })).toBeVisible();

  // A wrong current password is refused; the right one changes it.
  await laptop.getByLabel('Current password').fill('not-my-password');
  await laptop.getByLabel('New password', { exact: true }).fill('sam-new-password');
  await laptop.getByLabel('Confirm new password').fill('sam-new-password');
  await laptop.getByRole('button', { name: 'Change password' }).click();
  await expect(laptop.getByRole('alert')).toContainText('The current password is not correct.');
  await laptop.getByLabel('Current password').fill('sam-password-1');
  await laptop.getByRole('button', { name: 'Change password' }).click();
  await expect(laptop.getByRole('status')).toContainText('Password changed.');

  await laptop.getByRole('button', { name: 'Sign out' }).click();
  await laptop.goto(base() + '/login');
  await ready(laptop);
  await laptop.getByLabel('Username').fill('sam');
  await laptop.getByLabel('Password').fill('sam-new-password');
  await laptop.getByRole('button', { name: 'Sign in' }).click();
  await expect(laptop.getByRole('button', { name: 'Sign out' })).toBeVisible();
});

test('Settings → SSH Keys: add a key, see its fingerprint, remove it', async ({ page }) => {
  const dir = mkdtempSync(join(tmpdir(), 'gitblixt-key-'));
  execFileSync('ssh-keygen', ['-t', 'ed25519', '-q', '-N', '', '-C', 'kim@laptop', '-f', join(dir, 'id')]);
  const publicKey = readFileSync(join(dir, 'id.pub'), 'utf8').trim();
  const fingerprint = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', join(dir, 'id.pub')], { encoding: 'utf8' }).split(' ')[1];

  await signUp(page, 'kim', 'kim-password-1');
  await page.goto(base() + '/settings/ssh-keys');
  await ready(page);
  await expect(page.getByText('No SSH keys yet.')).toBeVisible();
  // A bad key says why; a good one is listed with ssh-keygen's fingerprint and the comment as title.
  await page.getByLabel('Key', { exact: true }).fill('ssh-rsa AAAA');
  await page.getByRole('button', { name: 'Add key' }).click();
  await expect(page.getByRole('alert')).toContainText('not a valid OpenSSH public key');
  await page.getByLabel('Key', { exact: true }).fill(publicKey);
  await page.getByRole('button', { name: 'Add key' }).click();
  const row = page.locator('table.ssh-keys tbody tr');
  await expect(row).toHaveCount(1);
  await expect(row).toContainText('kim@laptop');
  await expect(row).toContainText(fingerprint);
  await expect(row).toContainText('Never');

  // The page shows the host key the server presents (pin it after comparing, as a user would),
  // and the key works: a clone over SSH, after which the key shows when it was last used.
  const [host, port] = process.env.GITBLIXT_SSH_ADDR!.split(':');
  const scanned = execFileSync('ssh-keyscan', ['-p', port, '-t', 'ed25519', host], { encoding: 'utf8' });
  const knownHosts = join(dir, 'known_hosts');
  writeFileSync(knownHosts, scanned);
  const hostFingerprint = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', knownHosts], { encoding: 'utf8' }).split(' ')[1];
  await expect(page.locator('#ssh-server')).toContainText(hostFingerprint);
  await expect(page.locator('#ssh-server')).toContainText(`ssh://git@127.0.0.1:${port}/kim/<repository>.git`);
  const ssh = `ssh -F /dev/null -i ${join(dir, 'id')} -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile=${knownHosts} -o StrictHostKeyChecking=yes`;
  const hello = spawnSync('sh', ['-c', `${ssh} -T -p ${port} git@${host}`], { encoding: 'utf8' });
  expect(hello.stderr).toContain("Hi kim! You've successfully authenticated, but GitBlixt does not provide shell access.");
  await page.reload();
  await ready(page);
  await expect(row).not.toContainText('Never');

  await row.getByRole('button', { name: 'Remove' }).click();
  await expect(page.getByText('No SSH keys yet.')).toBeVisible();
  const denied = spawnSync('sh', ['-c', `${ssh} -T -p ${port} git@${host}`], { encoding: 'utf8' });
  expect(denied.stderr).toContain('Permission denied (publickey)');
});
