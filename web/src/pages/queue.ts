// The Queue view: every lane (a test environment, the default one too) with its active run
// and the runs waiting behind it, refreshed by itself while the page is visible. Also the
// notice the run page shows while its run waits, and the trigger's "queued" toast.
import { get, post } from '../api';
import { fill, h, type Child } from '../dom';
import { between, fmtClock, fmtDuration } from '../format';
import { t, tMaybe } from '../i18n';
import { href, type Ctx } from '../router';
import type { AdmittedRun, LaneView, Me, QueueView, Run } from '../types';
import { badge, cancelQuestion, errorBox, infoBox, loading, pageHeader, runBadge, runProgress, toast, unreachableNotice } from '../ui';

const POLL_MS = 3000;

export function laneName(lane: LaneView): string {
  return lane.name ?? t('queue.defaultLane');
}

/** After a trigger or re-run: a queued run is not an error, it says its place. */
export function announceAdmitted(run: AdmittedRun): void {
  if (run.status === 'QUEUED') toast(t('queue.queuedToast', { n: run.queue_position ?? '?' }));
}

/** What the active run is doing: its running step and, while monitoring, the test server's phase. */
function liveStep(run: Run): string | null {
  const step = run.steps.find((s) => s.status === 'RUNNING');
  if (!step) return null;
  const name = tMaybe(`stepName.${step.name}`, step.name);
  const phase = typeof step.details?.phase === 'string' ? step.details.phase : null;
  return phase ? t('queue.stepPhase', { step: name, phase: tMaybe(`phase.${phase}`, phase) }) : name;
}

function estimateText(run: AdmittedRun): string {
  return run.estimated_start_at ? t('queue.estimate', { time: fmtClock(run.estimated_start_at) }) : t('queue.estimateUnknown');
}

/** The run page's notice while its run waits: its place, the estimate, the lane, a link here. */
export async function queuedNotice(runId: number): Promise<HTMLElement | null> {
  const view = await get<QueueView>('/queue');
  for (const lane of view.lanes) {
    const q = lane.queued.find((r) => r.id === runId);
    if (!q) continue;
    return h(
      'div',
      { class: 'space-y-1 rounded-md border border-violet-200 bg-violet-50 px-3 py-2 text-sm text-violet-900', 'data-testid': 'queued-notice' },
      h('p', { class: 'font-semibold', 'data-testid': 'queued-position' }, t('queue.runQueued', { n: q.queue_position ?? '?' })),
      h(
        'p',
        { 'data-testid': 'queued-estimate' },
        q.estimated_start_at ? t('queue.estimate', { time: fmtClock(q.estimated_start_at) }) : t('queue.runNoEstimate'),
      ),
      h('p', { class: 'break-all', 'data-testid': 'queued-lane' }, t('queue.runLane', { name: laneName(lane) })),
      h('p', null, t('queue.runNote'), ' ', h('a', { href: href('/queue'), class: 'link font-medium', 'data-testid': 'queue-link' }, t('queue.viewQueue'))),
    );
  }
  return null;
}

export async function queuePage(ctx: Ctx): Promise<void> {
  document.title = `${t('queue.title')} · CRAT`;
  const errorSlot = h('div', { class: 'empty:hidden' });
  const listBox = h('div', null, loading());
  ctx.main.append(
    pageHeader(t('queue.title')),
    h(
      'div',
      { class: 'space-y-4' },
      infoBox(t('queue.intro')),
      h('p', { class: 'muted', 'aria-live': 'polite' }, t('queue.liveUpdating')),
      errorSlot,
      listBox,
    ),
  );

  let shown = '';
  let loaded = false;
  async function load(): Promise<void> {
    let view: QueueView;
    try {
      view = await get<QueueView>('/queue');
    } catch (e) {
      if (!ctx.alive()) return;
      if (!loaded) fill(listBox, errorBox(e));
      else errorSlot.replaceChildren(errorBox(e));
      return;
    }
    if (!ctx.alive()) return;
    loaded = true;
    errorSlot.replaceChildren();
    // Rebuilt only when something people see changed, so focus and a half-read line stay put.
    const key = viewKey(view);
    if (key !== shown) {
      shown = key;
      fill(listBox, renderLanes(view, ctx.me, load, errorSlot));
    } else {
      for (const lane of view.lanes) {
        const bar = listBox.querySelector(`[data-lane="${CSS.escape(lane.id)}"] [data-testid="run-progress"]`);
        if (bar && lane.active_estimate) bar.replaceWith(runProgress(lane.active_estimate));
      }
    }
    for (const el of listBox.querySelectorAll<HTMLElement>('[data-elapsed-since]')) {
      el.textContent = t('queue.elapsed', { d: fmtDuration(between(el.dataset.elapsedSince, null)) });
    }
  }

  let timer: number | undefined;
  const tick = async () => {
    if (document.visibilityState !== 'hidden') await load();
    if (ctx.alive()) timer = window.setTimeout(() => void tick(), POLL_MS);
  };
  const onVisible = () => {
    if (document.visibilityState === 'visible') void load();
  };
  document.addEventListener('visibilitychange', onVisible);
  ctx.onLeave(() => {
    window.clearTimeout(timer);
    document.removeEventListener('visibilitychange', onVisible);
  });
  await tick();
}

function viewKey(view: QueueView): string {
  return JSON.stringify(
    view.lanes.map((l) => [
      l.id,
      l.name,
      l.active_run ? [l.active_run.id, l.active_run.status, liveStep(l.active_run), unreachableNotice(l.active_run)?.textContent ?? null] : null,
      // The estimate's figures move at every poll: its bar is redrawn in place (load()).
      l.active_estimate !== null,
      l.queued.map((q) => [q.id, q.queue_position, q.estimated_start_at ? fmtClock(q.estimated_start_at) : null]),
    ]),
  );
}

function renderLanes(view: QueueView, me: Me | null, reload: () => Promise<void>, errorSlot: HTMLElement): Child {
  const canCancel = (r: Run) => !!me && (me.is_admin || me.email === r.triggered_by);
  const cancelButton = (r: Run) => {
    const b = h(
      'button',
      { type: 'button', class: 'btn btn-sm btn-danger shrink-0', 'data-testid': 'queue-cancel', 'aria-label': t('queue.cancelAria', { id: r.id }) },
      t('queue.cancel'),
    );
    b.addEventListener('click', async () => {
      const ask = r.status === 'QUEUED' ? t('queue.cancelQueuedConfirm', { id: r.id }) : cancelQuestion(r);
      if (!window.confirm(ask)) return;
      b.disabled = true;
      try {
        await post<Run>(`/deploy-test-runs/${r.id}/cancel`);
        toast(t('queue.cancelled', { id: r.id }));
        await reload();
      } catch (e) {
        errorSlot.replaceChildren(errorBox(e));
        b.disabled = false;
      }
    });
    return b;
  };
  const runLine = (r: Run) =>
    h(
      'p',
      { class: 'flex flex-wrap items-center gap-x-2 gap-y-0.5' },
      h('a', { href: href(`/runs/${r.id}`), class: 'link font-medium', 'data-testid': 'queue-run-link' }, `#${r.id}`),
      h('span', { class: 'font-medium break-all' }, r.test_item_name),
      h('span', { class: 'break-all text-slate-700' }, `${r.build.job_name} #${r.build.build_number}`),
    );

  const idle = view.lanes.every((l) => !l.active_run && !l.queued.length);
  return [
    idle ? h('p', { class: 'card mb-4 text-sm text-slate-600', 'data-testid': 'queue-empty' }, t('queue.empty')) : null,
    h(
      'ul',
      { class: 'grid grid-cols-1 gap-4 lg:grid-cols-2', 'aria-label': t('queue.lanesLabel') },
      view.lanes.map((lane) => {
        const a = lane.active_run;
        const step = a ? liveStep(a) : null;
        return h(
          'li',
          { class: 'card min-w-0 space-y-3', 'data-testid': 'lane', 'data-lane': lane.id },
          h(
            'div',
            { class: 'flex flex-wrap items-center gap-2' },
            h('h2', { class: 'h2 break-all', 'data-testid': 'lane-name' }, laneName(lane)),
            a ? badge(t('queue.busy'), 'bg-amber-100 text-amber-900') : badge(t('queue.free'), 'bg-emerald-100 text-emerald-800'),
            lane.queued.length ? badge(t('queue.waitingCount', { n: lane.queued.length }), 'bg-violet-100 text-violet-800') : null,
          ),
          h(
            'section',
            { class: 'space-y-1 text-sm' },
            h('h3', { class: 'font-semibold text-slate-700' }, t('queue.active')),
            a
              ? h(
                  'div',
                  { class: 'flex items-start gap-2 rounded-md border border-indigo-200 bg-indigo-50 px-3 py-2', 'data-testid': 'lane-active', 'data-run-id': String(a.id) },
                  h(
                    'div',
                    { class: 'min-w-0 flex-1 space-y-0.5' },
                    runLine(a),
                    h('p', { class: 'break-all' }, t('queue.by', { who: a.triggered_by })),
                    h('p', { class: 'flex flex-wrap items-center gap-2' }, runBadge(a), step ? h('span', { 'data-testid': 'lane-step' }, step) : null),
                    h('p', { class: 'text-slate-600', 'data-elapsed-since': a.started_at }, t('queue.elapsed', { d: fmtDuration(between(a.started_at, null)) })),
                    unreachableNotice(a),
                    lane.active_estimate ? runProgress(lane.active_estimate) : null,
                  ),
                  canCancel(a) ? cancelButton(a) : null,
                )
              : h('p', { class: 'muted' }, t('queue.noActive')),
          ),
          h(
            'section',
            { class: 'space-y-1 text-sm' },
            h('h3', { class: 'font-semibold text-slate-700' }, t('queue.waiting')),
            lane.queued.length
              ? h(
                  'ol',
                  { class: 'divide-y divide-slate-100' },
                  lane.queued.map((q) =>
                    h(
                      'li',
                      { class: 'flex items-start gap-2 py-2', 'data-testid': 'queued-run', 'data-run-id': String(q.id) },
                      h('span', { class: 'badge mt-0.5 bg-violet-100 text-violet-800', 'data-testid': 'queued-position' }, t('queue.position', { n: q.queue_position ?? '?' })),
                      h(
                        'div',
                        { class: 'min-w-0 flex-1 space-y-0.5' },
                        runLine(q),
                        h('p', { class: 'break-all' }, t('queue.by', { who: q.triggered_by })),
                        h(
                          'p',
                          { class: 'text-slate-600' },
                          t('queue.queuedSince', { time: fmtClock(q.queued_at ?? q.started_at) }),
                          ' · ',
                          h('span', { 'data-testid': 'queued-estimate' }, estimateText(q)),
                        ),
                      ),
                      canCancel(q) ? cancelButton(q) : null,
                    ),
                  ),
                )
              : h('p', { class: 'muted' }, t('queue.nobodyWaiting')),
          ),
        );
      }),
    ),
  ];
}
