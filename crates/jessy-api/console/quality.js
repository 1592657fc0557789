// Quality: uploads a labelled JSONL to POST /api/v1/eval (scope `admin`) and shows the
// figures `jessy eval` prints, the most confused layer pairs, and the no-match threshold
// swept against in-scope accuracy and OOS recall.
'use strict';

(() => {
  const { $, el, svg, clear, api, errorText, fixed, percent, ready } = Jessy;

  function figures(answer) {
    const r = answer.report;
    const q = answer.quality;
    const rows = [
      ['Generation', answer.generation],
      ['Lines', r.examples + ' (' + r.in_scope + ' in scope, ' + r.out_of_scope + ' out of scope)'],
      ['In-scope accuracy', percent(r.in_scope_accuracy)],
      ['Top-3 accuracy', percent(r.top3_accuracy)],
      ['Dimension accuracy', percent(r.dimension_accuracy)],
      ['OOS recall', percent(r.oos_recall)],
      ['OOS precision', percent(r.oos_precision)],
      ['In-scope answered no_match', q.in_scope_no_match],
      ['Labels not in the registry', q.unknown_labels],
      ['Mean convergence iterations', fixed(r.mean_iterations, 2)],
      ['Latency p50 / p99', fixed(r.p50_us, 1) + ' / ' + fixed(r.p99_us, 1) + ' µs'],
      ['No-match threshold', fixed(q.threshold)],
    ];
    const body = clear($('figures').tBodies[0]);
    for (const [name, value] of rows) {
      body.append(el('tr', { 'data-figure': name }, el('th', { scope: 'row', text: name }), el('td', { class: 'num', text: value })));
    }
  }

  function confusions(list) {
    const body = clear($('confusions').tBodies[0]);
    if (!list.length) body.append(el('tr', {}, el('td', { colspan: 3, class: 'muted', text: 'No line was answered with another layer.' })));
    for (const c of list) {
      body.append(el('tr', { class: 'confusion' }, el('td', { text: c.gold }), el('td', { text: c.predicted }), el('td', { class: 'num', text: c.count })));
    }
  }

  function sweep(points, threshold) {
    const width = 640; const height = 260; const left = 44; const right = 16; const top = 12; const bottom = 36;
    const x = (t) => left + t * (width - left - right);
    const y = (v) => top + (1 - v) * (height - top - bottom);
    const chart = svg('svg', { viewBox: '0 0 ' + width + ' ' + height, width: '100%', role: 'img', id: 'sweep-plot',
      'aria-label': 'In-scope accuracy and OOS recall against the no-match threshold; the table below has the values' });
    for (let v = 0; v <= 1.0001; v += 0.25) {
      chart.append(svg('line', { class: 'grid-line', x1: left, x2: width - right, y1: y(v), y2: y(v) }),
        svg('text', { x: left - 6, y: y(v) + 4, 'text-anchor': 'end' }, v.toFixed(2)));
    }
    for (let t = 0; t <= 1.0001; t += 0.1) {
      chart.append(svg('text', { x: x(t), y: height - bottom + 16, 'text-anchor': 'middle' }, t.toFixed(1)));
    }
    chart.append(svg('line', { class: 'axis', x1: left, x2: width - right, y1: y(0), y2: y(0) }),
      svg('line', { class: 'axis', x1: left, x2: left, y1: y(0), y2: y(1) }),
      svg('text', { x: (left + width - right) / 2, y: height - 4, 'text-anchor': 'middle' }, 'no-match threshold'));
    const line = (field) => points.map((p, i) => (i ? 'L' : 'M') + x(p.threshold).toFixed(1) + ' ' + y(p[field]).toFixed(1)).join(' ');
    chart.append(svg('path', { class: 'acc', d: line('in_scope_accuracy') }),
      svg('path', { class: 'oosl', d: line('oos_recall') }),
      svg('line', { class: 'mark', id: 'threshold-mark', x1: x(threshold), x2: x(threshold), y1: y(1), y2: y(0) }));
    clear($('sweep')).append(chart);
    const body = clear($('sweep-table').tBodies[0]);
    for (const p of points) {
      body.append(el('tr', {}, el('td', { class: 'num', text: fixed(p.threshold) + (p.threshold === threshold ? ' (current)' : '') }),
        el('td', { class: 'num', text: percent(p.in_scope_accuracy) }), el('td', { class: 'num', text: percent(p.oos_recall) })));
    }
  }

  ready.then((who) => {
    if (!who) return;
    const input = $('eval-file');
    $('eval-form').addEventListener('submit', async (event) => {
      event.preventDefault();
      $('eval-error').textContent = '';
      const file = input.files[0];
      if (!file) { $('eval-error').textContent = 'Choose a labelled JSONL file.'; input.focus(); return; }
      $('eval-status').textContent = 'Evaluating ' + file.name + '…';
      const result = await api('/api/v1/eval', { method: 'POST', body: await file.text(), type: 'application/x-ndjson' });
      $('eval-status').textContent = '';
      if (!result.ok) { $('eval-error').textContent = errorText(result); $('eval-result').hidden = true; return; }
      $('eval-result').hidden = false;
      $('eval-status').textContent = 'Evaluated ' + file.name + '.';
      figures(result.data);
      confusions(result.data.quality.confusions);
      sweep(result.data.quality.sweep, result.data.quality.threshold);
    });
  });
})();
