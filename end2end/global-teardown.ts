// Stops the server global-setup.ts started.
export default async function globalTeardown() {
  const pid = Number(process.env.GITBLIXT_E2E_PID);
  if (pid) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
}
