import { get, getAll, post, put, qs, seg } from '../api';
import { fill, h } from '../dom';
import { fmtTime } from '../format';
import { t } from '../i18n';
import { href, navigate, type Ctx } from '../router';
import type { Build, JobOverview, JobVersion, Page } from '../types';
import { Pager, badge, checkbox, empty, errorBox, field, loading, pageHeader, section, table, toast } from '../ui';

const LIMITS = [10, 20, 50, 100];

export async function buildsPage(ctx: Ctx): Promise<void> {
  document.title = `${t('builds.title')} · CRAT`;
  const job = ctx.query.get('job') ?? '';
  const limitRaw = Number(ctx.query.get('limit') ?? 20);
  const limit = LIMITS.includes(limitRaw) ? limitRaw : 20;

  const jobsBox = h('div', null, loading());
  const buildsBox = h('div', null, loading());
  const errorSlot = h('div');
  const undoSlot = h('div', { class: 'empty:hidden', role: 'status' });
  let jobs: JobOverview[] = [];
  const pager = new Pager();

  const selectionOf = (name: string): JobVersion | null => jobs.find((j) => j.job_name === name)?.selection ?? null;

  async function reloadJobs(): Promise<void> {
    jobs = await getAll<JobOverview>('/jobs');
    if (!ctx.alive()) return;
    renderJobs();
  }

  /** Moves the team's pin to `b`; the notice above the lists offers to put the old one back. */
  async function selectBuild(b: Build): Promise<void> {
    const before = selectionOf(b.job_name);
    await put<JobVersion>('/job-versions', {
      job_name: b.job_name,
      build_id: b.id,
      auto_sync: before?.auto_sync ?? false,
      sync_on_new_build: before?.auto_sync ? before.sync_on_new_build : false,
    });
    toast(t('builds.selectedToast', { job: b.job_name, n: b.build_number }));
    fill(undoSlot, before ? undoNotice(b, before) : null);
    await reloadJobs();
    await loadBuilds();
    // The pressed button is gone with the old rows: keep the keyboard on the notice.
    undoSlot.querySelector<HTMLElement>('[data-testid="undo-select"]')?.focus();
  }

  function undoNotice(b: Build, before: JobVersion): HTMLElement {
    const undo = h('button', { type: 'button', class: 'btn btn-sm', 'data-testid': 'undo-select' }, t('builds.undo'));
    undo.addEventListener(
      'click',
      guarded(async () => {
        await put<JobVersion>('/job-versions', {
          job_name: before.job_name,
          build_id: before.build_id,
          auto_sync: before.auto_sync,
          sync_on_new_build: before.auto_sync ? before.sync_on_new_build : false,
        });
        fill(undoSlot, null);
        toast(t('builds.undoneToast', { job: before.job_name, n: before.build?.build_number ?? before.build_id }));
        await reloadJobs();
        await loadBuilds();
        buildsBox.querySelector<HTMLElement>('[data-testid="select-build"], [data-testid="test-this-build"]')?.focus();
      }),
    );
    return h(
      'div',
      { class: 'flex flex-wrap items-center gap-2 rounded-md border border-emerald-200 bg-emerald-50 px-3 py-2 text-sm text-emerald-900', 'data-testid': 'select-notice' },
      h('span', null, t('builds.selectedNotice', { job: b.job_name, n: b.build_number, was: before.build?.build_number ?? before.build_id })),
      undo,
    );
  }

  /** Select → "Make #N the team's build?" with Confirm and Cancel, in the row itself. */
  function selectAction(b: Build): HTMLElement {
    const box = h('span', { class: 'inline-flex flex-wrap items-center gap-1' });
    const ask = h(
      'button',
      {
        type: 'button',
        class: 'btn btn-sm',
        'data-testid': 'select-build',
        'aria-label': t('builds.selectAria', { job: b.job_name, n: b.build_number }),
      },
      t('builds.select'),
    );
    const question = () => {
      const yes = h('button', { type: 'button', class: 'btn btn-sm btn-primary', 'data-testid': 'select-build-confirm' }, t('builds.selectConfirm'));
      const no = h('button', { type: 'button', class: 'btn btn-sm', 'data-testid': 'select-build-cancel' }, t('common.cancel'));
      yes.addEventListener('click', guarded(() => selectBuild(b)));
      no.addEventListener('click', () => {
        box.replaceChildren(ask);
        ask.focus();
      });
      box.replaceChildren(h('span', { class: 'text-xs text-slate-700' }, t('builds.selectQuestion', { job: b.job_name, n: b.build_number })), yes, no);
      yes.focus();
    };
    ask.addEventListener('click', question);
    box.append(ask);
    return box;
  }

  async function setSync(jo: JobOverview, autoSync: boolean, onNew: boolean): Promise<void> {
    const sel = jo.selection;
    await put<JobVersion>('/job-versions', {
      job_name: jo.job_name,
      build_id: sel?.build_id ?? jo.latest_build.id,
      auto_sync: autoSync,
      sync_on_new_build: autoSync ? onNew : false,
    });
    toast(autoSync ? t('builds.autoSyncOnToast', { job: jo.job_name }) : t('builds.autoSyncOffToast', { job: jo.job_name }));
    await reloadJobs();
    await loadBuilds();
  }

  async function syncNow(jo: JobOverview): Promise<void> {
    const v = await post<JobVersion>(`/job-versions/${seg(jo.job_name)}/sync`);
    toast(t('builds.syncedToast', { job: jo.job_name, n: v.build?.build_number ?? v.build_id }));
    await reloadJobs();
    await loadBuilds();
  }

  function guarded(fn: () => Promise<void>): () => Promise<void> {
    return async () => {
      errorSlot.replaceChildren();
      try {
        await fn();
      } catch (e) {
        errorSlot.replaceChildren(errorBox(e));
        await reloadJobs().catch(() => undefined);
      }
    };
  }

  function renderJobs(): void {
    if (!jobs.length) {
      fill(jobsBox, empty(t('builds.noJobs')));
      return;
    }
    const rows = jobs.map((jo) => {
      const sel = jo.selection;
      const auto = checkbox(t('builds.autoSync'), !!sel?.auto_sync);
      const onNew = checkbox(t('builds.syncOnNewBuild'), !!sel?.sync_on_new_build);
      onNew.input.disabled = !sel?.auto_sync;
      auto.input.setAttribute('data-testid', 'auto-sync');
      auto.input.addEventListener('change', guarded(() => setSync(jo, auto.input.checked, onNew.input.checked)));
      onNew.input.addEventListener('change', guarded(() => setSync(jo, auto.input.checked, onNew.input.checked)));
      const syncBtn = h('button', { type: 'button', class: 'btn btn-sm', 'data-testid': 'sync-newest' }, t('builds.syncNewest'));
      syncBtn.addEventListener('click', async () => {
        syncBtn.disabled = true;
        await guarded(() => syncNow(jo))();
        syncBtn.disabled = false;
      });
      const selBuild = sel?.build;
      return [
        h(
          'a',
          { href: `#/builds${qs({ job: jo.job_name, limit })}`, class: 'link font-medium break-all' },
          jo.job_name,
        ),
        h('span', null, `#${jo.latest_build.build_number}`, h('br'), h('span', { class: 'muted text-xs' }, fmtTime(jo.latest_build.created_at))),
        sel
          ? h(
              'span',
              { 'data-testid': 'selected-build' },
              `#${selBuild?.build_number ?? '?'}`,
              selBuild && selBuild.id !== jo.latest_build.id ? h('span', { class: 'ml-1' }, badge(t('builds.notNewest'), 'bg-amber-100 text-amber-800')) : null,
              h('br'),
              h('span', { class: 'muted text-xs' }, t('builds.by', { who: sel.updated_by })),
            )
          : h('span', { class: 'muted' }, t('builds.noneSelected')),
        h('div', { class: 'flex flex-col gap-1' }, auto.wrap, onNew.wrap),
        syncBtn,
      ];
    });
    fill(
      jobsBox,
      table([t('builds.col.job'), t('builds.col.latest'), t('builds.col.selected'), t('builds.col.autoSync'), t('common.actions')], rows, {
        caption: t('builds.jobsTitle'),
      }),
    );
  }

  async function loadBuilds(): Promise<void> {
    const page = await get<Page<Build>>(`/builds${qs({ job_name: job || null, limit, cursor: pager.cursor })}`);
    if (!ctx.alive()) return;
    pager.next = page.next_cursor ?? null;
    if (!page.items.length) {
      fill(buildsBox, empty(job ? t('builds.noBuildsForJob', { job, url: `${window.location.origin}/api/v1/builds` }) : t('builds.noBuilds')));
      return;
    }
    const rows = page.items.map((b) => {
      const sel = selectionOf(b.job_name);
      const isSelected = sel?.build_id === b.id;
      // Testing a build never moves the pin: that is the separate, confirmed Select.
      const testIt = h(
        'a',
        {
          class: 'btn btn-sm',
          href: href('/tests', { build: b.id }),
          'data-testid': 'test-this-build',
          'aria-label': t('builds.testAria', { job: b.job_name, n: b.build_number }),
        },
        t('builds.test'),
      );
      const action = h(
        'span',
        { class: 'inline-flex flex-wrap items-center gap-1' },
        testIt,
        isSelected ? badge(t('builds.selected'), 'bg-emerald-100 text-emerald-800') : selectAction(b),
      );
      return [
        h('span', { class: 'break-all', 'data-testid': 'build-job' }, b.job_name),
        h('span', { class: 'whitespace-nowrap' }, `#${b.build_number}`),
        b.build_user ? b.build_user : h('span', { class: 'muted' }, '—'),
        h('code', { class: 'mono' }, b.package_path),
        h('span', { class: 'whitespace-nowrap' }, fmtTime(b.created_at)),
        action,
      ];
    });
    fill(
      buildsBox,
      table(
        [t('builds.col.job'), t('builds.col.build'), t('builds.col.user'), t('builds.col.package'), t('builds.col.time'), t('builds.col.version')],
        rows,
        { caption: t('builds.listTitle') },
      ),
      pager.controls(() => {
        fill(buildsBox, loading());
        loadBuilds().catch((e) => fill(buildsBox, errorBox(e)));
      }),
    );
  }

  // Filters
  const jobSelect = h('select', { class: 'input', name: 'job', 'data-testid': 'job-filter' }, h('option', { value: '' }, t('builds.allJobs')));
  const limitSelect = h(
    'select',
    { class: 'input', name: 'limit' },
    LIMITS.map((n) => h('option', { value: String(n), selected: n === limit }, t('builds.perPage', { n }))),
  );
  const applyFilters = () => navigate('/builds', { job: jobSelect.value || null, limit: limitSelect.value });
  jobSelect.addEventListener('change', applyFilters);
  limitSelect.addEventListener('change', applyFilters);

  ctx.main.append(
    pageHeader(t('builds.title')),
    h(
      'div',
      { class: 'space-y-4' },
      errorSlot,
      undoSlot,
      section(t('builds.jobsTitle'), h('p', { class: 'muted mb-3' }, t('builds.jobsIntro')), jobsBox),
      section(
        t('builds.listTitle'),
        h(
          'div',
          { class: 'mb-3 grid grid-cols-1 gap-3 sm:grid-cols-[minmax(0,20rem)_10rem]' },
          field(t('builds.filterJob'), jobSelect),
          field(t('builds.limit'), limitSelect),
        ),
        buildsBox,
      ),
    ),
  );

  try {
    await reloadJobs();
  } catch (e) {
    fill(jobsBox, errorBox(e));
  }
  if (!ctx.alive()) return;
  const names = jobs.map((j) => j.job_name);
  if (job && !names.includes(job)) names.unshift(job);
  for (const n of names) jobSelect.append(h('option', { value: n, selected: n === job }, n));
  try {
    await loadBuilds();
  } catch (e) {
    fill(buildsBox, errorBox(e));
  }
}
