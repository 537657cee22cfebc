// Who is logged in (from GET /auth/me or the login answer).

import { ApiError, get, getToken, post, setToken } from './api';
import type { LoginResponse, Me } from './types';

let me: Me | null = null;
/** When the stored token's session was replaced by a login elsewhere (found by [`loadMe`]). */
let replacedAt: string | null = null;

/** Once: the time a newer login elsewhere ended the stored session, if that is why it ended. */
export function takeReplacedAt(): string | null {
  const at = replacedAt;
  replacedAt = null;
  return at;
}

export function currentUser(): Me | null {
  return me;
}

export function isAdmin(): boolean {
  return !!me?.is_admin;
}

/** Loads `me` when there is a token; null when there is none or it no longer works. */
export async function loadMe(): Promise<Me | null> {
  if (!getToken()) {
    me = null;
    return null;
  }
  try {
    me = await get<Me>('/auth/me', { noAuthRedirect: true });
  } catch (e) {
    const at = e instanceof ApiError && e.code === 'session_replaced' ? (e.details as { logged_in_at?: unknown } | undefined)?.logged_in_at : undefined;
    if (typeof at === 'string') replacedAt = at;
    setToken(null);
    me = null;
  }
  return me;
}

export async function login(email: string, password: string | null): Promise<Me> {
  const body: { email: string; password?: string } = { email };
  if (password) body.password = password;
  const r = await post<LoginResponse>('/auth/login', body, { noAuthRedirect: true });
  setToken(r.token);
  me = { email: r.user.email, is_admin: r.user.is_admin, expires_at: r.expires_at };
  return me;
}

export async function logout(): Promise<void> {
  try {
    if (getToken()) await post('/auth/logout', undefined, { noAuthRedirect: true });
  } catch {
    /* the session may be gone already */
  }
  setToken(null);
  me = null;
}

export function forget(): void {
  me = null;
}
