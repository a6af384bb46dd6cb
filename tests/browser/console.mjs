// The console in a real browser: Debian's chromium driven by playwright-core.
// Run by tests/tests/e2e/console.rs, which starts a real collector and real
// agents and passes what to look for in the environment:
//   ROLLCALL_URL, ROLLCALL_TOKEN (operator or admin), PACKAGE, HOST_NAME,
//   NEW_VERSION, OLD_VERSION, AS_OF (UTC, YYYY-MM-DDTHH:MM:SS, while
//   OLD_VERSION was installed), HOSTILE_HOST_ID, HOSTILE_NAME, HOSTILE_UNIT,
//   INCIDENT_ID (an open incident whose summary names HOSTILE_UNIT), SHOTS
//   (a directory for screenshots).
// Exits non-zero with a message on the first failed check; any console
// error, page error or dialog (an executed alert()) on any page fails it.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const base = env('ROLLCALL_URL');
const shots = env('SHOTS');
mkdirSync(shots, { recursive: true });

const problems = [];
const check = (ok, what) => {
  if (!ok) throw new Error(`check failed: ${what}`);
  console.log(`ok: ${what}`);
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
let step = 0;
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  // The machine running the suite is shared and loaded.
  page.setDefaultTimeout(90000);
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console error on ${page.url()}: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error on ${page.url()}: ${error.message}`));
  page.on('dialog', async (dialog) => {
    problems.push(`a dialog opened on ${page.url()} (script ran): ${dialog.message()}`);
    await dialog.dismiss();
  });
  const shot = async (name) => {
    step += 1;
    await page.screenshot({ path: `${shots}/${String(step).padStart(2, '0')}-${name}.png`, fullPage: true });
  };
  const text = async (selector) => (await page.textContent(selector)) ?? '';

  // Not logged in: every page sends us to the login form.
  await page.goto(`${base}/hosts`);
  check(new URL(page.url()).pathname === '/login', 'a page without a session redirects to /login');
  await shot('login');

  // A wrong token is refused.
  await page.fill('#token', 'rcapi_not_a_token');
  await page.click('#login');
  check((await text('.error')).includes('not valid'), 'a wrong token is refused');

  // Log in.
  await page.fill('#token', env('ROLLCALL_TOKEN'));
  await page.click('#login');
  check(new URL(page.url()).pathname === '/', 'login lands on the overview');
  check((await text('h1')) === 'Fleet overview', 'the overview is shown');
  const cookies = await context.cookies();
  const session = cookies.find((cookie) => cookie.name === 'rollcall_session');
  check(session && session.httpOnly && session.sameSite === 'Strict', 'the session cookie is HttpOnly and SameSite=Strict');
  check((await text('#new-hosts')).includes(env('HOST_NAME')), 'the overview lists the new hosts');
  await shot('overview');

  // Find a host by a package name.
  await page.click('header nav a[href="/hosts"]');
  await page.fill('#package', env('PACKAGE'));
  await page.click('#search');
  check((await page.locator('#hosts a', { hasText: env('HOST_NAME') }).count()) === 1,
    `the host list finds ${env('HOST_NAME')} by the package ${env('PACKAGE')}`);
  await shot('hosts-by-package');

  // The API's version filter in dpkg order: only the host still below the new version.
  await page.selectOption('#op', '<');
  await page.fill('#version', env('NEW_VERSION'));
  await page.click('#search');
  const older = await text('#hosts');
  check(older.includes(env('HOSTILE_NAME')) && !older.includes(env('HOST_NAME')),
    `package ${env('PACKAGE')} < ${env('NEW_VERSION')} lists only the host not upgraded`);
  await shot('hosts-by-version');
  await page.goto(`${base}/hosts?package=${encodeURIComponent(env('PACKAGE'))}`);

  // Its page: inventory and an availability chart.
  await page.locator('#hosts a', { hasText: env('HOST_NAME') }).click();
  check((await text('#hostname')) === env('HOST_NAME'), 'the host page opens');
  const software = await text('#section-software');
  check(software.includes(env('PACKAGE')) && software.includes(env('NEW_VERSION')),
    `the software section shows ${env('PACKAGE')} ${env('NEW_VERSION')}`);
  check((await page.locator('svg.availability').count()) === 1, 'an availability chart is drawn');
  check((await page.locator('#section-os').count()) === 1, 'the OS section is shown');
  check((await page.locator('h3.filesystem').count()) >= 1, 'each filesystem gets its own chart over a day');
  await shot('host');

  // An earlier date: the earlier version, and what changed since.
  await page.fill('#as_of', env('AS_OF'));
  await page.fill('#pkg', env('PACKAGE'));
  await page.click('#show');
  const earlier = await text('#section-software');
  check(earlier.includes(env('OLD_VERSION')) && !earlier.includes(env('NEW_VERSION')),
    `as of ${env('AS_OF')} the software section shows ${env('OLD_VERSION')}`);
  check((await text('main')).includes('Changed since then'), 'the changes since that moment are listed');
  await shot('host-as-of');

  // Health charts over a week.
  await page.click('#ranges a:has-text("week")');
  check((await text('main h2:has-text("Health")')).includes('week'), 'the health charts switch to a week');
  check((await page.locator('svg.line').count()) === 3, 'CPU, memory and filesystem charts are drawn');

  // The software catalogue and one package's versions.
  await page.click('header nav a[href="/software"]');
  await page.fill('#q', env('PACKAGE'));
  await page.click('#search');
  await page.click(`#software a:has-text("${env('PACKAGE')}")`);
  const versions = await text('#versions');
  check(versions.includes(env('NEW_VERSION')), 'the package page lists the installed versions');
  // Its rollout to the new version over 7 days: one host upgraded, one still older.
  await page.fill('#target', env('NEW_VERSION'));
  await page.selectOption('#days', '7');
  await page.click('#show-rollout');
  check((await page.locator('svg.rollout rect.at-or-above').count()) === 7 + 1, 'the rollout chart has a bar per day');
  check((await text('#remediated')) === '1' && (await text('#still-below')) === '1',
    `the rollout to ${env('NEW_VERSION')} shows the upgraded host remediated and the other still older`);
  await shot('package');

  // Business services and maintenance windows.
  await page.click('header nav a[href="/services"]');
  check((await text('h1')) === 'Business services', 'the services page opens');
  await page.click('header nav a[href="/maintenance"]');
  await page.selectOption('#scope', 'tag');
  await page.fill('#target', 'db');
  await page.fill('#starts', env('WINDOW_STARTS'));
  await page.fill('#ends', env('WINDOW_ENDS'));
  await page.fill('#reason', 'patching <i>db</i>');
  await page.click('#create-window');
  check((await text('#windows')).includes('patching <i>db</i>'), 'a maintenance window is created and its reason shown as text');
  await shot('maintenance');
  await page.click('#windows button.delete');
  check((await page.locator('#windows').count()) === 0, 'the window is deleted');

  // Hostile strings render as text.
  await page.goto(`${base}/hosts/${env('HOSTILE_HOST_ID')}`);
  check((await text('#hostname')) === env('HOSTILE_NAME'), 'a hostile host name is shown literally');
  check((await page.locator('main script').count()) === 0, 'no script element came from the host name');
  await shot('hostile-host');

  // Acknowledge an incident (its summary names a hostile unit).
  await page.click('header nav a[href="/incidents"]');
  const incident = page.locator(`a[href="/incidents/${env('INCIDENT_ID')}"]`);
  check((await incident.count()) === 1, 'the open incident is listed');
  check((await incident.textContent()).includes(env('HOSTILE_UNIT')), 'the hostile unit name is shown literally in the list');
  check((await page.locator('main img').count()) === 0, 'no img element came from the unit name');
  await incident.click();
  check((await text('h1')).includes(env('HOSTILE_UNIT')), 'the hostile unit name is shown literally on the incident');
  await page.click('#acknowledge');
  check((await text('#state')) === 'acknowledged', 'the incident is acknowledged');
  await page.fill('#body', 'looking into it <b>now</b>');
  await page.click('#comment');
  check((await text('.comment')).includes('looking into it <b>now</b>'), 'a comment is added and shown as text');
  await shot('incident-acknowledged');

  // Log out: the session is gone.
  await page.click('#logout');
  check(new URL(page.url()).pathname === '/login', 'logout shows the login form');
  await page.goto(`${base}/`);
  check(new URL(page.url()).pathname === '/login', 'after logout the overview needs a login again');
  await shot('logged-out');

  check(problems.length === 0, `no console errors, page errors or dialogs: ${JSON.stringify(problems)}`);
} catch (error) {
  console.error(error.message);
  if (problems.length) console.error(`also: ${JSON.stringify(problems)}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
