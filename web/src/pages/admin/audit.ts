// The audit trail (admin): who changed what, newest first, filtered by person or record.
// The filters live in the URL (#/admin/audit?actor=…&target=…), so a filtered view can be shared.

import { get, qs } from '../../api';
import { fill, h, type Child } from '../../dom';
import { fmtTime } from '../../format';
import { t, tMaybe } from '../../i18n';
import { href, navigate, type Ctx } from '../../router';
import type { AuditEntry, Page } from '../../types';
import { Pager, badge, empty, errorBox, field, loading, pageHeader, section, table } from '../../ui';

/** The page a target names, when the site has one. */
function targetLink(target: string): Child {
  const [kind, ...rest] = target.split('/');
  const id = rest.join('/');
  const pages: Record<string, string> = {
    run: `/runs/${id}`,
    'test-item': '/admin/test-items',
    environment: '/admin/environments',
    'parameter-set': '/admin/parameter-sets',
    settings: '/admin/settings',
  };
  const page = pages[kind ?? ''];
  const text = h('span', { class: 'break-all' }, target);
  return page ? h('a', { href: href(page), class: 'link' }, text) : text;
}

function show(v: unknown): string {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

/** The summary as short lines: `field: from → to`, or `field: value`. */
function changesCell(changes: Record<string, unknown>): Child {
  const lines: string[] = [];
  const changed = changes.changed as Record<string, { from: unknown; to: unknown }> | undefined;
  if (changed) {
    for (const [name, d] of Object.entries(changed)) lines.push(`${name}: ${show(d.from)} → ${show(d.to)}`);
    if (!lines.length) lines.push(t('audit.noChange'));
  }
  for (const key of ['created', 'deleted'] as const) {
    const rec = changes[key] as Record<string, unknown> | undefined;
    if (rec && typeof rec === 'object') {
      const name = rec.name ?? rec.email ?? rec.job_name ?? rec.id;
      lines.push(t(key === 'created' ? 'audit.created' : 'audit.deleted', { name: show(name) }));
    }
  }
  for (const [name, v] of Object.entries(changes)) {
    if (!['changed', 'created', 'deleted'].includes(name) && v !== null) lines.push(`${name}: ${show(v)}`);
  }
  return h(
    'ul',
    { class: 'space-y-0.5 text-xs break-words text-slate-700' },
    lines.map((l) => h('li', null, l)),
  );
}

function actionLabel(action: string): string {
  return tMaybe(`audit.action.${action}`, action);
}

export async function auditPage(ctx: Ctx): Promise<void> {
  document.title = `${t('audit.title')} · CRAT`;
  const actor = ctx.query.get('actor') ?? '';
  const target = ctx.query.get('target') ?? '';
  const actorInput = h('input', { class: 'input', type: 'email', name: 'actor', value: actor, placeholder: 'dev@example.com' });
  const targetInput = h('input', { class: 'input', type: 'text', name: 'target', value: target, placeholder: 'test-item/3' });
  const form = h(
    'form',
    {
      class: 'mb-3 grid gap-3 sm:grid-cols-[1fr_1fr_auto] sm:items-end',
      role: 'search',
      onsubmit: (e: Event) => {
        e.preventDefault();
        navigate('/admin/audit', { actor: actorInput.value.trim(), target: targetInput.value.trim() });
      },
    },
    field(t('audit.filter.actor'), actorInput),
    field(t('audit.filter.target'), targetInput, t('audit.filter.targetHint')),
    h(
      'div',
      { class: 'flex gap-2' },
      h('button', { type: 'submit', class: 'btn btn-primary' }, t('audit.filter.apply')),
      actor || target ? h('a', { href: href('/admin/audit'), class: 'btn' }, t('audit.filter.clear')) : null,
    ),
  );
  const box = h('div', null, loading());
  const pager = new Pager();
  ctx.main.append(pageHeader(t('audit.title')), h('p', { class: 'muted mb-3' }, t('audit.intro')), section(t('audit.listTitle'), form, box));

  async function load(): Promise<void> {
    try {
      const page = await get<Page<AuditEntry>>(`/audit${qs({ limit: 50, cursor: pager.cursor, actor, target })}`);
      if (!ctx.alive()) return;
      pager.next = page.next_cursor ?? null;
      if (!page.items.length) {
        fill(box, empty(actor || target ? t('audit.noneFiltered') : t('audit.none')), pager.controls(() => void load()));
        return;
      }
      fill(
        box,
        table(
          [t('audit.col.time'), t('audit.col.actor'), t('audit.col.action'), t('audit.col.target'), t('audit.col.changes')],
          page.items.map((e) => [
            h('span', { class: 'whitespace-nowrap', title: t('audit.requestId', { id: e.request_id }) }, fmtTime(e.at)),
            h(
              'span',
              { class: 'flex flex-wrap items-center gap-1' },
              h('a', { href: href('/admin/audit', { actor: e.actor }), class: 'link break-all' }, e.actor),
              e.actor_is_admin ? badge(t('role.admin'), 'bg-violet-100 text-violet-800') : null,
            ),
            h('span', { 'data-testid': 'audit-action' }, actionLabel(e.action)),
            h(
              'span',
              { class: 'flex flex-wrap items-center gap-1' },
              targetLink(e.target),
              h('a', { href: href('/admin/audit', { target: e.target }), class: 'link text-xs', 'aria-label': t('audit.onlyTargetAria', { target: e.target }) }, t('audit.onlyTarget')),
            ),
            changesCell(e.changes),
          ]),
          { caption: t('audit.listTitle') },
        ),
        pager.controls(() => void load()),
      );
    } catch (e) {
      fill(box, errorBox(e));
    }
  }
  await load();
}
