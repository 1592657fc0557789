// Sign-in: checks the key with GET /api/v1/whoami, keeps it in sessionStorage, opens the
// first page the key may use. The input has no `name`, so even a form submitted without this
// script could not put the key in a URL.
'use strict';

(() => {
  const { $, signIn, errorText, key } = Jessy;
  const first = (who) => (who.scopes.includes('query') ? '/console/query'
    : who.scopes.includes('admin') ? '/console/quality' : '/console/registry');

  const start = () => {
    const form = $('signin-form');
    const input = $('api-key');
    const error = $('signin-error');
    if (key()) {
      try { location.replace(first(JSON.parse(sessionStorage.getItem('jessy.who')))); return; } catch (e) { /* sign in again */ }
    }
    input.focus();
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      error.textContent = '';
      const token = input.value.trim();
      if (!token) { error.textContent = 'Enter an API key.'; input.focus(); return; }
      const result = await signIn(token);
      if (result.ok) {
        location.assign(first(result.data));
      } else {
        error.textContent = result.status === 401
          ? 'This key was not accepted.'
          : 'Sign-in failed: ' + errorText(result);
        input.setAttribute('aria-invalid', 'true');
        input.select();
      }
    });
  };
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
