import { del, get, qs, seg } from '../../api';
import { fill, h } from '../../dom';
import { fmtTime } from '../../format';
import { t } from '../../i18n';
import type { Ctx } from '../../router';
import type { Page, SessionInfo } from '../../types';
import { Pager, badge, empty, errorBox, loading, pageHeader, section, table, toast } from '../../ui';

export async function sessionsPage(ctx: Ctx): Promise<void> {
  document.title = `${t('sessions.title')} · CRAT`;
  const box = h('div', null, loading());
  const errorSlot = h('div', { class: 'mb-2 empty:hidden' });
  const pager = new Pager();
  ctx.main.append(pageHeader(t('sessions.title')), section(t('sessions.listTitle'), errorSlot, box));

  async function load(): Promise<void> {
    try {
      const page = await get<Page<SessionInfo>>(`/auth/sessions${qs({ limit: 50, cursor: pager.cursor })}`);
      if (!ctx.alive()) return;
      pager.next = page.next_cursor ?? null;
      if (!page.items.length) {
        fill(box, empty(t('sessions.none')));
        return;
      }
      fill(
        box,
        table(
          [t('sessions.col.email'), t('sessions.col.role'), t('sessions.col.created'), t('sessions.col.expires'), t('common.actions')],
          page.items.map((s) => [
            h('span', { class: 'break-all' }, s.email, s.email === ctx.me?.email ? h('span', { class: 'muted' }, ` ${t('sessions.you')}`) : null),
            s.is_admin ? badge(t('role.admin'), 'bg-violet-100 text-violet-800') : badge(t('role.user')),
            h('span', { class: 'whitespace-nowrap' }, fmtTime(s.created_at)),
            h('span', { class: 'whitespace-nowrap' }, fmtTime(s.expires_at)),
            h(
              'button',
              {
                type: 'button',
                class: 'btn btn-sm btn-danger',
                'aria-label': t('sessions.forceAria', { email: s.email }),
                onclick: async () => {
                  if (!window.confirm(t('sessions.forceConfirm', { email: s.email }))) return;
                  try {
                    await del(`/auth/sessions/${seg(s.email)}`);
                    toast(t('sessions.forced', { email: s.email }));
                    await load();
                  } catch (e) {
                    fill(errorSlot, errorBox(e));
                  }
                },
              },
              t('sessions.force'),
            ),
          ]),
          { caption: t('sessions.listTitle') },
        ),
        pager.controls(() => void load()),
      );
    } catch (e) {
      fill(box, errorBox(e));
    }
  }
  await load();
}
