// Browser tests of the lanes' queue: a second person's trigger waits behind the active run,
// shows its place and estimate, appears in the Queue view and starts by itself; on a lane
// without history there is no estimate yet; a queued run is cancelled from the Queue view.
// Registered by browser.test.mjs at their place in its order (they use its test item).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { en, zhCN } from './dicts.mjs';
import {
  ADMIN,
  ADMIN_PASSWD,
  CRAT,
  JOB,
  TS,
  USER,
  api,
  assertNoSideScroll,
  englishLeftovers,
  go,
  newPage,
  pinTask,
  shot,
  testServerControl,
  token,
  uiLogin,
  waitForRun,
} from './harness.mjs';

/** A second person, who triggers while someone else's run is active. */
const QA = 'qa@example.com';

/** The id of the test item the first browser test made (`cds`, on the default lane). */
async function cdsItemId() {
  const admin = (await api('POST', '/auth/login', { email: 'ops@example.com', password: ADMIN_PASSWD })).body.token;
  return (await api('GET', '/test-items', undefined, admin)).body.items.find((i) => i.name === 'cds').id;
}

/** A progress bar as runProgress draws it: named, 0–99 %, the time left or "longer than usual". */
async function assertProgress(progress, where) {
  await progress.waitFor();
  // Read in one go: the live page redraws it at every poll.
  const seen = await progress.evaluate((box) => {
    const bar = box.querySelector('progress');
    return {
      percent: Number(box.dataset.percent),
      value: bar ? Number(bar.getAttribute('value')) : null,
      name: bar ? (document.getElementById(bar.getAttribute('aria-labelledby'))?.textContent ?? '') : '',
      text: box.innerText,
    };
  });
  assert.ok(seen.percent >= 0 && seen.percent <= 99 && seen.value === seen.percent, `${where}: ${JSON.stringify(seen)}`);
  const pattern = (key) => new RegExp(`^${en[key].replace(/[()]/g, '\\$&').replace('{d}', '.+').replace('{at}', '\\d\\d:\\d\\d')}$`);
  const named = [pattern('estimate.remaining'), pattern('estimate.overdueLeft')].some((p) => p.test(seen.name)) || seen.name === en['estimate.overdue'];
  assert.ok(named, `${where}: the bar is named by the time left: ${seen.name}`);
  assert.match(seen.text, /Estimate from completed runs: \d+/, where);
  assert.equal(await progress.getByRole('progressbar').count(), 1, `${where}: announced as a progress bar`);
}

export function queueTests() {
  test('a second trigger waits in the queue with its place and estimate, and starts by itself when the active run ends', async () => {
    // A's run holds the default lane: its task deploys for 10 minutes until the test pins it.
    const itemId = await cdsItemId();
    await testServerControl({ deploy_seconds: 600 });
    const a = await newPage();
    await a.page.goto(`${CRAT}/#/tests`);
    await uiLogin(a.page, USER);
    await a.page.locator(`[data-testid="test-item"][data-item-id="${itemId}"]`).getByTestId('trigger').click();
    await a.page.waitForFunction(() => /^#\/runs\/\d+$/.test(window.location.hash));
    const aRunId = Number(a.page.url().match(/#\/runs\/(\d+)/)[1]);
    const aRun = await waitForRun(await token(a.page), aRunId, (r) => r.task_id, 'the trigger step');
    // How long: the item has completed runs, so A's live run has a progress bar with the time
    // left (or "longer than usual" once its 10-minute deploy passes their median) and each
    // started step its usual time.
    await assertProgress(a.page.getByTestId('run-progress'), 'the run page');
    await a.page.locator('[data-step="DOWNLOAD"]').getByTestId('step-usual').waitFor();
    assert.match(await a.page.locator('[data-step="DOWNLOAD"]').getByTestId('step-usual').innerText(), /^usually \d+ s$|^usually \d+ min/);

    // B (another person) triggers the same item and build: not an error but "queued, position 1".
    const b = await newPage({ width: 390 });
    await b.page.goto(`${CRAT}/#/tests`);
    await uiLogin(b.page, QA);
    const cardB = b.page.locator(`[data-testid="test-item"][data-item-id="${itemId}"]`);
    await cardB.getByTestId('trigger').waitFor();
    await b.page.evaluate(() => {
      window.__crat_no_reload = true;
    });
    await cardB.getByTestId('trigger').click();
    await b.page.locator('#toast').filter({ hasText: en['queue.queuedToast'].replace('{n}', '1') }).waitFor();
    await b.page.waitForFunction(() => /^#\/runs\/\d+$/.test(window.location.hash));
    const bRunId = Number(b.page.url().match(/#\/runs\/(\d+)/)[1]);
    assert.equal(await b.page.getByRole('alert').count(), 0, 'a queued trigger is not an error');

    // Its run page: the place, the estimate (the default lane has completed runs), the lane.
    await b.page.locator('[data-testid="run-status"] [data-status="QUEUED"]').waitFor();
    await b.page.getByTestId('queued-position').filter({ hasText: en['queue.runQueued'].replace('{n}', '1') }).waitFor();
    assert.match(await b.page.getByTestId('queued-estimate').innerText(), /^Estimated start \d\d:\d\d$/);
    assert.equal(await b.page.getByTestId('queued-lane').innerText(), en['queue.runLane'].replace('{name}', en['queue.defaultLane']));
    const queue = (await api('GET', '/queue', undefined, await token(b.page))).body;
    const waiting = queue.lanes.find((l) => l.id === 'default').queued;
    assert.deepEqual(waiting.map((q) => [q.id, q.queue_position]), [[bRunId, 1]]);
    assert.ok(waiting[0].estimated_start_at, 'the API has an estimate too');
    assert.equal(await b.page.getByTestId('rerun').count(), 0, 'a waiting run offers no re-run');
    await b.page.getByTestId('cancel').waitFor();
    await assertNoSideScroll(b.page, 'queued run page at 390 px');
    await shot(b.page, 'run-queued');
    // Every status the page shows from now on, to see it start without a reload.
    await b.page.evaluate(() => {
      window.__seen = new Set();
      const note = () => {
        const s = document.querySelector('[data-testid="run-status"] [data-status]');
        if (s) window.__seen.add(s.getAttribute('data-status'));
      };
      new MutationObserver(note).observe(document.body, { subtree: true, childList: true, attributes: true });
    });

    // The Queue view (from the menu) lists both: A's active run with its live step, B's waiting run.
    await a.page.getByRole('link', { name: en['nav.queue'], exact: true }).click();
    const lane = a.page.locator('[data-testid="lane"][data-lane="default"]');
    await lane.getByTestId('lane-name').filter({ hasText: en['queue.defaultLane'] }).waitFor();
    const active = lane.getByTestId('lane-active');
    await active.filter({ hasText: `#${aRunId}` }).waitFor();
    await active.getByTestId('lane-step').filter({ hasText: en['stepName.MONITOR'] }).waitFor();
    await assertProgress(active.getByTestId('run-progress'), 'the Queue view');
    const activeText = await active.innerText();
    for (const want of [USER, `${JOB} #101`, 'cds', 'Running for']) assert.ok(activeText.includes(want), `active run shows ${want}: ${activeText}`);
    const bRow = lane.locator(`[data-testid="queued-run"][data-run-id="${bRunId}"]`);
    const bText = await bRow.innerText();
    for (const want of [en['queue.position'].replace('{n}', '1'), QA, `#${bRunId}`, 'Queued since']) assert.ok(bText.includes(want), `queued run shows ${want}: ${bText}`);
    assert.match(await bRow.getByTestId('queued-estimate').innerText(), /^Estimated start \d\d:\d\d$/);
    assert.equal(await bRow.getByTestId('queue-cancel').count(), 0, "A cannot cancel B's run");
    assert.equal(await active.getByTestId('queue-cancel').count(), 1, 'A can cancel its own run');
    await a.page.setViewportSize({ width: 390, height: 900 });
    await assertNoSideScroll(a.page, 'Queue view at 390 px');
    await a.page.setViewportSize({ width: 1280, height: 900 });
    await shot(a.page, 'queue-busy');

    // A's run ends: B's run starts by itself, and both pages follow without a reload.
    await testServerControl({ deploy_seconds: 1 });
    await pinTask(aRun.task_id, 'completed');
    await b.page.locator('[data-testid="run-status"] [data-status="COMPLETED"]').waitFor({ timeout: 60_000 });
    await b.page.locator('[data-step="NOTIFY"][data-step-status="SUCCEEDED"]').waitFor({ timeout: 30_000 });
    assert.equal(await b.page.getByTestId('queued-notice').count(), 0, 'the queued notice is gone');
    assert.equal(await b.page.evaluate(() => window.__crat_no_reload), true, 'the run page was not reloaded');
    const seen = await b.page.evaluate(() => [...window.__seen]);
    assert.ok(seen.some((s) => ['PENDING', 'DOWNLOADING', 'DOWNLOADED', 'TESTING', 'MONITORING'].includes(s)), `saw it running: ${seen}`);
    await a.page.getByTestId('queue-empty').filter({ hasText: en['queue.empty'] }).waitFor({ timeout: 30_000 });
    await lane.getByText(en['queue.noActive']).waitFor();
    const ended = (await api('GET', `/deploy-test-runs/${aRunId}`, undefined, await token(a.page))).body;
    assert.ok(Date.parse(ended.finished_at) <= Date.parse((await api('GET', `/deploy-test-runs/${bRunId}`, undefined, await token(b.page))).body.started_at), 'B started after A ended');
    await a.context.close();
    await b.context.close();
  });

  test('on an environment without history a queued run says there is no estimate yet, in Chinese, and is cancelled from the Queue view', async () => {
    const admin = (await api('POST', '/auth/login', { email: 'ops@example.com', password: ADMIN_PASSWD })).body.token;
    const env = await api('POST', '/environments', { name: 'night', external_test_server_url: TS }, admin);
    assert.equal(env.status, 201, JSON.stringify(env.body));
    const setId = (await api('GET', '/parameter-sets', undefined, admin)).body.items[0].id;
    // Its package is nightly-1.0.0.tar.gz (browser-test.sh puts it beside cds-1.0.0.tar.gz).
    const item = await api('POST', '/test-items', { name: 'nightly', job_name: JOB, parameter_set_id: setId, environment_id: env.body.id }, admin);
    assert.equal(item.status, 201, JSON.stringify(item.body));
    await testServerControl({ deploy_seconds: 600 });
    const userToken = (await api('POST', '/auth/login', { email: USER })).body.token;
    const first = await api('POST', `/test-items/${item.body.id}/deploy-test`, {}, userToken);
    assert.equal(first.body.status, 'PENDING', JSON.stringify(first.body));
    await waitForRun(userToken, first.body.id, (r) => r.task_id, 'the trigger step');

    const b = await newPage({ locale: 'zh-CN', width: 390 });
    const dialogs = [];
    b.page.on('dialog', async (d) => {
      dialogs.push(d.message());
      await d.accept();
    });
    await b.page.goto(`${CRAT}/#/tests`);
    await uiLogin(b.page, QA);
    await b.page.locator(`[data-testid="test-item"][data-item-id="${item.body.id}"]`).getByTestId('trigger').click();
    await b.page.locator('#toast').filter({ hasText: zhCN['queue.queuedToast'].replace('{n}', '1') }).waitFor();
    await b.page.waitForFunction(() => /^#\/runs\/\d+$/.test(window.location.hash));
    const runId = Number(b.page.url().match(/#\/runs\/(\d+)/)[1]);
    await b.page.getByTestId('queued-position').filter({ hasText: zhCN['queue.runQueued'].replace('{n}', '1') }).waitFor();
    assert.equal(await b.page.getByTestId('queued-estimate').innerText(), zhCN['queue.runNoEstimate']);
    assert.equal(await b.page.getByTestId('queued-lane').innerText(), zhCN['queue.runLane'].replace('{name}', 'night'));
    assert.deepEqual(await englishLeftovers(b.page), [], 'English left on the queued run page in zh-CN');
    await assertNoSideScroll(b.page, 'queued run page at 390 px, zh-CN');

    // The link goes to the Queue view: the new lane by name, the estimate "unknown".
    await b.page.getByTestId('queue-link').click();
    const lane = b.page.locator(`[data-testid="lane"][data-lane="${env.body.id}"]`);
    await lane.getByTestId('lane-name').filter({ hasText: 'night' }).waitFor();
    await b.page.locator('[data-testid="lane"][data-lane="default"]').getByText(zhCN['queue.noActive']).waitFor();
    const row = lane.locator(`[data-testid="queued-run"][data-run-id="${runId}"]`);
    assert.equal(await row.getByTestId('queued-estimate').innerText(), zhCN['queue.estimateUnknown']);
    assert.ok((await row.innerText()).includes(zhCN['queue.position'].replace('{n}', '1')));
    assert.equal(await lane.getByTestId('queue-cancel').count(), 1, 'only the own queued run has a Cancel');
    assert.deepEqual(await englishLeftovers(b.page), [], 'English left on the Queue view in zh-CN');
    await assertNoSideScroll(b.page, 'Queue view at 390 px, zh-CN');
    await shot(b.page, 'queue-zh-CN');
    // An admin may cancel every run of the lane, the active one too.
    const adm = await newPage();
    await adm.page.goto(`${CRAT}/#/queue`);
    await uiLogin(adm.page, ADMIN, ADMIN_PASSWD);
    const admLane = adm.page.locator(`[data-testid="lane"][data-lane="${env.body.id}"]`);
    await admLane.locator(`[data-testid="queued-run"][data-run-id="${runId}"]`).getByTestId('queue-cancel').waitFor();
    assert.equal(await admLane.getByTestId('lane-active').getByTestId('queue-cancel').count(), 1, 'the admin can cancel the active run');
    await adm.context.close();

    // Cancel, confirmed: it leaves the queue without ever starting.
    await row.getByTestId('queue-cancel').click();
    await b.page.locator('#toast').filter({ hasText: zhCN['queue.cancelled'].replace('{id}', runId) }).waitFor();
    await row.waitFor({ state: 'detached' });
    await lane.getByText(zhCN['queue.nobodyWaiting']).waitFor();
    assert.deepEqual(dialogs, [zhCN['queue.cancelQueuedConfirm'].replace('{id}', runId)]);
    const cancelled = (await api('GET', `/deploy-test-runs/${runId}`, undefined, userToken)).body;
    assert.equal(cancelled.status, 'CANCELLED');
    assert.equal(cancelled.task_id ?? null, null, 'it never reached the test server');

    // Leave the data as the other tests expect it.
    assert.equal((await api('POST', `/deploy-test-runs/${first.body.id}/cancel`, undefined, userToken)).status, 200);
    await testServerControl({ deploy_seconds: 1 });
    assert.equal((await api('DELETE', `/test-items/${item.body.id}`, undefined, admin)).status, 204);
    assert.equal((await api('DELETE', `/environments/${env.body.id}`, undefined, admin)).status, 204);
    await b.context.close();
  });

  test('while the test server answers no poll, the run page, the Tests page and the Queue view say since when and until when CRAT retries', async () => {
    const itemId = await cdsItemId();
    await testServerControl({ deploy_seconds: 600, poll_fault: '500' });
    const { context, page } = await newPage();
    await page.goto(`${CRAT}/#/tests`);
    await uiLogin(page, USER);
    const tok = await token(page);
    const started = await api('POST', `/test-items/${itemId}/deploy-test`, {}, tok);
    assert.equal(started.status, 202, JSON.stringify(started.body));
    const id = started.body.id;
    const failing = await waitForRun(tok, id, (r) => r.task_id && r.steps[2].details.failed_polls >= 1, 'a failed poll');
    const d = failing.steps[2].details;
    assert.ok(d.unreachable_since && d.unreachable_until, JSON.stringify(d));
    const UNTIL = /\(failed polls in a row: \d+\); retrying until .*\d\d:\d\d/;

    // The run page: the banner with since, the count, until when, and the last error.
    await go(page, `#/runs/${id}`);
    const banner = page.getByTestId('unreachable-banner');
    await banner.waitFor();
    const text = await banner.innerText();
    assert.ok(text.startsWith('Test server unreachable since '), text);
    assert.match(text, UNTIL);
    assert.ok(text.includes(d.last_error.slice(0, 20)), `the last error: ${text}`);
    await shot(page, 'run-unreachable', { widths: [1280] });

    // The item's card on the Tests page and the lane in the Queue view say it too.
    await go(page, '#/tests');
    const card = page.locator(`[data-testid="test-item"][data-item-id="${itemId}"]`);
    await card.getByTestId('unreachable-banner').waitFor();
    assert.match(await card.getByTestId('unreachable-banner').innerText(), UNTIL);
    await go(page, '#/queue');
    const active = page.locator('[data-testid="lane"][data-lane="default"]').getByTestId('lane-active');
    await active.getByTestId('unreachable-banner').waitFor();
    assert.match(await active.getByTestId('unreachable-banner').innerText(), UNTIL);

    // The test server answers again: the banner goes by itself (no reload), the run goes on.
    await go(page, `#/runs/${id}`);
    await banner.waitFor();
    await testServerControl({ poll_fault: null, deploy_seconds: 1 });
    await banner.waitFor({ state: 'detached', timeout: 60_000 });
    await pinTask(failing.task_id, 'completed');
    await waitForRun(tok, id, (r) => r.status === 'COMPLETED' && r.notification, 'completion');

    // Stopped for good: after max_unreachable_seconds (its least, 60 s: the time scale
    // shortens waits, not this wall-clock limit) the run ends as an error at MONITOR instead
    // of holding the lane for the whole monitor time (3 h).
    const admin = (await api('POST', '/auth/login', { email: 'ops@example.com', password: ADMIN_PASSWD })).body.token;
    const before = (await api('GET', '/settings', undefined, admin)).body;
    assert.equal((await api('PUT', '/settings', { max_unreachable_seconds: 60 }, admin)).status, 200);
    await testServerControl({ deploy_seconds: 600, poll_fault: 'refuse' });
    let gone;
    try {
      gone = await api('POST', `/test-items/${itemId}/deploy-test`, {}, tok);
      assert.equal(gone.status, 202, JSON.stringify(gone.body));
      await go(page, `#/runs/${gone.body.id}`);
      await banner.waitFor();
      const ended = await waitForRun(tok, gone.body.id, (r) => r.outcome, 'the unreachable run ending', 100);
      assert.equal(ended.outcome, 'error', JSON.stringify(ended));
      const monitor = ended.steps.find((s) => s.name === 'MONITOR');
      assert.equal(monitor.status, 'FAILED', JSON.stringify(monitor));
      assert.match(ended.error_message, /max_unreachable_seconds/, ended.error_message);
      await page.locator('[data-testid="run-status"] [data-outcome="error"]').waitFor();
      const lane = (await api('GET', '/queue', undefined, tok)).body.lanes.find((l) => l.id === 'default');
      assert.equal(lane.active_run, null, 'the lane is free');
    } finally {
      // A run still live here would hold the lane for every later test.
      if (gone?.body?.id) await api('POST', `/deploy-test-runs/${gone.body.id}/cancel`, {}, admin);
      await testServerControl({ poll_fault: null, deploy_seconds: 1 });
      await api('PUT', '/settings', { max_unreachable_seconds: before.max_unreachable_seconds }, admin);
    }
    await context.close();
  });
}
