// Where the API is. Run-time config.js (window.CRAT_CONFIG.apiBase) wins, then the
// build-time VITE_API_BASE, then the site's own origin.

declare global {
  interface Window {
    CRAT_CONFIG?: { apiBase?: string };
  }
}

export function apiBase(): string {
  const runtime = window.CRAT_CONFIG?.apiBase;
  const base = (runtime && runtime.trim()) || import.meta.env.VITE_API_BASE || '';
  return String(base).replace(/\/+$/, '');
}
