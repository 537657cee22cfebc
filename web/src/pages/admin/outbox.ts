import { get, getBlob, qs, seg } from '../../api';
import { fill, h } from '../../dom';
import { fmtBytes, fmtTime } from '../../format';
import { t } from '../../i18n';
import type { Ctx } from '../../router';
import type { MailPreview, OutboxEntry, Page } from '../../types';
import { Pager, empty, errorBox, loading, pageHeader, section, table } from '../../ui';

/** The mail in a frame that may run nothing and reach nothing (its chart is inline). */
function previewFrame(p: MailPreview): HTMLElement {
  if (!p.html) return h('pre', { class: 'mono max-h-[32rem] overflow-auto rounded-md bg-slate-50 p-3 text-xs whitespace-pre-wrap' }, p.text ?? '');
  const frame = h('iframe', {
    class: 'h-[36rem] w-full rounded-md border border-slate-200 bg-white',
    title: t('outbox.previewTitle', { subject: p.subject }),
    'data-testid': 'outbox-preview-frame',
  });
  // An empty sandbox: no scripts, no forms, not this site's origin.
  frame.setAttribute('sandbox', '');
  frame.srcdoc = p.html;
  return frame;
}

async function download(file: string): Promise<void> {
  const blob = await getBlob(`/outbox/${seg(file)}`);
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: file, class: 'hidden' });
  document.body.append(a);
  a.click();
  a.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export async function outboxPage(ctx: Ctx): Promise<void> {
  document.title = `${t('outbox.title')} · CRAT`;
  const box = h('div', null, loading());
  const previewBox = h('div', { class: 'empty:hidden', 'data-testid': 'outbox-preview' });
  const pager = new Pager();
  ctx.main.append(
    pageHeader(t('outbox.title')),
    h('p', { class: 'muted mb-4' }, t('outbox.intro')),
    section(t('outbox.listTitle'), box),
    previewBox,
  );

  async function show(m: OutboxEntry): Promise<void> {
    fill(previewBox, section(t('outbox.previewHeading', { subject: m.subject || m.file }), loading()));
    try {
      const p = await get<MailPreview>(`/outbox/${seg(m.file)}/preview`);
      if (!ctx.alive()) return;
      fill(
        previewBox,
        section(
          t('outbox.previewHeading', { subject: p.subject || m.file }),
          h('p', { class: 'muted mb-2 break-all text-sm' }, t('outbox.previewTo', { to: p.to || '—' })),
          previewFrame(p),
        ),
      );
      previewBox.scrollIntoView({ block: 'start' });
    } catch (e) {
      fill(previewBox, errorBox(e));
    }
  }

  async function load(): Promise<void> {
    try {
      const page = await get<Page<OutboxEntry>>(`/outbox${qs({ limit: 20, cursor: pager.cursor })}`);
      if (!ctx.alive()) return;
      pager.next = page.next_cursor ?? null;
      fill(
        box,
        page.items.length
          ? table(
              [t('outbox.col.time'), t('outbox.col.to'), t('outbox.col.subject'), t('outbox.col.file'), t('common.actions')],
              page.items.map((m) => [
                h('span', { class: 'whitespace-nowrap' }, fmtTime(m.modified)),
                h('span', { class: 'break-all' }, m.to || '—'),
                h('span', { class: 'break-words', 'data-testid': 'outbox-subject' }, m.subject || '—'),
                h('span', null, h('code', { class: 'mono break-all' }, m.file), h('br'), h('span', { class: 'muted text-xs' }, fmtBytes(m.size))),
                h(
                  'span',
                  { class: 'flex flex-wrap gap-2' },
                  h('button', { type: 'button', class: 'btn btn-sm', 'data-testid': 'outbox-show', 'aria-label': t('outbox.showAria', { file: m.file }), onclick: () => void show(m) }, t('outbox.show')),
                  h(
                    'button',
                    {
                      type: 'button',
                      class: 'btn btn-sm',
                      'data-testid': 'outbox-download',
                      'aria-label': t('outbox.downloadAria', { file: m.file }),
                      onclick: () => void download(m.file).catch((e) => fill(previewBox, errorBox(e))),
                    },
                    t('outbox.download'),
                  ),
                ),
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
