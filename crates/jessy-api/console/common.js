// Shared by every console page: the session key, the API client, DOM helpers, and the
// header (who is signed in, which pages the key's scopes open, sign out).
//
// The key lives in sessionStorage: it survives page navigation inside this tab and is gone
// when the tab closes. It is only ever sent as `Authorization: Bearer …` by fetch below.
'use strict';

const Jessy = (() => {
  const KEY = 'jessy.key';
  const WHO = 'jessy.who';

  function key() { return sessionStorage.getItem(KEY); }

  function signOut() {
    sessionStorage.removeItem(KEY);
    sessionStorage.removeItem(WHO);
    location.replace('/console');
  }

  // Calls the gateway; resolves to {status, ok, data} (data: parsed JSON or null). A 401 means
  // the key stopped working (revoked, or the dev key replaced): back to sign-in.
  async function api(path, { method = 'GET', body, type = 'application/json', token } = {}) {
    const headers = { Authorization: 'Bearer ' + (token || key() || '') };
    if (body !== undefined) headers['Content-Type'] = type;
    let response;
    try {
      response = await fetch(path, { method, headers, body, cache: 'no-store', credentials: 'omit' });
    } catch (e) {
      return { status: 0, ok: false, data: { error: { code: 'network', message: 'the gateway did not answer: ' + e.message } } };
    }
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    if (response.status === 401 && !token) signOut();
    return { status: response.status, ok: response.ok, data };
  }

  function errorText(result) {
    if (result.data && result.data.error && result.data.error.message) return result.data.error.message;
    return 'HTTP ' + result.status;
  }

  // Builds an element: el('td', {class: 'num'}, '0.8'). Text goes in as text nodes, never as
  // HTML, so nothing a registry or a query contains can inject markup.
  function build(document_create, tag, attrs, children) {
    const node = document_create(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === false || value === null || value === undefined) continue;
      if (name === 'text') node.textContent = value;
      else node.setAttribute(name, value === true ? '' : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }
  function el(tag, attrs, ...children) { return build((t) => document.createElement(t), tag, attrs, children); }
  function svg(tag, attrs, ...children) {
    return build((t) => document.createElementNS('http://www.w3.org/2000/svg', t), tag, attrs, children);
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
  function $(id) { return document.getElementById(id); }
  function fixed(x, digits = 3) { return typeof x === 'number' ? x.toFixed(digits) : '–'; }
  function percent(x) { return typeof x === 'number' ? (100 * x).toFixed(1) + ' %' : '–'; }

  function who() {
    try { return JSON.parse(sessionStorage.getItem(WHO) || 'null'); } catch (e) { return null; }
  }
  function can(scope) { const w = who(); return !!w && w.scopes.includes(scope); }

  // Asks the gateway who `token` is; stores key and answer on success.
  async function signIn(token) {
    const result = await api('/api/v1/whoami', { token });
    if (result.ok && result.data) {
      sessionStorage.setItem(KEY, token);
      sessionStorage.setItem(WHO, JSON.stringify(result.data));
    }
    return result;
  }

  // Header: runs on every page but sign-in. Pages wait on `ready` before calling the API.
  const ready = new Promise((resolve) => {
    const start = () => {
      if (document.body.dataset.page === 'signin') { resolve(null); return; }
      const w = who();
      if (!key() || !w) { signOut(); return; }
      $('who').textContent = 'Signed in as ' + w.name + ' (' + w.scopes.join(', ') + ')';
      for (const item of document.querySelectorAll('[data-scope]')) {
        item.hidden = !w.scopes.includes(item.dataset.scope);
      }
      $('sign-out').addEventListener('click', signOut);
      const current = document.querySelector('nav [aria-current="page"]');
      if (current && current.closest('[data-scope]').hidden) {
        // This key may not use this page: say so instead of showing controls that fail.
        const main = clear($('main'));
        main.append(el('h1', { text: 'Not available' }),
          el('p', { text: 'This API key lacks the scope this page needs (' + current.closest('[data-scope]').dataset.scope + ').' }));
        resolve(null);
        return;
      }
      resolve(w);
    };
    if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
    else start();
  });

  return { api, errorText, el, svg, clear, $, fixed, percent, can, signIn, signOut, ready, key };
})();
