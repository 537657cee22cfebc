// Who is logged in (from GET /auth/me or the login answer).

import { get, getToken, post, setToken } from './api';
import type { LoginResponse, Me } from './types';

let me: Me | null = null;

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
  } catch {
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
