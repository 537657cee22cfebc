// The API client: bearer token from localStorage, the API's error body as ApiError,
// and a 401 anywhere sends the person back to the login page.

import { apiBase } from './config';
import type { Page } from './types';

const TOKEN_KEY = 'crat.token';

export class ApiError extends Error {
  status: number;
  code: string;
  field?: string | null;
  details?: unknown;
  retryAfter?: string | null;
  constructor(status: number, code: string, message: string, field?: string | null, details?: unknown) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
    this.details = details;
  }
}

export function getToken(): string | null {
  try {
    return localStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function setToken(token: string | null): void {
  try {
    if (token) localStorage.setItem(TOKEN_KEY, token);
    else localStorage.removeItem(TOKEN_KEY);
  } catch {
    /* private mode: the session lasts as long as the page */
  }
}

let unauthorizedHandler: ((e: ApiError) => void) | null = null;
/** Called (once per 401) when the API refuses the token, with the refusal. */
export function onUnauthorized(fn: (e: ApiError) => void): void {
  unauthorizedHandler = fn;
}

export interface RequestOptions {
  /** Do not treat a 401 as "log in again" (the login call itself). */
  noAuthRedirect?: boolean;
  signal?: AbortSignal;
}

export async function api<T>(method: string, path: string, body?: unknown, opts: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let resp: Response;
  try {
    resp = await fetch(`${apiBase()}/api/v1${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: opts.signal,
    });
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', e instanceof Error ? e.message : String(e));
  }
  if (resp.status === 204) return undefined as T;
  const text = await resp.text();
  let data: unknown = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!resp.ok) {
    const err = (data as { error?: { code?: string; message?: string; field?: string; details?: unknown } } | null)
      ?.error;
    const e = new ApiError(
      resp.status,
      err?.code ?? `http_${resp.status}`,
      err?.message ?? (resp.statusText || `HTTP ${resp.status}`),
      err?.field,
      err?.details,
    );
    e.retryAfter = resp.headers.get('Retry-After');
    if (resp.status === 401 && !opts.noAuthRedirect) {
      setToken(null);
      unauthorizedHandler?.(e);
    }
    throw e;
  }
  return data as T;
}

export const get = <T>(path: string, opts?: RequestOptions) => api<T>('GET', path, undefined, opts);
export const post = <T>(path: string, body?: unknown, opts?: RequestOptions) => api<T>('POST', path, body ?? {}, opts);
export const put = <T>(path: string, body: unknown) => api<T>('PUT', path, body);
export const del = <T>(path: string) => api<T>('DELETE', path);

/** A file from the API as a Blob (a download), with the same token and errors as [`api`]. */
export async function getBlob(path: string): Promise<Blob> {
  const headers: Record<string, string> = {};
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  let resp: Response;
  try {
    resp = await fetch(`${apiBase()}/api/v1${path}`, { headers });
  } catch (e) {
    throw new ApiError(0, 'network', e instanceof Error ? e.message : String(e));
  }
  if (!resp.ok) {
    const data = (await resp.json().catch(() => null)) as { error?: { code?: string; message?: string } } | null;
    throw new ApiError(resp.status, data?.error?.code ?? `http_${resp.status}`, data?.error?.message ?? `HTTP ${resp.status}`);
  }
  return resp.blob();
}

/** Query string from the defined, non-empty values. */
export function qs(params: Record<string, string | number | null | undefined>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') u.set(k, String(v));
  const s = u.toString();
  return s ? `?${s}` : '';
}

/** Every page of a list (bounded: at most `max` items). */
export async function getAll<T>(path: string, max = 1000): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | null | undefined = undefined;
  const sep = path.includes('?') ? '&' : '?';
  do {
    const page: Page<T> = await get<Page<T>>(
      `${path}${sep}limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
    );
    out.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && out.length < max);
  return out;
}

/** A job name as one path segment (Jenkins folder jobs contain `/`). */
export const seg = (s: string | number) => encodeURIComponent(String(s));
