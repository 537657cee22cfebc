import type { Chart } from 'chart.js';
import { ApiError, get, post } from '../api';
import { fill, h, safeUrl, type Child } from '../dom';
import { between, fmtBytes, fmtDuration, fmtPercent, fmtTime, passRate } from '../format';
import { t, tMaybe } from '../i18n';
import { href, navigate, type Ctx } from '../router';
import { isLive, type ActiveRun, type AdmittedRun, type ChatNotification, type ExecutionView, type ParameterSet, type Run, type RunEstimate, type Step } from '../types';
import { badge, cancelQuestion, deployFailure, dl, errorBox, loading, pageHeader, runBadge, runPhase, runProgress, section, stepStatusBadge, table, toast, unreachableNotice } from '../ui';
import { listChannels } from './admin/channels';
import { announceAdmitted, queuedNotice } from './queue';
import { hasStoredFailures, runResults } from './run_results';
import { activeRunBanner } from './tests';

const POLL_MS = 2000;
/** After the run ended, how long to wait for the notification before giving up polling. */
const NOTIFY_GRACE_MS = 60_000;
/** The team chats are told after the mail (each retried on its own): how long to wait for them. */
const CHAT_GRACE_MS = 30_000;
const MAX_EVENTS = 300;

const MARKER: Record<string, string> = {
  PENDING: 'bg-white border-slate-300',
  RUNNING: 'bg-indigo-500 border-indigo-500 animate-pulse',
  SUCCEEDED: 'bg-emerald-500 border-emerald-500',
  FAILED: 'bg-red-500 border-red-500',
  SKIPPED: 'bg-slate-200 border-slate-300',
  CANCELLED: 'bg-amber-400 border-amber-400',
};

function str(v: unknown): string | null {
  if (v === null || v === undefined || v === '') return null;
  return typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v);
}

function stepFacts(step: Step, run: Run): [string, Child][] {
  const d = step.details ?? {};
  const facts: [string, Child][] = [];
  const add = (k: string, v: Child) => {
    if (v !== null && v !== undefined && v !== '') facts.push([k, v]);
  };
  switch (step.name) {
    case 'DOWNLOAD':
      add(t('step.file'), str(d.file_name));
      if (typeof d.size === 'number') add(t('step.size'), fmtBytes(d.size));
      add(t('step.verifiedWith'), str(d.verified_with));
      break;
    case 'TRIGGER':
      add(t('step.taskId'), str(d.task_id) ? h('code', { class: 'mono' }, str(d.task_id)) : null);
      break;
    case 'MONITOR': {
      const phase = str(d.phase);
      if (phase)
        add(
          t('step.phase'),
          h('span', { 'data-testid': 'monitor-phase' }, `${tMaybe(`phase.${phase}`, phase)} `, h('code', { class: 'mono text-slate-500' }, `(${phase})`)),
        );
      add(t('step.lastPoll'), typeof d.last_poll_at === 'string' ? fmtTime(d.last_poll_at) : null);
      add(t('step.polls'), str(d.polls));
      add(t('step.deadline'), typeof d.deadline === 'string' ? fmtTime(d.deadline) : null);
      add(t('step.lastProblem'), str(d.last_error));
      break;
    }
    case 'NOTIFY': {
      const n = run.notification;
      if (n) {
        add(t('step.mail'), tMaybe(`notify.${n.status}`, n.status));
        add(t('step.recipients'), n.recipients.join(', '));
        if (n.attempts > 1) add(t('step.attempts'), String(n.attempts));
        add(t('step.mailError'), n.error ?? null);
      }
      add(t('step.summarySource'), str(d.summary_source));
      break;
    }
  }
  return facts;
}

const CHAT_CLASS: Record<ChatNotification['status'], string> = {
  sent: 'bg-emerald-100 text-emerald-800',
  failed: 'bg-red-100 text-red-800',
  skipped: 'bg-slate-100 text-slate-600',
};

/**
 * What each team chat was told, beside the mail's state in the notify step. `name` gives a
 * channel's name when known (only admins may list channels), else "Channel #id".
 */
function chatList(chat: ChatNotification[], name: (id: number) => string | null): HTMLElement {
  return h(
    'div',
    { class: 'mt-2', 'data-testid': 'chat-notifications' },
    h('h4', { class: 'text-sm font-medium text-slate-700' }, t('run.chat')),
    h(
      'ul',
      { class: 'mt-1 space-y-1 text-sm' },
      chat.map((c) =>
        h(
          'li',
          { class: 'flex flex-wrap items-center gap-x-2 gap-y-0.5', 'data-testid': 'chat-notification', 'data-chat-status': c.status },
          h('span', { class: 'font-medium break-all', 'data-testid': 'chat-channel', 'data-channel-id': String(c.channel_id) }, name(c.channel_id) ?? t('run.chatChannel', { id: c.channel_id })),
          h('span', { 'data-testid': 'chat-status' }, badge(tMaybe(`chat.${c.status}`, c.status), CHAT_CLASS[c.status])),
          h('span', { class: 'muted text-xs' }, t('run.chatAttempts', { n: c.attempts })),
          c.sent_at ? h('span', { class: 'muted text-xs' }, t('run.chatSentAt', { time: fmtTime(c.sent_at) })) : null,
          c.error ? h('span', { class: 'w-full text-xs break-words text-red-800', 'data-testid': 'chat-error' }, c.error) : null,
        ),
      ),
    ),
  );
}

function timeline(run: Run, notifyExtra: Child = null, estimate: RunEstimate | null = null): HTMLElement {
  return h(
    'ol',
    { class: 'relative space-y-0', 'data-testid': 'timeline', 'aria-label': t('run.timeline') },
    run.steps.map((step, i) => {
      const last = i === run.steps.length - 1;
      const facts = stepFacts(step, run);
      const dur = step.started_at ? fmtDuration(between(step.started_at, step.finished_at)) : null;
      return h(
        'li',
        { class: 'relative flex gap-3 pb-5 last:pb-0', 'data-step': step.name, 'data-step-status': step.status },
        last ? null : h('span', { class: 'absolute top-6 bottom-1 left-[9px] w-0.5 bg-slate-200', 'aria-hidden': 'true' }),
        h(
          'div',
          { class: 'relative flex w-5 shrink-0 justify-center', 'aria-hidden': 'true' },
          h('span', { class: `z-10 mt-1 h-4 w-4 rounded-full border-2 ${MARKER[step.status] ?? MARKER.PENDING}` }),
        ),
        h(
          'div',
          { class: 'min-w-0 flex-1' },
          h(
            'div',
            { class: 'flex flex-wrap items-center gap-2' },
            h('h3', { class: 'font-semibold' }, tMaybe(`stepName.${step.name}`, step.name)),
            stepStatusBadge(step.status),
            dur ? h('span', { class: 'muted' }, dur) : null,
            usualTime(step, estimate),
          ),
          step.started_at
            ? h(
                'p',
                { class: 'muted text-xs' },
                t('run.stepTimes', { start: fmtTime(step.started_at), end: step.finished_at ? fmtTime(step.finished_at) : '…' }),
              )
            : null,
          facts.length
            ? h(
                'dl',
                { class: 'mt-1 grid grid-cols-[max-content_1fr] gap-x-3 gap-y-0.5 text-sm' },
                facts.map(([k, v]) => [h('dt', { class: 'text-slate-600' }, k), h('dd', { class: 'min-w-0 break-words' }, v)]),
              )
            : null,
          step.error
            ? h('p', { class: 'mt-1 rounded bg-red-50 px-2 py-1 text-sm break-words text-red-800', 'data-testid': 'step-error' }, step.error)
            : null,
          step.name === 'NOTIFY' ? notifyExtra : null,
        ),
      );
    }),
  );
}

/** A live run's step that has started: what the item's completed runs took for it. */
function usualTime(step: Step, estimate: RunEstimate | null): Child {
  const usual = estimate?.step_elapsed_seconds.find((s) => s.step === step.name)?.usual_seconds;
  if (usual === undefined || usual === null) return null;
  return h('span', { class: 'text-xs text-slate-600', 'data-testid': 'step-usual' }, t('run.stepUsually', { d: fmtDuration(usual * 1000) }));
}

function linkOrText(url: string | null | undefined, testid?: string): Child {
  if (!url) return null;
  const safe = safeUrl(url);
  if (!safe) return h('span', { class: 'mono' }, url);
  return h('a', { href: safe, class: 'link mono', target: '_blank', rel: 'noopener noreferrer', 'data-testid': testid ?? null }, url);
}

/**
 * Why the report was not read, once and in the page's language: the server's reason
 * ("report not read: origin X is not in report_origins (…)", "… longer than N characters",
 * "… is not an http(s) URL …") is recognised; anything else is shown without its prefix.
 */
function reportRefusedText(why: string): string {
  const origin = /origin (\S+) is not in report_origins/.exec(why);
  if (origin) return t('run.reportRefused.origin', { origin: origin[1] });
  const long = /longer than (\d+) characters/.exec(why);
  if (long) return t('run.reportRefused.long', { n: long[1] });
  if (why.includes('is not an http(s) URL')) return t('run.reportRefused.url');
  return t('run.reportRefused', { why: why.replace(/^report not read:\s*/i, '') });
}

/** The report link; an unread one (origin not allowed) as plain text with the reason. */
function reportLine(r: Run, cls: string): Child {
  if (!r.report_url) return null;
  if (r.report_refused) {
    return h(
      'div',
      { class: cls },
      h('p', { class: 'text-sm' }, h('span', { class: 'mr-1' }, t('run.report')), h('span', { class: 'mono' }, r.report_url)),
      h('p', { class: 'text-sm text-amber-700', 'data-testid': 'report-refused' }, reportRefusedText(r.report_refused)),
    );
  }
  return h('p', { class: cls }, h('span', { class: 'mr-1' }, t('run.report')), linkOrText(r.report_url, 'report-link'));
}

/** The run's error as a sentence: a failure while the test server deployed says so. */
function errorSentence(r: Run): string {
  const deploy = deployFailure(r);
  if (deploy === null) return r.error_message ?? '';
  return deploy ? t('run.deployFailed', { error: deploy }) : t('run.deployFailedNoError');
}

export async function runPage(ctx: Ctx): Promise<void> {
  const id = Number(ctx.params[0]);
  document.title = `${t('run.title', { id })} · CRAT`;

  const actions = h('div', { class: 'flex flex-wrap gap-2' });
  const headerBox = h('div', { class: 'card' }, loading());
  const errorSlot = h('div', { class: 'empty:hidden' });
  const queueSlot = h('div', { class: 'empty:hidden' });
  const liveNote = h('p', { class: 'muted', 'aria-live': 'polite', 'data-testid': 'live-note' });
  const timelineBox = h('div', null, loading());
  const packageBox = h('div');
  const summaryBox = h('div');
  const execBox = h('div');
  const paramsBox = h('div');
  const resultsBox = h('div', { class: 'empty:hidden' });
  const resultColumn = h('div', { class: 'space-y-4 lg:order-none', 'data-testid': 'result-column' }, summaryBox, packageBox);

  const canvas = h('canvas', { 'data-testid': 'summary-pie', role: 'img', 'aria-label': t('run.pieLabel') });
  let chart: Chart | null = null;
  let chartStarted = false;
  ctx.onLeave(() => chart?.destroy());

  const execDetails = h(
    'details',
    { class: 'card', 'data-testid': 'execution' },
    h('summary', { class: 'h2 cursor-pointer' }, t('run.execution')),
    h('p', { class: 'muted mt-1' }, t('run.executionIntro')),
    execBox,
  );
  execDetails.addEventListener('toggle', () => {
    if (execDetails.open) void loadExecution();
  });

  ctx.main.append(
    pageHeader(t('run.title', { id }), actions),
    h(
      'div',
      { class: 'space-y-4' },
      errorSlot,
      queueSlot,
      headerBox,
      h(
        'div',
        { class: 'grid grid-cols-1 gap-4 lg:grid-cols-2' },
        section(t('run.timeline'), liveNote, timelineBox),
        resultColumn,
      ),
      resultsBox,
      execDetails,
      paramsBox,
    ),
  );

  let run: Run | null = null;
  let estimate: RunEstimate | null = null;
  // The run's parameter set by name (read once; a deleted set keeps its id and version).
  let setName: string | null = null;
  let setAsked = false;
  const parameterSetCell = (r: Run): HTMLElement => {
    const label = () =>
      setName
        ? t('run.parameterSetNamed', { name: setName, id: r.parameter_set_id, v: r.parameter_set_version })
        : t('run.parameterSetValue', { id: r.parameter_set_id, v: r.parameter_set_version });
    const cell = h('span', { 'data-testid': 'run-parameter-set' }, label());
    if (!setAsked) {
      setAsked = true;
      get<ParameterSet>(`/parameter-sets/${r.parameter_set_id}`)
        .then((set) => {
          setName = set.name;
          for (const el of document.querySelectorAll('[data-testid="run-parameter-set"]')) el.textContent = label();
        })
        .catch(() => undefined);
    }
    return cell;
  };
  // The channels' names, read once and only by admins (users may not list channels).
  let channelNames: Map<number, string> | null = null;
  let channelsAsked = false;
  const chatBox = (r: Run): Child => {
    const chat = r.notifications?.chat;
    if (!chat?.length) return null;
    if (!channelsAsked && ctx.me?.is_admin) {
      channelsAsked = true;
      listChannels()
        .then((list) => {
          channelNames = new Map(list.map((c) => [c.id, c.name]));
          for (const el of document.querySelectorAll<HTMLElement>('[data-testid="chat-channel"]')) {
            const known = channelNames.get(Number(el.dataset.channelId));
            if (known) el.textContent = known;
          }
        })
        .catch(() => undefined);
    }
    return chatList(chat, (cid) => channelNames?.get(cid) ?? null);
  };
  let endedAt = 0;
  let sawNoMail = false;
  let mailAt = 0;
  let actionKey = '';
  let queueKey = '';
  let resultsKey = '';
  let timer: number | undefined;
  ctx.onLeave(() => window.clearTimeout(timer));

  function renderActions(r: Run): void {
    const me = ctx.me;
    const live = isLive(r.status);
    const waiting = r.status === 'QUEUED';
    const canCancel = (live || waiting) && !!me && (me.is_admin || me.email === r.triggered_by);
    const ended = !live && !waiting;
    const failedOnly = ended && hasStoredFailures(r);
    const key = `${canCancel}|${ended}|${failedOnly}`;
    if (key === actionKey) return;
    actionKey = key;
    const btns: HTMLElement[] = [];
    if (canCancel) {
      const b = h('button', { type: 'button', class: 'btn btn-danger', 'data-testid': 'cancel' }, t('run.cancel'));
      b.addEventListener('click', async () => {
        if (!window.confirm(cancelQuestion(r))) return;
        b.disabled = true;
        try {
          await post<Run>(`/deploy-test-runs/${r.id}/cancel`);
          toast(t('run.cancelled'));
          await refresh();
        } catch (e) {
          errorSlot.replaceChildren(errorBox(e));
          b.disabled = false;
        }
      });
      btns.push(b);
    }
    if (ended) {
      const b = h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'rerun' }, t('run.rerun'));
      b.addEventListener('click', async () => {
        b.disabled = true;
        try {
          const nr = await post<AdmittedRun>(`/deploy-test-runs/${r.id}/rerun`);
          announceAdmitted(nr);
          navigate(`/runs/${nr.id}`);
        } catch (e) {
          const active = e instanceof ApiError ? (e.details as { active_run?: ActiveRun } | undefined)?.active_run : undefined;
          errorSlot.replaceChildren(...(active ? [activeRunBanner(active)] : []), errorBox(e));
          b.disabled = false;
        }
      });
      btns.push(b);
    }
    if (failedOnly) btns.push(rerunFailedButton(r));
    fill(actions, btns);
  }

  /** Re-runs only the failed and broken tests (the API sends the test server a test plan). */
  function rerunFailedButton(r: Run): HTMLElement {
    const n = (r.summary?.failed ?? 0) + (r.summary?.broken ?? 0);
    const b = h('button', { type: 'button', class: 'btn', 'data-testid': 'rerun-failed' }, t('run.rerunFailed'));
    b.addEventListener('click', async () => {
      if (!window.confirm(t('run.rerunFailedConfirm', { id: r.id, n }))) return;
      b.disabled = true;
      try {
        const nr = await post<AdmittedRun>(`/deploy-test-runs/${r.id}/rerun`, { only_failed: true });
        announceAdmitted(nr);
        navigate(`/runs/${nr.id}`);
      } catch (e) {
        errorSlot.replaceChildren(errorBox(e));
        b.disabled = false;
      }
    });
    return b;
  }

  /** While QUEUED: its place, estimate and lane (from the queue); nothing once it started. */
  async function renderQueued(r: Run): Promise<void> {
    let notice: HTMLElement | null = null;
    if (r.status === 'QUEUED') {
      try {
        notice = await queuedNotice(r.id);
      } catch {
        return; // keep the last notice; the next poll tries again
      }
      if (!ctx.alive()) return;
    }
    const key = notice?.textContent ?? '';
    if (key === queueKey) return;
    queueKey = key;
    fill(queueSlot, notice);
  }

  async function renderRun(r: Run): Promise<void> {
    // The status in the tab title, to follow a run from another tab.
    document.title = `${runPhase(r).text} · ${t('run.title', { id })} · CRAT`;
    // Once it ended, the result comes before the timeline on a narrow screen.
    resultColumn.classList.toggle('order-first', !isLive(r.status) && r.status !== 'QUEUED');
    renderActions(r);
    await renderQueued(r);
    const queued = r.status === 'QUEUED';
    const dur = queued ? '—' : fmtDuration(between(r.started_at, r.finished_at));
    fill(
      headerBox,
      h(
        'div',
        { class: 'mb-3 flex flex-wrap items-center gap-2' },
        h('h2', { class: 'h2 break-all' }, `${r.test_item_name} · ${r.build.job_name} #${r.build.build_number}`),
        h('span', { 'data-testid': 'run-status' }, runBadge(r)),
      ),
      dl([
        [t('run.triggeredBy'), r.triggered_by],
        ...(r.queued_at ? ([[t('run.queuedAt'), fmtTime(r.queued_at)]] as [string, Child][]) : []),
        // While QUEUED, started_at is the trigger time, not a start.
        [t('run.started'), queued ? '—' : fmtTime(r.started_at)],
        [t('run.finished'), r.finished_at ? fmtTime(r.finished_at) : '—'],
        [t('run.duration'), dur],
        [t('run.packagePath'), h('code', { class: 'mono' }, r.build.package_path)],
        [t('run.parameterSet'), parameterSetCell(r)],
        ...(r.test_plan
          ? ([[t('run.testPlan'), h('a', { href: href(`/runs/${r.test_plan.of_run}`), class: 'link', 'data-testid': 'test-plan' }, t('run.testPlanValue', { id: r.test_plan.of_run, n: r.test_plan.tests.length }))]] as [string, Child][])
          : []),
        [t('run.item'), h('a', { href: href('/tests', { item: r.test_item_id }), class: 'link' }, t('run.itemHistory', { name: r.test_item_name }))],
        ...(r.error_message ? ([[t('run.error'), h('span', { class: 'text-red-800', 'data-testid': 'run-error' }, errorSentence(r))]] as [string, Child][]) : []),
      ]),
      unreachableNotice(r, true),
      estimate ? h('div', { class: 'mt-3' }, runProgress(estimate)) : null,
    );
    fill(timelineBox, timeline(r, chatBox(r), estimate));
    // The cases are stored by the notify step: show them once it has run (or its note says why not).
    const rk = r.status === 'COMPLETED' ? `${JSON.stringify(r.test_cases ?? null)}|${!!r.notification}` : '';
    if (rk !== resultsKey) {
      resultsKey = rk;
      fill(resultsBox, rk ? runResults(ctx, r) : null);
    }

    fill(
      packageBox,
      section(
        t('run.package'),
        r.package_url || r.package_size != null || r.package_sha256
          ? dl([
              [t('run.packageUrl'), linkOrText(r.package_url) ?? '—'],
              [t('run.packageSize'), r.package_size != null ? `${fmtBytes(r.package_size)} (${t('run.bytes', { n: r.package_size })})` : '—'],
              [t('run.sha256'), r.package_sha256 ? h('code', { class: 'mono', 'data-testid': 'sha256' }, r.package_sha256) : '—'],
              ...(r.task_id ? ([[t('step.taskId'), h('code', { class: 'mono' }, r.task_id)]] as [string, Child][]) : []),
            ])
          : h('p', { class: 'muted' }, t('run.packageNotYet')),
      ),
    );

    const s = r.summary;
    if (s) {
      if (!chartStarted) {
        chartStarted = true;
        fill(
          summaryBox,
          section(
            t('run.summary'),
            h(
              'div',
              { class: 'grid grid-cols-1 items-center gap-4 sm:grid-cols-[minmax(0,14rem)_1fr]' },
              h('div', { class: 'mx-auto w-full max-w-[14rem]' }, canvas),
              h(
                'div',
                { class: 'space-y-2' },
                h(
                  'p',
                  { class: 'text-2xl font-semibold', 'data-testid': 'pass-rate' },
                  fmtPercent(passRate(s.passed, s.total)),
                  h('span', { class: 'ml-2 text-sm font-normal text-slate-600' }, t('run.passRate')),
                ),
                table(
                  [t('summary.kind'), t('summary.count')],
                  (['passed', 'failed', 'broken', 'skipped', 'unknown', 'total'] as const).map((k) => [t(`summary.${k}`), String(s[k])]),
                  { stack: false, caption: t('run.summary') },
                ),
                s.duration_ms != null ? h('p', { class: 'muted' }, t('run.testDuration', { d: fmtDuration(s.duration_ms) })) : null,
                reportLine(r, 'text-sm'),
              ),
            ),
          ),
        );
        const { summaryPie } = await import('../charts');
        if (!ctx.alive()) return;
        chart = summaryPie(canvas, s);
      }
    } else {
      fill(
        summaryBox,
        section(
          t('run.summary'),
          h('p', { class: 'muted' }, isLive(r.status) || r.status === 'QUEUED' ? t('run.summaryPending') : r.status === 'COMPLETED' ? t('run.summaryUnavailable') : t('run.summaryNone')),
          reportLine(r, 'mt-2'),
        ),
      );
    }

    if (!paramsBox.firstChild) {
      fill(
        paramsBox,
        h(
          'details',
          { class: 'card' },
          h('summary', { class: 'h2 cursor-pointer' }, t('run.params')),
          h('pre', { class: 'mono mt-2 overflow-x-auto rounded bg-slate-50 p-2 whitespace-pre-wrap' }, JSON.stringify(r.params, null, 2)),
        ),
      );
    }
  }

  async function loadExecution(): Promise<void> {
    if (!execBox.firstChild) fill(execBox, loading());
    try {
      // The newest page only: a long run has thousands of events (ids run 1..n).
      const ex = await get<ExecutionView>(`/deploy-test-runs/${id}/execution?order=newest&limit=${MAX_EVENTS}`);
      if (!ctx.alive()) return;
      const events = [...ex.events].reverse();
      const total = ex.events.length > 0 ? Math.max(...ex.events.map((e) => e.id)) : 0;
      fill(
        execBox,
        h(
          'div',
          { class: 'mt-3 space-y-3' },
          dl([
            [t('exec.id'), h('code', { class: 'mono' }, ex.execution_id)],
            [t('exec.status'), ex.status],
            [t('exec.currentState'), ex.current_state ? h('span', { translate: 'no' }, ex.current_state) : '—'],
            [t('exec.started'), fmtTime(ex.started_at)],
            [t('exec.stopped'), ex.stopped_at ? fmtTime(ex.stopped_at) : '—'],
            [t('exec.events'), String(total)],
          ]),
          ex.next_cursor ? h('p', { class: 'muted' }, t('exec.truncated', { n: MAX_EVENTS })) : null,
          table(
            [t('exec.col.id'), t('exec.col.type'), t('exec.col.state'), t('exec.col.time'), t('exec.col.detail')],
            events.map((ev) => [
              String(ev.id),
              h('span', { class: ev.type.endsWith('Failed') || ev.error ? 'font-medium text-red-800' : '', translate: 'no' }, ev.type),
              ev.state ? h('span', { translate: 'no' }, ev.state) : '—',
              h('span', { class: 'whitespace-nowrap' }, fmtTime(ev.timestamp)),
              h(
                'div',
                { class: 'min-w-[12rem] space-y-1' },
                ev.error ? h('p', { class: 'text-red-800 break-words' }, ev.error) : null,
                ev.cause ? h('p', { class: 'text-xs break-words text-red-700' }, ev.cause) : null,
                ev.input != null ? jsonDetails(t('exec.input'), ev.input) : null,
                ev.output != null ? jsonDetails(t('exec.output'), ev.output) : null,
              ),
            ]),
            { stack: false, caption: t('exec.events') },
          ),
        ),
      );
    } catch (e) {
      fill(execBox, errorBox(e));
    }
  }

  async function refresh(): Promise<void> {
    try {
      const r = await get<Run>(`/deploy-test-runs/${id}`);
      // While it is live: how long it has left (a failed read keeps the last estimate). A
      // queued run has none: its start waits on the run ahead (the queue notice says when).
      if (isLive(r.status) && r.status !== 'QUEUED') {
        estimate = await get<{ estimate: RunEstimate | null }>(`/deploy-test-runs/${id}/estimate`)
          .then((v) => v.estimate)
          .catch(() => estimate);
      } else estimate = null;
      if (!ctx.alive()) return;
      run = r;
      await renderRun(r);
    } catch (e) {
      if (!ctx.alive()) return;
      if (!run) {
        // Nothing to show but why (e.g. no such run): no empty steps, results or actions.
        ctx.main.replaceChildren(pageHeader(t('run.title', { id })), errorBox(e));
        return;
      }
      errorSlot.replaceChildren(errorBox(e));
    }
  }

  async function tick(): Promise<void> {
    await refresh();
    if (!ctx.alive() || !run) return;
    if (execDetails.open) await loadExecution();
    const live = isLive(run.status) || run.status === 'QUEUED';
    if (!live && !endedAt) endedAt = Date.now();
    // Seen arriving here, the mail is followed by the chats' record (absent when no channel
    // was told, so the wait is bounded); a run opened later shows what it has.
    if (!run.notification) sawNoMail = true;
    else if (sawNoMail && !mailAt) mailAt = Date.now();
    const chatWait = !!mailAt && !run.notifications?.chat?.length && Date.now() - mailAt < CHAT_GRACE_MS;
    const waiting = live || (!run.notification && Date.now() - endedAt < NOTIFY_GRACE_MS) || chatWait;
    liveNote.textContent = waiting ? t('run.liveUpdating') : t('run.liveStopped');
    if (waiting) timer = window.setTimeout(() => void tick(), POLL_MS);
  }
  await tick();
}

function jsonDetails(label: string, value: unknown): HTMLElement {
  return h(
    'details',
    null,
    h('summary', { class: 'cursor-pointer text-xs text-slate-600' }, label),
    h('pre', { class: 'mono max-h-64 overflow-auto rounded bg-slate-50 p-2 whitespace-pre-wrap' }, JSON.stringify(value, null, 2)),
  );
}
