// A person in headless Chromium signs in through gatehouse, uses the app,
// signs out, and meets every error page; each page is screenshotted into
// SCREENSHOT_DIR and checked with axe-core. Run by `cargo test --test
// browser` (tests/browser.rs), which starts gatehouse, Redis and the backend
// and passes their addresses in the environment. Exit 0 = every step passed.

import { createHash, X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (run this through cargo test --test browser)`);
  return value;
};
const BASE = env('GATEHOUSE_URL');
const NO_ROUTE = env('GATEHOUSE_NO_ROUTE_URL');
const STORE_DOWN = env('GATEHOUSE_STORE_DOWN_URL');
const USER = env('GATEHOUSE_USER');
const PASSWORD = env('GATEHOUSE_PASSWORD');
const APP = env('GATEHOUSE_APP_NAME');
const COOKIE = env('GATEHOUSE_COOKIE');
const SHOTS = env('SCREENSHOT_DIR');
const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

// Trust exactly the development certificate (by its public key), instead of
// ignoring every TLS error: a wrong certificate still fails the test.
const cert = new X509Certificate(readFileSync(env('GATEHOUSE_CERT')));
const spki = createHash('sha256')
  .update(cert.publicKey.export({ type: 'spki', format: 'der' }))
  .digest('base64');

function check(condition, message) {
  if (!condition) throw new Error(message);
}

let current = null; // the page a failing step is reported with
const a11y = []; // axe violations, reported together at the end
const started = Date.now();

async function step(name, body) {
  const t0 = Date.now();
  try {
    await body();
  } catch (error) {
    console.log(`not ok - ${name}\n  ${error.stack ?? error}`);
    if (current && !current.isClosed()) {
      console.log(`  page url: ${current.url()}`);
      const text = await current.evaluate(() => document.body?.innerText ?? '').catch(() => '?');
      console.log(`  page text: ${JSON.stringify(text.slice(0, 500))}`);
    }
    throw error;
  }
  console.log(`ok - ${name} (${Date.now() - t0} ms)`);
}

/// Clicks something that submits or navigates; returns the final response.
async function navigateBy(page, action) {
  const [response] = await Promise.all([page.waitForNavigation(), action()]);
  return response;
}

async function shoot(page, name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}

/// Runs axe-core on the page in the light and the dark colour scheme.
async function audit(page, name) {
  await page.addScriptTag({ path: AXE });
  for (const colorScheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme });
    const violations = await page.evaluate(async () => {
      const result = await globalThis.axe.run(document, {
        runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'] },
      });
      return result.violations.map((v) => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        nodes: v.nodes.map((n) => n.target.join(' ')),
      }));
    });
    for (const v of violations) a11y.push({ page: name, colorScheme, ...v });
  }
  await page.emulateMedia({ colorScheme: 'light' });
}

/// An error page the proxy drew itself: status, title, heading, a way out.
async function expectErrorPage(page, response, status) {
  check(response.status() === status, `status ${response.status()}, expected ${status}`);
  const title = await page.title();
  check(title.startsWith(`${status} `) && title.endsWith(` · ${APP}`), `title ${JSON.stringify(title)}`);
  const h1 = await page.getByRole('heading', { level: 1 }).innerText();
  check(h1.startsWith(String(status)), `heading ${JSON.stringify(h1)}`);
  check(await page.getByRole('link', { name: 'Go to the start page' }).isVisible(), 'no way back');
}

const profile = mkdtempSync(join(tmpdir(), 'gatehouse-chromium-'));
mkdirSync(SHOTS, { recursive: true });
const context = await chromium.launchPersistentContext(profile, {
  executablePath: env('CHROMIUM'),
  headless: true,
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    `--ignore-certificate-errors-spki-list=${spki}`,
  ],
  viewport: { width: 960, height: 640 },
  // The proxy's pages forbid every script (CSP default-src 'none'); only the
  // axe-core audit this test injects needs an exception.
  bypassCSP: true,
  locale: 'en-US',
  colorScheme: 'light',
});

let exitCode = 0;
try {
  const page = context.pages()[0] ?? (await context.newPage());
  current = page;
  const whoami = `${BASE}/whoami-page?x=1`;

  await step('a protected page sends a new visitor to the login form', async () => {
    const response = await page.goto(whoami);
    check(response.status() === 200, `status ${response.status()}`);
    const url = new URL(page.url());
    check(url.pathname === '/.gatehouse/login', `landed on ${page.url()}`);
    check(url.searchParams.get('rd') === '/whoami-page?x=1', `rd is ${url.searchParams.get('rd')}`);
    check((await page.title()) === `Sign in · ${APP}`, `title ${await page.title()}`);
    check((await page.getByRole('alert').count()) === 0, 'an alert on a fresh form');
  });

  await step('the login form is keyboard-usable in order', async () => {
    const focused = () => page.evaluate(() => document.activeElement?.id || document.activeElement?.tagName);
    check((await focused()) === 'username', `autofocus on ${await focused()}`);
    await shoot(page, 'login');
    await page.keyboard.press('Tab');
    check((await focused()) === 'password', `second stop ${await focused()}`);
    await page.keyboard.press('Tab');
    check((await focused()) === 'BUTTON', `third stop ${await focused()}`);
    await audit(page, 'login');
  });

  await step('a wrong password shows the error in the page', async () => {
    await page.getByLabel('Username').fill(USER);
    await page.getByLabel('Password').fill('not the password');
    await navigateBy(page, () => page.getByRole('button', { name: 'Sign in' }).click());
    const alert = page.getByRole('alert');
    check((await alert.innerText()).includes('Incorrect username or password.'), 'no error message');
    check((await page.getByLabel('Username').inputValue()) === USER, 'username not kept');
    check((await page.getByLabel('Password').inputValue()) === '', 'password kept');
    check((await context.cookies()).every((c) => c.name !== COOKIE), 'a session cookie after a failure');
    await shoot(page, 'login-error');
    await audit(page, 'login-error');
  });

  await step('signing in returns to the page asked for, query kept', async () => {
    await page.getByLabel('Password').fill(PASSWORD);
    await navigateBy(page, () => page.getByRole('button', { name: 'Sign in' }).click());
    check(page.url() === whoami, `arrived at ${page.url()}`);
    const h1 = await page.getByRole('heading', { level: 1 }).innerText();
    check(h1 === `Hello, ${USER}`, `backend says ${JSON.stringify(h1)}`);
  });

  await step('the session cookie is HttpOnly, Secure and SameSite=Lax', async () => {
    const visible = await page.evaluate(() => document.cookie);
    check(!visible.split(/;\s*/).some((c) => c.startsWith(`${COOKIE}=`)), `document.cookie: ${visible}`);
    const cookie = (await context.cookies()).find((c) => c.name === COOKIE);
    check(cookie, 'no session cookie in the browser');
    check(cookie.httpOnly && cookie.secure && cookie.sameSite === 'Lax', JSON.stringify(cookie));
    check(cookie.expires === -1, `not a browser-session cookie: ${cookie.expires}`);
  });

  await step('a reload keeps the session', async () => {
    await page.reload();
    check(page.url() === whoami, `reload went to ${page.url()}`);
    check((await page.locator('h1').innerText()) === `Hello, ${USER}`, 'signed out by a reload');
  });

  const second = await context.newPage();
  await step('a second tab shares the session', async () => {
    current = second;
    await second.goto(`${BASE}/whoami-page`);
    check(new URL(second.url()).pathname === '/whoami-page', `second tab at ${second.url()}`);
    check((await second.locator('h1').innerText()) === `Hello, ${USER}`, 'second tab not signed in');
    current = page;
  });

  await step('403: a route for a group the user is not in', async () => {
    const response = await page.goto(`${BASE}/admin`);
    await expectErrorPage(page, response, 403);
    await shoot(page, '403');
    await audit(page, '403');
  });

  await step('404: a host no route serves', async () => {
    const response = await page.goto(`${NO_ROUTE}/nothing-here`);
    await expectErrorPage(page, response, 404);
    await shoot(page, '404');
    await audit(page, '404');
  });

  await step('502: an application that refuses connections', async () => {
    const response = await page.goto(`${BASE}/down`);
    await expectErrorPage(page, response, 502);
    await shoot(page, '502');
    await audit(page, '502');
  });

  await step('504: an application that never answers', async () => {
    const t0 = Date.now();
    const response = await page.goto(`${BASE}/hang`);
    await expectErrorPage(page, response, 504);
    check(Date.now() - t0 < 10_000, `took ${Date.now() - t0} ms`);
    await shoot(page, '504');
    await audit(page, '504');
  });

  await step('signing out with a form ends the session and says so', async () => {
    await page.goto(whoami);
    // The backend's page has no sign-out button; add the form an app would.
    await page.evaluate(() => {
      const form = document.createElement('form');
      form.method = 'post';
      form.action = '/.gatehouse/logout';
      const button = document.createElement('button');
      button.type = 'submit';
      button.textContent = 'Sign out';
      form.append(button);
      document.body.append(form);
    });
    await navigateBy(page, () => page.getByRole('button', { name: 'Sign out' }).click());
    const url = new URL(page.url());
    check(url.pathname === '/.gatehouse/login' && url.search === '?signed_out=1', `landed on ${page.url()}`);
    const notice = await page.getByRole('status').innerText();
    check(notice.includes('You have signed out.'), `notice ${JSON.stringify(notice)}`);
    check((await page.getByRole('alert').count()) === 0, 'the notice is shown as an error');
    check((await context.cookies()).every((c) => c.name !== COOKIE), 'session cookie still there');
    await shoot(page, 'signed-out');
    await audit(page, 'signed-out');
  });

  await step('after signing out, protected pages ask for a login again', async () => {
    // The other tab first: each login form sets the browser's one CSRF
    // cookie, so only the form rendered last can be submitted.
    current = second;
    await second.reload();
    check(new URL(second.url()).pathname === '/.gatehouse/login', `second tab at ${second.url()}`);
    await second.close();
    current = page;
    await page.goto(whoami);
    check(new URL(page.url()).pathname === '/.gatehouse/login', `reached ${page.url()}`);
  });

  await step('429: too many failed sign-ins', async () => {
    let response;
    for (let attempt = 1; attempt <= 4; attempt++) {
      await page.getByLabel('Username').fill('mallory');
      await page.getByLabel('Password').fill(`guess ${attempt}`);
      response = await navigateBy(page, () => page.getByRole('button', { name: 'Sign in' }).click());
      if (response.status() === 429) break;
      check(response.status() === 200, `attempt ${attempt}: status ${response.status()}`);
    }
    await expectErrorPage(page, response, 429);
    check(Number(response.headers()['retry-after']) > 0, 'no Retry-After');
    await shoot(page, '429');
    await audit(page, '429');
  });

  await step('503: signing in while the session store is down', async () => {
    // Without a cookie the form needs no store; the sign-in itself does.
    await page.goto(`${STORE_DOWN}/whoami-page`);
    check(new URL(page.url()).pathname === '/.gatehouse/login', `reached ${page.url()}`);
    await page.getByLabel('Username').fill(USER);
    await page.getByLabel('Password').fill(PASSWORD);
    const response = await navigateBy(page, () => page.getByRole('button', { name: 'Sign in' }).click());
    await expectErrorPage(page, response, 503);
    check(Number(response.headers()['retry-after']) > 0, 'no Retry-After');
    await shoot(page, '503');
    await audit(page, '503');
  });

  await step('axe-core finds no accessibility violations', async () => {
    for (const v of a11y) {
      console.log(`  ${v.page} (${v.colorScheme}): ${v.impact} ${v.id}: ${v.help} at ${v.nodes.join(', ')}`);
    }
    check(a11y.length === 0, `${a11y.length} violations`);
  });
} catch {
  exitCode = 1;
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(`${exitCode === 0 ? 'all steps passed' : 'FAILED'} in ${Date.now() - started} ms`);
process.exit(exitCode);
