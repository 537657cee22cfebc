// Small building blocks the pages share.

import { ApiError, post } from './api';
import { h, uid, type Child } from './dom';
import { fmtClock, fmtDuration, fmtTime } from './format';
import { t, tMaybe } from './i18n';
import type { Run, RunEstimate } from './types';

const RUN_STATUS_CLASS: Record<string, string> = {
  QUEUED: 'bg-violet-100 text-violet-800',
  PENDING: 'bg-slate-100 text-slate-700',
  DOWNLOADING: 'bg-sky-100 text-sky-800',
  DOWNLOADED: 'bg-sky-100 text-sky-800',
  TESTING: 'bg-indigo-100 text-indigo-800',
  MONITORING: 'bg-indigo-100 text-indigo-800',
  COMPLETED: 'bg-emerald-100 text-emerald-800',
  FAILED: 'bg-red-100 text-red-800',
  CANCELLED: 'bg-amber-100 text-amber-800',
  // step statuses
  RUNNING: 'bg-indigo-100 text-indigo-800',
  SUCCEEDED: 'bg-emerald-100 text-emerald-800',
  SKIPPED: 'bg-slate-100 text-slate-500',
  // notification
  SENT: 'bg-emerald-100 text-emerald-800',
};

export function runStatusBadge(status: string): HTMLElement {
  return h(
    'span',
    { class: `badge ${RUN_STATUS_CLASS[status] ?? 'bg-slate-100 text-slate-700'}`, 'data-status': status },
    tMaybe(`status.${status}`, status),
  );
}

const OUTCOME_CLASS: Record<string, string> = {
  passed: 'bg-emerald-100 text-emerald-800',
  tests_failed: 'bg-amber-100 text-amber-900',
  error: 'bg-red-100 text-red-800',
  cancelled: 'bg-slate-200 text-slate-800',
};

/**
 * What a run is doing, in words that follow it: Queued → Downloading → Starting → Deploying →
 * Testing → Reporting (the test server's phase drives Deploying and Testing), then its outcome.
 */
export function runPhase(r: Run): { key: string; text: string } {
  if (r.outcome) return { key: `outcome.${r.outcome}`, text: tMaybe(`outcome.${r.outcome}`, r.outcome) };
  const monitor = r.steps.find((s) => s.name === 'MONITOR');
  const phase = String(monitor?.details?.phase ?? '');
  let key: string;
  switch (r.status) {
    case 'QUEUED':
      key = 'live.queued';
      break;
    case 'PENDING':
    case 'DOWNLOADING':
    case 'DOWNLOADED':
      key = 'live.downloading';
      break;
    case 'TESTING':
      key = 'live.starting';
      break;
    case 'MONITORING':
      key = phase === 'running:test' ? 'live.testing' : 'live.deploying';
      break;
    case 'COMPLETED':
    case 'FAILED':
    case 'CANCELLED':
      // Ended, the outcome not known yet: the report is being read and the mail written.
      key = 'live.reporting';
      break;
    default:
      key = `status.${r.status}`;
  }
  return { key, text: tMaybe(key, r.status) };
}

/** A run's badge: its outcome once ended, else what it is doing now ([`runPhase`]). */
export function runBadge(r: Run): HTMLElement {
  const { text } = runPhase(r);
  const cls = r.outcome ? OUTCOME_CLASS[r.outcome] : RUN_STATUS_CLASS[r.status];
  const attrs: Record<string, string> = { class: `badge ${cls ?? 'bg-slate-100 text-slate-700'}`, 'data-status': r.status };
  if (r.outcome) attrs['data-outcome'] = r.outcome;
  return h('span', attrs, text);
}

/** The failure in a sentence: "Deploy failed on the test server: …" when it failed while deploying. */
export function deployFailure(r: Run): string | null {
  if (r.status !== 'FAILED') return null;
  const monitor = r.steps.find((s) => s.name === 'MONITOR');
  if (!monitor || monitor.status !== 'FAILED') return null;
  const phase = String(monitor.details?.phase ?? '');
  if (phase !== 'pending' && phase !== 'running:deploy') return null;
  return monitor.error || r.error_message || '';
}

/** The cancel question: once the test server has the run, it warns that it may go on there. */
export function cancelQuestion(r: Run): string {
  return r.task_id ? t('run.cancelConfirmDeploying', { id: r.id }) : t('run.cancelConfirm', { id: r.id });
}

export function stepStatusBadge(status: string): HTMLElement {
  return h(
    'span',
    { class: `badge ${RUN_STATUS_CLASS[status] ?? 'bg-slate-100 text-slate-700'}`, 'data-step-status': status },
    tMaybe(`stepStatus.${status}`, status),
  );
}

export function badge(text: string, cls = 'bg-slate-100 text-slate-700'): HTMLElement {
  return h('span', { class: `badge ${cls}` }, text);
}

/** The translated sentence for an error, and the API's own message when it adds something. */
export function errorLines(e: unknown): string[] {
  if (e instanceof ApiError) {
    if (e.code === 'network') return [t('error.network')];
    const known = tMaybe(`error.${e.code}`, '');
    const lines = [known || t('error.generic', { status: e.status })];
    if (e.message) lines.push(e.message);
    if (e.status === 429 && e.retryAfter) lines.push(t('error.retryAfter', { s: e.retryAfter }));
    return lines;
  }
  return [t('error.unexpected'), e instanceof Error ? e.message : String(e)];
}

export function errorBox(e: unknown): HTMLElement {
  const [first, ...rest] = errorLines(e);
  return h(
    'div',
    { class: 'rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800', role: 'alert' },
    h('p', { class: 'font-medium' }, first),
    rest.map((l) => h('p', { class: 'mt-0.5 break-words' }, l)),
  );
}

/** The control of `form` an API error names (`notify_emails[2]` → `notify_emails`), if any. */
function controlFor(form: HTMLElement, field: string): HTMLElement | null {
  const name = field.split(/[.[]/)[0];
  return name ? form.querySelector<HTMLElement>(`[name="${CSS.escape(name)}"]`) : null;
}

/** Takes the field errors [`showFieldError`] placed in `form` away again. */
export function clearFieldErrors(form: HTMLElement): void {
  for (const p of form.querySelectorAll('[data-field-error]')) {
    const control = form.querySelector<HTMLElement>(`[aria-describedby~="${CSS.escape(p.id)}"]`);
    if (control) {
      const rest = (control.getAttribute('aria-describedby') ?? '').split(/\s+/).filter((x) => x && x !== p.id);
      if (rest.length) control.setAttribute('aria-describedby', rest.join(' '));
      else control.removeAttribute('aria-describedby');
      control.removeAttribute('aria-invalid');
    }
    p.remove();
  }
}

/**
 * An API error that names a field: its dictionary sentence and the server's text under
 * that field of `form` (described by it, marked invalid, focused). `false` when the error
 * names no field the form has (show it in the form's error box then).
 */
export function showFieldError(form: HTMLElement, e: unknown): boolean {
  if (!(e instanceof ApiError) || !e.field) return false;
  const control = controlFor(form, e.field);
  if (!control) return false;
  clearFieldErrors(form);
  const [sentence, ...detail] = errorLines(e);
  const p = h(
    'p',
    { class: 'mt-1 text-xs text-red-700', id: uid('field-error'), role: 'alert', 'data-field-error': e.field, 'data-testid': 'field-error' },
    h('span', { class: 'font-medium' }, sentence),
    detail.length ? h('span', { class: 'block break-words' }, detail.join(' ')) : null,
  );
  // Under the control's own box (a checkbox's label, a field wrapper), not inside it.
  const anchor = control.closest('label') ?? control;
  anchor.after(p);
  const described = (control.getAttribute('aria-describedby') ?? '').split(/\s+/).filter(Boolean);
  control.setAttribute('aria-describedby', [p.id, ...described].join(' '));
  control.setAttribute('aria-invalid', 'true');
  control.focus();
  return true;
}

/** A refused save: the error under its field, or in `slot` when it names no field here. */
export function showFormError(form: HTMLElement, slot: HTMLElement, e: unknown): void {
  clearFieldErrors(form);
  // Said once: under its field when the form has it, else in the form's error box.
  if (showFieldError(form, e)) slot.replaceChildren();
  else slot.replaceChildren(errorBox(e));
}

export function infoBox(text: Child, cls = 'border-sky-200 bg-sky-50 text-sky-900'): HTMLElement {
  return h('div', { class: `rounded-md border px-3 py-2 text-sm ${cls}` }, text);
}

export function loading(): HTMLElement {
  return h('p', { class: 'muted', role: 'status' }, t('common.loading'));
}

export function empty(text: string): HTMLElement {
  return h('p', { class: 'muted py-4' }, text);
}

/** A labelled form control; returns the wrapper. The control gets an id if it has none. */
export function field(label: string, control: HTMLElement, hint?: string | null, extraClass = ''): HTMLElement {
  if (!control.id) control.id = uid();
  let hintEl: HTMLElement | null = null;
  if (hint) {
    hintEl = h('p', { class: 'mt-1 text-xs text-slate-500', id: `${control.id}-hint` }, hint);
    control.setAttribute('aria-describedby', hintEl.id);
  }
  return h('div', { class: extraClass }, h('label', { class: 'label', for: control.id }, label), control, hintEl);
}

export function checkbox(label: string, checked: boolean, onchange?: (v: boolean) => void, name?: string): {
  wrap: HTMLElement;
  input: HTMLInputElement;
} {
  const input = h('input', {
    type: 'checkbox',
    class: 'h-4 w-4 rounded border-slate-300 accent-blue-700',
    checked,
    name,
    id: uid('cb'),
  });
  if (onchange) input.addEventListener('change', () => onchange(input.checked));
  const wrap = h(
    'label',
    { class: 'inline-flex cursor-pointer items-center gap-2 text-sm text-slate-700', for: input.id },
    input,
    label,
  );
  return { wrap, input };
}

/** A card with a heading. */
export function section(title: string, ...children: Child[]): HTMLElement {
  return h('section', { class: 'card' }, h('h2', { class: 'h2 mb-3' }, title), ...children);
}

export function pageHeader(title: string, ...actions: Child[]): HTMLElement {
  return h(
    'div',
    { class: 'mb-4 flex flex-wrap items-center justify-between gap-2' },
    h('h1', { class: 'h1' }, title),
    actions.length ? h('div', { class: 'flex flex-wrap items-center gap-2' }, ...actions) : null,
  );
}

/** A scrollable table: header labels and rows of cells. */
/** On narrow screens a table becomes one card per row, each cell labelled by its header. */
export function table(
  headers: string[],
  rows: Child[][],
  opts: { caption: string; rowAttrs?: (i: number) => Record<string, string>; stack?: boolean },
): HTMLElement {
  return scrollRegion(
    opts.caption,
    h(
      'table',
      { class: opts.stack === false ? 'tbl' : 'tbl tbl-stack' },
      h('caption', { class: 'sr-only' }, opts.caption),
      h('thead', null, h('tr', null, headers.map((x) => h('th', { scope: 'col' }, x)))),
      h(
        'tbody',
        null,
        rows.map((cells, i) => {
          const tr = h('tr', null, cells.map((c, j) => h('td', { 'data-label': headers[j] ?? '' }, c)));
          const attrs = opts.rowAttrs?.(i);
          if (attrs) for (const [k, v] of Object.entries(attrs)) tr.setAttribute(k, v);
          return tr;
        }),
      ),
    ),
  );
}

/**
 * The sideways-scrolling box around a table: a named region that takes the keyboard focus,
 * so that a keyboard user can scroll it too (its cells may hold nothing focusable).
 */
export function scrollRegion(name: string, content: Child): HTMLElement {
  return h('div', { class: 'overflow-x-auto', role: 'region', 'aria-label': name, tabindex: '0' }, content);
}

/** Cursor pagination: a stack of cursors, Previous pops, Next pushes. */
export class Pager {
  private stack: (string | null)[] = [null];
  next: string | null = null;
  get cursor(): string | null {
    return this.stack[this.stack.length - 1];
  }
  get page(): number {
    return this.stack.length;
  }
  reset(): void {
    this.stack = [null];
    this.next = null;
  }
  forward(): void {
    if (this.next) this.stack.push(this.next);
  }
  back(): void {
    if (this.stack.length > 1) this.stack.pop();
  }
  /** Previous / page / Next; nothing when everything fits on one page. */
  controls(onChange: () => void): HTMLElement {
    if (this.page <= 1 && !this.next) return h('span', { hidden: true });
    return h(
      'nav',
      { class: 'mt-3 flex items-center justify-between gap-2', 'aria-label': t('pager.label') },
      h(
        'button',
        {
          type: 'button',
          class: 'btn',
          disabled: this.page <= 1,
          onclick: () => {
            this.back();
            onChange();
          },
        },
        t('pager.prev'),
      ),
      // No total (DynamoDB cannot count a page's list cheaply): whether more follow instead.
      h(
        'span',
        { class: 'muted text-center', 'data-testid': 'pager-where' },
        h('span', null, t('pager.page', { n: this.page })),
        ' · ',
        h('span', null, this.next ? t('pager.more') : t('pager.last')),
      ),
      h(
        'button',
        {
          type: 'button',
          class: 'btn',
          disabled: !this.next,
          onclick: () => {
            this.forward();
            onChange();
          },
        },
        t('pager.next'),
      ),
    );
  }
}

let toastTimer: number | undefined;
/** A short message in the polite live region. */
export function toast(text: string): void {
  const el = document.getElementById('toast');
  if (!el) return;
  el.textContent = text;
  el.classList.remove('hidden');
  window.clearTimeout(toastTimer);
  toastTimer = window.setTimeout(() => el.classList.add('hidden'), 4000);
}

/** A button that disables itself while `action` runs, and shows errors in `errorSlot`. */
export function actionButton(
  label: string,
  action: () => Promise<void>,
  opts: { cls?: string; errorSlot?: HTMLElement; attrs?: Record<string, string> } = {},
): HTMLButtonElement {
  const btn = h('button', { type: 'button', class: `btn ${opts.cls ?? ''}` }, label);
  if (opts.attrs) for (const [k, v] of Object.entries(opts.attrs)) btn.setAttribute(k, v);
  btn.addEventListener('click', async () => {
    btn.disabled = true;
    opts.errorSlot?.replaceChildren();
    try {
      await action();
    } catch (e) {
      if (opts.errorSlot) opts.errorSlot.replaceChildren(errorBox(e));
      else toast(errorLines(e).join(' — '));
    } finally {
      btn.disabled = false;
    }
  });
  return btn;
}

export function dl(pairs: [string, Child][]): HTMLElement {
  return h(
    'dl',
    { class: 'grid grid-cols-1 gap-x-4 gap-y-2 text-sm sm:grid-cols-[max-content_1fr]' },
    pairs.map(([k, v]) => [
      h('dt', { class: 'font-medium text-slate-600' }, k),
      h('dd', { class: 'min-w-0 break-words text-slate-900' }, v),
    ]),
  );
}

/**
 * How far a live run is and how long it has left, from its item's completed runs: a native
 * progress bar (announced as such) with the remaining time, the expected end and what it
 * is based on; past the usual time it says so instead of counting below zero.
 */
export function runProgress(e: RunEstimate): HTMLElement {
  // Overdue (the whole run past its usual total) still says what is left when anything is.
  const time = { d: fmtDuration(e.remaining_seconds * 1000), at: fmtClock(e.finish_at) };
  const left = !e.overdue
    ? t('estimate.remaining', time)
    : e.remaining_seconds > 0
      ? t('estimate.overdueLeft', time)
      : t('estimate.overdue');
  const label = h('span', { id: uid('progress') }, left);
  return h(
    'div',
    { class: 'space-y-1 text-sm', 'data-testid': 'run-progress', 'data-percent': String(e.percent) },
    h(
      'div',
      { class: 'flex flex-wrap items-baseline justify-between gap-x-3' },
      label,
      h('span', { class: 'text-slate-600' }, t('estimate.basis', { n: e.based_on_runs })),
    ),
    h('progress', {
      class: 'h-2 w-full accent-indigo-600',
      max: '100',
      value: String(e.percent),
      'aria-labelledby': label.id,
    }),
  );
}

/**
 * While the test server answers no poll (the monitor step's `unreachable_since`): since when,
 * how many polls failed in a row and until when CRAT keeps trying (`unreachable_until`).
 * `detail` adds the last poll's error (the run page); lists show the line alone.
 */
export function unreachableNotice(r: Run, detail = false): HTMLElement | null {
  const monitor = r.steps?.find((s) => s.name === 'MONITOR');
  const d = monitor?.details ?? {};
  const text = (v: unknown) => (typeof v === 'string' && v !== '' ? v : null);
  const since = text(d.unreachable_since);
  if (!monitor || monitor.status !== 'RUNNING' || !since) return null;
  const polls = typeof d.failed_polls === 'number' ? d.failed_polls : 1;
  const until = text(d.unreachable_until);
  const lastError = detail ? text(d.last_error) : null;
  return h(
    'p',
    {
      class: `${detail ? 'mt-3 px-3 py-2 text-sm' : 'px-2 py-1 text-xs'} rounded-md border border-amber-300 bg-amber-50 text-amber-900`,
      role: 'status',
      'data-testid': 'unreachable-banner',
    },
    until
      ? t('run.unreachableUntil', { since: fmtTime(since), n: polls, until: fmtTime(until) })
      : t('run.unreachable', { since: fmtTime(since), n: polls }),
    lastError && h('span', { class: 'block muted' }, lastError),
  );
}

/**
 * "Test connection" beside a server URL: one GET from CRAT with the client its steps use,
 * answering what was reached (or why not). `url()` is what the form holds now (empty: the saved one).
 */
export function connectionTester(target: 'package_server' | 'test_server', url: () => string, testId: string): HTMLElement {
  const out = h('p', { class: 'text-xs empty:hidden', role: 'status', 'data-testid': `${testId}-result` });
  const button = h('button', { type: 'button', class: 'btn btn-sm', 'data-testid': testId }, t('connection.test'));
  button.addEventListener('click', async () => {
    button.disabled = true;
    out.className = 'text-xs text-slate-600';
    out.textContent = t('connection.trying');
    try {
      const u = url().trim();
      const a = await post<{ reached: boolean; status?: number | null; elapsed_ms: number; url: string; detail: string }>('/settings/test-connection', {
        target,
        ...(u ? { url: u } : {}),
      });
      out.className = a.reached ? 'text-xs text-emerald-800' : 'text-xs text-red-800';
      out.textContent = a.reached
        ? t('connection.reached', { url: a.url, status: a.status ?? '', ms: a.elapsed_ms })
        : t('connection.notReached', { url: a.url, detail: a.detail });
    } catch (e) {
      out.className = 'text-xs text-red-800';
      out.textContent = errorLines(e).join(' ');
    } finally {
      button.disabled = false;
    }
  });
  return h('div', { class: 'mt-2 flex flex-wrap items-center gap-2' }, button, out);
}
