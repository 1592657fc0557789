// Cluster (scope `admin`): the gateways and cores serving this registry, their generations
// and health, from GET /api/v1/cluster.
//
// Refreshes politely: every 5 s (the gateways' heartbeat interval) only while the tab is
// visible and the box is ticked, the next request only after the previous answer, and without
// moving focus or announcing every refresh to screen readers (only a failure is an alert).
'use strict';

(() => {
  const { $, el, clear, api, errorText, ready } = Jessy;
  const INTERVAL_MS = 5000;
  let timer = null;
  let loading = false;

  function ago(seconds) {
    if (typeof seconds !== 'number') return '–';
    if (seconds < 1) return 'just now';
    if (seconds < 90) return Math.round(seconds) + ' s ago';
    if (seconds < 5400) return Math.round(seconds / 60) + ' min ago';
    return (seconds / 3600).toFixed(1) + ' h ago';
  }
  function duration(seconds) {
    if (seconds < 90) return Math.round(seconds) + ' s';
    if (seconds < 5400) return Math.round(seconds / 60) + ' min';
    return (seconds / 3600).toFixed(1) + ' h';
  }
  function when(iso) {
    const date = new Date(iso);
    return isNaN(date) ? iso : date.toLocaleString();
  }
  // A state as words and a class for its colour: the words carry the meaning, the colour only
  // repeats it.
  function badge(kind, text) { return el('span', { class: 'badge ' + kind, text }); }

  function gatewayRow(g, staleAfter) {
    const name = g.this ? (g.id ? g.id + ' (this one)' : 'this gateway') : g.id;
    const started = g.started_at ? when(g.started_at)
      : 'up for ' + duration(g.uptime_seconds || 0);
    let health;
    if (g.liveness === 'live') health = badge('ok', 'live');
    else if (g.liveness === 'stopped') health = badge('off', 'stopped ' + (g.stopped_at ? when(g.stopped_at) : ''));
    else health = badge('bad', 'stale: no heartbeat for ' + duration(g.seen_seconds_ago) + ' (over ' + staleAfter + ' s)');
    return el('tr', { 'data-gateway': g.id || 'this', 'data-liveness': g.liveness },
      el('th', { scope: 'row', text: name }),
      el('td', { text: g.address }),
      el('td', { text: g.version }),
      el('td', { text: started }),
      el('td', { text: g.last_seen_at ? ago(g.seen_seconds_ago) : 'not recorded (standalone)' }),
      el('td', {}, health));
  }

  function coreRow(c) {
    const r = c.readiness || {};
    const cl = c.cluster;
    const health = c.state === 'up' ? badge('ok', 'up')
      : badge('bad', 'down' + (c.consecutive_failures ? ' (' + c.consecutive_failures + ' failed checks)' : ''));
    let readyCell;
    if (!c.ready) readyCell = badge('bad', 'not ready: ' + (c.not_ready || 'no answer'));
    else if (r.degraded) readyCell = badge('warn', 'degraded: ' + r.degraded);
    else readyCell = badge('ok', 'ready');
    let database = 'standalone (no database)';
    if (cl && cl.database) {
      database = cl.database.state === 'connected' ? badge('ok', 'connected')
        : badge('warn', 'degraded' + (cl.database.reason ? ': ' + cl.database.reason : ''));
    } else if (!c.ready) database = '–';
    const num = (x) => (typeof x === 'number' ? String(x) : '–');
    const lag = cl ? (cl.lag > 0 ? badge('warn', cl.lag + ' behind') : '0') : '–';
    return el('tr', { 'data-core': c.url, 'data-generation': typeof r.generation === 'number' ? r.generation : '' },
      el('th', { scope: 'row', text: c.url }),
      el('td', {}, health),
      el('td', {}, readyCell),
      el('td', { class: 'num generation', text: num(r.generation) }),
      el('td', { class: 'num', text: cl ? num(cl.cluster_generation) : '–' }),
      el('td', { class: 'num' }, lag),
      el('td', {}, database),
      el('td', { class: 'num', text: num(r.layers) }),
      el('td', { class: 'num', text: num(c.in_flight) }),
      el('td', { class: 'num', text: num(c.requests) }));
  }

  function render(data) {
    const cluster = data.mode === 'cluster';
    $('cluster-mode').textContent = cluster
      ? 'Cluster mode: gateways find each other through heartbeats in the cluster database (one every ' +
        data.beat_interval_seconds + ' s; stale after ' + data.stale_after_seconds + ' s without one). ' +
        data.upstreams_up + ' of ' + data.cores.length + ' core(s) up behind this gateway.'
      : 'Standalone: this gateway and its ' + data.cores.length + ' core(s) (' + data.upstreams_up +
        ' up). Other gateways, if any, are not known to this one outside cluster mode.';
    $('gateways-error').textContent = data.gateways_error ? 'Cannot list the gateways: ' + data.gateways_error : '';
    const shown = data.gateways.length;
    $('gateways-note').textContent = cluster
      ? shown + ' gateway(s)' + (data.gateways_total > shown ? ' shown of ' + data.gateways_total + ' recorded (newest first)' : '') +
        ', ' + data.gateways.filter((g) => g.liveness === 'live').length + ' live. Stale and stopped gateways stay listed until an operator forgets them.'
      : '';
    const gateways = clear($('gateways').tBodies[0]);
    for (const g of data.gateways) gateways.append(gatewayRow(g, data.stale_after_seconds));
    const cores = clear($('cores').tBodies[0]);
    for (const c of data.cores) cores.append(coreRow(c));
  }

  async function load() {
    if (loading) return;
    loading = true;
    const result = await api('/api/v1/cluster');
    loading = false;
    if (!result.ok) {
      $('cluster-error').textContent = errorText(result);
    } else {
      $('cluster-error').textContent = '';
      render(result.data);
      $('refreshed').textContent = 'Updated ' + new Date().toLocaleTimeString();
    }
    schedule();
  }

  function schedule() {
    clearTimeout(timer);
    timer = null;
    if ($('auto-refresh').checked && !document.hidden) timer = setTimeout(load, INTERVAL_MS);
  }

  ready.then((who) => {
    if (!who) return;
    $('refresh-cluster').addEventListener('click', load);
    $('auto-refresh').addEventListener('change', schedule);
    document.addEventListener('visibilitychange', () => {
      if (document.hidden) schedule();
      else load();  // back on the tab: show the present at once, then resume the interval
    });
    load();
  });
})();
