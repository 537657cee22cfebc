// The browser tests' harness: the environment browser-test.sh passes, one Chromium for the
// whole file (launched before the first test, closed after the last), pages that record
// every request, CSP message and page error, and the small helpers the tests share.
import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { en, zhCN } from './dicts.mjs';

export const CRAT = need('CRAT_URL');
export const PKG = need('PKG_URL');
export const TS = need('TS_URL');
export const ADMIN_PASSWD = need('ADMIN_PASSWD');
export const ARTIFACTS = process.env.ARTIFACTS || 'test-artifacts';
export const ORIGIN = new URL(CRAT).origin;
export const ADMIN = 'admin@example.com';
export const USER = 'dev@example.com';
export const JOB = 'CDN_CORE';
export const PACKAGE_PATH = 'CDN/pass/x/el7';

function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run web/scripts/browser-test.sh`);
  return v;
}

mkdirSync(ARTIFACTS, { recursive: true });

let browser;
/** Every request any page made, for the same-origin check. */
export const requests = [];
/** Console messages about the Content-Security-Policy (none expected). */
export const cspViolations = [];
/** Uncaught page errors (none expected). */
export const pageErrors = [];
/** axe-core's serious and critical violations, with the page state, width and language. */
export const axeViolations = [];
/** The page states axe-core checked: "name @ width px, lang". */
export const axeStates = [];

// Injected with a CDP evaluate (not a <script>: the site's CSP allows only its own scripts).
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    // launch() gives every run a fresh temporary user-data-dir.
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});

after(async () => {
  await browser?.close();
});

export async function newPage({ locale = 'en-US', width = 1280 } = {}) {
  const context = await browser.newContext({ viewport: { width, height: 900 }, locale });
  context.on('request', (r) => requests.push(r.url()));
  const page = await context.newPage();
  page.on('console', (m) => {
    if (/Content.Security.Policy/i.test(m.text())) cspViolations.push(m.text());
  });
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.setDefaultTimeout(15_000);
  return { context, page };
}

export async function api(method, path, body, token) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  const r = await fetch(`${CRAT}/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

export async function postBuild(job, number, user = 'JenkinsUser') {
  const r = await api('POST', '/builds', { BUILD_USER: user, JOB_NAME: job, PACKAGE_PATH, BUILD_NUMBER: String(number) });
  assert.ok(r.status === 201 || r.status === 200, `webhook answered ${r.status}`);
  return r.body;
}

export async function testServerControl(body) {
  const r = await fetch(`${TS}/_control`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  assert.equal(r.status, 200);
}

export async function uiLogin(page, email, password) {
  await page.getByTestId('login-email').fill(email);
  if (password) {
    await page.getByTestId('login-admin').check();
    await page.getByTestId('login-password').fill(password);
  }
  await page.getByTestId('login-submit').click();
  await page.getByTestId('role').waitFor();
}

export async function shot(page, name, { fullPage = true, scrollTo = null, widths = [1280, 360] } = {}) {
  const size = page.viewportSize();
  for (const width of widths) {
    await page.setViewportSize({ width, height: 900 });
    await page.waitForTimeout(150);
    if (scrollTo) await scrollTo.evaluate((el) => el.scrollIntoView({ block: 'start' }));
    await page.screenshot({ path: join(ARTIFACTS, `${name}-${width}.png`), fullPage });
    await axeCheck(page, name, width);
  }
  await page.setViewportSize(size);
}

/** Runs axe-core on the page as it is now; records its serious and critical violations. */
export async function axeCheck(page, state, width = page.viewportSize().width) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(AXE_SOURCE);
  const { lang, violations } = await page.evaluate(async () => {
    // The sandboxed mail preview frame has no axe of its own: the page only, not its frames.
    const r = await window.axe.run(document, { resultTypes: ['violations'], iframes: false });
    return {
      lang: document.documentElement.lang,
      violations: r.violations
        .filter((v) => v.impact === 'serious' || v.impact === 'critical')
        .map((v) => ({
          rule: v.id,
          impact: v.impact,
          help: v.help,
          nodes: v.nodes.map((n) => ({ target: n.target.join(' '), summary: n.failureSummary, html: n.html.slice(0, 160) })),
        })),
    };
  });
  axeStates.push(`${state} @ ${width} px, ${lang}`);
  for (const v of violations) axeViolations.push({ ...v, state, width, lang });
}

export async function go(page, hash) {
  await page.evaluate((h) => {
    window.location.hash = h;
  }, hash);
  await page.waitForFunction((h) => window.location.hash === h, hash);
  await page.waitForLoadState('networkidle');
}

/** Visible texts (text nodes, labels in attributes, options) that equal an English-only value. */
export async function englishLeftovers(page) {
  const zhValues = new Set(Object.values(zhCN));
  const enOnly = Object.values(en).filter((v) => !zhValues.has(v));
  const exact = enOnly.filter((v) => !v.includes('{'));
  // Templates like "Page {n}": the whole text matching the template, with enough fixed text.
  const templates = enOnly
    .filter((v) => v.includes('{') && v.replace(/\{\w+\}/g, '').replace(/\W/g, '').length >= 4)
    .map((v) => `^${v.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\\?\{\w+\\?\}/g, '.+?')}$`);
  return page.evaluate(
    ({ exact, templates }) => {
      const set = new Set(exact);
      const res = templates.map((s) => new RegExp(s, 's'));
      const found = new Set();
      const check = (txt, where) => {
        const s = txt.replace(/\s+/g, ' ').trim();
        if (!s) return;
        if (set.has(s) || res.some((r) => r.test(s))) found.add(`${where}: ${s}`);
      };
      const visible = (el) => el && el.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true });
      const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
      while (walker.nextNode()) {
        const n = walker.currentNode;
        const el = n.parentElement;
        // translate="no" marks outside values (state names, JSON) that are not labels.
        if (!el || el.closest('select, [translate="no"]') || !visible(el)) continue;
        check(n.nodeValue, 'text');
      }
      for (const el of document.querySelectorAll('[placeholder],[aria-label],[title]')) {
        if (!visible(el)) continue;
        for (const a of ['placeholder', 'aria-label', 'title']) if (el.hasAttribute(a)) check(el.getAttribute(a), a);
      }
      for (const sel of document.querySelectorAll('select')) if (visible(sel)) for (const o of sel.options) check(o.text, 'option');
      check(document.title.replace(/ · CRAT$/, ''), 'title');
      return [...found];
    },
    { exact, templates },
  );
}


export async function token(page) {
  return page.evaluate(() => localStorage.getItem('crat.token'));
}

/** Run `id` once `ok(run)` holds, read through the API every 150 ms (at most `seconds`). */
export async function waitForRun(tok, id, ok, what, seconds = 30) {
  let r;
  for (let i = 0; i < (seconds * 1000) / 150; i += 1) {
    r = (await api('GET', `/deploy-test-runs/${id}`, undefined, tok)).body;
    if (ok(r)) return r;
    await new Promise((res) => setTimeout(res, 150));
  }
  throw new Error(`run ${id}: ${what} did not happen within ${seconds} s: ${JSON.stringify(r)}`);
}

/** Pins the test server double's task to `status` from now on (its clock no longer matters). */
export async function pinTask(taskId, status) {
  const r = await fetch(`${TS}/_tasks/${encodeURIComponent(taskId)}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ status }),
  });
  assert.equal(r.status, 200);
}

/** Nothing on the page scrolls sideways at its current width. */
export async function assertNoSideScroll(page, where) {
  const { scroll, client } = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    client: document.documentElement.clientWidth,
  }));
  assert.ok(scroll <= client, `${where}: ${scroll} px of content in a ${client} px wide page`);
}
