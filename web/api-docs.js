// Renders the spec with textContent only: descriptions are shown, never parsed as HTML.
function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (cls) node.className = cls;
  return node;
}
function resolve(spec, schema) {
  if (schema && schema.$ref) return { ref: schema.$ref.split('/').pop(), schema: spec.components.schemas[schema.$ref.split('/').pop()] };
  return { ref: null, schema };
}
function schemaBlock(spec, label, schema) {
  const { ref, schema: body } = resolve(spec, schema);
  const box = el('div');
  box.appendChild(el('strong', label + (ref ? ' — ' + ref : '')));
  box.appendChild(el('pre', JSON.stringify(body, null, 2)));
  return box;
}
fetch('/openapi.json').then(r => r.json()).then(spec => {
  document.getElementById('intro').textContent = spec.info.description || '';
  const root = document.getElementById('paths');
  const byTag = {};
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const tag = (op.tags || ['other'])[0];
      (byTag[tag] = byTag[tag] || []).push([method, path, op]);
    }
  }
  for (const tag of spec.tags.map(t => t.name).concat(Object.keys(byTag))) {
    if (!byTag[tag]) continue;
    root.appendChild(el('h2', tag));
    for (const [method, path, op] of byTag[tag]) {
      const d = el('details');
      const s = el('summary');
      s.appendChild(el('span', method.toUpperCase(), 'method'));
      s.appendChild(el('code', path));
      s.appendChild(el('span', ' — ' + (op.summary || ''), 'muted'));
      d.appendChild(s);
      d.appendChild(el('p', op.security ? 'Needs an API key.' : 'No key needed.', 'muted'));
      for (const p of op.parameters || []) d.appendChild(el('p', `${p.in} parameter ${p.name}${p.required ? ' (required)' : ''}: ${p.description || ''}`));
      const body = op.requestBody && op.requestBody.content;
      if (body) for (const [type, c] of Object.entries(body)) d.appendChild(schemaBlock(spec, 'Request ' + type, c.schema));
      for (const [status, r] of Object.entries(op.responses || {})) {
        const c = r.content && r.content['application/json'];
        d.appendChild(el('p', `${status}: ${r.description || ''}`));
        if (c && status < 300) d.appendChild(schemaBlock(spec, 'Response', c.schema));
      }
      root.appendChild(d);
    }
  }
}).catch(e => { document.getElementById('intro').textContent = 'Could not load the spec: ' + e; });
