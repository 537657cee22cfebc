// Admin: notification channels (team chats told about runs). The secret is write-only: the
// list says whether one is set, the form never shows it back, and only the kinds that sign
// their messages (Feishu, DingTalk, webhook) have the field at all.
import { del, get, getAll, post, put } from '../../api';
import { fill, h } from '../../dom';
import { t, type Key } from '../../i18n';
import type { Ctx } from '../../router';
import {
  CHANNEL_KINDS,
  CHANNEL_RULES,
  SIGNING_KINDS,
  type ChannelBody,
  type ChannelKind,
  type ChannelRule,
  type ChannelTestAnswer,
  type ChannelView,
  type TestItem,
} from '../../types';
import { badge, checkbox, empty, errorBox, errorLines, field, infoBox, loading, pageHeader, section, table, toast, showFormError } from '../../ui';

const formAlert = (msg: string) =>
  h('p', { class: 'rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800', role: 'alert' }, msg);

/** The platform's human name: Feishu / Lark, DingTalk, … */
export const kindName = (k: ChannelKind): string => t(`channels.kind.${k}` as Key);
const ruleName = (r: ChannelRule): string => t(`channels.rule.${r}` as Key);
const takesSecret = (k: ChannelKind): boolean => SIGNING_KINDS.includes(k);

/** All channels, for pages that name them (the run page); admins only. */
export const listChannels = (): Promise<ChannelView[]> => get<ChannelView[]>('/notification-channels');

/** The URL's host only: a chat's webhook URL is itself a credential (its path or token). */
function urlHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '';
  }
}

export async function channelsPage(ctx: Ctx): Promise<void> {
  document.title = `${t('channels.title')} · CRAT`;
  const listBox = h('div', null, loading());
  const formBox = h('div', { class: 'min-w-0 shrink-0 empty:hidden lg:w-[28rem]' });
  // Enabled once the test items the form offers are loaded.
  const newBtn = h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'new-channel', disabled: true }, t('channels.new'));
  newBtn.addEventListener('click', () => renderForm(null));
  ctx.main.append(
    pageHeader(t('channels.title'), newBtn),
    h('div', { class: 'mb-4' }, infoBox(t('channels.intro'))),
    h('div', { class: 'flex flex-col gap-4 lg:flex-row lg:items-start' }, h('div', { class: 'min-w-0 flex-1' }, section(t('channels.listTitle'), listBox)), formBox),
  );

  let items: TestItem[] = [];
  const itemsText = (ids: number[]): string =>
    ids.length ? ids.map((id) => items.find((i) => i.id === id)?.name ?? `#${id}`).join(', ') : t('channels.allItems');

  async function reload(): Promise<void> {
    let channels: ChannelView[];
    try {
      [channels, items] = await Promise.all([listChannels(), getAll<TestItem>('/test-items')]);
    } catch (e) {
      fill(listBox, errorBox(e));
      return;
    }
    if (!ctx.alive()) return;
    newBtn.disabled = false;
    if (!channels.length) {
      fill(listBox, empty(t('channels.none')));
      return;
    }
    const rowError = h('div', { class: 'mb-2 empty:hidden', 'data-testid': 'channel-error' });
    fill(
      listBox,
      rowError,
      table(
        [t('channels.col.name'), t('channels.col.kind'), t('channels.col.rule'), t('channels.col.items'), t('channels.col.state'), t('common.actions')],
        channels.map((ch) => [
          h(
            'div',
            null,
            h('span', { class: 'font-medium break-all', 'data-testid': 'channel-name' }, ch.name),
            h('p', { class: 'muted text-xs break-all' }, urlHost(ch.url)),
          ),
          h('span', { 'data-testid': 'channel-kind' }, kindName(ch.kind)),
          ruleName(ch.rule),
          h('span', { class: 'break-words', 'data-testid': 'channel-items' }, itemsText(ch.test_item_ids)),
          h(
            'div',
            { class: 'flex flex-wrap gap-1' },
            ch.enabled ? badge(t('channels.enabledBadge'), 'bg-emerald-100 text-emerald-800') : badge(t('channels.disabledBadge'), 'bg-slate-200 text-slate-700'),
            takesSecret(ch.kind) || ch.secret_set
              ? h(
                  'span',
                  { 'data-testid': 'channel-secret' },
                  ch.secret_set ? badge(t('channels.secretSet'), 'bg-violet-100 text-violet-800') : badge(t('channels.secretUnset')),
                )
              : null,
          ),
          actions(ch, rowError),
        ]),
        { caption: t('channels.listTitle') },
      ),
    );
  }

  /** Send test, Edit, Delete; the test's answer in a live region beside them. */
  function actions(ch: ChannelView, rowError: HTMLElement): HTMLElement {
    const out = h('p', { class: 'w-full text-xs break-words empty:hidden', role: 'status', 'data-testid': 'channel-test-result' });
    const send = h(
      'button',
      { type: 'button', class: 'btn btn-sm', 'data-testid': 'channel-test', 'aria-label': t('channels.testAria', { name: ch.name }) },
      t('channels.test'),
    );
    send.addEventListener('click', async () => {
      send.disabled = true;
      out.className = 'w-full text-xs text-slate-600 break-words';
      out.textContent = t('channels.testing');
      try {
        const a = await post<ChannelTestAnswer>(`/notification-channels/${ch.id}/test`);
        out.className = `w-full text-xs break-words ${a.delivered ? 'text-emerald-800' : 'text-red-800'}`;
        out.dataset.delivered = String(a.delivered);
        out.textContent = a.delivered
          ? t('channels.delivered', { detail: a.detail, n: a.attempts })
          : t('channels.notDelivered', { detail: a.detail, n: a.attempts });
      } catch (e) {
        out.className = 'w-full text-xs text-red-800 break-words';
        out.textContent = errorLines(e).join(' ');
      } finally {
        send.disabled = false;
      }
    });
    const edit = h('button', { type: 'button', class: 'btn btn-sm', 'data-testid': 'channel-edit', 'aria-label': t('channels.editAria', { name: ch.name }), onclick: () => renderForm(ch) }, t('common.edit'));
    const remove = h(
      'button',
      { type: 'button', class: 'btn btn-sm btn-danger', 'data-testid': 'channel-delete', 'aria-label': t('channels.deleteAria', { name: ch.name }) },
      t('common.delete'),
    );
    remove.addEventListener('click', async () => {
      if (!window.confirm(t('channels.deleteConfirm', { name: ch.name }))) return;
      try {
        await del(`/notification-channels/${ch.id}`);
        toast(t('channels.deleted', { name: ch.name }));
        fill(formBox);
        await reload();
      } catch (e) {
        fill(rowError, errorBox(e));
      }
    });
    return h('div', { class: 'flex flex-wrap items-center gap-1' }, send, edit, remove, out);
  }

  function renderForm(ch: ChannelView | null): void {
    const name = h('input', { class: 'input', name: 'name', required: true, maxlength: '100', value: ch?.name ?? '', placeholder: t('channels.namePlaceholder'), 'data-testid': 'channel-name-input' });
    const kind = h(
      'select',
      { class: 'input', name: 'kind', 'data-testid': 'channel-kind-select' },
      CHANNEL_KINDS.map((k) => h('option', { value: k, selected: (ch?.kind ?? 'feishu') === k }, kindName(k))),
    );
    const url = h('input', { class: 'input', name: 'url', type: 'url', required: true, value: ch?.url ?? '', placeholder: 'https://…', 'data-testid': 'channel-url-input' });
    const urlField = field(t('channels.url'), url, t(`channels.urlHint.${kind.value as ChannelKind}` as Key));
    const urlHint = urlField.querySelector(`#${url.id}-hint`) as HTMLElement;
    // The hints hold long URLs: they wrap anywhere rather than widen a narrow screen.
    urlHint.classList.add('break-words');

    // The secret: typed anew or left empty (kept); never filled in from the server.
    const secret = h('input', { class: 'input', name: 'secret', type: 'password', autocomplete: 'new-password', maxlength: '200', 'data-testid': 'channel-secret-input' });
    const removeSecret = checkbox(t('channels.removeSecret'), false, (on) => {
      secret.disabled = on;
      if (on) secret.value = '';
    });
    removeSecret.input.dataset.testid = 'channel-secret-clear';
    const secretField = h(
      'div',
      { 'data-testid': 'channel-secret-field' },
      field(t('channels.secret'), secret, ch?.secret_set ? t('channels.secretKeepHint') : t('channels.secretHint')),
      ch?.secret_set ? h('div', { class: 'mt-1' }, removeSecret.wrap) : null,
    );

    const rule = h(
      'select',
      { class: 'input', name: 'rule', 'data-testid': 'channel-rule-select' },
      CHANNEL_RULES.map((r) => h('option', { value: r, selected: (ch?.rule ?? 'always') === r }, ruleName(r))),
    );
    const chosen = new Set(ch?.test_item_ids ?? []);
    const itemBoxes = items.map((it) => ({ id: it.id, box: checkbox(it.name, chosen.has(it.id), undefined, 'test_item_ids') }));
    const itemsField = h(
      'fieldset',
      { class: 'min-w-0' },
      h('legend', { class: 'label' }, t('channels.items')),
      itemBoxes.length
        ? h('div', { class: 'flex flex-wrap gap-x-4 gap-y-1', 'data-testid': 'channel-items-input' }, itemBoxes.map((b) => b.box.wrap))
        : null,
      h('p', { class: 'mt-1 text-xs text-slate-500' }, itemBoxes.length ? t('channels.itemsHint') : t('channels.noItems')),
    );
    const language = h(
      'select',
      { class: 'input', name: 'language', 'data-testid': 'channel-language-select' },
      h('option', { value: 'en', selected: (ch?.language ?? 'en') === 'en' }, t('channels.lang.en')),
      h('option', { value: 'zh-CN', selected: ch?.language === 'zh-CN', lang: 'zh-CN' }, t('channels.lang.zh-CN')),
    );
    const enabled = checkbox(t('channels.enabled'), ch?.enabled ?? true);

    // The URL's hint and the secret's field follow the kind.
    const onKind = () => {
      const k = kind.value as ChannelKind;
      urlHint.textContent = t(`channels.urlHint.${k}` as Key);
      secretField.hidden = !takesSecret(k);
    };
    kind.addEventListener('change', onKind);
    onKind();

    const errorSlot = h('div');
    const save = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'channel-save' }, ch ? t('common.save') : t('common.create'));
    const cancel = h('button', { type: 'button', class: 'btn', onclick: () => fill(formBox) }, t('common.cancel'));
    const form = h(
      'form',
      { class: 'space-y-3', novalidate: true, 'data-testid': 'channel-form' },
      field(t('channels.name'), name),
      field(t('channels.kind'), kind),
      urlField,
      secretField,
      field(t('channels.rule'), rule),
      itemsField,
      field(t('channels.language'), language, t('channels.languageHint')),
      enabled.wrap,
      errorSlot,
      h('div', { class: 'flex gap-2' }, save, cancel),
    );
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      errorSlot.replaceChildren();
      for (const [input, msg] of [
        [name, t('channels.nameRequired')],
        [url, t('channels.urlRequired')],
      ] as const) {
        if (!input.value.trim()) {
          input.setAttribute('aria-invalid', 'true');
          errorSlot.replaceChildren(formAlert(msg));
          input.focus();
          return;
        }
        input.removeAttribute('aria-invalid');
      }
      const k = kind.value as ChannelKind;
      const body: ChannelBody = {
        name: name.value.trim(),
        kind: k,
        url: url.value.trim(),
        rule: rule.value as ChannelRule,
        test_item_ids: itemBoxes.filter((b) => b.box.input.checked).map((b) => b.id),
        language: language.value === 'zh-CN' ? 'zh-CN' : 'en',
        enabled: enabled.input.checked,
      };
      const s = secretPart(ch, k, secret.value, removeSecret.input.checked);
      if (s !== undefined) body.secret = s;
      save.disabled = true;
      try {
        const saved = ch ? await put<ChannelView>(`/notification-channels/${ch.id}`, body) : await post<ChannelView>('/notification-channels', body);
        toast(ch ? t('channels.saved', { name: saved.name }) : t('channels.created', { name: saved.name }));
        fill(formBox);
        await reload();
      } catch (e) {
        showFormError(form, errorSlot, e);
      } finally {
        save.disabled = false;
      }
    });
    fill(formBox, section(ch ? t('channels.editTitle', { name: ch.name }) : t('channels.newTitle'), form));
    name.focus();
  }

  await reload();
}

/**
 * What the body says about the secret: undefined keeps the stored one (nothing typed), `""`
 * clears it (the box ticked, or a kind that signs nothing while one is stored: the API would
 * refuse to keep it), a string sets it.
 */
function secretPart(ch: ChannelView | null, kind: ChannelKind, typed: string, remove: boolean): string | undefined {
  if (!takesSecret(kind)) return ch?.secret_set ? '' : undefined;
  if (remove) return '';
  return typed !== '' ? typed : undefined;
}
