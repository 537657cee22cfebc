// Dates, durations and sizes in the current language.

import { lang, t } from './i18n';

export function fmtTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return new Intl.DateTimeFormat(lang(), {
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hour12: false,
  }).format(d);
}

/** The time of day, HH:MM (an estimate is no more precise than that). */
export function fmtClock(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return new Intl.DateTimeFormat(lang(), { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(d);
}

export function fmtDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0) return '—';
  const s = Math.round(ms / 1000);
  if (s < 60) return t('unit.seconds', { n: s });
  const m = Math.floor(s / 60);
  if (m < 60) return t('unit.minSec', { m, s: s % 60 });
  return t('unit.hourMin', { h: Math.floor(m / 60), m: m % 60 });
}

export function between(a: string | null | undefined, b: string | null | undefined): number | null {
  if (!a) return null;
  const start = Date.parse(a);
  const end = b ? Date.parse(b) : Date.now();
  return Number.isFinite(start) && Number.isFinite(end) ? Math.max(0, end - start) : null;
}

export function fmtBytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

export function passRate(passed: number, total: number): number | null {
  return total > 0 ? (passed / total) * 100 : null;
}

export function fmtPercent(p: number | null): string {
  return p === null ? '—' : `${p.toFixed(1)}%`;
}
