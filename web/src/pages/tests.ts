import { ApiError, get, getAll, post, qs } from '../api';
import { fill, h, uid, type Child } from '../dom';
import { between, fmtDuration, fmtPercent, fmtTime, passRate } from '../format';
import { t } from '../i18n';
import { href, navigate, type Ctx } from '../router';
import { LIVE_STATUSES, type ActiveRun, type AdmittedRun, type Build, type JobOverview, type Page, type ParameterSet, type Run, type TestItem } from '../types';
import { Pager, badge, empty, errorBox, errorLines, field, infoBox, loading, pageHeader, runBadge, runStatusBadge, section, table, unreachableNotice } from '../ui';
import { flakySection } from './flaky';
import { announceAdmitted } from './queue';

/** The live run, if any: one small query per live status. */
export async function findActiveRun(): Promise<ActiveRun | null> {
  const pages = await Promise.all(
    LIVE_STATUSES.map((s) => get<Page<Run>>(`/deploy-test-runs${qs({ status: s, limit: 1 })}`)),
  );
  const runs = pages.flatMap((p) => p.items);
  runs.sort((a, b) => b.id - a.id);
  return runs[0] ?? null;
}

export function activeRunBanner(run: ActiveRun): HTMLElement {
  return h(
    'div',
    {
      class: 'flex flex-wrap items-center gap-x-3 gap-y-1 rounded-md border border-amber-300 bg-amber-50 px-3 py-2 text-sm text-amber-900',
      role: 'status',
      'data-testid': 'active-run-banner',
    },
    h('strong', null, t('tests.activeRun')),
    h(
      'span',
      null,
      t('tests.activeRunText', {
        id: run.id,
        item: run.test_item_name,
        who: run.triggered_by,
        since: fmtTime(run.started_at),
      }),
    ),
    runStatusBadge(run.status),
    h('a', { href: href(`/runs/${run.id}`), class: 'link font-medium' }, t('tests.viewRun')),
  );
}

function lastRunCell(r: Run | null): Child {
  if (!r) return h('span', { class: 'muted' }, t('tests.neverRun'));
  const s = r.summary;
  return [
    h('a', { href: href(`/runs/${r.id}`), class: 'link' }, `#${r.id}`),
    runBadge(r),
    h('span', { class: 'muted' }, `#${r.build.build_number} · ${fmtTime(r.started_at)}`),
    s ? h('span', null, `${s.passed}/${s.total}`) : null,
    unreachableNotice(r),
  ];
}

export function runRows(runs: Run[], withItem: boolean): Node[][] {
  return runs.map((r) => {
    const s = r.summary;
    return [
      h('a', { href: href(`/runs/${r.id}`), class: 'link font-medium', 'data-testid': 'run-link' }, `#${r.id}`),
      ...(withItem ? [h('span', null, r.test_item_name)] : []),
      runBadge(r),
      h('span', { class: 'whitespace-nowrap' }, `#${r.build.build_number}`),
      h('span', { class: 'break-all' }, r.triggered_by),
      h('span', { class: 'whitespace-nowrap' }, fmtTime(r.started_at)),
      h('span', { class: 'whitespace-nowrap' }, fmtDuration(between(r.started_at, r.finished_at))),
      s ? h('span', { class: 'whitespace-nowrap' }, `${s.passed}/${s.total} (${fmtPercent(passRate(s.passed, s.total))})`) : h('span', { class: 'muted' }, '—'),
    ];
  });
}

export function runHeaders(withItem: boolean): string[] {
  return [
    t('runs.col.run'),
    ...(withItem ? [t('runs.col.item')] : []),
    t('runs.col.status'),
    t('runs.col.build'),
    t('runs.col.by'),
    t('runs.col.started'),
    t('runs.col.duration'),
    t('runs.col.result'),
  ];
}

export async function testsPage(ctx: Ctx): Promise<void> {
  document.title = `${t('tests.title')} · CRAT`;
  const itemParam = Number(ctx.query.get('item') ?? '');
  const bannerSlot = h('div', { class: 'empty:hidden' });
  const bannerNote = h('div', { class: 'empty:hidden', 'data-testid': 'build-note' });
  const listBox = h('div', null, loading());
  const historyBox = h('div');

  ctx.main.append(
    pageHeader(t('tests.title')),
    h('div', { class: 'space-y-4' }, bannerSlot, bannerNote, listBox, historyBox),
  );

  async function refreshBanner(): Promise<void> {
    try {
      const run = await findActiveRun();
      if (!ctx.alive()) return;
      fill(bannerSlot, run ? activeRunBanner(run) : null);
    } catch {
      /* the banner is a convenience */
    }
  }
  void refreshBanner();
  const timer = window.setInterval(refreshBanner, 5000);
  ctx.onLeave(() => window.clearInterval(timer));

  let items: TestItem[];
  let sets: ParameterSet[];
  let jobs: JobOverview[];
  try {
    [items, sets, jobs] = await Promise.all([
      getAll<TestItem>('/test-items'),
      getAll<ParameterSet>('/parameter-sets'),
      getAll<JobOverview>('/jobs'),
    ]);
  } catch (e) {
    fill(listBox, errorBox(e));
    return;
  }
  if (!ctx.alive()) return;
  if (!items.length) {
    fill(listBox, h('div', { class: 'card' }, empty(ctx.me?.is_admin ? t('tests.noItemsAdmin') : t('tests.noItems'))));
  } else {
    const jobNames = [...new Set(items.map((i) => i.job_name))];
    const buildsByJob = new Map<string, Build[]>();
    const buildCursors = new Map<string, string | null>();
    await Promise.all(
      jobNames.map(async (j) => {
        try {
          const page = await get<Page<Build>>(`/builds${qs({ job_name: j, limit: 50 })}`);
          buildsByJob.set(j, page.items);
          buildCursors.set(j, page.next_cursor ?? null);
        } catch {
          buildsByJob.set(j, []);
        }
      }),
    );
    // ?build=<id> ("Test this build" on the Builds page): chosen in its job's items.
    let wanted: Build | null = null;
    const buildParam = Number(ctx.query.get('build') ?? '');
    if (Number.isInteger(buildParam) && buildParam > 0) {
      try {
        wanted = await get<Build>(`/builds/${buildParam}`);
        const job = wanted.job_name;
        const note = items.some((i) => i.job_name === job) ? 'tests.buildChosen' : 'tests.buildNoItem';
        fill(bannerNote, infoBox(t(note, { n: wanted.build_number, job })));
      } catch (e) {
        fill(bannerNote, e instanceof ApiError && e.status === 404 ? infoBox(t('tests.buildUnknown', { id: buildParam })) : errorBox(e));
      }
      if (!ctx.alive()) return;
    }
    const lastRuns = new Map<number, Run | null>();
    await Promise.all(
      items.map(async (i) => {
        try {
          const page = await get<Page<Run>>(`/test-items/${i.id}/deploy-runs${qs({ limit: 1 })}`);
          lastRuns.set(i.id, page.items[0] ?? null);
        } catch {
          lastRuns.set(i.id, null);
        }
      }),
    );
    if (!ctx.alive()) return;
    const defaultSet = sets.find((s) => s.is_default);
    fill(
      listBox,
      h(
        'ul',
        { class: 'grid grid-cols-1 gap-4 lg:grid-cols-2', 'aria-label': t('tests.itemsLabel') },
        items.map((item) => itemCard(item)),
      ),
    );

    function itemCard(item: TestItem): HTMLElement {
      const sel = jobs.find((j) => j.job_name === item.job_name)?.selection ?? null;
      const set = item.parameter_set_id == null ? defaultSet : sets.find((s) => s.id === item.parameter_set_id);
      const builds = buildsByJob.get(item.job_name) ?? [];
      const errorSlot = h('div');
      const buildOption = (b: Build) =>
        h('option', { value: String(b.id) }, `#${b.build_number} · ${fmtTime(b.created_at)}${b.build_user ? ` · ${b.build_user}` : ''}`);
      const picker = h(
        'select',
        { class: 'input', name: `build-${item.id}`, 'data-testid': 'build-picker' },
        sel
          ? h('option', { value: '' }, t('tests.useSelected', { n: sel.build?.build_number ?? sel.build_id }))
          : h('option', { value: '', disabled: true, selected: true }, t('tests.chooseBuild')),
        builds.map(buildOption),
      );
      if (!sel && builds.length) picker.value = String(builds[0].id);
      /** Puts `b` in the picker (once) and chooses it. */
      const choose = (b: Build) => {
        if (![...picker.options].some((o) => o.value === String(b.id))) picker.append(buildOption(b));
        picker.value = String(b.id);
      };
      if (wanted && wanted.job_name === item.job_name) choose(wanted);
      const has = (b: Build) => [...picker.options].some((o) => o.value === String(b.id));
      const finder = buildFinder(item.job_name, choose, (b) => b.filter((x) => !has(x)).forEach((x) => picker.append(buildOption(x))), buildCursors.get(item.job_name) ?? null);
      const trigger = h(
        'button',
        {
          type: 'button',
          class: 'btn btn-primary',
          'data-testid': 'trigger',
          disabled: !item.enabled || (!sel && !builds.length),
          'aria-label': t('tests.triggerAria', { name: item.name, job: item.job_name }),
        },
        t('tests.trigger'),
      );
      trigger.addEventListener('click', async () => {
        trigger.disabled = true;
        errorSlot.replaceChildren();
        try {
          const body = picker.value ? { build_info_id: Number(picker.value) } : {};
          // 202 either way: started, or QUEUED behind the lane's active run (not an error).
          const run = await post<AdmittedRun>(`/test-items/${item.id}/deploy-test`, body);
          announceAdmitted(run);
          navigate(`/runs/${run.id}`);
        } catch (e) {
          const active = e instanceof ApiError ? (e.details as { active_run?: ActiveRun } | undefined)?.active_run : undefined;
          if (active) fill(bannerSlot, activeRunBanner(active));
          errorSlot.replaceChildren(errorBox(e));
          trigger.disabled = false;
        }
      });
      return h(
        'li',
        { class: 'card flex flex-col gap-3', 'data-testid': 'test-item', 'data-item-id': String(item.id) },
        h(
          'div',
          { class: 'flex flex-wrap items-start justify-between gap-2' },
          h(
            'div',
            { class: 'min-w-0' },
            h('h2', { class: 'h2 break-all' }, item.name),
            h('p', { class: 'muted break-all' }, t('tests.forJob', { job: item.job_name })),
          ),
          item.enabled ? badge(t('tests.enabled'), 'bg-emerald-100 text-emerald-800') : badge(t('tests.disabled'), 'bg-slate-200 text-slate-700'),
        ),
        item.description ? h('p', { class: 'text-sm text-slate-700 break-words' }, item.description) : null,
        h(
          'dl',
          { class: 'grid grid-cols-[max-content_1fr] gap-x-3 gap-y-1 text-sm' },
          h('dt', { class: 'text-slate-600' }, t('tests.parameterSet')),
          h(
            'dd',
            { class: 'min-w-0 break-words' },
            set ? `${set.name} (v${set.version})` : t('tests.noSet'),
            item.parameter_set_id == null ? h('span', { class: 'muted' }, ` ${t('tests.defaultSet')}`) : null,
          ),
          h('dt', { class: 'text-slate-600' }, t('tests.lastRun')),
          h('dd', { class: 'flex flex-wrap items-center gap-x-2 gap-y-1', 'data-testid': 'item-last-run' }, lastRunCell(lastRuns.get(item.id) ?? null)),
          h('dt', { class: 'text-slate-600' }, t('tests.selectedBuild')),
          h(
            'dd',
            { 'data-testid': 'item-selected-build' },
            sel ? `#${sel.build?.build_number ?? sel.build_id}${sel.auto_sync ? ` · ${t('tests.autoSynced')}` : ''}` : h('span', { class: 'muted' }, t('tests.noSelection')),
          ),
        ),
        field(t('tests.build'), picker),
        finder,
        errorSlot,
        h(
          'div',
          { class: 'flex flex-wrap gap-2' },
          trigger,
          h(
            'a',
            {
              class: 'btn',
              href: href('/tests', { item: item.id }),
              'aria-current': itemParam === item.id ? 'true' : null,
              'data-testid': 'history-link',
            },
            t('tests.history'),
          ),
        ),
        !item.enabled ? h('p', { class: 'muted' }, t('tests.disabledHint')) : null,
      );
    }
  }

  if (itemParam) {
    const item = items.find((i) => i.id === itemParam);
    const pager = new Pager();
    const box = h('div', null, loading());
    fill(
      historyBox,
      h(
        'div',
        { class: 'space-y-4' },
        section(t('tests.historyOf', { name: item ? `${item.name} · ${item.job_name}` : `#${itemParam}` }), box),
        flakySection(ctx, itemParam),
      ),
    );
    const load = async () => {
      try {
        const page = await get<Page<Run>>(`/test-items/${itemParam}/deploy-runs${qs({ limit: 20, cursor: pager.cursor })}`);
        if (!ctx.alive()) return;
        pager.next = page.next_cursor ?? null;
        fill(
          box,
          page.items.length
            ? table(runHeaders(false), runRows(page.items, false), { caption: t('tests.history') })
            : empty(t('tests.noRuns')),
          page.items.length || pager.page > 1 ? pager.controls(() => void load()) : null,
        );
      } catch (e) {
        fill(box, errorBox(e));
      }
    };
    await load();
    if (ctx.alive() && ctx.query.get('focus') !== 'no') historyBox.scrollIntoView({ block: 'nearest' });
  }
}

/**
 * Under a build picker: find a build of `job` by its number (any age: the API looks it up),
 * and page further back than the picker's first 50 ("Older builds").
 */
function buildFinder(job: string, choose: (b: Build) => void, addOlder: (b: Build[]) => void, firstCursor: string | null): HTMLElement {
  const number = h('input', {
    class: 'input w-28',
    type: 'text',
    inputmode: 'numeric',
    pattern: '[0-9]*',
    name: 'build_number',
    'data-testid': 'find-build-number',
  });
  const find = h('button', { type: 'submit', class: 'btn btn-sm', 'data-testid': 'find-build' }, t('tests.findBuildButton'));
  const out = h('p', { class: 'w-full text-xs text-slate-700 empty:hidden', role: 'status', 'data-testid': 'find-build-result' });
  let cursor = firstCursor;
  const older = h('button', { type: 'button', class: 'btn btn-sm', 'data-testid': 'older-builds', hidden: !cursor }, t('tests.olderBuilds'));
  older.addEventListener('click', async () => {
    older.disabled = true;
    try {
      const page = await get<Page<Build>>(`/builds${qs({ job_name: job, limit: 50, cursor })}`);
      addOlder(page.items);
      cursor = page.next_cursor ?? null;
      if (!cursor) {
        older.hidden = true;
        out.textContent = t('tests.noOlderBuilds');
      }
    } catch (e) {
      out.textContent = errorLines(e).join(' ');
    } finally {
      older.disabled = false;
    }
  });
  const form = h(
    'form',
    { class: 'flex flex-wrap items-end gap-2', novalidate: true },
    h('div', null, h('label', { class: 'label', for: (number.id = uid('find-build')) }, t('tests.findBuild')), number),
    find,
    older,
    out,
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const n = number.value.trim().replace(/^#/, '');
    out.textContent = '';
    if (!n) return number.focus();
    find.disabled = true;
    try {
      const page = await get<Page<Build>>(`/builds${qs({ job_name: job, build_number: n })}`);
      const b = page.items[0];
      if (b) {
        choose(b);
        out.textContent = t('tests.buildFound', { n: b.build_number, job });
      } else out.textContent = t('tests.noSuchBuild', { job, n });
    } catch (e) {
      out.textContent = errorLines(e).join(' ');
    } finally {
      find.disabled = false;
    }
  });
  return form;
}
