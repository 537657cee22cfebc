// Hash routing (works on any static host): #/path?query.

import type { Me } from './types';

export interface Ctx {
  main: HTMLElement;
  params: string[];
  query: URLSearchParams;
  me: Me | null;
  /** Registers a function to run when the page is left (timers, charts). */
  onLeave(fn: () => void): void;
  /** False once the person navigated elsewhere: stop updating. */
  alive(): boolean;
  /** Re-renders the current route (after the language changed, say). */
  rerender(): void;
}

export type PageFn = (ctx: Ctx) => Promise<void> | void;

export interface Route {
  pattern: RegExp;
  page: PageFn;
  public?: boolean;
  admin?: boolean;
  nav?: string;
}

export function currentPath(): { path: string; query: URLSearchParams } {
  const raw = window.location.hash.replace(/^#/, '') || '/';
  const q = raw.indexOf('?');
  const path = q >= 0 ? raw.slice(0, q) : raw;
  return { path: path || '/', query: new URLSearchParams(q >= 0 ? raw.slice(q + 1) : '') };
}

/** `#/path?k=v` for links. */
export function href(path: string, query?: Record<string, string | number | null | undefined>): string {
  const u = new URLSearchParams();
  if (query) for (const [k, v] of Object.entries(query)) if (v !== null && v !== undefined && v !== '') u.set(k, String(v));
  const s = u.toString();
  return `#${path}${s ? `?${s}` : ''}`;
}

export function navigate(path: string, query?: Record<string, string | number | null | undefined>, replace = false): void {
  const target = href(path, query);
  if (replace) window.location.replace(target);
  else window.location.hash = target.slice(1);
}
