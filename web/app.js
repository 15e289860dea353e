// Document text, names, answers and errors are untrusted: they are only ever set
// as text (textContent), never parsed as HTML.
// The key lives in this tab's session storage only and is sent on every call.
let apiKey = sessionStorage.getItem('folio-key') || '';
function api(path, options = {}) {
  const headers = { ...(options.headers || {}), authorization: `Bearer ${apiKey}` };
  return fetch(path, { ...options, headers }).then(res => {
    if (res.status === 401) signOut('Your key is no longer valid; sign in again.');
    return res;
  });
}
function signOut(message = '') {
  apiKey = '';
  sessionStorage.removeItem('folio-key');
  document.getElementById('app').hidden = true;
  document.getElementById('signed-out').hidden = false;
  document.getElementById('signin-error').textContent = message;
}
async function signIn(key) {
  const res = await fetch('/v1/me', { headers: { authorization: `Bearer ${key}` } });
  if (!res.ok) {
    const body = await res.json().catch(() => ({}));
    signOut(body.error ? body.error.message : `HTTP ${res.status}`);
    return;
  }
  const me = await res.json();
  apiKey = key;
  sessionStorage.setItem('folio-key', key);
  document.getElementById('identity').textContent = `Signed in · ${me.role} · tenant ${me.tenant_id}`;
  document.getElementById('signed-out').hidden = true;
  document.getElementById('app').hidden = false;
  loadCollections();
  refresh();
}
document.getElementById('signin').addEventListener('submit', e => {
  e.preventDefault();
  signIn(document.getElementById('api-key').value.trim());
});
document.getElementById('signout').addEventListener('click', () => signOut());
async function loadCollections() {
  const res = await api('/v1/collections');
  if (!res.ok) return;
  const { collections } = await res.json();
  const select = document.getElementById('collection');
  const chosen = select.value;
  const all = document.createElement('option');
  all.value = '';
  all.textContent = 'all';
  select.replaceChildren(all, ...collections.map(c => {
    const option = document.createElement('option');
    option.value = c.name;
    option.textContent = c.name;
    return option;
  }));
  select.value = chosen;
}
document.getElementById('collection').addEventListener('change', refresh);
document.getElementById('new-collection').addEventListener('submit', async e => {
  e.preventDefault();
  const name = document.getElementById('collection-name').value.trim();
  if (!name) return;
  const res = await api('/v1/collections', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name }) });
  if (res.ok) {
    document.getElementById('collection-name').value = '';
    await loadCollections();
    document.getElementById('collection').value = name;
    refresh();
  }
});
const tbody = document.getElementById('docs');
async function refresh() {
  if (!apiKey) return;
  const collection = document.getElementById('collection').value;
  const res = await api('/v1/documents' + (collection ? `?collection=${encodeURIComponent(collection)}` : ''));
  if (!res.ok) return;
  const { documents } = await res.json();
  tbody.replaceChildren(...documents.map(d => {
    const tr = document.createElement('tr');
    const progress = d.progress ? `${d.progress.stage} ${Math.round(d.progress.progress * 100)}%` : '';
    const status = d.error ? `${d.status}: ${d.error.message}` : d.status;
    for (const value of [d.name, status, progress, d.page_count ?? '', d.chunk_count ?? '']) {
      const td = document.createElement('td');
      td.textContent = String(value);
      if (d.status === 'failed') td.className = 'failed';
      tr.append(td);
    }
    return tr;
  }));
}
// XMLHttpRequest rather than fetch: it reports upload progress.
function upload(files) {
  const form = new FormData();
  for (const f of files) form.append('file', f, f.name);
  const collection = document.getElementById('collection').value || 'default';
  const bar = document.getElementById('upload-progress'), status = document.getElementById('upload-status');
  const xhr = new XMLHttpRequest();
  xhr.open('POST', `/v1/documents?collection=${encodeURIComponent(collection)}`);
  xhr.setRequestHeader('authorization', `Bearer ${apiKey}`);
  xhr.upload.onprogress = e => {
    if (!e.lengthComputable) return;
    bar.hidden = false;
    bar.value = e.loaded / e.total;
    status.textContent = `uploading ${Math.round(100 * e.loaded / e.total)}%`;
  };
  xhr.onload = () => {
    bar.hidden = true;
    let body = {};
    try { body = JSON.parse(xhr.responseText); } catch (_) {}
    status.textContent = xhr.status === 202
      ? `uploaded ${body.documents.length} file(s) to ${collection}`
      : (body.error ? `${body.error.code}: ${body.error.message}` : `HTTP ${xhr.status}`);
    if (xhr.status === 401) signOut('Your key is no longer valid; sign in again.');
    loadCollections();
    refresh();
  };
  xhr.onerror = () => { bar.hidden = true; status.textContent = 'upload failed: connection error'; };
  xhr.send(form);
}
document.getElementById('files').addEventListener('change', e => upload(e.target.files));
const drop = document.getElementById('drop');
drop.addEventListener('dragover', e => e.preventDefault());
drop.addEventListener('drop', e => { e.preventDefault(); upload(e.dataTransfer.files); });
setInterval(refresh, 1500);
if (apiKey) signIn(apiKey);

const el = id => document.getElementById(id);
function line(parent, text, tag = 'div') {
  const node = document.createElement(tag);
  node.textContent = text;
  parent.append(node);
  return node;
}
// Server-sent events from a fetch body: yields {event, data} as they arrive.
async function* events(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let event = 'message';
      const data = [];
      for (const l of block.split('\n')) {
        if (l.startsWith('event:')) event = l.slice(6).trim();
        else if (l.startsWith('data:')) data.push(l.slice(5).replace(/^ /, ''));
      }
      if (data.length) yield { event, data: data.join('\n') };
    }
  }
}
// Renders the text with the cited span marked and an anchor at each section
// start, then the section outline; all of it as text nodes.
async function showCitation(c) {
  const res = await api(`/v1/documents/${encodeURIComponent(c.document_id)}/text`);
  if (!res.ok) return;
  const { text, structure } = await res.json();
  const chars = Array.from(text); // offsets count Unicode scalar values
  const viewer = el('viewer');
  const sections = (structure.sections || []).filter(s => s.start < chars.length);
  const cuts = new Set([0, chars.length, c.char_start, c.char_end, ...sections.map(s => s.start)]);
  const points = [...cuts].sort((a, b) => a - b);
  const anchors = new Map();
  const mark = document.createElement('mark');
  viewer.replaceChildren();
  for (let i = 0; i + 1 < points.length; i++) {
    const from = points[i], to = points[i + 1];
    const container = from >= c.char_start && from < c.char_end ? mark : viewer;
    if (container === mark && !mark.isConnected) viewer.append(mark);
    for (const s of sections.filter(s => s.start === from)) {
      const anchor = document.createElement('span');
      container.append(anchor);
      anchors.set(s.id, anchor);
    }
    if (to > from) container.append(document.createTextNode(chars.slice(from, to).join('')));
  }
  if (!mark.isConnected) viewer.append(mark);
  const outline = el('outline');
  outline.replaceChildren(...sections.map(s => {
    const button = document.createElement('button');
    button.textContent = s.name;
    button.style.paddingLeft = `${s.depth * .8}rem`;
    button.addEventListener('click', () => anchors.get(s.id)?.scrollIntoView({ block: 'start' }));
    return button;
  }));
  outline.hidden = sections.length === 0;
  const title = el('viewer-title');
  title.textContent = [c.document_name, ...c.section_path].join(' › ') + (c.page ? ` (p. ${c.page})` : '');
  title.hidden = false;
  viewer.hidden = false;
  mark.scrollIntoView({ block: 'center' });
  viewer.focus();
  showPage(c);
}
// The PDF page view: the original, fetched with the key, offered as a link that
// opens the cited page in the browser's PDF viewer in a new tab. Not in a frame:
// Chromium shows no PDF in a sandboxed frame unless the sandbox keeps the same
// origin, and such a frame would give the document this page's origin. The blob's type is
// fixed to PDF, so whatever the server sent, the browser treats it as a PDF.
let pdfUrl = null;
async function showPage(c) {
  const pageView = el('page-view');
  pageView.hidden = true;
  const meta = await api(`/v1/documents/${encodeURIComponent(c.document_id)}`);
  if (!meta.ok || (await meta.json()).format !== 'pdf') return;
  const res = await api(`/v1/documents/${encodeURIComponent(c.document_id)}/original`);
  if (!res.ok) return;
  if (pdfUrl) URL.revokeObjectURL(pdfUrl);
  pdfUrl = URL.createObjectURL(new Blob([await res.arrayBuffer()], { type: 'application/pdf' }));
  const link = el('pdf-link');
  link.href = `${pdfUrl}#page=${c.page || 1}`;
  link.textContent = `Open the PDF at page ${c.page || 1}`;
  pageView.hidden = false;
}
function showTrace(trace) {
  const box = el('trace');
  box.replaceChildren();
  const kept = trace.key_context?.selection?.segments?.filter(s => s.kept) ?? [];
  if (kept.length) {
    line(box, 'Kept segments (XL3M)', 'h4');
    for (const s of kept) line(box, `score ${s.score?.toFixed?.(3) ?? '–'} · ${s.segment.heading_path.join(' › ')} · chars ${s.segment.char_start}–${s.segment.char_end}`);
  }
  if (trace.facts) {
    line(box, `Facts: ${trace.facts.verified.length} verified, ${trace.facts.rejected.length} rejected`, 'h4');
    for (const f of trace.facts.verified) line(box, `✓ S${f.unit.id} (${f.matched}): ${f.unit.text}`);
    for (const r of trace.facts.rejected) line(box, `✗ ${r.claim.id ? 'S' + r.claim.id : '?'} “${r.claim.quote}” — ${r.reason}`);
  }
  if (trace.demos?.length) {
    line(box, 'Demonstrations', 'h4');
    for (const d of trace.demos) line(box, `${d.question} → ${d.answer} (${d.origin})`);
  }
  for (const note of trace.notes ?? []) line(box, `note: ${note}`);
}
// The answer, its claims the sources do not support shown struck through and
// labelled, so they never read as fact.
function showAnswer(target, value) {
  const flagged = (value.claims || []).filter((c) => c.shown && !c.supported);
  if (!flagged.length) {
    target.textContent = value.answer;
    return;
  }
  target.replaceChildren();
  for (const claim of value.claims.filter((c) => c.shown)) {
    const span = document.createElement('span');
    span.textContent = claim.text + ' ';
    if (!claim.supported) {
      span.className = 'unsupported';
      span.title = `Not supported by its sources: ${claim.reason}`;
      const label = document.createElement('em');
      label.className = 'unsupported-label';
      label.textContent = '(unsupported) ';
      target.append(span, label);
    } else {
      target.append(span);
    }
  }
}

el('ask').addEventListener('submit', async e => {
  e.preventDefault();
  const answer = el('answer'), citations = el('citations'), stage = el('stage');
  answer.textContent = '';
  citations.replaceChildren();
  el('trace').replaceChildren();
  stage.textContent = 'asking…';
  const collection = el('collection').value;
  const res = await api('/v1/ask', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ question: el('question').value, pipeline: el('pipeline').value || undefined, stream: true, trace: true, collections: collection ? [collection] : [] }),
  });
  if (!res.ok) {
    const body = await res.json().catch(() => ({}));
    stage.textContent = body.error ? `${body.error.code}: ${body.error.message}` : `HTTP ${res.status}`;
    return;
  }
  for await (const { event, data } of events(res)) {
    const value = JSON.parse(data);
    if (event === 'stage') stage.textContent = `${value.stage}…`;
    else if (event === 'token') answer.textContent += value.text;
    else if (event === 'answer') {
      showAnswer(answer, value);
      stage.textContent = `${value.pipeline} · ${value.model} · ${value.timings.total_s.toFixed(1)} s`;
      for (const c of value.citations) {
        const button = document.createElement('button');
        button.textContent = `[${c.marker}] ${c.document_name}${c.section_path.length ? ' › ' + c.section_path.join(' › ') : ''}: “${c.quote.slice(0, 200)}”`;
        button.addEventListener('click', () => showCitation(c));
        citations.append(button);
      }
    } else if (event === 'trace') showTrace(value);
    else if (event === 'error') stage.textContent = `${value.error.code}: ${value.error.message}`;
  }
});
