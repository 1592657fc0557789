// Registry: dimensions, their layer trees, one layer in full; create, edit and delete layers
// (keys with the `write` scope) with the server's validation problems shown next to the field
// they concern; and the generation history.
'use strict';

(() => {
  const { $, el, clear, api, errorText, fixed, can, ready } = Jessy;
  let dimension = null;      // the dimension shown (its detail)
  let layer = null;          // the layer shown (its detail), or null
  let creating = false;      // whether the form creates a new layer

  const FIELDS = ['id', 'name', 'parent', 'frequency', 'keywords', 'examples', 'content'];

  // Which form field a validation problem concerns. The engine's validator words each problem
  // after the field it checks ("layer \"x\": unknown parent …", "…: frequency 9 Hz is outside
  // …"); anything unrecognised is shown above the form.
  function fieldOf(problem) {
    const text = problem.replace(/^layer "[^"]*": /, '');
    if (/keyword or example/.test(text)) return 'keywords';
    if (/\bslug\b|duplicate layer id|layer id/.test(text)) return 'id';
    if (/\bparent\b|\bcycle\b|\bdepth\b/.test(text)) return 'parent';
    if (/frequency/.test(text)) return 'frequency';
    if (/keyword/.test(text)) return 'keywords';
    if (/example/.test(text)) return 'examples';
    if (/content/.test(text)) return 'content';
    if (/\bname\b/.test(text)) return 'name';
    return null;
  }

  function showProblems(message) {
    // "the layer is invalid (2 problem(s)): a; b" → ["a", "b"]
    const list = message.replace(/^the layer is invalid \(\d+ problem\(s\)\): /, '').split('; ');
    const general = [];
    for (const problem of list) {
      const field = fieldOf(problem);
      if (field) {
        const slot = $('err-' + field);
        slot.textContent = (slot.textContent ? slot.textContent + ' ' : '') + problem;
        $('f-' + field).setAttribute('aria-invalid', 'true');
      } else general.push(problem);
    }
    $('form-error').textContent = general.join(' ');
    const first = FIELDS.find((f) => $('err-' + f).textContent);
    if (first) $('f-' + first).focus();
  }

  function clearProblems() {
    $('form-error').textContent = '';
    for (const f of FIELDS) { $('err-' + f).textContent = ''; $('f-' + f).removeAttribute('aria-invalid'); }
  }

  async function loadDimensions() {
    const result = await api('/api/v1/dimensions');
    const list = clear($('dimension-list'));
    if (!result.ok) { list.append(el('li', { class: 'error', text: errorText(result) })); return; }
    for (const d of result.data.dimensions) {
      const button = el('button', { type: 'button', class: 'linklike', 'data-dimension': d.id },
        d.name, ' ', el('span', { class: 'muted', text: '(' + d.layer_count + ')' }));
      button.addEventListener('click', () => openDimension(d.id));
      list.append(el('li', {}, button));
    }
    const wanted = new URLSearchParams(location.hash.slice(1)).get('d') || (result.data.dimensions[0] || {}).id;
    if (wanted) await openDimension(wanted);
  }

  async function openDimension(id, focusLayer) {
    const result = await api('/api/v1/dimensions/' + encodeURIComponent(id));
    if (!result.ok) { $('dimension-desc').textContent = errorText(result); return; }
    dimension = result.data;
    history.replaceState(null, '', '#' + new URLSearchParams({ d: id }).toString());
    for (const b of document.querySelectorAll('#dimension-list button')) {
      b.setAttribute('aria-current', b.dataset.dimension === id ? 'true' : 'false');
    }
    $('dimension-title').textContent = dimension.name + ' — layers';
    $('dimension-desc').textContent = dimension.description + ' Frequencies ' +
      fixed(dimension.frequency.min, 1) + '–' + fixed(dimension.frequency.max, 1) + ' Hz.';
    drawTree();
    $('new-layer').hidden = !can('write');
    showLayer(null);
    if (focusLayer) await openLayer(focusLayer);
  }

  function drawTree() {
    const children = new Map();
    for (const l of dimension.layers) {
      const key = l.parent || '';
      if (!children.has(key)) children.set(key, []);
      children.get(key).push(l);
    }
    const branch = (parent) => {
      const list = el('ul', { class: parent ? '' : 'tree' });
      for (const l of children.get(parent) || []) {
        const button = el('button', { type: 'button', class: 'linklike', 'data-layer': l.id },
          el('span', { class: 'depth', text: 'L' + l.depth }), l.name);
        button.addEventListener('click', () => openLayer(l.id));
        const item = el('li', {}, button);
        if (children.has(l.id)) item.append(branch(l.id));
        list.append(item);
      }
      return list;
    };
    clear($('layer-tree')).append(branch(''));
  }

  async function openLayer(id) {
    const result = await api('/api/v1/dimensions/' + encodeURIComponent(dimension.id) + '/layers/' + encodeURIComponent(id));
    if (!result.ok) { $('layer-status').textContent = errorText(result); return; }
    showLayer(result.data);
    for (const b of document.querySelectorAll('#layer-tree button')) {
      b.setAttribute('aria-current', b.dataset.layer === id ? 'true' : 'false');
    }
  }

  function showLayer(detail) {
    layer = detail;
    $('layer-form').hidden = true;
    $('layer-empty').hidden = !!detail;
    $('layer-detail').hidden = !detail;
    $('edit-layer').hidden = !detail || !can('write');
    $('delete-layer').hidden = !detail || !can('write');
    $('layer-title').textContent = detail ? detail.name : 'Layer';
    if (!detail) return;
    const dl = clear($('layer-detail'));
    const row = (name, value) => dl.append(el('dt', { text: name }), el('dd', { text: value }));
    row('Id', detail.id);
    row('Parent', detail.parent || '(root)');
    row('Depth', 'L' + detail.depth);
    row('Frequency', fixed(detail.frequency, 2) + ' Hz');
    row('Keywords', detail.keywords.map((k) => (k.weight === 1 ? k.term : k.term + ' = ' + k.weight)).join(', ') || '–');
    row('Examples', detail.examples.join('\n') || '–');
    row('Content', detail.content || '–');
    if (detail.children.length) row('Children', detail.children.join(', '));
  }

  function openForm(detail) {
    creating = !detail;
    clearProblems();
    $('layer-detail').hidden = true;
    $('layer-empty').hidden = true;
    $('edit-layer').hidden = true;
    $('delete-layer').hidden = true;
    $('layer-form').hidden = false;
    $('layer-title').textContent = detail ? 'Edit ' + detail.name : 'New layer in ' + dimension.name;
    $('f-id').value = detail ? detail.id : '';
    $('f-id').readOnly = !!detail;
    $('f-name').value = detail ? detail.name : '';
    const parent = clear($('f-parent'));
    parent.append(el('option', { value: '', text: '(root)' }));
    for (const l of dimension.layers) {
      if (detail && l.id === detail.id) continue;
      parent.append(el('option', { value: l.id, text: 'L' + l.depth + ' ' + l.name + ' (' + l.id + ')' }));
    }
    parent.value = detail && detail.parent ? detail.parent : '';
    const mid = (dimension.frequency.min + dimension.frequency.max) / 2;
    $('f-frequency').value = detail ? String(detail.frequency) : mid.toFixed(2);
    $('f-frequency-hint').textContent = 'Within ' + dimension.frequency.min + '–' + dimension.frequency.max + ' Hz.';
    $('f-keywords').value = detail ? detail.keywords.map((k) => (k.weight === 1 ? k.term : k.term + ' = ' + k.weight)).join('\n') : '';
    $('f-examples').value = detail ? detail.examples.join('\n') : '';
    $('f-content').value = detail ? detail.content : '';
    (detail ? $('f-name') : $('f-id')).focus();
  }

  // The form as the body of PUT …/layers/{id}; problems the client can see itself (a
  // frequency that is not a number, a weight that is not a number) are reported here.
  function formBody() {
    const problems = {};
    const lines = (id) => $(id).value.split('\n').map((s) => s.trim()).filter((s) => s);
    const keywords = lines('f-keywords').map((line) => {
      const at = line.lastIndexOf('=');
      if (at < 0) return line;
      const weight = Number(line.slice(at + 1).trim());
      if (!Number.isFinite(weight)) problems.keywords = 'A weight after "=" must be a number: ' + line;
      return { term: line.slice(0, at).trim(), weight };
    });
    const frequency = Number($('f-frequency').value.trim());
    if ($('f-frequency').value.trim() === '' || !Number.isFinite(frequency)) problems.frequency = 'The frequency must be a number (Hz).';
    if (creating && !$('f-id').value.trim()) problems.id = 'A new layer needs an id.';
    return {
      problems,
      body: {
        name: $('f-name').value,
        parent: $('f-parent').value || null,
        frequency,
        keywords,
        examples: lines('f-examples'),
        content: $('f-content').value,
      },
    };
  }

  async function save(event) {
    event.preventDefault();
    clearProblems();
    const { problems, body } = formBody();
    if (Object.keys(problems).length) {
      for (const [field, text] of Object.entries(problems)) { $('err-' + field).textContent = text; $('f-' + field).setAttribute('aria-invalid', 'true'); }
      $('f-' + Object.keys(problems)[0]).focus();
      return;
    }
    const id = $('f-id').value.trim();
    $('layer-status').textContent = 'Saving… (a write retrains the routing model)';
    const result = await api('/api/v1/dimensions/' + encodeURIComponent(dimension.id) + '/layers/' + encodeURIComponent(id),
      { method: 'PUT', body: JSON.stringify(body) });
    $('layer-status').textContent = '';
    if (!result.ok) {
      if (result.status === 422) showProblems(errorText(result));
      else $('form-error').textContent = errorText(result);
      return;
    }
    $('layer-status').textContent = (result.data.created ? 'Created ' : 'Saved ') + id + ' in generation ' + result.data.generation + '.';
    await openDimension(dimension.id, id);
    await loadGenerations();
  }

  async function remove() {
    if (!layer) return;
    if (!window.confirm('Delete layer ' + layer.id + ' from ' + dimension.id + '?')) return;
    const id = layer.id;
    const result = await api('/api/v1/dimensions/' + encodeURIComponent(dimension.id) + '/layers/' + encodeURIComponent(id), { method: 'DELETE' });
    if (!result.ok) { $('layer-status').textContent = errorText(result); return; }
    await openDimension(dimension.id);
    $('layer-status').textContent = 'Deleted ' + id + ' in generation ' + result.data.generation + '.';
    await loadGenerations();
  }

  function size(bytes) {
    if (!bytes) return '–';
    return bytes >= 1048576 ? (bytes / 1048576).toFixed(1) + ' MB' : (bytes / 1024).toFixed(0) + ' KB';
  }

  async function loadGenerations() {
    const body = clear($('generations').tBodies[0]);
    const result = await api('/api/v1/generations');
    if (!result.ok) { body.append(el('tr', {}, el('td', { colspan: 4, class: 'error', text: errorText(result) }))); return; }
    for (const g of result.data.generations) {
      const when = g.published_unix_ms ? new Date(g.published_unix_ms).toLocaleString() : '–';
      const change = g.change || 'no change note (built by jessy build, or the first start)';
      body.append(el('tr', { 'data-generation': g.generation },
        el('td', { class: 'num', text: g.generation + (g.generation === result.data.current ? ' (current)' : '') }),
        el('td', { text: when }), el('td', { class: 'num', text: size(g.bytes) }),
        el('td', { class: g.change ? '' : 'muted', text: change })));
    }
  }

  ready.then(async (who) => {
    if (!who) return;
    $('new-layer').addEventListener('click', () => openForm(null));
    $('edit-layer').addEventListener('click', () => openForm(layer));
    $('delete-layer').addEventListener('click', remove);
    $('cancel-layer').addEventListener('click', () => showLayer(layer));
    $('layer-form').addEventListener('submit', save);
    await Promise.all([loadDimensions(), loadGenerations()]);
  });
})();
