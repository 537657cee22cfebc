// The flaky tests of a test item (shown with its run history on the Tests page).

import { get } from '../api';
import { fill, h } from '../dom';
import { fmtTime } from '../format';
import { t } from '../i18n';
import { href, type Ctx } from '../router';
import type { FlakyTest } from '../types';
import { empty, errorBox, loading, section, table } from '../ui';

export function flakySection(ctx: Ctx, itemId: number): HTMLElement {
  const box = h('div', { 'data-testid': 'flaky-list' }, loading());
  void (async () => {
    try {
      const { items } = await get<{ items: FlakyTest[] }>(`/test-items/${itemId}/flaky`);
      if (!ctx.alive()) return;
      fill(
        box,
        items.length
          ? table(
              [t('flaky.col.name'), t('flaky.col.reason'), t('flaky.col.passed'), t('flaky.col.failed'), t('flaky.col.last')],
              items.map((f) => [
                h('span', { class: 'font-medium break-words', 'data-testid': 'flaky-name' }, f.name),
                t(f.reason === 'report' ? 'flaky.reason.report' : 'flaky.reason.mixed'),
                String(f.passed),
                String(f.failed),
                h(
                  'span',
                  { class: 'whitespace-nowrap' },
                  h('a', { href: href(`/runs/${f.last_run_id}`), class: 'link underline' }, `#${f.last_run_id}`),
                  ` · ${fmtTime(f.last_seen_at)}`,
                ),
              ]),
              { caption: t('flaky.title'), rowAttrs: (i) => ({ 'data-testid': 'flaky-row', 'data-test-id': items[i].id }) },
            )
          : empty(t('flaky.none')),
      );
    } catch (e) {
      if (ctx.alive()) fill(box, errorBox(e));
    }
  })();
  return section(t('flaky.title'), h('p', { class: 'muted mb-2' }, t('flaky.intro')), box);
}
