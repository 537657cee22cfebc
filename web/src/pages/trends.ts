import type { Chart } from 'chart.js';
import { get, getAll, qs } from '../api';
import type { TrendPoint } from '../charts';
import { fill, h } from '../dom';
import { fmtPercent, fmtTime, passRate } from '../format';
import { t } from '../i18n';
import { href, navigate, type Ctx } from '../router';
import type { Page, Run, TestItem } from '../types';
import { empty, errorBox, field, loading, pageHeader, runBadge, section, table } from '../ui';

const MAX_BUILDS = 30;

/** The newest run with a summary for each build, newest build first. */
export function perBuild(runs: Run[]): Run[] {
  const seen = new Set<number>();
  const out: Run[] = [];
  for (const r of [...runs].sort((a, b) => b.id - a.id)) {
    if (!r.summary || seen.has(r.build_info_id)) continue;
    seen.add(r.build_info_id);
    out.push(r);
  }
  out.sort((a, b) => b.build.build_number - a.build.build_number || b.id - a.id);
  return out.slice(0, MAX_BUILDS);
}

export async function trendsPage(ctx: Ctx): Promise<void> {
  document.title = `${t('trends.title')} · CRAT`;
  const wanted = Number(ctx.query.get('item') ?? '') || null;
  const charts: Chart[] = [];
  ctx.onLeave(() => charts.forEach((c) => c.destroy()));

  const select = h('select', { class: 'input', name: 'item', 'data-testid': 'trend-item' }, h('option', { value: '' }, t('trends.allItems')));
  select.addEventListener('change', () => navigate('/trends', { item: select.value || null }));
  const box = h('div', { class: 'space-y-4' }, loading());
  ctx.main.append(
    pageHeader(t('trends.title')),
    h('p', { class: 'muted mb-3' }, t('trends.intro')),
    h('div', { class: 'mb-4 max-w-sm' }, field(t('trends.item'), select)),
    box,
  );

  let items: TestItem[];
  try {
    items = await getAll<TestItem>('/test-items');
  } catch (e) {
    fill(box, errorBox(e));
    return;
  }
  if (!ctx.alive()) return;
  for (const it of items) select.append(h('option', { value: String(it.id), selected: it.id === wanted }, `${it.name} · ${it.job_name}`));
  const shown = wanted ? items.filter((i) => i.id === wanted) : items;
  if (!shown.length) {
    fill(box, h('div', { class: 'card' }, empty(t('trends.noItems'))));
    return;
  }
  const results = await Promise.all(
    shown.map(async (item) => {
      try {
        const page = await get<Page<Run>>(`/test-items/${item.id}/deploy-runs${qs({ limit: 200 })}`);
        return { item, runs: perBuild(page.items), error: null as unknown };
      } catch (e) {
        return { item, runs: [] as Run[], error: e as unknown };
      }
    }),
  );
  if (!ctx.alive()) return;
  const pending: [HTMLCanvasElement, TrendPoint[]][] = [];
  fill(
    box,
    results.map(({ item, runs, error }) => {
      const title = `${item.name} · ${item.job_name}`;
      if (error) return section(title, errorBox(error));
      if (!runs.length) return section(title, empty(t('trends.noData')));
      // The chart reads oldest to newest, left to right; the table lists the newest first.
      const points: TrendPoint[] = [...runs].reverse().map((r) => {
        const s = r.summary!;
        return {
          label: `#${r.build.build_number}`,
          passed: s.passed,
          failed: s.failed,
          broken: s.broken,
          skipped: s.skipped,
          unknown: s.unknown,
          rate: passRate(s.passed, s.total),
        };
      });
      const canvas = h('canvas', { role: 'img', 'aria-label': t('trends.chartLabel', { name: title }), 'data-testid': 'trend-chart' });
      const el = section(
        title,
        h('p', { class: 'muted mb-2' }, t('trends.order')),
        h('div', { class: 'relative h-64 w-full' }, canvas),
        h(
          'div',
          { class: 'mt-4' },
          table(
            [t('trends.col.build'), t('trends.col.run'), t('trends.col.date'), t('summary.passed'), t('summary.failed'), t('summary.broken'), t('summary.skipped'), t('summary.total'), t('trends.passRate')],
            runs.map((r) => {
              const s = r.summary!;
              return [
                `#${r.build.build_number}`,
                h('span', { class: 'flex flex-wrap items-center gap-1' }, h('a', { href: href(`/runs/${r.id}`), class: 'link' }, `#${r.id}`), runBadge(r)),
                h('span', { class: 'whitespace-nowrap' }, fmtTime(r.started_at)),
                String(s.passed),
                String(s.failed),
                String(s.broken),
                String(s.skipped),
                String(s.total),
                fmtPercent(passRate(s.passed, s.total)),
              ];
            }),
            { stack: false, caption: title },
          ),
        ),
      );
      pending.push([canvas, points]);
      return el;
    }),
  );
  if (!pending.length) return;
  const { trendChart } = await import('../charts');
  if (!ctx.alive()) return;
  for (const [canvas, points] of pending) charts.push(trendChart(canvas, points));
}
