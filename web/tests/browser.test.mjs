// Browser tests: Debian Chromium via playwright-core against the real local server and the
// development peers. Started by web/scripts/browser-test.sh, which passes:
//   CRAT_URL, PKG_URL, TS_URL, ADMIN_PASSWD, CHROMIUM, ARTIFACTS
// The tests run in order and build on each other (the admin's test item is the one the
// user triggers). The harness (browser, pages, helpers) is in harness.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { en, zhCN } from './dicts.mjs';
import {
  ADMIN,
  ADMIN_PASSWD,
  ARTIFACTS,
  CRAT,
  JOB,
  PACKAGE_PATH,
  ORIGIN,
  PKG,
  TS,
  USER,
  api,
  assertNoSideScroll,
  axeCheck,
  axeStates,
  axeViolations,
  cspViolations,
  englishLeftovers,
  go,
  newPage,
  pageErrors,
  postBuild,
  requests,
  shot,
  testServerControl,
  token,
  uiLogin,
} from './harness.mjs';
import { queueTests } from './queue-tests.mjs';
import { resultsTests } from './results-tests.mjs';
import { channelsTests } from './channels-tests.mjs';
import { anyBuildTests } from './any-build-tests.mjs';

const XSS_JOB = '<img src=x onerror=alert(1)>';
const XSS_USER = '<script>alert("u")</script>';

let itemId;
let firstRunId;

test('an admin sets up the settings, a parameter set and a test item through the forms', async () => {
  const { context, page } = await newPage();
  await page.goto(`${CRAT}/`);
  await page.getByTestId('login-email').waitFor();
  // The password field appears only for admins.
  assert.equal(await page.getByTestId('login-password').isVisible(), false);
  await page.getByTestId('login-admin').check();
  assert.equal(await page.getByTestId('login-password').isVisible(), true);
  // A wrong password: said under the password field, nothing about sessions.
  await page.getByTestId('login-email').fill(ADMIN);
  await page.getByTestId('login-password').fill('wrong');
  await page.getByTestId('login-submit').click();
  await page.getByRole('alert').waitFor();
  const refusal = await page.getByRole('alert').innerText();
  assert.ok(refusal.startsWith(en['error.wrong_password']), refusal);
  assert.doesNotMatch(refusal, /session/i);
  await page.getByTestId('login-password').fill(ADMIN_PASSWD);
  await page.getByTestId('login-submit').click();
  await page.getByTestId('role').waitFor();
  assert.equal(await page.getByTestId('role').innerText(), en['role.admin']);

  // Settings: the form shows every key; a bad value is refused before sending.
  await go(page, '#/admin/settings');
  const settings = (await api('GET', '/settings', undefined, await page.evaluate(() => localStorage.getItem('crat.token')))).body;
  for (const key of Object.keys(settings)) assert.ok(await page.locator(`[data-setting="${key}"]`).count(), `settings form lacks ${key}`);
  await page.locator('#setting-poll_interval_seconds').fill('0');
  await page.getByTestId('settings-save').click();
  await page.locator('[data-setting="poll_interval_seconds"] .text-red-700').filter({ hasText: /\S/ }).waitFor();
  await shot(page, 'admin-settings-invalid');
  await page.locator('#setting-package_download_base_url').fill(`${PKG}/`);
  await page.locator('#setting-external_test_server_url').fill(TS);
  await page.locator('#setting-poll_interval_seconds').fill('5');
  await page.getByTestId('settings-save').click();
  await page.locator('#toast').filter({ hasText: /\(3/ }).waitFor();

  // Parameter set: invalid JSON is refused in the page, valid JSON is saved.
  await go(page, '#/admin/parameter-sets');
  await page.getByTestId('new-set').click();
  await page.getByTestId('set-name-input').fill('regression');
  await page.getByTestId('set-params').fill('{"install_dir": "/opt/cdn", ');
  assert.equal(await page.getByTestId('set-params').getAttribute('aria-invalid'), 'true');
  await page.getByTestId('set-save').click();
  await page.getByRole('alert').waitFor();
  await shot(page, 'admin-parameter-set-form-invalid');
  assert.equal((await api('GET', '/parameter-sets', undefined, await token(page))).body.items.length, 0);
  await page.getByTestId('set-params').fill('{"install_dir": "/opt/cdn", "upgrade_type": "full", "extra": [1, 2]}');
  assert.equal(await page.getByTestId('set-params').getAttribute('aria-invalid'), 'false');
  await page.getByTestId('set-save').click();
  await page.getByTestId('set-name').filter({ hasText: 'regression' }).waitFor();
  const sets = (await api('GET', '/parameter-sets', undefined, await token(page))).body.items;
  assert.equal(sets.length, 1);
  assert.deepEqual(sets[0].params, { install_dir: '/opt/cdn', upgrade_type: 'full', extra: [1, 2] });
  await page.getByRole('button', { name: en['sets.versionsAria'].replace('{name}', 'regression') }).click();
  await page.getByTestId('set-versions').locator('li').first().waitFor();

  // Test item through the form.
  await go(page, '#/admin/test-items');
  await page.getByTestId('new-item').click();
  await page.getByTestId('item-name-input').fill('cds');
  await page.getByTestId('item-job-input').fill(JOB);
  await page.getByTestId('item-set-select').selectOption({ label: 'regression (v1)' });
  await shot(page, 'admin-test-item-form');
  await page.getByTestId('item-save').click();
  await page.getByTestId('item-name').filter({ hasText: 'cds' }).waitFor();
  const items = (await api('GET', '/test-items', undefined, await token(page))).body.items;
  assert.equal(items.length, 1);
  assert.equal(items[0].job_name, JOB);
  assert.equal(items[0].parameter_set_id, sets[0].id);
  itemId = items[0].id;
  await context.close();
});


test('a user sees a new build, triggers it and watches the run complete without reloading', async () => {
  const build = await postBuild(JOB, 101);
  const { context, page } = await newPage();
  // Asking for a page first: login, then back to that page.
  await page.goto(`${CRAT}/#/builds`);
  await page.getByTestId('login-email').waitFor();
  assert.match(page.url(), /#\/login\?next=%2Fbuilds/);
  await uiLogin(page, USER);
  await page.waitForFunction(() => window.location.hash.startsWith('#/builds'));
  assert.equal(await page.getByTestId('role').innerText(), en['role.user']);

  const row = page.locator('tr', { has: page.getByTestId('build-job').filter({ hasText: JOB }) }).filter({ hasText: '#101' });
  await row.waitFor();
  assert.ok((await row.innerText()).includes(PACKAGE_PATH), 'package path shown');
  // Select asks first (it moves the team's pin), in the row.
  await row.getByTestId('select-build').click();
  await row.getByText(en['builds.selectQuestion'].replace('{n}', '101').replace('{job}', JOB)).waitFor();
  await row.getByTestId('select-build-confirm').click();
  await row.getByText(en['builds.selected'], { exact: true }).waitFor();
  const jv = await api('GET', `/job-versions/${encodeURIComponent(JOB)}`, undefined, await token(page));
  assert.equal(jv.body.build_id, build.id);

  await page.getByRole('link', { name: en['nav.tests'] }).click();
  const card = page.locator(`[data-testid="test-item"][data-item-id="${itemId}"]`);
  await card.getByTestId('item-selected-build').filter({ hasText: '#101' }).waitFor();
  await page.evaluate(() => {
    window.__crat_no_reload = true;
  });
  await card.getByTestId('trigger').click();
  await page.waitForFunction(() => /^#\/runs\/\d+$/.test(window.location.hash));
  firstRunId = Number(page.url().match(/#\/runs\/(\d+)/)[1]);

  // Record every status and external phase the page shows while it updates itself.
  await page.evaluate(() => {
    window.__seen = new Set();
    const note = () => {
      const s = document.querySelector('[data-testid="run-status"] [data-status]');
      if (s) window.__seen.add(`status:${s.getAttribute('data-status')}`);
      if (s) window.__seen.add(`badge:${s.textContent}`);
      const p = document.querySelector('[data-testid="monitor-phase"] code');
      if (p) window.__seen.add(`phase:${p.textContent}`);
      for (const li of document.querySelectorAll('[data-step]')) window.__seen.add(`${li.dataset.step}:${li.dataset.stepStatus}`);
    };
    note();
    new MutationObserver(note).observe(document.body, { subtree: true, childList: true, attributes: true });
  });
  await page.locator('[data-step="NOTIFY"][data-step-status="SUCCEEDED"]').waitFor({ timeout: 60_000 });
  // The report has failed and broken tests: the outcome is tests_failed, everywhere.
  const outcome = page.locator('[data-testid="run-status"] [data-status="COMPLETED"][data-outcome="tests_failed"]');
  await outcome.waitFor();
  assert.equal(await outcome.innerText(), en['outcome.tests_failed']);
  assert.equal(await page.evaluate(() => window.__crat_no_reload), true, 'the page was not reloaded');
  const seen = await page.evaluate(() => [...window.__seen]);
  assert.ok(seen.some((s) => /^status:(PENDING|DOWNLOADING|DOWNLOADED|TESTING|MONITORING)$/.test(s)), `saw a live status: ${seen}`);
  assert.ok(seen.some((s) => /^phase:\(running:(deploy|test)\)$/.test(s)), `saw the external phase: ${seen}`);
  for (const step of ['DOWNLOAD', 'TRIGGER', 'MONITOR', 'NOTIFY']) assert.ok(seen.includes(`${step}:SUCCEEDED`), `${step} succeeded`);
  // The badge's words followed what was happening (the test server's phase drives them).
  assert.ok(seen.includes(`badge:${en['live.deploying']}`) || seen.includes(`badge:${en['live.testing']}`), `saw Deploying or Testing: ${seen}`);
  assert.ok(!seen.includes(`badge:${en['outcome.passed']}`), `never shown as passed: ${seen}`);

  // Summary: the pie chart, the pass rate and the report link.
  const pie = page.getByTestId('summary-pie');
  await pie.waitFor();
  const box = await pie.boundingBox();
  assert.ok(box && box.width > 50 && box.height > 50, 'pie chart has a size');
  assert.match(await page.getByTestId('pass-rate').innerText(), /97\.0%/);
  const report = page.getByTestId('report-link');
  assert.ok((await report.getAttribute('href')).startsWith(`${TS}/reports/`));
  assert.equal(await report.getAttribute('rel'), 'noopener noreferrer');
  assert.match(await page.getByTestId('sha256').innerText(), /^[0-9a-f]{64}$/);
  // The parameter set by name and version, not only its id.
  assert.match(await page.getByTestId('run-parameter-set').innerText(), /^regression \(#\d+\), version \d+$/);

  await shot(page, 'run');
  // The status in the tab title; at 390 px the ended run's result comes before its timeline.
  assert.match(await page.title(), /^Tests failed · Run #\d+ · CRAT$/);
  // The trends table and the result mail say the same.
  await go(page, '#/trends');
  await page.locator(`a[href="#/runs/${firstRunId}"] + [data-outcome="tests_failed"]`).first().waitFor();
  const ops = await api('POST', '/auth/login', { email: 'ops@example.com', password: ADMIN_PASSWD });
  const mails = (await api('GET', '/outbox', undefined, ops.body.token)).body.items;
  assert.ok(mails.some((m) => /tests failed, 97\/100 passed$/.test(m.subject)), mails.map((m) => m.subject).join(' | '));
  await go(page, `#/runs/${firstRunId}`);
  await page.getByTestId('result-column').waitFor();
  await page.setViewportSize({ width: 390, height: 900 });
  const resultTop = (await page.getByTestId('result-column').boundingBox()).y;
  const stepsTop = (await page.getByTestId('live-note').boundingBox()).y;
  assert.ok(resultTop < stepsTop, `result (${resultTop}) above the timeline (${stepsTop})`);
  await page.setViewportSize({ width: 1280, height: 900 });

  // The execution history, for operators.
  await page.getByTestId('execution').locator('summary').click();
  await page.getByTestId('execution').getByText('ExecutionSucceeded', { exact: true }).waitFor();
  await shot(page, 'run-execution', { fullPage: false, scrollTo: page.getByTestId('execution') });

  // A run that does not exist: only the not-found message, no empty steps or sections.
  await go(page, '#/runs/999999');
  await page.getByRole('alert').waitFor();
  assert.equal(await page.getByTestId('live-note').count(), 0);
  assert.equal(await page.getByTestId('execution').count(), 0);
  await context.close();
});

test('re-run, the active-run banner and cancel', async () => {
  await testServerControl({ deploy_seconds: 60 });
  const { context, page } = await newPage();
  const questions = [];
  page.on('dialog', (d) => {
    questions.push(d.message());
    d.accept();
  });
  await page.goto(`${CRAT}/#/runs/${firstRunId}`);
  await uiLogin(page, USER);
  await page.getByTestId('rerun').click();
  await page.waitForFunction((id) => /^#\/runs\/\d+$/.test(window.location.hash) && window.location.hash !== `#/runs/${id}`, firstRunId);
  const rerunId = Number(page.url().match(/#\/runs\/(\d+)/)[1]);
  await page.getByTestId('cancel').waitFor();

  // While it runs, the tests page says so, and the same person's second trigger of that
  // build is refused (not queued twice).
  await go(page, '#/tests');
  const banner = page.getByTestId('active-run-banner');
  await banner.waitFor();
  assert.ok((await banner.innerText()).includes(`#${rerunId}`));
  assert.ok((await banner.innerText()).includes(USER));
  await page.getByTestId('trigger').first().click();
  await page.getByRole('alert').filter({ hasText: en['error.run_duplicate'] }).waitFor();
  await shot(page, 'tests-active-run');

  await banner.getByRole('link').click();
  // The test server has the run (it is deploying): cancelling warns it may go on there.
  await page.locator('[data-testid="run-status"] [data-status="MONITORING"]').waitFor();
  await page.getByTestId('cancel').click();
  await page.locator('[data-testid="run-status"] [data-status="CANCELLED"]').waitFor();
  await page.getByTestId('rerun').waitFor();
  assert.equal(questions.at(-1), en['run.cancelConfirmDeploying'].replace('{id}', String(rerunId)));
  assert.equal(await page.getByTestId('cancel').count(), 0);
  await testServerControl({ deploy_seconds: 1 });
  await context.close();
});

test('a report on an origin that is not in report_origins is shown as text with the reason', async () => {
  // The package server stands in for a report host on another origin than the test server.
  await testServerControl({ deploy_seconds: 0.2, report_base_url: `${PKG}/reports/` });
  const { context, page } = await newPage();
  await page.goto(`${CRAT}/#/runs/${firstRunId}`);
  await uiLogin(page, USER);
  await page.getByTestId('rerun').click();
  await page.waitForFunction((id) => /^#\/runs\/\d+$/.test(window.location.hash) && window.location.hash !== `#/runs/${id}`, firstRunId);
  const refused = page.getByTestId('report-refused');
  await refused.waitFor({ timeout: 30000 });
  const text = await refused.innerText();
  // Said once, in the page's language (not "not read: report not read: …").
  assert.equal(text, `The report was not read: its origin ${new URL(PKG).origin} is not in the report origins; an admin adds it in Settings.`);
  assert.ok((await page.locator('main').innerText()).includes(`${PKG}/reports/`), 'the link is kept, as text');
  assert.equal(await page.getByTestId('report-link').count(), 0, 'an unread report is not linked');
  await testServerControl({ deploy_seconds: 1, report_base_url: null });
  await context.close();
});

test('an admin adds a test environment, picks it for a test item, and is told which items block its deletion', async () => {
  const { context, page } = await newPage();
  page.on('dialog', (d) => d.accept());
  await page.goto(`${CRAT}/`);
  await uiLogin(page, ADMIN, ADMIN_PASSWD);
  await go(page, '#/admin/environments');
  await page.getByText(en['envs.none']).waitFor();
  await page.getByTestId('new-env').click();
  await page.getByTestId('env-name-input').fill('staging');
  // The server refuses a bad URL, naming the field.
  await page.getByTestId('env-server-input').fill('ftp://nowhere');
  await page.getByTestId('env-save').click();
  await page.getByRole('alert').filter({ hasText: 'external_test_server_url' }).waitFor();
  await shot(page, 'admin-environment-form-error');
  await page.getByTestId('env-server-input').fill(TS);
  await page.getByTestId('env-save').click();
  await page.getByTestId('env-name').filter({ hasText: 'staging' }).waitFor();
  const envs = (await api('GET', '/environments', undefined, await token(page))).body.items;
  assert.equal(envs.length, 1);
  assert.equal(envs[0].external_test_server_url, TS.replace(/\/$/, ''));

  // The test item form offers it; the list shows it.
  await go(page, '#/admin/test-items');
  await page.getByTestId('new-item').click();
  await page.getByTestId('item-name-input').fill('sds');
  await page.getByTestId('item-job-input').fill(JOB);
  await page.getByTestId('item-env-select').selectOption({ label: 'staging' });
  await page.getByTestId('item-save').click();
  await page.getByTestId('item-env').filter({ hasText: 'staging' }).waitFor();
  const sds = (await api('GET', '/test-items', undefined, await token(page))).body.items.find((i) => i.name === 'sds');
  assert.equal(sds.environment_id, envs[0].id);

  // Deleting it while the item uses it: the 409 names the item.
  await go(page, '#/admin/environments');
  await page.getByTestId('env-delete').click();
  await page.getByTestId('env-error').filter({ hasText: en['error.environment_in_use'] }).waitFor();
  assert.match(await page.getByTestId('env-error').innerText(), /sds \(CDN_CORE/);
  await shot(page, 'admin-environments-in-use');

  // Leave the data as the other tests expect it.
  assert.equal((await api('DELETE', `/test-items/${sds.id}`, undefined, await token(page))).status, 204);
  await page.getByTestId('env-delete').click();
  await page.getByText(en['envs.none']).waitFor();
  await context.close();
});

// The lanes' queue (a second person's trigger waits, then starts by itself): queue-tests.mjs.
queueTests();
resultsTests();

test('a user sees no admin controls (and can log in with the keyboard alone)', async () => {
  const { context, page } = await newPage();
  await page.goto(`${CRAT}/`);
  await page.getByTestId('login-email').waitFor();
  // Focus starts in the email field; Enter submits.
  await page.keyboard.type(USER);
  await page.keyboard.press('Enter');
  await page.getByTestId('role').waitFor();
  assert.equal(await page.getByRole('link', { name: en['nav.admin'] }).count(), 0);
  for (const hash of ['#/tests', '#/builds', '#/trends', `#/runs/${firstRunId}`]) {
    await go(page, hash);
    for (const id of ['new-set', 'new-item', 'new-env', 'settings-save', 'set-save', 'item-save']) {
      assert.equal(await page.getByTestId(id).count(), 0, `${hash} shows ${id}`);
    }
  }
  for (const hash of ['#/admin/parameter-sets', '#/admin/test-items', '#/admin/environments', '#/admin/settings', '#/admin/sessions', '#/admin/outbox', '#/admin/audit']) {
    await go(page, hash);
    await page.getByRole('heading', { name: en['forbidden.title'] }).waitFor();
    assert.equal(await page.locator('main form, main button, main table').count(), 0, `${hash} shows controls`);
  }
  await shot(page, 'user-admin-page');

  // A session ended elsewhere (an admin's forced logout): the next request sends the person
  // to the login page, and back to where they were after logging in.
  const ops = await api('POST', '/auth/login', { email: 'ops@example.com', password: ADMIN_PASSWD });
  assert.equal((await api('DELETE', `/auth/sessions/${encodeURIComponent(USER)}`, undefined, ops.body.token)).status, 204);
  await page.evaluate(() => {
    window.location.hash = '#/trends';
  });
  await page.getByTestId('login-email').waitFor();
  assert.match(page.url(), /#\/login\?next=%2Ftrends&expired=1$/);
  await page.getByText(en['login.expired']).waitFor();
  await uiLogin(page, USER);
  await page.waitForFunction(() => window.location.hash === '#/trends');

  // Logout ends the session: the token stops working.
  const tok = await token(page);
  await page.getByTestId('logout').click();
  await page.getByTestId('login-email').waitFor();
  assert.equal((await api('GET', '/auth/me', undefined, tok)).status, 401);
  await context.close();
});

test('a build whose JOB_NAME is HTML renders as text', async () => {
  await postBuild(XSS_JOB, 7, XSS_USER);
  const { context, page } = await newPage();
  const dialogs = [];
  page.on('dialog', async (d) => {
    dialogs.push(d.message());
    await d.dismiss();
  });
  await page.goto(`${CRAT}/`);
  await uiLogin(page, USER);
  await go(page, '#/builds');
  await page.getByTestId('build-job').filter({ hasText: XSS_JOB }).first().waitFor();
  assert.ok(await page.getByText(XSS_JOB, { exact: true }).first().isVisible());
  assert.ok(await page.getByText(XSS_USER, { exact: true }).first().isVisible());
  await go(page, `#/builds?job=${encodeURIComponent(XSS_JOB)}`);
  await page.getByTestId('build-job').filter({ hasText: XSS_JOB }).first().waitFor();
  await page.getByTestId('select-build').first().click();
  await page.getByTestId('select-build-confirm').first().click();
  await page.locator('#toast').filter({ hasText: XSS_JOB }).waitFor();
  await page.waitForTimeout(300);
  assert.equal(await page.locator('img[src="x"], main script').count(), 0, 'no element made from the data');
  assert.deepEqual(dialogs, [], 'no dialog fired');
  await shot(page, 'builds-xss');

  // Sync to the newest build and the auto-sync toggle.
  await postBuild(JOB, 102);
  await go(page, '#/builds?limit=10');
  const core = page.locator('tr', { has: page.getByRole('link', { name: JOB, exact: true }) });
  await core.getByTestId('sync-newest').click();
  await core.getByTestId('selected-build').filter({ hasText: '#102' }).waitFor();
  await core.getByTestId('auto-sync').check();
  await page.locator('#toast').filter({ hasText: en['builds.autoSyncOnToast'].replace('{job}', JOB) }).waitFor();
  const jv = await api('GET', `/job-versions/${encodeURIComponent(JOB)}`, undefined, await token(page));
  assert.equal(jv.body.build.build_number, 102);
  assert.equal(jv.body.auto_sync, true);
  assert.deepEqual(dialogs, []);

  // Filter by job and page through with the cursor.
  for (let n = 1; n <= 12; n += 1) await postBuild('team/PAGED', n);
  await go(page, `#/builds?job=${encodeURIComponent('team/PAGED')}&limit=10`);
  const rows = page.locator('tbody tr', { has: page.getByTestId('build-job') });
  await rows.first().waitFor();
  assert.equal(await rows.count(), 10);
  assert.match(await rows.first().innerText(), /#12/);
  // No total: the pager says whether more follow.
  assert.equal(await page.getByTestId('pager-where').innerText(), `${en['pager.page'].replace('{n}', '1')} · ${en['pager.more']}`);
  await page.getByRole('button', { name: en['pager.next'] }).click();
  await page.getByText(en['pager.page'].replace('{n}', '2')).waitFor();
  assert.equal(await page.getByTestId('pager-where').innerText(), `${en['pager.page'].replace('{n}', '2')} · ${en['pager.last']}`);
  assert.equal(await rows.count(), 2);
  assert.match(await rows.last().innerText(), /#1\b/);
  await page.getByRole('button', { name: en['pager.prev'] }).click();
  await page.getByText(en['pager.page'].replace('{n}', '1')).waitFor();
  assert.equal(await rows.count(), 10);
  await context.close();
});

test('the language toggle switches every visible label, and is remembered', async () => {
  const { context, page } = await newPage({ locale: 'en-US' });
  await page.goto(`${CRAT}/`);
  await page.getByTestId('login-email').waitFor();
  assert.equal(await page.getAttribute('html', 'lang'), 'en');
  await page.getByTestId('lang-toggle').click();
  assert.equal(await page.getAttribute('html', 'lang'), 'zh-CN');
  assert.equal(await page.getByTestId('login-submit').innerText(), zhCN['login.submit']);
  await page.getByTestId('login-admin').check();
  assert.deepEqual(await englishLeftovers(page), [], 'login page');
  await shot(page, 'login-zh-CN');
  await page.getByTestId('login-email').fill(ADMIN);
  await page.getByTestId('login-password').fill(ADMIN_PASSWD);
  await page.getByTestId('login-submit').click();
  await page.getByTestId('role').waitFor();

  const pages = [
    '#/tests',
    `#/tests?item=${itemId}`,
    '#/queue',
    '#/builds',
    `#/runs/${firstRunId}`,
    '#/trends',
    '#/admin/parameter-sets',
    '#/admin/test-items',
    '#/admin/environments',
    '#/admin/channels',
    '#/admin/settings',
    '#/admin/sessions',
    '#/admin/outbox',
    '#/admin/audit',
  ];
  for (const hash of pages) {
    await go(page, hash);
    if (hash.startsWith('#/runs/')) {
      await page.getByTestId('execution').locator('summary').click();
      await page.getByTestId('execution').locator('table').waitFor();
    }
    assert.deepEqual(await englishLeftovers(page), [], `English left on ${hash} in zh-CN`);
  }
  await go(page, `#/runs/${firstRunId}`);
  await shot(page, 'run-zh-CN');
  await go(page, '#/tests');
  await shot(page, 'tests-zh-CN');
  // Remembered across a reload, and the toggle switches back.
  await page.reload();
  await page.getByTestId('role').waitFor();
  assert.equal(await page.getAttribute('html', 'lang'), 'zh-CN');
  assert.equal(await page.getByTestId('role').innerText(), zhCN['role.admin']);
  await page.getByTestId('lang-toggle').click();
  assert.equal(await page.getByTestId('role').innerText(), en['role.admin']);
  await context.close();

  // A Chinese browser starts in Chinese.
  const zh = await newPage({ locale: 'zh-CN' });
  await zh.page.goto(`${CRAT}/`);
  await zh.page.getByTestId('login-email').waitFor();
  assert.equal(await zh.page.getAttribute('html', 'lang'), 'zh-CN');
  await zh.context.close();
});

for (const locale of ['en-US', 'zh-CN']) {
  // In both languages: axe-core checks every page state shot, at both widths.
  const suffix = locale === 'en-US' ? '' : '-zh';
  test(`screenshots of every page at 360 and 1280 px (${locale})`, async () => {
    const { context, page } = await newPage({ locale });
    await page.goto(`${CRAT}/`);
    await page.getByTestId('login-email').waitFor();
    await shot(page, `login${suffix}`);
    await uiLogin(page, ADMIN, ADMIN_PASSWD);
    const pages = {
      tests: '#/tests',
      'tests-history': `#/tests?item=${itemId}`,
      queue: '#/queue',
      builds: '#/builds',
      trends: '#/trends',
      'admin-parameter-sets': '#/admin/parameter-sets',
      'admin-test-items': '#/admin/test-items',
      'admin-environments': '#/admin/environments',
      'admin-channels-empty': '#/admin/channels',
      'admin-settings': '#/admin/settings',
      'admin-sessions': '#/admin/sessions',
      'admin-outbox': '#/admin/outbox',
      'admin-audit': '#/admin/audit',
    };
    for (const [name, hash] of Object.entries(pages)) {
      await go(page, hash);
      if (name === 'trends') await page.getByTestId('trend-chart').first().waitFor();
      if (name === 'admin-outbox') await page.getByTestId('outbox-subject').first().waitFor();
      if (name === 'admin-audit') await page.getByTestId('audit-action').first().waitFor();
      await shot(page, `${name}${suffix}`);
    }
    await context.close();
  });
}

test('the audit page lists who changed what and filters by person and record, in the URL', async () => {
  const { context, page } = await newPage();
  await page.goto(`${CRAT}/`);
  await page.getByTestId('login-email').waitFor();
  await uiLogin(page, ADMIN, ADMIN_PASSWD);
  // A change made now is the newest entry.
  const tok = await token(page);
  const name = `audit-${Date.now()}`;
  const made = await api('POST', '/parameter-sets', { name, params: { api_token: 'never-shown' } }, tok);
  assert.equal(made.status, 201);
  await go(page, '#/admin/audit');
  const first = page.locator('main tbody tr').first();
  await first.waitFor();
  assert.equal(await first.getByTestId('audit-action').innerText(), en['audit.action.parameter_set.create']);
  assert.match(await first.innerText(), new RegExp(en['audit.created'].replace('{name}', name)));
  assert.ok(!(await page.locator('main').innerText()).includes('never-shown'), 'a secret on the audit page');
  // Filter by person with the form: the URL keeps it, every row is theirs.
  await page.getByLabel(en['audit.filter.actor']).fill(USER);
  await page.getByRole('button', { name: en['audit.filter.apply'] }).click();
  await page.waitForFunction(() => window.location.hash.includes('actor=dev%40example.com'));
  // The filtered list replaces the whole one (wait for it, not for any row).
  await page.waitForFunction((user) => {
    const links = [...document.querySelectorAll('main tbody tr td:nth-child(2) a')];
    return links.length > 0 && links.every((a) => a.textContent === user);
  }, USER);
  const actors = await page.locator('main tbody tr td:nth-child(2) a').allInnerTexts();
  assert.ok(actors.length > 0 && actors.every((a) => a === USER), actors.join(', '));
  // "only this" on a record: only that record's entries.
  await go(page, '#/admin/audit');
  await page.locator('main tbody tr').first().waitFor();
  await page.getByRole('link', { name: en['audit.onlyTargetAria'].replace('{target}', `parameter-set/${made.body.id}`) }).click();
  await page.waitForFunction(() => window.location.hash.includes('target=parameter-set'));
  await page.getByText(en['audit.filter.clear']).waitFor();
  await page.waitForFunction(() => document.querySelectorAll('main tbody tr').length === 1);
  const targets = await page.locator('main tbody tr td:nth-child(4)').allInnerTexts();
  assert.ok(targets.length === 1 && targets[0].includes(`parameter-set/${made.body.id}`), targets.join(' | '));
  await page.setViewportSize({ width: 390, height: 800 });
  await assertNoSideScroll(page, 'audit at 390 px');
  await shot(page, 'admin-audit-filtered');
  await context.close();
});

test('Test connection beside the server URLs says what CRAT reached, and what not', async () => {
  const { context, page } = await newPage();
  await page.goto(`${CRAT}/#/admin/settings`);
  await uiLogin(page, ADMIN, ADMIN_PASSWD);
  await page.getByTestId('test-external_test_server_url').click();
  const result = page.getByTestId('test-external_test_server_url-result');
  await result.filter({ hasText: /^Reached / }).waitFor();
  // What the form holds now, unsaved: nothing listens on port 1.
  await page.locator('#setting-package_download_base_url').fill('http://127.0.0.1:1/');
  await page.getByTestId('test-package_download_base_url').click();
  await page.getByTestId('test-package_download_base_url-result').filter({ hasText: /^Not reached: / }).waitFor();
  const saved = (await api('GET', '/settings', undefined, await token(page))).body;
  assert.notEqual(saved.package_download_base_url, 'http://127.0.0.1:1/', 'testing saved nothing');
  await context.close();
});

test('the Outbox shows a mail with its chart in a sandboxed frame, and downloads its .eml', async () => {
  const { context, page } = await newPage();
  await page.goto(`${CRAT}/#/admin/outbox`);
  await uiLogin(page, ADMIN, ADMIN_PASSWD);
  await page.getByTestId('outbox-show').first().click();
  const frame = page.frameLocator('[data-testid="outbox-preview-frame"]');
  const chart = frame.locator('img[src^="data:image/png"]').first();
  await chart.waitFor();
  assert.ok(await chart.evaluate((img) => img.complete && img.naturalWidth > 50), 'the chart is drawn');
  assert.equal(await page.getByTestId('outbox-preview-frame').getAttribute('sandbox'), '');
  await shot(page, 'admin-outbox-preview', { fullPage: false, scrollTo: page.getByTestId('outbox-preview') });
  // The mails themselves, as a mail reader shows them: axe-core cannot run inside the frame
  // (sandboxed, no scripts), so each mail's HTML is checked as a page of its own.
  const admin = await token(page);
  const mails = (await api('GET', '/outbox?limit=5', undefined, admin)).body.items;
  assert.ok(mails.length > 0, 'the outbox has mails');
  const reader = await context.newPage();
  for (const m of mails) {
    const preview = (await api('GET', `/outbox/${encodeURIComponent(m.file)}/preview`, undefined, admin)).body;
    await reader.setContent(preview.html);
    for (const width of [1280, 360]) {
      await reader.setViewportSize({ width, height: 900 });
      await axeCheck(reader, `mail ${m.subject}`, width);
    }
  }
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('outbox-download').first().click()]);
  assert.match(download.suggestedFilename(), /\.eml$/);
  const path = await download.path();
  const { readFile } = await import('node:fs/promises');
  assert.match(await readFile(path, 'utf8'), /^(?:[\s\S]*\r?\n)?Subject: /m);
  await context.close();
});

// Notification channels (a webhook receiver of the test's own, the run page's chat list).
channelsTests(() => firstRunId);
anyBuildTests();

test('the site made no request to any other origin, and no page error', () => {
  assert.ok(requests.length > 20, `recorded ${requests.length} requests`);
  const foreign = requests.filter((u) => {
    if (u.startsWith('data:') || u.startsWith('blob:')) return false;
    return new URL(u).origin !== ORIGIN;
  });
  assert.deepEqual([...new Set(foreign)], []);
  assert.deepEqual(cspViolations, []);
  assert.deepEqual(pageErrors, []);
});

test('axe-core: no serious or critical accessibility violation on any page state checked', () => {
  const nodes = axeViolations.reduce((n, v) => n + v.nodes.length, 0);
  console.log(`axe-core: ${axeStates.length} page states checked, ${axeViolations.length} serious/critical violations (${nodes} elements)`);
  const langs = new Set(axeStates.map((s) => s.split(', ').at(-1)));
  const widths = new Set(axeStates.map((s) => s.match(/@ (\d+) px/)[1]));
  assert.ok(axeStates.length > 20, `axe checked only ${axeStates.length} page states`);
  assert.deepEqual([...langs].sort(), ['en', 'zh-CN'], 'both languages checked');
  assert.ok(widths.has('1280') && widths.has('360'), 'both widths checked');
  const report = axeViolations.map(
    (v) =>
      `${v.rule} (${v.impact}) on ${v.state} @ ${v.width} px, ${v.lang}: ${v.help}\n` +
      v.nodes.map((n) => `    ${n.target}  ${n.html}\n      ${n.summary.replace(/\n/g, '\n      ')}`).join('\n'),
  );
  writeFileSync(join(ARTIFACTS, 'axe-violations.json'), JSON.stringify(axeViolations, null, 2));
  assert.equal(axeViolations.length, 0, `axe-core violations (also in ${ARTIFACTS}/axe-violations.json):\n${report.join('\n')}`);
});
