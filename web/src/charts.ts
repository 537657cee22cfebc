// Chart.js, registered with only the pieces the site uses (keeps the bundle small).

import {
  ArcElement,
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LineController,
  LineElement,
  LinearScale,
  PieController,
  PointElement,
  Tooltip,
} from 'chart.js';
import { t } from './i18n';
import type { Summary } from './types';

Chart.register(
  ArcElement,
  BarController,
  BarElement,
  CategoryScale,
  Legend,
  LineController,
  LineElement,
  LinearScale,
  PieController,
  PointElement,
  Tooltip,
);

// No animation: charts show their final state at once (also in screenshots and on resize).
Chart.defaults.animation = false;
Chart.defaults.font.family = 'ui-sans-serif, system-ui, sans-serif';

export const COLORS = {
  passed: '#059669',
  failed: '#dc2626',
  broken: '#d97706',
  skipped: '#94a3b8',
  unknown: '#7c3aed',
  rate: '#1d4ed8',
};

const KINDS = ['passed', 'failed', 'broken', 'skipped', 'unknown'] as const;

export function summaryPie(canvas: HTMLCanvasElement, s: Summary): Chart {
  const kinds = KINDS.filter((k) => s[k] > 0);
  const shown = kinds.length ? kinds : KINDS.slice(0, 1);
  return new Chart(canvas, {
    type: 'pie',
    data: {
      labels: shown.map((k) => t(`summary.${k}`)),
      datasets: [{ data: shown.map((k) => s[k]), backgroundColor: shown.map((k) => COLORS[k]), borderWidth: 1 }],
    },
    options: {
      responsive: true,
      maintainAspectRatio: true,
      plugins: { legend: { position: 'bottom' } },
    },
  });
}

export interface TrendPoint {
  label: string;
  passed: number;
  failed: number;
  broken: number;
  skipped: number;
  unknown: number;
  rate: number | null;
}

export function trendChart(canvas: HTMLCanvasElement, points: TrendPoint[]): Chart {
  return new Chart(canvas, {
    type: 'bar',
    data: {
      labels: points.map((p) => p.label),
      datasets: [
        ...KINDS.map((k) => ({
          type: 'bar' as const,
          label: t(`summary.${k}`),
          data: points.map((p) => p[k]),
          backgroundColor: COLORS[k],
          stack: 'counts',
          maxBarThickness: 48,
          yAxisID: 'y',
          order: 2,
        })),
        {
          type: 'line' as const,
          label: t('trends.passRate'),
          data: points.map((p) => p.rate),
          borderColor: COLORS.rate,
          backgroundColor: COLORS.rate,
          yAxisID: 'rate',
          order: 1,
          tension: 0.2,
          spanGaps: true,
        },
      ],
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      interaction: { mode: 'index', intersect: false },
      scales: {
        x: { stacked: true, title: { display: true, text: t('trends.axisBuild') } },
        y: { stacked: true, beginAtZero: true, title: { display: true, text: t('trends.axisCount') } },
        rate: {
          position: 'right',
          min: 0,
          max: 100,
          grid: { drawOnChartArea: false },
          title: { display: true, text: t('trends.axisRate') },
          ticks: { callback: (v) => `${v}%` },
        },
      },
      plugins: { legend: { position: 'bottom' } },
    },
  });
}
