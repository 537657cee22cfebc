// Browser tests of the notification channels (issue 15): the admin page against a webhook
// receiver started here (127.0.0.1, port 0), and the run page's chat notifications.
// browser.test.mjs calls channelsTests() near its end, with the first run's id.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { en } from './dicts.mjs';
import { ADMIN, ADMIN_PASSWD, CRAT, USER, api, assertNoSideScroll, englishLeftovers, go, newPage, shot, token, uiLogin, waitForRun } from './harness.mjs';

/** A webhook receiver: answers 200 to every POST and keeps what it got. */
async function receiver() {
  const got = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'POST') got.push({ path: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(req.method === 'POST' ? 200 : 405, { 'Content-Type': 'application/json' });
      res.end('{"ok":true}');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { got, url: `http://127.0.0.1:${server.address().port}/hook`, close: () => new Promise((resolve) => server.close(resolve)) };
}

const channelRow = (page, name) => page.locator('tr', { has: page.getByTestId('channel-name').getByText(name, { exact: true }) });

async function until(what, ok) {
  for (let i = 0; i < 100; i += 1) {
    if (ok()) return;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`${what} did not happen within 10 s`);
}

export function channelsTests(firstRunId) {
  test('an admin adds a signed webhook channel and a Slack one: the secret never shows, Send test reaches the webhook', async () => {
    const hook = await receiver();
    const secret = `s3cret-${Date.now()}`;
    const { context, page } = await newPage();
    page.on('dialog', (d) => d.accept());
    try {
      await page.goto(`${CRAT}/#/admin/parameter-sets`);
      await uiLogin(page, ADMIN, ADMIN_PASSWD);
      // The admin menu leads there.
      await page.getByRole('navigation', { name: en['nav.adminMenu'] }).getByRole('link', { name: en['nav.channels'] }).click();
      await page.waitForFunction(() => window.location.hash === '#/admin/channels');
      await page.getByText(en['channels.none']).waitFor();

      // A webhook with a secret, for the test item cds only.
      await page.getByTestId('new-channel').click();
      await page.getByTestId('channel-name-input').fill('team hook');
      await page.getByTestId('channel-kind-select').selectOption('webhook');
      assert.equal(await page.getByTestId('channel-secret-field').isVisible(), true, 'a webhook signs: the secret field shows');
      assert.equal(await page.getByTestId('channel-url-input').getAttribute('aria-describedby') !== null, true);
      assert.match(await page.getByText(en['channels.urlHint.webhook']).innerText(), /X-CRAT-Signature/);
      // The server refuses a URL that is not http(s), naming the field.
      await page.getByTestId('channel-url-input').fill('ftp://nowhere');
      await page.getByTestId('channel-save').click();
      await page.getByTestId('channel-form').getByRole('alert').filter({ hasText: 'url' }).waitFor();
      await page.getByTestId('channel-url-input').fill(hook.url);
      await page.getByTestId('channel-secret-input').fill(secret);
      await page.getByTestId('channel-items-input').getByLabel('cds', { exact: true }).check();
      await page.getByTestId('channel-save').click();
      const row = channelRow(page, 'team hook');
      await row.waitFor();
      assert.equal(await row.getByTestId('channel-kind').innerText(), en['channels.kind.webhook']);
      assert.equal(await row.getByTestId('channel-items').innerText(), 'cds');
      assert.equal(await row.getByTestId('channel-secret').innerText(), en['channels.secretSet']);
      assert.ok(!(await page.content()).includes(secret), 'the secret is in the page');
      const tok = await token(page);
      const listed = await api('GET', '/notification-channels', undefined, tok);
      assert.equal(listed.status, 200);
      assert.ok(!JSON.stringify(listed.body).includes(secret), 'the API answered the secret');
      const made = listed.body.find((c) => c.name === 'team hook');
      assert.equal(made.secret_set, true);
      assert.equal(made.kind, 'webhook');

      // Send test: delivered, in the live region beside the button; one POST, signed.
      await row.getByRole('button', { name: en['channels.testAria'].replace('{name}', 'team hook') }).click();
      const answer = row.getByTestId('channel-test-result');
      await answer.filter({ hasText: /^Delivered: / }).waitFor();
      assert.equal(await answer.getAttribute('role'), 'status');
      assert.equal(hook.got.length, 1, `the receiver got ${hook.got.length} POSTs`);
      assert.ok(hook.got[0].headers['x-crat-signature'], `no x-crat-signature: ${JSON.stringify(hook.got[0].headers)}`);
      assert.ok(!hook.got[0].body.includes(secret), 'the secret went in the body');

      // Edit, keeping the secret: the form says it is set and never fills it in.
      await row.getByTestId('channel-edit').click();
      assert.equal(await page.getByTestId('channel-secret-input').inputValue(), '');
      await page.getByText(en['channels.secretKeepHint']).waitFor();
      assert.equal(await page.getByTestId('channel-secret-clear').isChecked(), false);
      await page.getByTestId('channel-name-input').fill('team chat');
      await page.getByTestId('channel-rule-select').selectOption('failure');
      await page.getByTestId('channel-save').click();
      const edited = channelRow(page, 'team chat');
      await edited.waitFor();
      assert.equal(await edited.getByTestId('channel-secret').innerText(), en['channels.secretSet']);
      assert.ok((await edited.innerText()).includes(en['channels.rule.failure']));
      const kept = (await api('GET', `/notification-channels/${made.id}`, undefined, tok)).body;
      assert.equal(kept.secret_set, true, 'the secret was kept');
      assert.equal(kept.rule, 'failure');
      // Still signed: the kept secret is used.
      await edited.getByTestId('channel-test').click();
      await until('the second test message', () => hook.got.length === 2);
      assert.ok(hook.got[1].headers['x-crat-signature'], 'the second message is signed');

      // Slack signs nothing: no secret field.
      await page.getByTestId('new-channel').click();
      await page.getByTestId('channel-kind-select').selectOption('slack');
      assert.equal(await page.getByTestId('channel-secret-field').isHidden(), true, 'Slack shows no secret field');
      await page.getByText(en['channels.urlHint.slack']).waitFor();
      await page.getByTestId('channel-kind-select').selectOption('feishu');
      assert.equal(await page.getByTestId('channel-secret-field').isVisible(), true, 'Feishu signs');
      await page.getByTestId('channel-kind-select').selectOption('slack');
      await page.getByTestId('channel-name-input').fill('slack room');
      await page.getByTestId('channel-url-input').fill('https://hooks.slack.com/services/T0000/B0000/XXXX');
      // Disabled: no run of the other tests sends anything out of this machine.
      await page.locator('form label', { hasText: en['channels.enabled'] }).locator('input').uncheck();
      await page.getByTestId('channel-save').click();
      const slack = channelRow(page, 'slack room');
      await slack.waitFor();
      assert.equal(await slack.getByTestId('channel-kind').innerText(), en['channels.kind.slack']);
      assert.equal(await slack.getByTestId('channel-secret').count(), 0, 'no secret state for Slack');
      assert.ok((await slack.innerText()).includes(en['channels.disabledBadge']));
      assert.equal(await slack.getByTestId('channel-items').innerText(), en['channels.allItems']);

      // At 390 px nothing scrolls sideways, the form open or not.
      await page.setViewportSize({ width: 390, height: 900 });
      await assertNoSideScroll(page, 'channels at 390 px');
      await edited.getByTestId('channel-edit').click();
      await assertNoSideScroll(page, 'channels with the form at 390 px');
      await page.getByRole('button', { name: en['common.cancel'] }).click();
      await page.setViewportSize({ width: 1280, height: 900 });
      await shot(page, 'admin-channels');

      // In Chinese, the list and the edit form (secret set) keep no English.
      await page.getByTestId('lang-toggle').click();
      // The toast of the Slack channel's creation was said in English, before the switch.
      await page.evaluate(() => document.getElementById('toast').classList.add('hidden'));
      await channelRow(page, 'team chat').getByTestId('channel-edit').click();
      await page.getByTestId('channel-secret-clear').waitFor();
      assert.deepEqual(await englishLeftovers(page), [], 'English left on the channels page in zh-CN');
      await shot(page, 'admin-channels-zh-CN');
      await page.getByTestId('lang-toggle').click();
      await slack.waitFor();

      await slack.getByRole('button', { name: en['channels.deleteAria'].replace('{name}', 'slack room') }).click();
      await slack.waitFor({ state: 'detached' });
      assert.equal((await api('GET', '/notification-channels', undefined, tok)).body.length, 1);
    } finally {
      await context.close();
      await hook.close();
    }
  });

  test('a run tells the channel; the run page lists it (by name for admins), then the secret is removed and the channel deleted', async () => {
    const hook = await receiver();
    const { context, page } = await newPage();
    page.on('dialog', (d) => d.accept());
    try {
      await page.goto(`${CRAT}/#/admin/channels`);
      await uiLogin(page, ADMIN, ADMIN_PASSWD);
      const tok = await token(page);
      const [channel] = (await api('GET', '/notification-channels', undefined, tok)).body;
      // Every run, to the receiver of this test.
      const put = await api('PUT', `/notification-channels/${channel.id}`, { ...pick(channel), url: hook.url, rule: 'always' }, tok);
      assert.equal(put.status, 200, JSON.stringify(put.body));
      assert.equal(put.body.secret_set, true, 'a PUT without secret keeps it');

      const rerun = await api('POST', `/deploy-test-runs/${firstRunId()}/rerun`, {}, tok);
      assert.ok(rerun.status === 201 || rerun.status === 200 || rerun.status === 202, JSON.stringify(rerun.body));
      const run = await waitForRun(tok, rerun.body.id, (r) => r.notifications?.chat?.length, 'the chat notification');
      assert.equal(run.notifications.chat[0].channel_id, channel.id);
      assert.equal(run.notifications.chat[0].status, 'sent', JSON.stringify(run.notifications));
      assert.ok(hook.got.length >= 1 && hook.got[0].headers['x-crat-signature'], 'the run was announced, signed');

      await go(page, `#/runs/${run.id}`);
      const item = page.getByTestId('chat-notification');
      await item.getByTestId('chat-channel').filter({ hasText: channel.name }).waitFor();
      assert.equal(await item.getByTestId('chat-status').innerText(), en['chat.sent']);
      assert.ok((await page.getByTestId('chat-notifications').innerText()).includes(en['run.chat']));
      await page.setViewportSize({ width: 390, height: 900 });
      await assertNoSideScroll(page, 'run with chat notifications at 390 px');
      await page.setViewportSize({ width: 1280, height: 900 });

      // A user may not list channels: the channel by its id.
      const user = await newPage();
      try {
        await user.page.goto(`${CRAT}/#/runs/${run.id}`);
        await uiLogin(user.page, USER);
        await user.page.getByTestId('chat-channel').filter({ hasText: en['run.chatChannel'].replace('{id}', channel.id) }).waitFor();
      } finally {
        await user.context.close();
      }

      // Remove the secret with the form's box.
      await go(page, '#/admin/channels');
      const row = channelRow(page, channel.name);
      await row.getByTestId('channel-edit').click();
      await page.getByTestId('channel-secret-clear').check();
      assert.equal(await page.getByTestId('channel-secret-input').isDisabled(), true);
      await page.getByTestId('channel-save').click();
      await row.getByTestId('channel-secret').filter({ hasText: en['channels.secretUnset'] }).waitFor();
      assert.equal((await api('GET', `/notification-channels/${channel.id}`, undefined, tok)).body.secret_set, false);

      await row.getByTestId('channel-delete').click();
      await page.getByText(en['channels.none']).waitFor();
      assert.equal((await api('GET', '/notification-channels', undefined, tok)).body.length, 0);
    } finally {
      await context.close();
      await hook.close();
    }
  });
}

/** A channel's view as a PUT body (the secret left out: kept). */
function pick(c) {
  const { name, kind, url, rule, test_item_ids, language, enabled } = c;
  return { name, kind, url, rule, test_item_ids, language, enabled };
}
