import { del, get, getAll, post, put, qs } from '../../api';
import { fill, h } from '../../dom';
import { fmtTime } from '../../format';
import { t } from '../../i18n';
import type { Ctx } from '../../router';
import type { Page, ParameterSet, ParameterSetVersion } from '../../types';
import { badge, empty, errorBox, field, loading, pageHeader, section, table, toast, showFormError } from '../../ui';

/** Checks the params text: a JSON object whose known keys have the right types. */
export function checkParams(text: string): { ok: true; value: Record<string, unknown> } | { ok: false; message: string } {
  let value: unknown;
  try {
    value = JSON.parse(text.trim() === '' ? '{}' : text);
  } catch (e) {
    return { ok: false, message: t('sets.jsonInvalid', { detail: e instanceof Error ? e.message : String(e) }) };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { ok: false, message: t('sets.jsonNotObject') };
  const o = value as Record<string, unknown>;
  if ('service_name' in o && typeof o.service_name !== 'string') return { ok: false, message: t('sets.badServiceName') };
  if ('install_dir' in o && (typeof o.install_dir !== 'string' || !o.install_dir.startsWith('/')))
    return { ok: false, message: t('sets.badInstallDir') };
  if ('upgrade_type' in o && o.upgrade_type !== 'full' && o.upgrade_type !== 'update') return { ok: false, message: t('sets.badUpgradeType') };
  if (new TextEncoder().encode(JSON.stringify(o)).length > 16 * 1024) return { ok: false, message: t('sets.tooLarge') };
  return { ok: true, value: o };
}

const TEMPLATE = '{\n  "service_name": "cds",\n  "install_dir": "/opt/cdn",\n  "upgrade_type": "full"\n}';

export async function parameterSetsPage(ctx: Ctx): Promise<void> {
  document.title = `${t('sets.title')} · CRAT`;
  const listBox = h('div', null, loading());
  // The form column shows only while a form is open; the list takes the width otherwise.
  const formBox = h('div', { class: 'min-w-0 shrink-0 empty:hidden lg:w-[28rem]' });
  const versionsBox = h('div');
  const newBtn = h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'new-set' }, t('sets.new'));
  newBtn.addEventListener('click', () => renderForm(null));
  ctx.main.append(
    pageHeader(t('sets.title'), newBtn),
    h('div', { class: 'flex flex-col gap-4 lg:flex-row lg:items-start' }, h('div', { class: 'min-w-0 flex-1 space-y-4' }, section(t('sets.listTitle'), listBox), versionsBox), formBox),
  );

  let sets: ParameterSet[] = [];

  async function reload(): Promise<void> {
    try {
      sets = await getAll<ParameterSet>('/parameter-sets');
    } catch (e) {
      fill(listBox, errorBox(e));
      return;
    }
    if (!ctx.alive()) return;
    if (!sets.length) {
      fill(listBox, empty(t('sets.none')));
      return;
    }
    const rowError = h('div', { class: 'mb-2 empty:hidden' });
    fill(
      listBox,
      rowError,
      table(
        [t('sets.col.name'), t('sets.col.version'), t('sets.col.updated'), t('common.actions')],
        sets.map((s) => [
          h(
            'div',
            { class: 'min-w-[8rem]' },
            h('span', { class: 'font-medium break-all', 'data-testid': 'set-name' }, s.name),
            s.is_default ? h('span', { class: 'ml-2' }, badge(t('sets.default'), 'bg-blue-100 text-blue-800')) : null,
            s.description ? h('p', { class: 'muted text-xs break-words' }, s.description) : null,
          ),
          `v${s.version}`,
          h('span', { class: 'text-xs' }, fmtTime(s.updated_at), h('br'), h('span', { class: 'muted' }, s.updated_by ?? '')),
          h(
            'div',
            { class: 'flex flex-wrap gap-1' },
            h('button', { type: 'button', class: 'btn btn-sm', onclick: () => renderForm(s), 'aria-label': t('sets.editAria', { name: s.name }) }, t('common.edit')),
            h('button', { type: 'button', class: 'btn btn-sm', onclick: () => void showVersions(s), 'aria-label': t('sets.versionsAria', { name: s.name }) }, t('sets.versions')),
            s.is_default
              ? null
              : h(
                  'button',
                  {
                    type: 'button',
                    class: 'btn btn-sm',
                    onclick: async () => {
                      try {
                        await put(`/parameter-sets/${s.id}`, { is_default: true });
                        toast(t('sets.madeDefault', { name: s.name }));
                        await reload();
                      } catch (e) {
                        fill(rowError, errorBox(e));
                      }
                    },
                  },
                  t('sets.makeDefault'),
                ),
            s.is_default
              ? null
              : h(
                  'button',
                  {
                    type: 'button',
                    class: 'btn btn-sm btn-danger',
                    'aria-label': t('sets.deleteAria', { name: s.name }),
                    onclick: async () => {
                      if (!window.confirm(t('sets.deleteConfirm', { name: s.name }))) return;
                      try {
                        await del(`/parameter-sets/${s.id}`);
                        toast(t('sets.deleted', { name: s.name }));
                        await reload();
                      } catch (e) {
                        fill(rowError, errorBox(e));
                      }
                    },
                  },
                  t('common.delete'),
                ),
          ),
        ]),
        { caption: t('sets.listTitle') },
      ),
    );
  }

  async function showVersions(s: ParameterSet): Promise<void> {
    const box = h('div', null, loading());
    fill(versionsBox, section(t('sets.versionsOf', { name: s.name }), box));
    try {
      const page = await get<Page<ParameterSetVersion>>(`/parameter-sets/${s.id}/versions${qs({ limit: 50 })}`);
      if (!ctx.alive()) return;
      fill(
        box,
        h(
          'ol',
          { class: 'space-y-2', 'data-testid': 'set-versions' },
          page.items.map((v) =>
            h(
              'li',
              { class: 'rounded border border-slate-200 p-2' },
              h('p', { class: 'text-sm' }, h('strong', null, `v${v.version}`), ` · ${v.name} · ${fmtTime(v.updated_at)}${v.updated_by ? ` · ${v.updated_by}` : ''}`),
              v.description ? h('p', { class: 'muted text-xs' }, v.description) : null,
              h(
                'details',
                null,
                h('summary', { class: 'cursor-pointer text-xs text-slate-600' }, t('sets.params')),
                h('pre', { class: 'mono mt-1 overflow-x-auto rounded bg-slate-50 p-2 whitespace-pre-wrap' }, JSON.stringify(v.params, null, 2)),
              ),
            ),
          ),
        ),
        page.next_cursor ? h('p', { class: 'muted mt-2' }, t('sets.moreVersions')) : null,
      );
    } catch (e) {
      fill(box, errorBox(e));
    }
    versionsBox.scrollIntoView({ block: 'nearest' });
  }

  function renderForm(s: ParameterSet | null): void {
    const name = h('input', { class: 'input', name: 'name', required: true, maxlength: '200', value: s?.name ?? '', 'data-testid': 'set-name-input' });
    const desc = h('textarea', { class: 'input', name: 'description', rows: '2', 'data-testid': 'set-description' });
    desc.value = s?.description ?? '';
    const params = h('textarea', {
      class: 'input font-mono text-xs',
      name: 'params',
      rows: '12',
      spellcheck: 'false',
      'data-testid': 'set-params',
    });
    params.value = s ? JSON.stringify(s.params, null, 2) : TEMPLATE;
    const status = h('p', { class: 'mt-1 text-xs', 'aria-live': 'polite', 'data-testid': 'json-status' });
    const validate = (): ReturnType<typeof checkParams> => {
      const r = checkParams(params.value);
      params.setAttribute('aria-invalid', r.ok ? 'false' : 'true');
      status.className = `mt-1 text-xs ${r.ok ? 'text-emerald-700' : 'text-red-700'}`;
      status.textContent = r.ok ? t('sets.jsonOk') : r.message;
      return r;
    };
    params.addEventListener('input', validate);
    validate();
    const format = h('button', { type: 'button', class: 'btn btn-sm' }, t('sets.format'));
    format.addEventListener('click', () => {
      const r = validate();
      if (r.ok) params.value = JSON.stringify(r.value, null, 2);
    });
    const errorSlot = h('div');
    const save = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'set-save' }, s ? t('common.save') : t('common.create'));
    const cancel = h('button', { type: 'button', class: 'btn', onclick: () => fill(formBox) }, t('common.cancel'));
    const form = h(
      'form',
      { class: 'space-y-3', novalidate: true },
      field(t('sets.name'), name),
      field(t('sets.description'), desc),
      h(
        'div',
        null,
        h('div', { class: 'mb-1 flex items-center justify-between' }, h('label', { class: 'label mb-0', for: 'set-params' }, t('sets.params')), format),
        params,
        status,
        h('p', { class: 'mt-1 text-xs text-slate-500' }, t('sets.paramsHint')),
      ),
      errorSlot,
      h('div', { class: 'flex gap-2' }, save, cancel),
    );
    params.id = 'set-params';
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      errorSlot.replaceChildren();
      if (!name.value.trim()) {
        name.setAttribute('aria-invalid', 'true');
        errorSlot.replaceChildren(errorText(t('sets.nameRequired')));
        name.focus();
        return;
      }
      name.removeAttribute('aria-invalid');
      const r = validate();
      if (!r.ok) {
        errorSlot.replaceChildren(errorText(r.message));
        params.focus();
        return;
      }
      save.disabled = true;
      try {
        const body = { name: name.value.trim(), description: desc.value, params: r.value };
        const saved = s ? await put<ParameterSet>(`/parameter-sets/${s.id}`, body) : await post<ParameterSet>('/parameter-sets', body);
        toast(s ? t('sets.saved', { name: saved.name, v: saved.version }) : t('sets.created', { name: saved.name }));
        fill(formBox);
        await reload();
      } catch (e) {
        showFormError(form, errorSlot, e);
      } finally {
        save.disabled = false;
      }
    });
    fill(formBox, section(s ? t('sets.editTitle', { name: s.name, v: s.version }) : t('sets.newTitle'), form));
    name.focus();
  }

  await reload();
}

function errorText(msg: string): HTMLElement {
  return h('p', { class: 'rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800', role: 'alert' }, msg);
}
