// Admin: test environments (the test servers runs go to). A delete refused because test
// items use the environment shows the server's 409, which names those items.
import { del, getAll, post, put } from '../../api';
import { fill, h } from '../../dom';
import { t } from '../../i18n';
import type { Ctx } from '../../router';
import type { Environment } from '../../types';
import { badge, checkbox, connectionTester, empty, errorBox, field, infoBox, loading, pageHeader, section, table, toast, showFormError } from '../../ui';

const formAlert = (msg: string) =>
  h('p', { class: 'rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800', role: 'alert' }, msg);

export async function environmentsPage(ctx: Ctx): Promise<void> {
  document.title = `${t('envs.title')} · CRAT`;
  const listBox = h('div', null, loading());
  const formBox = h('div', { class: 'min-w-0 shrink-0 empty:hidden lg:w-[28rem]' });
  const newBtn = h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'new-env' }, t('envs.new'));
  newBtn.addEventListener('click', () => renderForm(null));
  ctx.main.append(
    pageHeader(t('envs.title'), newBtn),
    h('div', { class: 'mb-4' }, infoBox(t('envs.intro'))),
    h('div', { class: 'flex flex-col gap-4 lg:flex-row lg:items-start' }, h('div', { class: 'min-w-0 flex-1' }, section(t('envs.listTitle'), listBox)), formBox),
  );

  async function reload(): Promise<void> {
    let envs: Environment[];
    try {
      envs = await getAll<Environment>('/environments');
    } catch (e) {
      fill(listBox, errorBox(e));
      return;
    }
    if (!ctx.alive()) return;
    if (!envs.length) {
      fill(listBox, empty(t('envs.none')));
      return;
    }
    const rowError = h('div', { class: 'mb-2 empty:hidden', 'data-testid': 'env-error' });
    fill(
      listBox,
      rowError,
      table(
        [t('envs.col.name'), t('envs.col.server'), t('envs.col.state'), t('common.actions')],
        envs.map((env) => [
          h('div', null, h('span', { class: 'font-medium break-all', 'data-testid': 'env-name' }, env.name), env.description ? h('p', { class: 'muted text-xs break-words' }, env.description) : null),
          h('span', { class: 'break-all' }, env.external_test_server_url),
          env.enabled ? badge(t('envs.enabledBadge'), 'bg-emerald-100 text-emerald-800') : badge(t('envs.disabledBadge'), 'bg-slate-200 text-slate-700'),
          h(
            'div',
            { class: 'flex flex-wrap gap-1' },
            h('button', { type: 'button', class: 'btn btn-sm', onclick: () => renderForm(env), 'aria-label': t('envs.editAria', { name: env.name }) }, t('common.edit')),
            h(
              'button',
              {
                type: 'button',
                class: 'btn btn-sm btn-danger',
                'data-testid': 'env-delete',
                'aria-label': t('envs.deleteAria', { name: env.name }),
                onclick: async () => {
                  if (!window.confirm(t('envs.deleteConfirm', { name: env.name }))) return;
                  try {
                    await del(`/environments/${env.id}`);
                    toast(t('envs.deleted', { name: env.name }));
                    await reload();
                  } catch (e) {
                    // 409 environment_in_use: the message names the test items.
                    fill(rowError, errorBox(e));
                  }
                },
              },
              t('common.delete'),
            ),
          ),
        ]),
        { caption: t('envs.listTitle') },
      ),
    );
  }

  function renderForm(env: Environment | null): void {
    const name = h('input', { class: 'input', name: 'name', required: true, value: env?.name ?? '', placeholder: t('envs.namePlaceholder'), 'data-testid': 'env-name-input' });
    const server = h('input', {
      class: 'input',
      name: 'external_test_server_url',
      type: 'url',
      required: true,
      value: env?.external_test_server_url ?? '',
      placeholder: t('settings.urlPlaceholder'),
      'data-testid': 'env-server-input',
    });
    const origins = h('textarea', { class: 'input', name: 'report_origins', rows: '2', 'data-testid': 'env-origins-input' });
    origins.value = (env?.report_origins ?? []).join('\n');
    const desc = h('textarea', { class: 'input', name: 'description', rows: '2' });
    desc.value = env?.description ?? '';
    const enabled = checkbox(t('envs.enabled'), env?.enabled ?? true);
    const errorSlot = h('div');
    const save = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'env-save' }, env ? t('common.save') : t('common.create'));
    const cancel = h('button', { type: 'button', class: 'btn', onclick: () => fill(formBox) }, t('common.cancel'));
    const form = h(
      'form',
      { class: 'space-y-3', novalidate: true },
      field(t('envs.name'), name),
      field(t('envs.server'), server, t('envs.serverHint')),
      connectionTester('test_server', () => server.value, 'test-env-server'),
      field(t('envs.origins'), origins, t('envs.originsHint')),
      field(t('envs.description'), desc),
      enabled.wrap,
      errorSlot,
      h('div', { class: 'flex gap-2' }, save, cancel),
    );
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      errorSlot.replaceChildren();
      for (const [input, msg] of [
        [name, t('envs.nameRequired')],
        [server, t('envs.serverRequired')],
      ] as const) {
        if (!input.value.trim()) {
          input.setAttribute('aria-invalid', 'true');
          errorSlot.replaceChildren(formAlert(msg));
          input.focus();
          return;
        }
        input.removeAttribute('aria-invalid');
      }
      const body = {
        name: name.value.trim(),
        external_test_server_url: server.value.trim(),
        report_origins: origins.value
          .split(/[\s,]+/)
          .map((s) => s.trim())
          .filter(Boolean),
        description: desc.value,
        enabled: enabled.input.checked,
      };
      save.disabled = true;
      try {
        const saved = env ? await put<Environment>(`/environments/${env.id}`, body) : await post<Environment>('/environments', body);
        toast(env ? t('envs.saved', { name: saved.name }) : t('envs.created', { name: saved.name }));
        fill(formBox);
        await reload();
      } catch (e) {
        showFormError(form, errorSlot, e);
      } finally {
        save.disabled = false;
      }
    });
    fill(formBox, section(env ? t('envs.editTitle', { name: env.name }) : t('envs.newTitle'), form));
    name.focus();
  }

  await reload();
}
