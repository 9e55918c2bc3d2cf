import base from './playwright.config';
import { defineConfig } from '@playwright/test';

// `make smoke`: the release binary as `make run` builds and starts it (GITBLIXT_BIN names it),
// through one user's whole path to a working push mirror; and `make demo`'s script. Same global set-up as the other tests.
export default defineConfig({ ...base, testMatch: /(smoke|demo)\.spec\.ts/ });
