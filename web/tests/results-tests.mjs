// Browser tests of test-case results: two runs of one item where the second build breaks
// test_a, fixes test_b and keeps test_c failing; the run page's diff and status filter say
// exactly that, a row's history sparkline loads when expanded, "Re-run failed tests" sends
// the test server a plan of exactly the failures, and the item view lists the test that
// passed and failed for the same build as flaky. The test server double scripts the cases
// (its `cases` control: Allure 2 data/suites.json + data/test-cases/). Registered by
// browser.test.mjs; the item `shop` is its own (browser-test.sh publishes its package).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { en, zhCN } from './dicts.mjs';
import {
  ADMIN_PASSWD,
  CRAT,
  TS,
  USER,
  api,
  assertNoSideScroll,
  englishLeftovers,
  go,
  newPage,
  postBuild,
  shot,
  testServerControl,
  token,
  uiLogin,
  waitForRun,
} from './harness.mjs';

/** Its own job, so the other tests' builds of CDN_CORE stay the newest. */
const JOB = 'SHOP_CORE';
const SUITE = 'tests.test_shop';
const c = (name, status, message) => ({ name, status, suite: SUITE, ...(message ? { message } : {}) });
const full = (name) => `${SUITE}#${name}`;

/** 21 tests that always pass, so the table has two pages of 20. */
const STEADY = Array.from({ length: 21 }, (_, i) => c(`test_p${String(i + 1).padStart(2, '0')}`, 'passed'));
const STEADY_NAMES = STEADY.map((x) => x.name);
/** What each run's suite does (the double's `cases`). */
const FIRST = [...STEADY, c('test_a', 'passed'), c('test_b', 'failed', 'AssertionError: cart total 9 != 10'), c('test_c', 'broken', 'ConnectionError: db down'), c('test_d', 'passed')];
const SECOND = [...STEADY, c('test_a', 'failed', 'AssertionError: expected 200, got 500'), c('test_b', 'passed'), c('test_c', 'failed', 'AssertionError: stock -1'), c('test_d', 'passed')];
/** The re-run of SECOND's failures: test_a passes this time (flaky on build 802), test_c still fails. */
const RERUN = [c('test_a', 'passed'), c('test_b', 'passed'), c('test_c', 'failed', 'AssertionError: stock -1'), c('test_d', 'passed')];

async function texts(locator) {
  return (await locator.allInnerTexts()).map((s) => s.trim()).sort();
}

async function completedRun(tok, itemId, buildId) {
  const r = await api('POST', `/test-items/${itemId}/deploy-test`, { build_info_id: buildId }, tok);
  assert.equal(r.status, 202, JSON.stringify(r.body));
  return waitForRun(tok, r.body.id, (x) => x.status === 'COMPLETED' && x.notification && x.test_cases, 'completion with its test cases');
}

async function lastTaskBody() {
  const tasks = (await (await fetch(`${TS}/_tasks`)).json()).tasks;
  return tasks[tasks.length - 1].body;
}

export function resultsTests() {
  test('the run page says what broke, what was fixed and what still fails; re-run failed tests sends exactly those; the flaky test is listed', async () => {
    const admin = (await api('POST', '/auth/login', { email: 'ops@example.com', password: ADMIN_PASSWD })).body.token;
    const item = await api('POST', '/test-items', { name: 'shop', job_name: JOB }, admin);
    assert.equal(item.status, 201, JSON.stringify(item.body));
    const itemId = item.body.id;
    const [b0, b1, b2] = [await postBuild(JOB, 800), await postBuild(JOB, 801), await postBuild(JOB, 802)];
    // The person's session is the page's (a second login would end it).
    const { context, page } = await newPage();
    await page.goto(`${CRAT}/#/tests`);
    await uiLogin(page, USER);
    const user = await token(page);
    await testServerControl({ deploy_seconds: 1, test_seconds: 1, outcome: 'completed', summary_format: 'allure2', summary: null, statistic: null, cases: null });

    // A report without case files: the run keeps its counts, and its page says why.
    const bare = await completedRun(user, itemId, b0.id);
    assert.equal(bare.test_cases.stored, 0, JSON.stringify(bare.test_cases));
    await go(page, `#/runs/${bare.id}`);
    const reason = page.getByTestId('tests-reason');
    await reason.waitFor();
    assert.ok((await reason.innerText()).includes(bare.test_cases.reason), await reason.innerText());
    assert.equal(await page.getByTestId('rerun-failed').count(), 0, 'nothing stored to re-run');

    await testServerControl({ cases: FIRST });
    const first = await completedRun(user, itemId, b1.id);
    await testServerControl({ cases: SECOND });
    const second = await completedRun(user, itemId, b2.id);
    assert.equal(second.test_cases.stored, 25, JSON.stringify(second.test_cases));

    const asked = [];
    page.on('request', (r) => {
      if (/\/test-items\/\d+\/tests\/[^/]+\/history/.test(r.url())) asked.push(r.url());
    });
    await go(page, `#/runs/${second.id}`);
    const diff = page.getByTestId('test-diff');
    await diff.getByTestId('diff-with').waitFor();
    assert.equal(await diff.getByTestId('diff-with').getAttribute('href'), `#/runs/${first.id}`);
    const names = (kind) => texts(diff.getByTestId(`diff-${kind}`).getByTestId('diff-test-name'));
    assert.deepEqual(await names('new_failures'), ['test_a']);
    assert.deepEqual(await names('fixed'), ['test_b']);
    assert.deepEqual(await names('still_failing'), ['test_c']);
    for (const [kind, n] of [['new_failures', 1], ['fixed', 1], ['still_failing', 1], ['new_tests', 0], ['removed_tests', 0]]) {
      assert.equal(await diff.getByTestId(`diff-${kind}`).getAttribute('data-count'), String(n), kind);
    }
    assert.ok((await diff.getByTestId('diff-new_failures').innerText()).includes('AssertionError: expected 200, got 500'));

    // The table: every case on two pages (the API's cursor), then only the failed ones,
    // then only the passed ones.
    const rows = page.getByTestId('test-row');
    const results = page.getByTestId('run-results');
    await rows.nth(19).waitFor();
    assert.equal(await rows.count(), 20);
    const pageOne = await texts(rows.getByTestId('test-name'));
    await results.getByRole('button', { name: en['pager.next'] }).click();
    await results.getByText(en['pager.page'].replace('{n}', '2')).waitFor();
    assert.equal(await rows.count(), 5);
    const pageTwo = await texts(rows.getByTestId('test-name'));
    assert.deepEqual([...pageOne, ...pageTwo].sort(), ['test_a', 'test_b', 'test_c', 'test_d', ...STEADY_NAMES].sort());
    const filter = page.getByTestId('test-status-filter');
    await filter.selectOption('failed');
    await page.locator('[data-testid="test-row"][data-test-status="passed"]').first().waitFor({ state: 'detached' });
    assert.deepEqual(await texts(rows.getByTestId('test-name')), ['test_a', 'test_c']);

    // test_c's history: loaded only when its row is expanded (broken in the first run, failed now).
    assert.deepEqual(asked, [], 'no history request before a row is expanded');
    const rowC = page.locator('[data-testid="test-row"]', { has: page.getByTestId('test-name').filter({ hasText: /^test_c$/ }) });
    await rowC.getByTestId('test-history-toggle').click();
    const points = page.getByTestId('sparkline').locator('a');
    await points.nth(1).waitFor();
    assert.equal(asked.length, 1, 'one history request, for the expanded row');
    assert.deepEqual(await points.evaluateAll((as) => as.map((a) => a.dataset.status)), ['broken', 'failed']);
    assert.equal(await rowC.getByTestId('test-history-toggle').getAttribute('aria-expanded'), 'true');
    await shot(page, 'run-results-history', { widths: [1280, 390], fullPage: false, scrollTo: rowC });

    await filter.selectOption('passed');
    await page.locator('[data-testid="test-row"][data-test-status="failed"]').first().waitFor({ state: 'detached' });
    await rows.nth(19).waitFor();
    const passedOne = await texts(rows.getByTestId('test-name'));
    await results.getByRole('button', { name: en['pager.next'] }).click();
    await results.getByText(en['pager.page'].replace('{n}', '2')).waitFor();
    const passedTwo = await texts(rows.getByTestId('test-name'));
    assert.deepEqual([...passedOne, ...passedTwo].sort(), ['test_b', 'test_d', ...STEADY_NAMES].sort());
    await filter.selectOption('');
    await results.getByText(en['pager.page'].replace('{n}', '1')).waitFor();

    await page.setViewportSize({ width: 390, height: 900 });
    await page.waitForTimeout(150);
    await assertNoSideScroll(page, 'run page with test results at 390 px');
    await shot(page, 'run-results', { widths: [1280, 390] });

    // Re-run failed tests: confirmed, it starts a run whose trigger body plans exactly test_a and test_c.
    await testServerControl({ cases: RERUN });
    const dialogs = [];
    page.on('dialog', async (d) => {
      dialogs.push(d.message());
      await d.accept();
    });
    await page.evaluate(() => {
      window.__crat_no_reload = true;
    });
    await page.getByTestId('rerun-failed').click();
    await page.waitForFunction((id) => /^#\/runs\/\d+$/.test(window.location.hash) && window.location.hash !== `#/runs/${id}`, second.id);
    assert.deepEqual(dialogs, [en['run.rerunFailedConfirm'].replace('{id}', second.id).replace('{n}', '2')]);
    const rerunId = Number(page.url().match(/#\/runs\/(\d+)/)[1]);
    const rerun = await waitForRun(user, rerunId, (x) => x.status === 'COMPLETED' && x.notification && x.test_cases, 'the re-run');
    const body = await lastTaskBody();
    assert.equal(body.run_id, rerunId);
    assert.equal(body.testplan.version, '1.0');
    assert.deepEqual(body.testplan.tests.map((x) => x.selector).sort(), [full('test_a'), full('test_c')]);
    assert.equal(rerun.test_cases.stored, 2, 'the double ran only the planned tests');
    await page.getByTestId('test-plan').waitFor();
    const rerunDiff = page.getByTestId('test-diff');
    await rerunDiff.getByTestId('diff-with').waitFor();
    assert.deepEqual(await texts(rerunDiff.getByTestId('diff-fixed').getByTestId('diff-test-name')), ['test_a']);
    assert.equal(await rerunDiff.getByTestId('diff-removed_tests').getAttribute('data-count'), '0', 'tests it did not run are not removed');

    // The item view: test_a passed and failed for build 802, so it is flaky.
    await go(page, `#/tests?item=${itemId}&focus=no`);
    const flaky = page.getByTestId('flaky-list');
    await flaky.getByTestId('flaky-row').first().waitFor();
    assert.deepEqual(await texts(flaky.getByTestId('flaky-name')), ['test_a']);
    assert.ok((await flaky.innerText()).includes(en['flaky.reason.mixed']));
    await page.setViewportSize({ width: 390, height: 900 });
    await page.waitForTimeout(150);
    await assertNoSideScroll(page, 'item view with its flaky tests at 390 px');
    await shot(page, 'tests-flaky', { widths: [1280, 390], scrollTo: page.getByTestId('flaky-list') });
    await context.close();

    // In Chinese: the results on the run page have no English left.
    const zh = await newPage({ locale: 'zh-CN', width: 390 });
    await zh.page.goto(`${CRAT}/#/runs/${second.id}`);
    await uiLogin(zh.page, USER);
    await zh.page.getByTestId('test-diff').getByTestId('diff-with').waitFor();
    await zh.page.getByTestId('test-row').nth(19).waitFor();
    assert.equal(await zh.page.getByTestId('rerun-failed').innerText(), zhCN['run.rerunFailed']);
    assert.deepEqual(await englishLeftovers(zh.page), []);
    await assertNoSideScroll(zh.page, 'run page with test results at 390 px, zh-CN');
    await shot(zh.page, 'run-results-zh-CN', { widths: [390] });
    await zh.context.close();
    await testServerControl({ cases: null });
  });
}
