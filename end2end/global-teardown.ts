// Stops the server and the GitHub double global-setup.ts started.
export default async function globalTeardown() {
  for (const pid of [Number(process.env.GITBLIXT_E2E_PID), Number(process.env.GITHUB_DOUBLE_PID)]) {
    if (!pid) continue;
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
}
