// The test cases of a completed run on its page: what changed since the previous run (the
// compare endpoint), a table of the cases filtered by status and paged with the API's
// cursor, and each test's history across runs, loaded only when its row is expanded.

import { get, qs, seg } from '../api';
import { fill, h, type Child } from '../dom';
import { fmtDuration } from '../format';
import { t, tMaybe } from '../i18n';
import { href, type Ctx } from '../router';
import {
  DIFF_KINDS,
  TEST_STATUSES,
  type Comparison,
  type DiffKind,
  type Page,
  type Run,
  type TestCase,
  type TestCasesPage,
  type TestChange,
  type TestResultOfRun,
  type TestStatus,
} from '../types';
import { Pager, errorBox, field, loading, scrollRegion, section } from '../ui';

const PAGE_SIZE = 20;
/** Entries shown per diff section (the API sends up to 1000; the count is always full). */
const DIFF_SHOWN = 50;
const HISTORY_RUNS = 30;

const STATUS_CLASS: Record<TestStatus, string> = {
  passed: 'bg-emerald-100 text-emerald-800',
  failed: 'bg-red-100 text-red-800',
  broken: 'bg-amber-100 text-amber-900',
  skipped: 'bg-slate-100 text-slate-600',
  unknown: 'bg-violet-100 text-violet-800',
};
const DOT_CLASS: Record<TestStatus, string> = {
  passed: 'bg-emerald-500',
  failed: 'bg-red-500',
  broken: 'bg-amber-500',
  skipped: 'bg-slate-300',
  unknown: 'bg-violet-400',
};
const DIFF_CLASS: Record<DiffKind, string> = {
  new_failures: 'border-red-300',
  fixed: 'border-emerald-300',
  still_failing: 'border-amber-300',
  new_tests: 'border-sky-300',
  removed_tests: 'border-slate-300',
};

const statusName = (s: TestStatus) => tMaybe(`summary.${s}`, s);
/** Most tests take less than a second: those in milliseconds. */
const testDuration = (ms: number | null | undefined) => (ms == null ? '—' : ms < 1000 ? `${ms} ms` : fmtDuration(ms));

export function testStatusBadge(s: TestStatus): HTMLElement {
  return h('span', { class: `badge ${STATUS_CLASS[s] ?? STATUS_CLASS.unknown}`, 'data-test-status': s }, statusName(s));
}

/** True when a re-run of only the failures can be offered: cases stored, some failing. */
export function hasStoredFailures(r: Run): boolean {
  const s = r.summary;
  return r.status === 'COMPLETED' && (r.test_cases?.stored ?? 0) > 0 && !!s && s.failed + s.broken > 0;
}

/** The run's test cases (or why there are none); for a completed run only. */
export function runResults(ctx: Ctx, r: Run): HTMLElement {
  const note = r.test_cases;
  if (note && note.stored === 0 && !note.reason) {
    return section(t('results.title'), h('p', { class: 'muted', 'data-testid': 'tests-reason' }, t('results.count', { n: 0 })));
  }
  if (!note || note.stored === 0) {
    const why = note?.reason ?? (r.notification ? t('results.noReason') : t('results.notYet'));
    return section(
      t('results.title'),
      h('p', { class: 'muted break-words', 'data-testid': 'tests-reason' }, note || r.notification ? t('results.notStored', { why }) : why),
    );
  }
  const diffBox = h('div', { 'data-testid': 'test-diff' }, loading());
  const tableBox = h('div', null, loading());
  void loadDiff(ctx, r, diffBox);
  const filter = h(
    'select',
    { class: 'input w-auto', name: 'test-status', 'data-testid': 'test-status-filter' },
    h('option', { value: '' }, t('results.filterAll')),
    TEST_STATUSES.map((s) => h('option', { value: s }, statusName(s))),
  );
  const pager = new Pager();
  const load = () => void loadCases(ctx, r, filter.value as TestStatus | '', pager, tableBox, load);
  filter.addEventListener('change', () => {
    pager.reset();
    load();
  });
  load();
  return h(
    'div',
    { class: 'space-y-4', 'data-testid': 'run-results' },
    section(t('diff.title'), diffBox),
    section(
      t('results.title'),
      h(
        'div',
        { class: 'mb-3 flex flex-wrap items-end justify-between gap-2' },
        h(
          'p',
          { class: 'muted' },
          note.in_report > note.stored ? t('results.overCap', { n: note.stored, total: note.in_report }) : t('results.count', { n: note.stored }),
          note.source ? h('span', { translate: 'no' }, ` · ${note.source}`) : null,
        ),
        field(t('results.filter'), filter, null, 'w-full sm:w-56'),
      ),
      tableBox,
    ),
  );
}

async function loadDiff(ctx: Ctx, r: Run, box: HTMLElement): Promise<void> {
  try {
    const c = await get<Comparison>(`/deploy-test-runs/${r.id}/compare`);
    if (!ctx.alive()) return;
    if (c.with_run_id == null) {
      fill(box, h('p', { class: 'muted', 'data-testid': 'diff-no-previous' }, t('diff.noPrevious')));
      return;
    }
    fill(
      box,
      h(
        'p',
        { class: 'mb-3 text-sm' },
        h('a', { href: href(`/runs/${c.with_run_id}`), class: 'link', 'data-testid': 'diff-with' }, t('diff.with', { id: c.with_run_id })),
      ),
      h(
        'div',
        { class: 'grid grid-cols-1 gap-3 md:grid-cols-2 xl:grid-cols-3' },
        DIFF_KINDS.map((k) => diffSection(k, c.counts[k] ?? 0, c.diff[k] ?? [])),
      ),
    );
  } catch (e) {
    if (ctx.alive()) fill(box, errorBox(e));
  }
}

function diffSection(kind: DiffKind, count: number, list: TestChange[]): HTMLElement {
  const shown = list.slice(0, DIFF_SHOWN);
  return h(
    'section',
    { class: `min-w-0 rounded-md border-l-4 bg-slate-50 px-3 py-2 ${DIFF_CLASS[kind]}`, 'data-testid': `diff-${kind}`, 'data-count': String(count) },
    h('h3', { class: 'font-semibold' }, t(`diff.${kind}`), h('span', { class: 'ml-2 badge bg-white text-slate-700' }, String(count))),
    shown.length
      ? h(
          'ul',
          { class: 'mt-1 space-y-1 text-sm' },
          shown.map((c) =>
            h(
              'li',
              { class: 'min-w-0', 'data-test-id': c.id },
              h('span', { class: 'font-medium break-words', 'data-testid': 'diff-test-name' }, c.name),
              h(
                'span',
                { class: 'ml-2 text-xs whitespace-nowrap text-slate-600' },
                `${c.before ? statusName(c.before) : t('diff.notThere')} → ${c.now ? statusName(c.now) : t('diff.notThere')}`,
              ),
              c.message ? h('p', { class: 'text-xs break-words text-slate-600' }, c.message) : null,
            ),
          ),
        )
      : h('p', { class: 'muted' }, t('diff.empty')),
    count > shown.length ? h('p', { class: 'muted mt-1' }, t('diff.more', { n: count - shown.length })) : null,
  );
}

async function loadCases(
  ctx: Ctx,
  r: Run,
  status: TestStatus | '',
  pager: Pager,
  box: HTMLElement,
  reload: () => void,
): Promise<void> {
  try {
    const page = await get<TestCasesPage>(`/deploy-test-runs/${r.id}/tests${qs({ status, limit: PAGE_SIZE, cursor: pager.cursor })}`);
    if (!ctx.alive()) return;
    pager.next = page.next_cursor ?? null;
    fill(
      box,
      page.items.length ? casesTable(ctx, r, page.items) : h('p', { class: 'muted py-2', 'data-testid': 'tests-empty' }, t('results.none')),
      pager.controls(reload),
    );
  } catch (e) {
    if (ctx.alive()) fill(box, errorBox(e));
  }
}

function casesTable(ctx: Ctx, r: Run, cases: TestCase[]): HTMLElement {
  const headers = [t('results.col.status'), t('results.col.name'), t('results.col.duration'), t('results.col.message'), t('results.col.history')];
  const cell = (i: number, ...c: Child[]) => h('td', { 'data-label': headers[i] }, ...c);
  const body = h('tbody');
  for (const c of cases) {
    const toggle = h(
      'button',
      { type: 'button', class: 'btn btn-sm', 'aria-expanded': 'false', 'aria-label': t('results.showHistoryAria', { name: c.name }), 'data-testid': 'test-history-toggle' },
      t('results.showHistory'),
    );
    const row = h(
      'tr',
      { 'data-testid': 'test-row', 'data-test-id': c.id, 'data-test-status': c.status },
      cell(0, testStatusBadge(c.status)),
      cell(
        1,
        h(
          'div',
          { class: 'min-w-0' },
          h('span', { class: 'font-medium break-words', 'data-testid': 'test-name' }, c.name),
          c.flaky ? h('span', { class: 'ml-2 badge bg-violet-100 text-violet-800' }, t('results.flakyMark')) : null,
          c.suite.length ? h('p', { class: 'text-xs break-words text-slate-500' }, c.suite.join(' › ')) : null,
        ),
      ),
      cell(2, h('span', { class: 'whitespace-nowrap' }, testDuration(c.duration_ms))),
      cell(3, c.message ? h('span', { class: 'text-xs break-words text-slate-700' }, c.message) : '—'),
      cell(4, toggle),
    );
    const detail = h('tr', { hidden: true, 'data-testid': 'test-history' }, h('td', { colspan: String(headers.length) }));
    let loaded = false;
    toggle.addEventListener('click', () => {
      const open = detail.hidden;
      detail.hidden = !open;
      toggle.setAttribute('aria-expanded', String(open));
      if (open && !loaded) {
        loaded = true;
        void loadHistory(ctx, r, c, detail.firstElementChild as HTMLElement);
      }
    });
    body.append(row, detail);
  }
  return scrollRegion(
    t('results.title'),
    h(
      'table',
      { class: 'tbl tbl-stack', 'data-testid': 'tests-table' },
      h('caption', { class: 'sr-only' }, t('results.title')),
      h('thead', null, h('tr', null, headers.map((x) => h('th', { scope: 'col' }, x)))),
      body,
    ),
  );
}

async function loadHistory(ctx: Ctx, r: Run, c: TestCase, box: HTMLElement): Promise<void> {
  fill(box, loading());
  try {
    const page = await get<Page<TestResultOfRun>>(`/test-items/${r.test_item_id}/tests/${seg(c.id)}/history${qs({ limit: HISTORY_RUNS })}`);
    if (!ctx.alive()) return;
    fill(box, sparkline(c.name, page.items));
  } catch (e) {
    if (ctx.alive()) fill(box, errorBox(e));
  }
}

/** One square per run, oldest left; each links to its run and says its status. */
function sparkline(name: string, newestFirst: TestResultOfRun[]): HTMLElement {
  if (!newestFirst.length) return h('p', { class: 'muted' }, t('results.historyNone'));
  const runs = [...newestFirst].reverse();
  const failed = runs.filter((x) => x.status === 'failed' || x.status === 'broken').length;
  return h(
    'div',
    { class: 'py-1' },
    h(
      'ol',
      { class: 'flex flex-wrap items-end gap-1', 'aria-label': t('results.historyLabel', { name }), 'data-testid': 'sparkline' },
      runs.map((x) => {
        const label = t('results.historyPoint', { run: x.run_id, build: x.build_number, status: statusName(x.status) });
        return h(
          'li',
          null,
          h(
            'a',
            { href: href(`/runs/${x.run_id}`), class: `block h-5 w-3 rounded-sm ${DOT_CLASS[x.status] ?? DOT_CLASS.unknown}`, title: label, 'aria-label': label, 'data-status': x.status },
          ),
        );
      }),
    ),
    h('p', { class: 'muted mt-1' }, t('results.historySummary', { failed, total: runs.length })),
  );
}
