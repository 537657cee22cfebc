import { del, getAll, post, put } from '../../api';
import { fill, h } from '../../dom';
import { t } from '../../i18n';
import type { Ctx } from '../../router';
import type { Environment, JobOverview, ParameterSet, TestItem } from '../../types';
import { badge, checkbox, empty, errorBox, field, loading, pageHeader, section, table, toast, showFormError } from '../../ui';

function parseEmails(text: string): string[] {
  return text
    .split(/[\s,;]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

export async function testItemsPage(ctx: Ctx): Promise<void> {
  document.title = `${t('items.title')} · CRAT`;
  const listBox = h('div', null, loading());
  // The form column shows only while a form is open; the list takes the width otherwise.
  const formBox = h('div', { class: 'min-w-0 shrink-0 empty:hidden lg:w-[28rem]' });
  // Enabled once the parameter sets and jobs the form offers are loaded.
  const newBtn = h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'new-item', disabled: true }, t('items.new'));
  newBtn.addEventListener('click', () => renderForm(null));
  ctx.main.append(
    pageHeader(t('items.title'), newBtn),
    h('div', { class: 'flex flex-col gap-4 lg:flex-row lg:items-start' }, h('div', { class: 'min-w-0 flex-1' }, section(t('items.listTitle'), listBox)), formBox),
  );

  let items: TestItem[] = [];
  let sets: ParameterSet[] = [];
  let jobs: JobOverview[] = [];
  let envs: Environment[] = [];
  const datalist = h('datalist', { id: 'job-names' });
  ctx.main.append(datalist);

  const setName = (id: number | null | undefined): string => {
    if (id == null) {
      const d = sets.find((s) => s.is_default);
      return d ? t('items.defaultSetNamed', { name: d.name }) : t('items.defaultSet');
    }
    return sets.find((s) => s.id === id)?.name ?? `#${id}`;
  };
  const envName = (id: number | null | undefined): string => {
    if (id == null) return t('items.defaultEnvironment');
    const env = envs.find((e) => e.id === id);
    if (!env) return `#${id}`;
    return env.enabled ? env.name : t('items.environmentDisabled', { name: env.name });
  };

  async function reload(): Promise<void> {
    try {
      [items, sets, jobs, envs] = await Promise.all([
        getAll<TestItem>('/test-items'),
        getAll<ParameterSet>('/parameter-sets'),
        getAll<JobOverview>('/jobs'),
        getAll<Environment>('/environments'),
      ]);
    } catch (e) {
      fill(listBox, errorBox(e));
      return;
    }
    if (!ctx.alive()) return;
    newBtn.disabled = false;
    fill(datalist, jobs.map((j) => h('option', { value: j.job_name })));
    if (!items.length) {
      fill(listBox, empty(t('items.none')));
      return;
    }
    const rowError = h('div', { class: 'mb-2 empty:hidden' });
    fill(
      listBox,
      rowError,
      table(
        [t('items.col.name'), t('items.col.job'), t('items.col.set'), t('items.col.environment'), t('items.col.state'), t('common.actions')],
        items.map((it) => [
          h('div', null, h('span', { class: 'font-medium break-all', 'data-testid': 'item-name' }, it.name), it.description ? h('p', { class: 'muted text-xs break-words' }, it.description) : null),
          h('span', { class: 'break-all' }, it.job_name),
          setName(it.parameter_set_id),
          h('span', { 'data-testid': 'item-env' }, envName(it.environment_id)),
          it.enabled ? badge(t('tests.enabled'), 'bg-emerald-100 text-emerald-800') : badge(t('tests.disabled'), 'bg-slate-200 text-slate-700'),
          h(
            'div',
            { class: 'flex flex-wrap gap-1' },
            h('button', { type: 'button', class: 'btn btn-sm', onclick: () => renderForm(it), 'aria-label': t('items.editAria', { name: it.name }) }, t('common.edit')),
            h(
              'button',
              {
                type: 'button',
                class: 'btn btn-sm btn-danger',
                'aria-label': t('items.deleteAria', { name: it.name }),
                onclick: async () => {
                  if (!window.confirm(t('items.deleteConfirm', { name: it.name, job: it.job_name }))) return;
                  try {
                    await del(`/test-items/${it.id}`);
                    toast(t('items.deleted', { name: it.name }));
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
        { caption: t('items.listTitle') },
      ),
    );
  }

  function renderForm(it: TestItem | null): void {
    const name = h('input', { class: 'input', name: 'name', required: true, value: it?.name ?? '', placeholder: t('items.namePlaceholder'), 'data-testid': 'item-name-input' });
    const job = h('input', { class: 'input', name: 'job_name', required: true, value: it?.job_name ?? '', list: 'job-names', placeholder: t('items.jobPlaceholder'), 'data-testid': 'item-job-input' });
    const set = h(
      'select',
      { class: 'input', name: 'parameter_set_id', 'data-testid': 'item-set-select' },
      h('option', { value: '' }, setName(null)),
      sets.map((s) => h('option', { value: String(s.id), selected: it?.parameter_set_id === s.id }, `${s.name} (v${s.version})`)),
    );
    const env = h(
      'select',
      { class: 'input', name: 'environment_id', 'data-testid': 'item-env-select' },
      h('option', { value: '' }, envName(null)),
      envs.map((e) => h('option', { value: String(e.id), selected: it?.environment_id === e.id }, envName(e.id))),
    );
    const desc = h('textarea', { class: 'input', name: 'description', rows: '2' });
    desc.value = it?.description ?? '';
    const emails = h('textarea', { class: 'input', name: 'notify_emails', rows: '2', placeholder: t('items.notifyPlaceholder') });
    emails.value = (it?.notify_emails ?? []).join('\n');
    const enabled = checkbox(t('items.enabled'), it?.enabled ?? true);
    const errorSlot = h('div');
    const save = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'item-save' }, it ? t('common.save') : t('common.create'));
    const cancel = h('button', { type: 'button', class: 'btn', onclick: () => fill(formBox) }, t('common.cancel'));
    const form = h(
      'form',
      { class: 'space-y-3', novalidate: true },
      field(t('items.name'), name, t('items.nameHint')),
      field(t('items.job'), job, t('items.jobHint')),
      field(t('items.set'), set),
      field(t('items.environment'), env, t('items.environmentHint')),
      field(t('items.description'), desc),
      field(t('items.notify'), emails, t('items.notifyHint')),
      enabled.wrap,
      errorSlot,
      h('div', { class: 'flex gap-2' }, save, cancel),
    );
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      errorSlot.replaceChildren();
      for (const [input, msg] of [
        [name, t('items.nameRequired')],
        [job, t('items.jobRequired')],
      ] as const) {
        if (!input.value.trim()) {
          input.setAttribute('aria-invalid', 'true');
          errorSlot.replaceChildren(h('p', { class: 'rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800', role: 'alert' }, msg));
          input.focus();
          return;
        }
        input.removeAttribute('aria-invalid');
      }
      const list = parseEmails(emails.value);
      const bad = list.find((e) => !/^[^\s@]+@[^\s@]+$/.test(e));
      if (bad) {
        emails.setAttribute('aria-invalid', 'true');
        errorSlot.replaceChildren(h('p', { class: 'rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800', role: 'alert' }, t('items.badEmail', { email: bad })));
        emails.focus();
        return;
      }
      emails.removeAttribute('aria-invalid');
      const body = {
        name: name.value.trim(),
        job_name: job.value.trim(),
        parameter_set_id: set.value ? Number(set.value) : null,
        environment_id: env.value ? Number(env.value) : null,
        description: desc.value,
        enabled: enabled.input.checked,
        notify_emails: list,
      };
      save.disabled = true;
      try {
        const saved = it ? await put<TestItem>(`/test-items/${it.id}`, body) : await post<TestItem>('/test-items', body);
        toast(it ? t('items.saved', { name: saved.name }) : t('items.created', { name: saved.name }));
        fill(formBox);
        await reload();
      } catch (e) {
        showFormError(form, errorSlot, e);
      } finally {
        save.disabled = false;
      }
    });
    fill(formBox, section(it ? t('items.editTitle', { name: it.name }) : t('items.newTitle'), form));
    name.focus();
  }

  await reload();
}
