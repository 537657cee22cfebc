// Browser tests of testing any build without moving the team's pin (issue 17 part 4), and of
// server-side field errors shown under their field in Chinese (part 5).
// browser.test.mjs calls anyBuildTests() near its end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { en, zhCN } from './dicts.mjs';
import { ADMIN, ADMIN_PASSWD, CRAT, JOB, USER, api, assertNoSideScroll, go, newPage, postBuild, shot, token, uiLogin, waitForRun } from './harness.mjs';

const fill = (s, vars) => Object.entries(vars).reduce((acc, [k, v]) => acc.replaceAll(`{${k}}`, String(v)), s);

export function anyBuildTests() {
  test('"Test this build" on an older build runs it and leaves the job’s selection as it was; Select asks first and can be undone', async () => {
    const older = await postBuild(JOB, 201, 'alice');
    const newer = await postBuild(JOB, 202, 'bob');
    const { context, page } = await newPage();
    try {
      await page.goto(`${CRAT}/#/builds?job=${encodeURIComponent(JOB)}`);
      await uiLogin(page, USER);
      const tok = await token(page);
      // The team's pin: build 202.
      const pinned = await api('PUT', '/job-versions', { job_name: JOB, build_id: newer.id, auto_sync: false }, tok);
      assert.equal(pinned.status, 200, JSON.stringify(pinned.body));
      await go(page, `#/builds?job=${encodeURIComponent(JOB)}&limit=50`);
      const row = (n) => page.locator('tr', { has: page.getByTestId('build-job').filter({ hasText: JOB }) }).filter({ hasText: `#${n}` });
      await row(201).getByTestId('test-this-build').waitFor();
      await assertNoSideScroll(page, 'builds with Test this build');

      // Test this build → the Tests page, that build chosen in the item's picker.
      await row(201).getByTestId('test-this-build').click();
      await page.waitForFunction((id) => window.location.hash === `#/tests?build=${id}`, older.id);
      await page.getByTestId('build-note').getByText(fill(en['tests.buildChosen'], { n: 201, job: JOB })).waitFor();
      const items = (await api('GET', '/test-items?limit=200', undefined, tok)).body.items;
      const cds = items.find((i) => i.name === 'cds');
      const card = page.locator(`[data-testid="test-item"][data-item-id="${cds.id}"]`);
      assert.equal(await card.getByTestId('build-picker').inputValue(), String(older.id), 'build 201 chosen');
      await shot(page, 'tests-build-chosen', { widths: [1280, 390] });

      // The finder looks a build up by number, of any age: #101 is chosen, then #201 again.
      await card.getByTestId('find-build-number').fill('999999');
      await card.getByTestId('find-build').click();
      await card.getByTestId('find-build-result').getByText(fill(en['tests.noSuchBuild'], { job: JOB, n: 999999 })).waitFor();
      const b101 = (await api('GET', `/builds?job_name=${encodeURIComponent(JOB)}&build_number=101`, undefined, tok)).body.items[0];
      await card.getByTestId('find-build-number').fill('#101');
      await card.getByTestId('find-build').click();
      await card.getByTestId('find-build-result').getByText(fill(en['tests.buildFound'], { n: 101, job: JOB })).waitFor();
      assert.equal(await card.getByTestId('build-picker').inputValue(), String(b101.id));
      await card.getByTestId('find-build-number').fill('201');
      await card.getByTestId('find-build').click();
      await card.getByTestId('find-build-result').getByText(fill(en['tests.buildFound'], { n: 201, job: JOB })).waitFor();
      assert.equal(await card.getByTestId('build-picker').inputValue(), String(older.id));

      await card.getByTestId('trigger').click();
      await page.waitForFunction(() => /^#\/runs\/\d+$/.test(window.location.hash));
      const runId = Number(page.url().match(/#\/runs\/(\d+)/)[1]);
      const run = await waitForRun(tok, runId, (r) => r.outcome, 'an outcome');
      assert.equal(run.build_info_id, older.id, 'the run tested build 201');
      assert.equal(run.build.build_number, 201);
      const after = await api('GET', `/job-versions/${encodeURIComponent(JOB)}`, undefined, tok);
      assert.equal(after.body.build_id, newer.id, 'the team’s pin did not move');

      // Select is a separate, confirmed action, and the notice offers to undo it.
      await go(page, `#/builds?job=${encodeURIComponent(JOB)}&limit=50`);
      await row(201).getByTestId('select-build').click();
      await row(201).getByTestId('select-build-cancel').click();
      assert.equal((await api('GET', `/job-versions/${encodeURIComponent(JOB)}`, undefined, tok)).body.build_id, newer.id, 'Cancel changes nothing');
      await row(201).getByTestId('select-build').click();
      await row(201).getByTestId('select-build-confirm').click();
      await page.getByTestId('select-notice').getByText(fill(en['builds.selectedNotice'], { job: JOB, n: 201, was: 202 })).waitFor();
      assert.equal((await api('GET', `/job-versions/${encodeURIComponent(JOB)}`, undefined, tok)).body.build_id, older.id);
      await page.getByTestId('undo-select').click();
      await page.getByTestId('select-notice').waitFor({ state: 'detached' });
      assert.equal((await api('GET', `/job-versions/${encodeURIComponent(JOB)}`, undefined, tok)).body.build_id, newer.id, 'undo put 202 back');
      await row(202).getByText(en['builds.selected'], { exact: true }).waitFor();
    } finally {
      await context.close();
    }
  });

  test('server-side field errors show under their field in Chinese: a wrong admin password, an over-long test item name', async () => {
    const { context, page } = await newPage({ locale: 'zh-CN' });
    try {
      await page.goto(`${CRAT}/#/login`);
      await page.evaluate(() => localStorage.setItem('crat.lang', 'zh-CN'));
      await page.reload();
      await page.getByTestId('login-email').fill(ADMIN);
      await page.getByTestId('login-admin').check();
      await page.getByTestId('login-password').fill(`${ADMIN_PASSWD}-wrong`);
      await page.getByTestId('login-submit').click();
      const under = page.getByTestId('field-error');
      await under.getByText(zhCN['error.wrong_password']).waitFor();
      const described = await page.getByTestId('login-password').getAttribute('aria-describedby');
      assert.ok(described?.split(' ').includes(await under.getAttribute('id')), `aria-describedby ${described}`);
      assert.equal(await page.getByTestId('login-password').getAttribute('aria-invalid'), 'true');
      const text = await page.locator('main').innerText();
      assert.ok(!text.includes(zhCN['error.unauthorized']) && !text.includes(zhCN['login.expired']), `no session wording: ${text}`);
      await shot(page, 'login-wrong-password-zh-CN', { widths: [1280, 390] });

      // Said once: under the field, not again in an error box above it.
      assert.equal(await page.getByText(zhCN['error.wrong_password']).count(), 1);
      // The right password logs in.
      await page.getByTestId('login-password').fill(ADMIN_PASSWD);
      await page.getByTestId('login-submit').click();
      await page.getByTestId('role').waitFor();

      await go(page, '#/admin/test-items');
      await page.getByTestId('new-item').click();
      await page.getByTestId('item-name-input').fill('x'.repeat(400));
      await page.getByTestId('item-job-input').fill(JOB);
      await page.getByTestId('item-save').click();
      const nameError = page.getByTestId('field-error').filter({ hasText: zhCN['error.invalid_field'] });
      await nameError.waitFor();
      assert.equal(await nameError.getAttribute('data-field-error'), 'name');
      const nameDescribed = await page.getByTestId('item-name-input').getAttribute('aria-describedby');
      assert.ok(nameDescribed?.split(' ').includes(await nameError.getAttribute('id')), `aria-describedby ${nameDescribed}`);
      await assertNoSideScroll(page, 'test item form with a field error');
      await shot(page, 'admin-item-field-error-zh-CN', { widths: [1280, 390] });
    } finally {
      await context.close();
    }
  });

  test('a session replaced by a login in another browser says so, and when', async () => {
    const a = await newPage();
    const b = await newPage();
    try {
      await a.page.goto(`${CRAT}/#/tests`);
      await uiLogin(a.page, 'replaced@example.com');
      await b.page.goto(`${CRAT}/#/tests`);
      await uiLogin(b.page, 'replaced@example.com');
      // The first browser's next request is refused: it lands on the login page, told why.
      // (The hash is set without waiting for it to stay: the refusal moves the page on.)
      await a.page.evaluate(() => { window.location.hash = '#/queue'; });
      await a.page.getByTestId('session-replaced').waitFor();
      const said = await a.page.getByTestId('session-replaced').innerText();
      assert.match(said, /another browser at .+/, said);
      assert.ok(!said.includes(en['login.expired']), said);
      // A reload after a login elsewhere says so too: A logs in again, B again, A reloads.
      await uiLogin(a.page, 'replaced@example.com');
      await b.page.evaluate(() => { window.location.hash = '#/builds'; });
      await b.page.getByTestId('session-replaced').waitFor();
      await uiLogin(b.page, 'replaced@example.com');
      await a.page.reload();
      await a.page.getByTestId('session-replaced').waitFor();
    } finally {
      await a.context.close();
      await b.context.close();
    }
  });
}
