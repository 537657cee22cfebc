import { h } from '../dom';
import { t } from '../i18n';
import type { Ctx } from '../router';
import { login } from '../session';
import { fmtTime } from '../format';
import { checkbox, field, infoBox, showFormError } from '../ui';

/** Only in-app targets: "/runs/5?x=1" style paths. */
function safeNext(raw: string | null): string {
  return raw && /^\/[A-Za-z0-9/_-]*(\?.*)?$/.test(raw) && !raw.startsWith('//') && !raw.startsWith('/login')
    ? raw
    : '/tests';
}

export function loginPage(ctx: Ctx): void {
  document.title = `${t('login.title')} · CRAT`;
  const next = safeNext(ctx.query.get('next'));
  const errorSlot = h('div', { class: 'min-h-0' });
  const email = h('input', {
    type: 'email',
    name: 'email',
    class: 'input',
    autocomplete: 'email',
    required: true,
    placeholder: t('login.emailPlaceholder'),
    'data-testid': 'login-email',
  });
  const password = h('input', {
    type: 'password',
    name: 'password',
    class: 'input',
    autocomplete: 'current-password',
    'data-testid': 'login-password',
  });
  const passwordField = field(t('login.password'), password, t('login.passwordHint'));
  passwordField.hidden = true;
  const admin = checkbox(t('login.iAmAdmin'), false, (on) => {
    passwordField.hidden = !on;
    password.required = on;
    if (on) password.focus();
    else password.value = '';
  });
  admin.input.setAttribute('data-testid', 'login-admin');
  admin.input.setAttribute('aria-controls', password.id || (password.id = 'login-password'));
  const submit = h('button', { type: 'submit', class: 'btn btn-primary w-full py-2', 'data-testid': 'login-submit' }, t('login.submit'));

  const form = h(
    'form',
    { class: 'space-y-4', novalidate: true },
    field(t('login.email'), email),
    h('div', null, admin.wrap),
    passwordField,
    errorSlot,
    submit,
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    errorSlot.replaceChildren();
    const addr = email.value.trim();
    if (!addr || !/^[^\s@]+@[^\s@]+$/.test(addr)) {
      email.setAttribute('aria-invalid', 'true');
      errorSlot.replaceChildren(infoBox(t('login.emailInvalid'), 'border-red-200 bg-red-50 text-red-800'));
      errorSlot.firstElementChild?.setAttribute('role', 'alert');
      email.focus();
      return;
    }
    email.removeAttribute('aria-invalid');
    if (admin.input.checked && !password.value) {
      errorSlot.replaceChildren(infoBox(t('login.passwordMissing'), 'border-red-200 bg-red-50 text-red-800'));
      errorSlot.firstElementChild?.setAttribute('role', 'alert');
      password.focus();
      return;
    }
    submit.disabled = true;
    try {
      await login(addr, admin.input.checked ? password.value : null);
      window.location.hash = next;
    } catch (e) {
      // A wrong password shows under the password field; nothing about sessions.
      showFormError(form, errorSlot, e);
      submit.disabled = false;
    }
  });

  ctx.main.append(
    h(
      'div',
      { class: 'mx-auto mt-4 max-w-sm sm:mt-12' },
      h(
        'div',
        { class: 'card p-6' },
        h('h1', { class: 'h1 mb-1' }, t('login.title')),
        h('p', { class: 'muted mb-5' }, t('login.intro')),
        endedNotice(ctx.query),
        ctx.me ? h('div', { class: 'mb-4' }, infoBox(t('login.already', { email: ctx.me.email }))) : null,
        form,
      ),
    ),
  );
  email.focus();
}

/** Why the person is here again: a login elsewhere replaced the session (and when), or it ended. */
function endedNotice(query: URLSearchParams): HTMLElement | null {
  const replacedAt = query.get('replaced');
  if (replacedAt && !Number.isNaN(Date.parse(replacedAt))) {
    return h('div', { class: 'mb-4', 'data-testid': 'session-replaced' }, infoBox(t('login.replaced', { time: fmtTime(replacedAt) })));
  }
  return query.get('expired') ? h('div', { class: 'mb-4' }, infoBox(t('login.expired'))) : null;
}
