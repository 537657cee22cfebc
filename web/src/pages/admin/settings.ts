import { get, put } from '../../api';
import { fill, h } from '../../dom';
import { t, tMaybe } from '../../i18n';
import type { Ctx } from '../../router';
import type { Settings } from '../../types';
import { checkbox, connectionTester, errorBox, loading, pageHeader, section, toast, showFormError } from '../../ui';

type Kind = 'text' | 'url' | 'int' | 'bool' | 'list' | 'json' | 'choice';
interface Meta {
  kind: Kind;
  min?: number;
  max?: number;
  optional?: boolean;
  item?: 'email' | 'domain' | 'origin';
  /** The values a `choice` may take (each labelled by `settings.choice.KEY.VALUE`). */
  choices?: readonly string[];
}

// What the API documents (README "Settings"); keys the API adds later still show, typed by their value.
const META: Record<string, Meta> = {
  project_name: { kind: 'text' },
  package_download_base_url: { kind: 'url', optional: true },
  external_test_server_url: { kind: 'url', optional: true },
  report_base_url: { kind: 'url', optional: true },
  poll_interval_seconds: { kind: 'int', min: 1, max: 3600 },
  poll_request_timeout_seconds: { kind: 'int', min: 1, max: 300 },
  max_monitor_seconds: { kind: 'int', min: 60, max: 140400 }, // shared::domain::timing::MAX_MONITOR_SECONDS_LIMIT (39 h)
  max_unreachable_seconds: { kind: 'int', min: 60, max: 140400 }, // shared::domain::settings validation (60 s to 39 h)
  auto_sync_interval_hours: { kind: 'int', min: 1, max: 2160 },
  allowed_email_domains: { kind: 'list', item: 'domain' },
  notify_cc: { kind: 'list', item: 'email' },
  report_origins: { kind: 'list', item: 'origin' },
  mail_language: { kind: 'choice', choices: ['en', 'zh-CN'] },
};

function metaFor(key: string, value: unknown): Meta {
  if (META[key]) return META[key];
  if (typeof value === 'number') return { kind: 'int' };
  if (typeof value === 'boolean') return { kind: 'bool' };
  if (Array.isArray(value)) return { kind: 'list' };
  if (value !== null && typeof value === 'object') return { kind: 'json' };
  return { kind: 'text', optional: value === null };
}

interface FieldCtl {
  key: string;
  meta: Meta;
  input: HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement;
  msg: HTMLElement;
  /** The value to send, or an error message. */
  read(): { ok: true; value: unknown } | { ok: false; message: string };
}

function isHttpUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return (u.protocol === 'http:' || u.protocol === 'https:') && !!u.host;
  } catch {
    return false;
  }
}

/** `scheme://host[:port]` with nothing after it (a trailing `/` is allowed; the server normalises). */
function isOrigin(s: string): boolean {
  if (!isHttpUrl(s) || /[?#]/.test(s)) return false;
  const u = new URL(s);
  return u.pathname === '/' && !u.username && !u.password;
}

export async function settingsPage(ctx: Ctx): Promise<void> {
  document.title = `${t('settings.title')} · CRAT`;
  const box = h('div', null, loading());
  ctx.main.append(pageHeader(t('settings.title')), h('p', { class: 'muted mb-4' }, t('settings.intro')), box);

  let current: Settings;
  try {
    current = await get<Settings>('/settings');
  } catch (e) {
    fill(box, errorBox(e));
    return;
  }
  if (!ctx.alive()) return;

  const controls: FieldCtl[] = Object.entries(current).map(([key, value]) => makeControl(key, value));
  const errorSlot = h('div');
  const save = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'settings-save' }, t('common.save'));
  const form = h(
    'form',
    { class: 'space-y-5', novalidate: true },
    controls.map((c) => {
      const label = tMaybe(`settings.key.${c.key}`, c.key);
      const hint = tMaybe(`settings.hint.${c.key}`, '');
      const range = c.meta.min !== undefined ? t('settings.range', { min: c.meta.min, max: c.meta.max ?? '∞' }) : '';
      const hintText = [hint, range].filter(Boolean).join(' ');
      return h(
        'div',
        { 'data-setting': c.key },
        c.meta.kind === 'bool'
          ? null
          : h('label', { class: 'label', for: c.input.id }, label, h('code', { class: 'ml-2 text-xs font-normal text-slate-500' }, c.key)),
        c.meta.kind === 'bool' ? (c.input.parentElement as HTMLElement) : c.input,
        hintText ? h('p', { class: 'mt-1 text-xs text-slate-500' }, hintText) : null,
        c.msg,
        c.key === 'package_download_base_url' || c.key === 'external_test_server_url'
          ? connectionTester(c.key === 'package_download_base_url' ? 'package_server' : 'test_server', () => (c.input as HTMLInputElement).value, `test-${c.key}`)
          : null,
      );
    }),
    errorSlot,
    h('div', null, save),
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    errorSlot.replaceChildren();
    const body: Record<string, unknown> = {};
    let firstBad: FieldCtl | null = null;
    for (const c of controls) {
      const r = c.read();
      c.msg.textContent = r.ok ? '' : r.message;
      c.input.setAttribute('aria-invalid', r.ok ? 'false' : 'true');
      if (!r.ok) {
        firstBad ??= c;
        continue;
      }
      if (JSON.stringify(r.value) !== JSON.stringify(current[c.key] ?? null)) body[c.key] = r.value;
    }
    if (firstBad) {
      errorSlot.replaceChildren(h('p', { class: 'rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800', role: 'alert' }, t('settings.fixErrors')));
      firstBad.input.focus();
      return;
    }
    if (!Object.keys(body).length) {
      toast(t('settings.nothingChanged'));
      return;
    }
    save.disabled = true;
    try {
      current = await put<Settings>('/settings', body);
      toast(t('settings.saved', { n: Object.keys(body).length }));
    } catch (e) {
      showFormError(form, errorSlot, e);
    } finally {
      save.disabled = false;
    }
  });
  fill(box, section(t('settings.formTitle'), form));
}

function makeControl(key: string, value: unknown): FieldCtl {
  const meta = metaFor(key, value);
  const msg = h('p', { class: 'mt-1 text-xs text-red-700 empty:hidden', 'aria-live': 'polite' });
  const id = `setting-${key}`;
  switch (meta.kind) {
    case 'bool': {
      const cb = checkbox(tMaybe(`settings.key.${key}`, key), !!value, undefined, key);
      cb.input.id = id;
      cb.wrap.setAttribute('for', id);
      return { key, meta, input: cb.input, msg, read: () => ({ ok: true, value: cb.input.checked }) };
    }
    case 'int': {
      const input = h('input', { class: 'input max-w-[12rem]', type: 'number', id, name: key, step: '1', inputmode: 'numeric', value: value == null ? '' : String(value) });
      if (meta.min !== undefined) input.min = String(meta.min);
      if (meta.max !== undefined) input.max = String(meta.max);
      return {
        key,
        meta,
        input,
        msg,
        read: () => {
          const n = Number(input.value);
          if (input.value.trim() === '' || !Number.isInteger(n)) return { ok: false, message: t('settings.needInteger') };
          if ((meta.min !== undefined && n < meta.min) || (meta.max !== undefined && n > meta.max))
            return { ok: false, message: t('settings.outOfRange', { min: meta.min ?? '-∞', max: meta.max ?? '∞' }) };
          return { ok: true, value: n };
        },
      };
    }
    case 'list': {
      const input = h('textarea', { class: 'input font-mono text-xs', id, name: key, rows: '3' });
      input.value = Array.isArray(value) ? value.map(String).join('\n') : '';
      return {
        key,
        meta,
        input,
        msg,
        read: () => {
          const items = input.value
            .split(/[\s,;]+/)
            .map((s) => s.trim())
            .filter(Boolean);
          for (const it of items) {
            if (meta.item === 'email' && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(it)) return { ok: false, message: t('settings.badEmail', { v: it }) };
            if (meta.item === 'domain' && !/^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+$/.test(it.replace(/^@/, '')))
              return { ok: false, message: t('settings.badDomain', { v: it }) };
            if (meta.item === 'origin' && !isOrigin(it)) return { ok: false, message: t('settings.badOrigin', { v: it }) };
          }
          return { ok: true, value: items };
        },
      };
    }
    case 'choice': {
      const choices = meta.choices ?? [];
      const input = h(
        'select',
        { class: 'input max-w-[16rem]', id, name: key },
        choices.map((c) => h('option', { value: c }, tMaybe(`settings.choice.${key}.${c}`, c))),
      );
      input.value = value == null ? '' : String(value);
      return { key, meta, input, msg, read: () => ({ ok: true, value: input.value }) };
    }
    case 'json': {
      const input = h('textarea', { class: 'input font-mono text-xs', id, name: key, rows: '4', spellcheck: 'false' });
      input.value = JSON.stringify(value, null, 2);
      return {
        key,
        meta,
        input,
        msg,
        read: () => {
          try {
            return { ok: true, value: JSON.parse(input.value) };
          } catch {
            return { ok: false, message: t('settings.badJson') };
          }
        },
      };
    }
    default: {
      const input = h('input', { class: 'input', id, name: key, type: meta.kind === 'url' ? 'url' : 'text', value: value == null ? '' : String(value) });
      if (meta.kind === 'url') input.placeholder = t('settings.urlPlaceholder');
      return {
        key,
        meta,
        input,
        msg,
        read: () => {
          const v = input.value.trim();
          if (!v) return meta.optional ? { ok: true, value: null } : { ok: false, message: t('settings.required') };
          if (meta.kind === 'url' && !isHttpUrl(v)) return { ok: false, message: t('settings.badUrl') };
          return { ok: true, value: v };
        },
      };
    }
  }
}
