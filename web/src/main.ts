import './style.css';

import { onUnauthorized } from './api';
import { fill, h } from './dom';
import { lang, setLang, t, type Key } from './i18n';
import { currentPath, href, navigate, type Ctx, type Route } from './router';
import { currentUser, forget, loadMe, logout, takeReplacedAt } from './session';
import { loginPage } from './pages/login';
import { buildsPage } from './pages/builds';
import { testsPage } from './pages/tests';
import { runPage } from './pages/run';
import { trendsPage } from './pages/trends';
import { queuePage } from './pages/queue';
import { parameterSetsPage } from './pages/admin/parameterSets';
import { testItemsPage } from './pages/admin/testItems';
import { environmentsPage } from './pages/admin/environments';
import { channelsPage } from './pages/admin/channels';
import { settingsPage } from './pages/admin/settings';
import { sessionsPage } from './pages/admin/sessions';
import { outboxPage } from './pages/admin/outbox';
import { auditPage } from './pages/admin/audit';
import { empty, errorBox } from './ui';

const routes: Route[] = [
  { pattern: /^\/login$/, page: loginPage, public: true },
  { pattern: /^\/builds$/, page: buildsPage, nav: '/builds' },
  { pattern: /^\/tests$/, page: testsPage, nav: '/tests' },
  { pattern: /^\/runs\/(\d+)$/, page: runPage, nav: '/tests' },
  { pattern: /^\/queue$/, page: queuePage, nav: '/queue' },
  { pattern: /^\/trends$/, page: trendsPage, nav: '/trends' },
  { pattern: /^\/admin\/parameter-sets$/, page: parameterSetsPage, admin: true, nav: '/admin/parameter-sets' },
  { pattern: /^\/admin\/test-items$/, page: testItemsPage, admin: true, nav: '/admin/test-items' },
  { pattern: /^\/admin\/environments$/, page: environmentsPage, admin: true, nav: '/admin/environments' },
  { pattern: /^\/admin\/channels$/, page: channelsPage, admin: true, nav: '/admin/channels' },
  { pattern: /^\/admin\/settings$/, page: settingsPage, admin: true, nav: '/admin/settings' },
  { pattern: /^\/admin\/sessions$/, page: sessionsPage, admin: true, nav: '/admin/sessions' },
  { pattern: /^\/admin\/outbox$/, page: outboxPage, admin: true, nav: '/admin/outbox' },
  { pattern: /^\/admin\/audit$/, page: auditPage, admin: true, nav: '/admin/audit' },
];

const MAIN_NAV: [string, Key][] = [
  ['/tests', 'nav.tests'],
  ['/queue', 'nav.queue'],
  ['/builds', 'nav.builds'],
  ['/trends', 'nav.trends'],
];
const ADMIN_NAV: [string, Key][] = [
  ['/admin/parameter-sets', 'nav.parameterSets'],
  ['/admin/test-items', 'nav.testItems'],
  ['/admin/environments', 'nav.environments'],
  ['/admin/channels', 'nav.channels'],
  ['/admin/settings', 'nav.settings'],
  ['/admin/sessions', 'nav.sessions'],
  ['/admin/outbox', 'nav.outbox'],
  ['/admin/audit', 'nav.audit'],
];

const app = document.getElementById('app') as HTMLElement;
const header = h('header', { class: 'border-b border-slate-200 bg-white' });
const main = h('main', { id: 'main', class: 'mx-auto w-full max-w-6xl px-3 py-4 sm:px-6 sm:py-6', tabindex: '-1' });
const toastEl = h('div', {
  id: 'toast',
  role: 'status',
  'aria-live': 'polite',
  class: 'fixed right-3 bottom-3 left-3 z-50 hidden rounded-md bg-slate-900 px-4 py-2 text-sm text-white shadow-lg sm:left-auto sm:max-w-md',
});
const skip = h(
  'a',
  {
    href: '#main',
    class: 'sr-only focus:not-sr-only focus:absolute focus:top-2 focus:left-2 focus:z-50 focus:rounded focus:bg-white focus:px-3 focus:py-2',
    onclick: (ev: Event) => {
      ev.preventDefault();
      main.focus();
    },
  },
  '',
);
app.replaceChildren(skip, header, main, toastEl);

let leaveFns: (() => void)[] = [];
let generation = 0;
let firstRender = true;

function langToggle(): HTMLElement {
  return h(
    'button',
    {
      type: 'button',
      class: 'btn btn-sm',
      'data-testid': 'lang-toggle',
      // Named by what it shows, "中文" / "English" (lang= says in which language); the title explains.
      title: t('lang.toggleLabel'),
      lang: lang() === 'en' ? 'zh-CN' : 'en',
      onclick: () => {
        setLang(lang() === 'en' ? 'zh-CN' : 'en');
        void render();
      },
    },
    t('lang.switchTo'),
  );
}

function navLink(path: string, key: Key, active: boolean): HTMLElement {
  return h(
    'li',
    null,
    h(
      'a',
      {
        href: href(path),
        class: `block rounded-md px-3 py-1.5 text-sm font-medium whitespace-nowrap ${
          active ? 'bg-blue-50 text-blue-800' : 'text-slate-700 hover:bg-slate-100'
        }`,
        'aria-current': active ? 'page' : null,
      },
      t(key),
    ),
  );
}

function renderHeader(navPath: string | undefined): void {
  const me = currentUser();
  skip.textContent = t('nav.skip');
  const brand = h(
    'a',
    { href: href('/tests'), class: 'flex items-center gap-2 text-lg font-bold text-blue-800', 'aria-label': t('app.home') },
    // The logo's letter is drawn by CSS: the link's visible text is "CRAT", which its name starts with.
    h('span', { 'aria-hidden': 'true', class: "inline-block h-6 w-6 rounded bg-blue-700 text-center text-sm leading-6 text-white before:content-['C']" }),
    'CRAT',
  );
  if (!me) {
    fill(
      header,
      h(
        'div',
        { class: 'mx-auto flex max-w-6xl items-center justify-between gap-2 px-3 py-2 sm:px-6' },
        brand,
        langToggle(),
      ),
    );
    return;
  }
  const isAdminArea = !!navPath?.startsWith('/admin');
  const links = MAIN_NAV.map(([p, k]) => navLink(p, k, navPath === p));
  if (me.is_admin) links.push(navLink('/admin/parameter-sets', 'nav.admin', isAdminArea));
  fill(
    header,
    h(
      'div',
      { class: 'mx-auto flex max-w-6xl flex-wrap items-center gap-x-4 gap-y-1 px-3 py-2 sm:px-6' },
      brand,
      h(
        'nav',
        { class: 'order-3 -mx-1 w-full overflow-x-auto sm:order-none sm:mx-0 sm:w-auto', 'aria-label': t('nav.main') },
        h('ul', { class: 'flex gap-1' }, links),
      ),
      h(
        'div',
        { class: 'ml-auto flex min-w-0 items-center gap-2' },
        h(
          'span',
          { class: 'hidden max-w-[16rem] truncate text-sm text-slate-600 md:inline', 'data-testid': 'whoami', title: me.email },
          me.email,
        ),
        h(
          'span',
          {
            class: `badge ${me.is_admin ? 'bg-violet-100 text-violet-800' : 'bg-slate-100 text-slate-700'}`,
            'data-testid': 'role',
          },
          me.is_admin ? t('role.admin') : t('role.user'),
        ),
        langToggle(),
        h(
          'button',
          {
            type: 'button',
            class: 'btn btn-sm',
            'data-testid': 'logout',
            onclick: async () => {
              await logout();
              navigate('/login');
            },
          },
          t('nav.logout'),
        ),
      ),
    ),
    isAdminArea && me.is_admin
      ? h(
          'nav',
          { class: 'border-t border-slate-100 bg-slate-50', 'aria-label': t('nav.adminMenu') },
          h(
            'ul',
            { class: 'mx-auto flex max-w-6xl gap-1 overflow-x-auto px-3 py-1.5 sm:px-6' },
            ADMIN_NAV.map(([p, k]) => navLink(p, k, navPath === p)),
          ),
        )
      : null,
  );
}

async function render(): Promise<void> {
  generation += 1;
  const gen = generation;
  for (const fn of leaveFns) {
    try {
      fn();
    } catch {
      /* ignore */
    }
  }
  leaveFns = [];
  document.documentElement.lang = lang();

  const { path, query } = currentPath();
  if (path === '/' || path === '') {
    navigate(currentUser() ? '/tests' : '/login', undefined, true);
    return;
  }
  const route = routes.find((r) => r.pattern.test(path));
  const me = currentUser();
  if (route && !route.public && !me) {
    // A reload after a login elsewhere says so too (not only a request that was refused).
    const replaced = takeReplacedAt();
    navigate('/login', { next: `${path}${query.toString() ? `?${query}` : ''}`, replaced }, true);
    return;
  }
  renderHeader(route?.nav);
  main.replaceChildren();
  if (!firstRender) main.focus({ preventScroll: true });
  firstRender = false;
  if (!route) {
    document.title = `${t('notFound.title')} · CRAT`;
    fill(main, h('h1', { class: 'h1' }, t('notFound.title')), empty(t('notFound.text')));
    return;
  }
  if (route.admin && !me?.is_admin) {
    document.title = `${t('forbidden.title')} · CRAT`;
    fill(main, h('h1', { class: 'h1' }, t('forbidden.title')), empty(t('forbidden.text')));
    return;
  }
  const ctx: Ctx = {
    main,
    params: (path.match(route.pattern) ?? []).slice(1),
    query,
    me,
    onLeave: (fn) => {
      if (gen === generation) leaveFns.push(fn);
      else fn();
    },
    alive: () => gen === generation,
    rerender: () => void render(),
  };
  try {
    await route.page(ctx);
  } catch (e) {
    if (gen === generation) main.append(errorBox(e));
  }
}

onUnauthorized((e) => {
  forget();
  const { path, query } = currentPath();
  // A newer login elsewhere says when; any other refusal says the session ended.
  const at = e.code === 'session_replaced' ? (e.details as { logged_in_at?: unknown } | undefined)?.logged_in_at : undefined;
  const why = typeof at === 'string' ? { replaced: at } : { expired: 1 };
  if (path !== '/login') navigate('/login', { next: `${path}${query.toString() ? `?${query}` : ''}`, ...why }, true);
});

window.addEventListener('hashchange', () => void render());

// A deep link without a hash (/runs/5 served by the SPA fallback) becomes #/runs/5.
(function hashFromPath() {
  const base = import.meta.env.BASE_URL.startsWith('/') ? import.meta.env.BASE_URL : '/';
  const p = window.location.pathname;
  if (!window.location.hash && p.startsWith(base) && p !== base && p !== `${base}index.html`) {
    window.history.replaceState(null, '', `${base}#/${p.slice(base.length)}`);
  }
})();

document.documentElement.lang = lang();
void loadMe().then(() => render());
