// Feedback and suggestions (scope `write`): the no-match inbox grouped into suggested layers
// (GET /api/v1/suggestions), each accepted with one click into a new layer
// (POST /api/v1/suggestions/{id}/accept) with the server's problems shown next to the field
// they concern; and, for `admin` keys, "Learn now" (POST /api/v1/learn) with its report.
'use strict';

(() => {
  const { $, el, clear, api, errorText, fixed, percent, can, ready } = Jessy;
  let dimensions = [];  // [{id, name}] for the accept forms' dimension select

  // A layer id suggested from the keywords: the slug the registry accepts (lowercase letters,
  // digits and dashes), so the usual accept is one click.
  function slug(words) {
    const text = words.slice(0, 2).join('-').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
    return text || 'new-layer';
  }
  function title(words) {
    const text = words.slice(0, 2).join(' ');
    return text ? text.charAt(0).toUpperCase() + text.slice(1) : 'New layer';
  }

  // Which accept field a server problem concerns. Unknown dimensions are 404s naming the
  // dimension; layer problems come from the registry validator, worded after the field it
  // checks ("layer \"x\": … slug …", "… name …"); anything else is shown above the fields.
  function fieldOf(result) {
    const message = errorText(result);
    const text = message.replace(/^the layer is invalid \(\d+ problem\(s\)\): /, '').replace(/^layer "[^"]*": /, '');
    if (/dimension/.test(text) && !/layer id|slug/.test(text)) return 'dimension';
    if (/\bname\b/.test(text)) return 'name';
    if (/\bslug\b|layer id|duplicate|\bid\b/.test(text)) return 'layer';
    return null;
  }

  function acceptForm(s, index) {
    const prefix = 's' + index + '-';
    const field = (name, label, control) => el('div', { class: 'field' },
      el('label', { for: prefix + name, text: label }),
      control,
      el('p', { id: prefix + 'err-' + name, class: 'field-error', role: 'alert' }));
    const dimension = el('select', { id: prefix + 'dimension', 'aria-describedby': prefix + 'err-dimension' },
      dimensions.map((d) => el('option', { value: d.id, text: d.name + ' (' + d.id + ')' })));
    if (s.closest) dimension.value = s.closest.dimension;
    const layer = el('input', { id: prefix + 'layer', autocomplete: 'off', 'aria-describedby': prefix + 'err-layer', value: slug(s.keywords) });
    const name = el('input', { id: prefix + 'name', autocomplete: 'off', 'aria-describedby': prefix + 'err-name', value: title(s.keywords) });
    const status = el('p', { id: prefix + 'status', role: 'status' });
    const general = el('p', { id: prefix + 'error', class: 'error', role: 'alert' });
    const submit = el('button', { type: 'submit', id: prefix + 'accept', class: 'accept', text: 'Accept as a new layer' });
    const form = el('form', { class: 'accept-form', 'data-suggestion': s.id, novalidate: true },
      field('dimension', 'Dimension', dimension),
      field('layer', 'Layer id (a slug)', layer),
      field('name', 'Name', name),
      el('div', { class: 'row' }, submit), status, general);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const fields = { dimension, layer, name };
      for (const [key, control] of Object.entries(fields)) {
        $(prefix + 'err-' + key).textContent = '';
        control.removeAttribute('aria-invalid');
      }
      general.textContent = '';
      const body = { dimension: dimension.value, layer: layer.value.trim(), name: name.value.trim() };
      const missing = Object.keys(fields).find((k) => !body[k]);
      if (missing) {
        $(prefix + 'err-' + missing).textContent = 'Required.';
        fields[missing].setAttribute('aria-invalid', 'true');
        fields[missing].focus();
        return;
      }
      submit.disabled = true;
      status.textContent = 'Creating the layer and publishing a generation…';
      const result = await api('/api/v1/suggestions/' + encodeURIComponent(s.id) + '/accept', { method: 'POST', body: JSON.stringify(body) });
      submit.disabled = false;
      if (!result.ok) {
        status.textContent = '';
        const which = fieldOf(result);
        if (which) {
          $(prefix + 'err-' + which).textContent = errorText(result);
          fields[which].setAttribute('aria-invalid', 'true');
          fields[which].focus();
        } else general.textContent = errorText(result);
        return;
      }
      const done = result.data;
      const message = 'Accepted: created ' + done.dimension + '/' + done.layer + ' in generation ' + done.generation + '.';
      await loadSuggestions();
      $('inbox-status').textContent = message + ' ' + $('inbox-status').textContent;
      $('inbox-status').dataset.accepted = done.dimension + '/' + done.layer;
    });
    return form;
  }

  function suggestionCard(s, index) {
    const closest = s.closest
      ? s.closest.dimension + '/' + s.closest.layer + ' (confidence ' + fixed(s.closest.confidence, 2) + ', below the no-match threshold)'
      : 'none: no layer scored at all';
    return el('article', { class: 'suggestion card', 'data-suggestion': s.id, 'aria-labelledby': 's' + index + '-title' },
      el('h3', { id: 's' + index + '-title', text: 'Suggestion ' + (index + 1) + ': asked ' + s.size + ' time(s), ' + s.members.length + ' distinct quer' + (s.members.length === 1 ? 'y' : 'ies') }),
      el('dl', {},
        el('dt', { text: 'Queries' }), el('dd', {}, el('ul', { class: 'plain queries' }, s.queries.map((q) => el('li', { text: q })))),
        el('dt', { text: 'Keywords' }), el('dd', { class: 'keywords', text: s.keywords.length ? s.keywords.join(', ') : '(none shared)' }),
        el('dt', { text: 'Closest layer' }), el('dd', { class: 'closest', text: closest })),
      s.members.length > s.queries.length
        ? el('details', {}, el('summary', { text: 'All ' + s.members.length + ' queries' }), el('ul', { class: 'plain' }, s.members.map((m) => el('li', { text: m }))))
        : null,
      acceptForm(s, index));
  }

  async function loadSuggestions() {
    const box = clear($('suggestions'));
    $('suggestions-error').textContent = '';
    $('inbox-status').textContent = 'Loading…';
    delete $('inbox-status').dataset.accepted;
    const result = await api('/api/v1/suggestions');
    if (!result.ok) { $('inbox-status').textContent = ''; $('suggestions-error').textContent = errorText(result); return; }
    const list = result.data.suggestions;
    $('inbox-status').textContent = result.data.inbox + ' unrouted quer' + (result.data.inbox === 1 ? 'y' : 'ies') +
      ' in the inbox, ' + list.length + ' suggested layer(s).';
    if (!list.length) box.append(el('p', { class: 'muted', text: 'Nothing to suggest yet: suggestions appear when queries nobody routed share words.' }));
    list.forEach((s, i) => box.append(suggestionCard(s, i)));
  }

  async function loadDimensions() {
    const result = await api('/api/v1/dimensions');
    if (!result.ok) { $('suggestions-error').textContent = errorText(result); return false; }
    dimensions = result.data.dimensions.map((d) => ({ id: d.id, name: d.name }));
    return true;
  }

  function report(r) {
    $('learn-report').hidden = false;
    const outcome = $('learn-outcome');
    outcome.className = 'outcome ' + (r.published ? 'matched' : 'no-match');
    outcome.textContent = (r.published ? 'Published generation ' + r.generation : 'Not published (generation ' + r.generation + ' still serves)') + ': ' + r.reason;
    const figures = clear($('learn-figures').tBodies[0]);
    for (const [label, key, show] of [
      ['In-scope accuracy', 'in_scope_accuracy', percent],
      ['OOS recall', 'oos_recall', percent],
      ['Exam lines', 'examples', String],
    ]) {
      figures.append(el('tr', { 'data-figure': key }, el('th', { scope: 'row', text: label }),
        el('td', { class: 'num', text: show(r.before[key]) }), el('td', { class: 'num', text: show(r.after[key]) })));
    }
    const counts = clear($('learn-counts').tBodies[0]);
    for (const [label, value] of [
      ['Feedback used', r.feedback_used + ' of ' + r.feedback_total],
      ['Texts trained', r.texts_trained],
      ['Held out for the exam', r.held_out],
      ['Contradictory (left out)', r.contradictory],
      ['Stale layer (left out)', r.stale],
      ['Already known', r.known],
      ['Duration', fixed(r.duration_ms, 0) + ' ms'],
    ]) {
      counts.append(el('tr', {}, el('th', { scope: 'row', text: label }), el('td', { class: 'num', text: String(value) })));
    }
  }

  async function learn() {
    const button = $('learn-now');
    button.disabled = true;
    $('learn-error').textContent = '';
    $('learn-status').textContent = 'Learning… (retrains the model; this can take a while)';
    const result = await api('/api/v1/learn', { method: 'POST' });
    button.disabled = false;
    $('learn-status').textContent = '';
    if (!result.ok) { $('learn-error').textContent = errorText(result); return; }
    $('learn-status').textContent = 'Done.';
    report(result.data);
  }

  ready.then(async (who) => {
    if (!who) return;
    $('refresh-suggestions').addEventListener('click', loadSuggestions);
    if (can('admin')) {
      $('learn-card').hidden = false;
      $('learn-now').addEventListener('click', learn);
    }
    if (await loadDimensions()) await loadSuggestions();
  });
})();
