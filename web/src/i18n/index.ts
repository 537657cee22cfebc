// One dictionary per language; the language comes from localStorage, else the browser.

import { en, type Dict } from './en';
import { resultsEn, type ResultsDict } from './results-en';
import { resultsZhCN } from './results-zh-CN';
import { zhCN } from './zh-CN';

type AllDict = Dict & ResultsDict;
export type Key = keyof AllDict;
export type Lang = 'en' | 'zh-CN';
export const LANGS: Lang[] = ['en', 'zh-CN'];
const DICTS: Record<Lang, AllDict> = { en: { ...en, ...resultsEn }, 'zh-CN': { ...zhCN, ...resultsZhCN } };
const LANG_KEY = 'crat.lang';

function detect(): Lang {
  try {
    const saved = localStorage.getItem(LANG_KEY);
    if (saved === 'en' || saved === 'zh-CN') return saved;
  } catch {
    /* no storage */
  }
  const prefs = navigator.languages?.length ? navigator.languages : [navigator.language];
  for (const p of prefs) {
    const l = (p || '').toLowerCase();
    if (l.startsWith('zh')) return 'zh-CN';
    if (l.startsWith('en')) return 'en';
  }
  return 'en';
}

let current: Lang = detect();

export function lang(): Lang {
  return current;
}

export function setLang(l: Lang): void {
  current = l;
  try {
    localStorage.setItem(LANG_KEY, l);
  } catch {
    /* no storage */
  }
  document.documentElement.lang = l;
}

/** The text for `key` in the current language, `{name}` placeholders filled in. */
export function t(key: Key, params?: Record<string, string | number>): string {
  const s = DICTS[current][key] ?? DICTS.en[key] ?? key;
  if (!params) return s;
  return s.replace(/\{(\w+)\}/g, (m, name: string) => (name in params ? String(params[name]) : m));
}

/** The text for a dynamic key (a status name, an error code), or `fallback`. */
export function tMaybe(key: string, fallback: string): string {
  const d = DICTS[current] as Record<string, string>;
  return d[key] ?? fallback;
}
