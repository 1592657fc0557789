// Query lab: routes a query through POST /api/v1/query and draws its activation picture.
// A picture is shared by URL with the query in the fragment (#q=…), which browsers never send
// to a server, so query texts stay out of access logs.
'use strict';

(() => {
  const { $, el, svg, clear, api, errorText, fixed, can, ready } = Jessy;
  const FREQ_MIN = 0.1;
  const FREQ_MAX = 4.5;

  function fragmentQuery() {
    const params = new URLSearchParams(location.hash.slice(1));
    return params.get('q');
  }

  function bars(dimensions) {
    const box = clear($('dimension-bars'));
    if (!dimensions.length) { box.append(el('p', { class: 'muted', text: 'No active dimension.' })); return; }
    for (const d of dimensions) {
      const after = el('div', { class: 'bar after', role: 'presentation' });
      const raw = el('div', { class: 'bar raw', role: 'presentation' });
      // CSSOM, not a style attribute: allowed by the console's style-src 'self'.
      after.style.width = (100 * Math.max(0, Math.min(1, d.confidence))).toFixed(1) + '%';
      raw.style.width = (100 * Math.max(0, Math.min(1, d.raw_confidence))).toFixed(1) + '%';
      box.append(el('div', {
        class: 'bar-row dimension-bar',
        'data-dimension': d.id,
        'aria-label': d.name + ': confidence ' + fixed(d.confidence) + ', raw ' + fixed(d.raw_confidence),
      },
      el('span', { class: 'bar-name', title: d.name, text: d.name }),
      el('div', { class: 'bars' }, after, raw),
      el('span', { class: 'num', text: fixed(d.confidence, 2) })));
    }
  }

  function paths(dimensions) {
    const box = clear($('layer-paths'));
    for (const d of dimensions) {
      // The path as a nested list: each layer is the child of the one above it.
      let list = el('ul', { class: 'tree' });
      const root = list;
      d.layers.forEach((layer, i) => {
        const item = el('li', { class: 'path-layer', 'data-layer': layer.id },
          el('span', { class: 'depth', text: 'L' + layer.depth }),
          layer.name + ' ', el('span', { class: 'muted', text: '(' + layer.id + ', ' + fixed(layer.score, 2) + ')' }));
        list.append(item);
        if (i < d.layers.length - 1) { const next = el('ul'); item.append(next); list = next; }
      });
      box.append(el('div', { class: 'path', 'data-dimension': d.id }, el('h3', { text: d.name }), root));
    }
  }

  function interference(result) {
    const box = clear($('interference'));
    const summary = result.interference;
    const dims = result.dimensions;
    const width = 520; const height = 120; const pad = 24;
    const x = (f) => pad + ((f - FREQ_MIN) / (FREQ_MAX - FREQ_MIN)) * (width - 2 * pad);
    const axisY = height - 28;
    const chart = svg('svg', { viewBox: '0 0 ' + width + ' ' + height, width: '100%', role: 'img', id: 'frequency-axis',
      'aria-label': 'Active dimensions on a frequency axis from ' + FREQ_MIN + ' to ' + FREQ_MAX + ' Hz' });
    chart.append(svg('line', { class: 'axis', x1: pad, x2: width - pad, y1: axisY, y2: axisY }));
    for (let f = 0.5; f <= FREQ_MAX; f += 0.5) {
      chart.append(svg('line', { class: 'grid-line', x1: x(f), x2: x(f), y1: 8, y2: axisY }),
        svg('text', { x: x(f), y: axisY + 14, 'text-anchor': 'middle' }, f.toFixed(1)));
    }
    chart.append(svg('text', { x: width - pad, y: height - 2, 'text-anchor': 'end' }, 'Hz'));
    const position = new Map(dims.map((d, i) => [d.id, { f: d.frequency, y: 24 + (i % 3) * 18 }]));
    for (const p of summary.pairs) {
      const a = position.get(p.a); const b = position.get(p.b);
      if (!a || !b) continue;
      const mid = (x(a.f) + x(b.f)) / 2;
      chart.append(svg('path', { class: 'pair ' + p.kind, 'data-kind': p.kind,
        d: 'M' + x(a.f) + ' ' + a.y + ' Q' + mid + ' ' + (Math.min(a.y, b.y) - 18) + ' ' + x(b.f) + ' ' + b.y }));
    }
    for (const d of dims) {
      const p = position.get(d.id);
      chart.append(svg('circle', { class: 'dot', cx: x(d.frequency), cy: p.y, r: 4 }),
        svg('text', { x: x(d.frequency) + 6, y: p.y + 4 }, d.id));
    }
    if (result.outcome === 'matched') {
      chart.append(svg('line', { class: 'dominant', id: 'dominant-frequency', x1: x(summary.dominant_frequency), x2: x(summary.dominant_frequency), y1: 6, y2: axisY }));
    }
    box.append(chart);
    const list = el('ul', { class: 'plain', id: 'pairs' });
    list.append(el('li', { text: 'Dominant frequency ' + fixed(summary.dominant_frequency, 2) + ' Hz' +
      (summary.balance && summary.balance.needed ? ' (balanced to ' + fixed(summary.balance.modulated_frequency, 2) + ' Hz)' : '') }));
    if (!summary.pairs.length) list.append(el('li', { class: 'muted', text: 'No interacting pairs.' }));
    for (const p of summary.pairs) {
      list.append(el('li', { class: 'pair-item', 'data-kind': p.kind,
        text: p.a + ' ↔ ' + p.b + ': ' + p.kind + (p.interval ? ' (' + p.interval + ')' : '') }));
    }
    box.append(list);
  }

  function convergence(summary) {
    const strip = clear($('convergence'));
    for (const it of summary.trace) {
      strip.append(el('li', { class: 'iteration' },
        el('strong', { text: 'Iteration ' + it.iteration }),
        it.selection.slice(0, 3).map((s) => el('div', { text: s.dimension + '/' + s.layer + ' ' + fixed(s.confidence, 2) })),
        el('div', { class: 'muted', text: 'similarity ' + fixed(it.similarity, 2) })));
    }
    strip.append(el('li', { class: 'muted', text: (summary.converged ? 'converged' : 'not converged') + ' after ' + summary.iterations }));
  }

  function context(ctx) {
    $('context-meta').textContent = ctx.tokens + ' tokens of a ' + ctx.budget + '-token budget, from ' + ctx.sources.length + ' layer(s)';
    const body = clear($('context-sources').tBodies[0]);
    for (const s of ctx.sources) {
      body.append(el('tr', {}, el('td', { text: s.dimension }), el('td', { text: s.layer }),
        el('td', { class: 'num', text: s.tokens }), el('td', { text: s.truncated ? 'yes' : 'no' })));
    }
    $('context-text').textContent = ctx.text || '(no context)';
  }

  function timings(t) {
    const body = clear($('timings').tBodies[0]);
    for (const stage of ['parse', 'scan', 'interference', 'convergence', 'context', 'total']) {
      body.append(el('tr', { 'data-stage': stage }, el('th', { scope: 'row', text: stage }), el('td', { class: 'num', text: fixed(t[stage], 1) })));
    }
  }

  // Feedback (keys with the `write` scope): "Right" confirms the answer — the top layer, or
  // no_match — and "Wrong" sends the layer it should have been, both by the result's
  // `query_id`, which names the query in the memory of the core that answered it.
  let answered = null;       // the result the feedback controls speak about
  let layersLoaded = false;  // whether the correction <select> has been filled

  // What the engine answered, as a feedback label: "dimension/layer", or null for no_match.
  function answeredLabel(result) {
    if (result.outcome !== 'matched' || !result.top_layers.length) return null;
    return result.top_layers[0].dimension + '/' + result.top_layers[0].layer;
  }

  function resetFeedback(result) {
    answered = result;
    const box = $('feedback');
    box.hidden = !can('write') || !result.query_id;
    $('feedback-status').textContent = '';
    $('feedback-error').textContent = '';
    $('feedback-wrong-form').hidden = true;
    $('feedback-wrong').setAttribute('aria-expanded', 'false');
    for (const b of box.querySelectorAll('button')) b.disabled = false;
  }

  // The correction choices: no_match, then every layer of every dimension, grouped.
  async function loadLayers() {
    if (layersLoaded) return true;
    const select = clear($('feedback-layer'));
    select.append(el('option', { value: '', text: 'no_match (nothing should have answered)' }));
    const dims = await api('/api/v1/dimensions');
    if (!dims.ok) { $('feedback-error').textContent = errorText(dims); return false; }
    const details = await Promise.all(dims.data.dimensions.map((d) => api('/api/v1/dimensions/' + encodeURIComponent(d.id))));
    for (const detail of details) {
      if (!detail.ok) { $('feedback-error').textContent = errorText(detail); return false; }
      const d = detail.data;
      select.append(el('optgroup', { label: d.name },
        d.layers.map((l) => el('option', { value: d.id + '/' + l.id, text: d.id + '/' + l.id + ' — ' + l.name }))));
    }
    layersLoaded = true;
    return true;
  }

  async function sendFeedback(layer) {
    const status = $('feedback-status');
    const error = $('feedback-error');
    status.textContent = 'Sending…';
    error.textContent = '';
    const buttons = [...$('feedback').querySelectorAll('button')];
    for (const b of buttons) b.disabled = true;
    const result = await api('/api/v1/feedback', { method: 'POST', body: JSON.stringify({ query_id: answered.query_id, layer }) });
    for (const b of buttons) b.disabled = false;
    if (!result.ok) { status.textContent = ''; error.textContent = errorText(result); return; }
    status.textContent = 'Recorded: ' + (layer === null ? 'no_match' : layer) + ' (' + result.data.accepted +
      ' item, ' + result.data.feedback_total + ' in the feedback log).';
  }

  function wireFeedback() {
    $('feedback-right').addEventListener('click', () => { if (answered) sendFeedback(answeredLabel(answered)); });
    $('feedback-wrong').addEventListener('click', async () => {
      const form = $('feedback-wrong-form');
      const open = form.hidden;
      form.hidden = !open;
      $('feedback-wrong').setAttribute('aria-expanded', String(open));
      if (open && await loadLayers()) {
        const select = $('feedback-layer');
        // Preselect something other than what was answered: the answer was wrong.
        const label = answered ? answeredLabel(answered) : null;
        if (label === null && select.options.length > 1) select.selectedIndex = 1;
        else select.value = '';
        select.focus();
      }
    });
    $('feedback-wrong-form').addEventListener('submit', (event) => {
      event.preventDefault();
      if (!answered || !layersLoaded) return;
      const value = $('feedback-layer').value;
      sendFeedback(value === '' ? null : value);
    });
  }

  function draw(result) {
    resetFeedback(result);
    $('picture').hidden = false;
    const matched = result.outcome === 'matched';
    const outcome = $('outcome');
    outcome.className = 'outcome ' + (matched ? 'matched' : 'no-match');
    outcome.textContent = matched
      ? 'Matched ' + result.dimensions.length + ' dimension(s) · generation ' + result.generation
      : 'No match · generation ' + result.generation;
    $('no-match').hidden = matched;
    if (!matched) {
      $('no-match-reason').textContent = result.no_match_reason || '';
      const nearest = clear($('nearest'));
      for (const l of result.top_layers) nearest.append(el('li', { text: l.dimension + '/' + l.layer + ' ' + fixed(l.confidence) }));
    }
    bars(result.dimensions);
    paths(result.dimensions);
    interference(result);
    convergence(result.convergence);
    context(result.context);
    timings(result.timings_us);
  }

  async function run(text) {
    const error = $('query-error');
    error.textContent = '';
    const result = await api('/api/v1/query', { method: 'POST', body: JSON.stringify({ query: text }) });
    if (!result.ok) { error.textContent = errorText(result); $('picture').hidden = true; return; }
    const share = $('share-link');
    share.href = '#' + new URLSearchParams({ q: text }).toString();
    share.hidden = false;
    history.replaceState(null, '', share.href);
    draw(result.data);
  }

  ready.then((who) => {
    if (!who) return;
    wireFeedback();
    const input = $('query-text');
    $('query-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const text = input.value.trim();
      if (!text) { $('query-error').textContent = 'Type a query.'; input.focus(); return; }
      run(text);
    });
    // Enter routes, Shift+Enter starts a new line.
    input.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey) { event.preventDefault(); $('query-form').requestSubmit(); }
    });
    const shared = fragmentQuery();
    if (shared) { input.value = shared; run(shared); } else input.focus();
    window.addEventListener('hashchange', () => {
      const q = fragmentQuery();
      if (q && q !== input.value.trim()) { input.value = q; run(q); }
    });
  });
})();
