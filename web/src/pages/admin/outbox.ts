import { get, qs } from '../../api';
import { fill, h } from '../../dom';
import { fmtBytes, fmtTime } from '../../format';
import { t } from '../../i18n';
import type { Ctx } from '../../router';
import type { OutboxEntry, Page } from '../../types';
import { Pager, empty, errorBox, loading, pageHeader, section, table } from '../../ui';

export async function outboxPage(ctx: Ctx): Promise<void> {
  document.title = `${t('outbox.title')} · CRAT`;
  const box = h('div', null, loading());
  const pager = new Pager();
  ctx.main.append(pageHeader(t('outbox.title')), h('p', { class: 'muted mb-4' }, t('outbox.intro')), section(t('outbox.listTitle'), box));

  async function load(): Promise<void> {
    try {
      const page = await get<Page<OutboxEntry>>(`/outbox${qs({ limit: 20, cursor: pager.cursor })}`);
      if (!ctx.alive()) return;
      pager.next = page.next_cursor ?? null;
      fill(
        box,
        page.items.length
          ? table(
              [t('outbox.col.time'), t('outbox.col.to'), t('outbox.col.subject'), t('outbox.col.file')],
              page.items.map((m) => [
                h('span', { class: 'whitespace-nowrap' }, fmtTime(m.modified)),
                h('span', { class: 'break-all' }, m.to || '—'),
                h('span', { class: 'break-words', 'data-testid': 'outbox-subject' }, m.subject || '—'),
                h('span', null, h('code', { class: 'mono' }, m.file), h('br'), h('span', { class: 'muted text-xs' }, fmtBytes(m.size))),
              ]),
              { caption: t('outbox.listTitle') },
            )
          : empty(t('outbox.none')),
        page.items.length || pager.page > 1 ? pager.controls(() => void load()) : null,
      );
    } catch (e) {
      fill(box, errorBox(e));
    }
  }
  await load();
}
