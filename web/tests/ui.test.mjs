// Drives the real `folio serve` in Debian's chromium (playwright-core, no browser
// download), its generator a scripted OpenAI-compatible stand-in (below):
// upload a document, wait until it is ready, ask a question, watch the
// answer stream in, open a citation and find its span highlighted; check that
// document text containing markup is shown as text and runs nothing, that a
// PDF opens at its page in a tab of its own, and that the page's content
// security policy blocks nothing the page needs.
//
// Environment: FOLIO_BIN (the folio binary), FOLIO_MODELS_DIR, CHROMIUM (default
// /usr/bin/chromium), FOLIO_UI_ARTIFACTS (where failure screenshots go).
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const bin = process.env.FOLIO_BIN ?? 'target/release/folio';
const artifacts = process.env.FOLIO_UI_ARTIFACTS ?? join(tmpdir(), 'folio-ui-artifacts');
const dataDir = mkdtempSync(join(tmpdir(), 'folio-ui-'));
const docPath = join(dataDir, 'supply.md');
const pdfPath = join(dataDir, 'delivery.pdf');
writeFileSync(pdfPath, onePagePdf('The Supplier shall deliver the goods within ten (10) days of each order.'));
writeFileSync(docPath, `# SUPPLY AGREEMENT

## Article 2 Payment

The Buyer shall pay each invoice within forty-five (45) days of receipt.

## Article 5 Notices

Notices quoted from the counterparty's form: <script>window.__xss = 1</script> and <img src=x onerror="window.__xss = 2"> are text.
`);

// A one-page PDF with a line of text (Helvetica), offsets computed.
function onePagePdf(line) {
  const content = `BT /F1 14 Tf 72 700 Td (${line}) Tj ET`;
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    `<< /Length ${content.length} >>\nstream\n${content}\nendstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ];
  let pdf = '%PDF-1.4\n';
  const offsets = [];
  objects.forEach((body, i) => { offsets.push(pdf.length); pdf += `${i + 1} 0 obj\n${body}\nendobj\n`; });
  const xref = pdf.length;
  pdf += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  pdf += offsets.map(o => `${String(o).padStart(10, '0')} 00000 n \n`).join('');
  pdf += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return pdf;
}

// A scripted stand-in for an OpenAI-compatible generator (a third party to
// Folio): the UI is under test here, and it needs an answer whose every
// sentence its citation supports. The 135M default model seldom writes one
// (its answers and citations are tested end to end in tests/e2e/answer.rs).
// It lists the payment clause for ALR²'s fact stage and answers with it,
// marked, otherwise.
// The second sentence claims a figure the clause does not hold: the claim check
// flags it (the stand-in is an OpenAI-compatible backend, so `flag`, not `drop`).
const ANSWER = 'Relevant paragraphs: [P1]\nAnswer: The Buyer shall pay each invoice within forty-five (45) days of receipt [P1]. A late fee of 5% a month applies [P1].';
const FACT = 'S1: "The Buyer shall pay each invoice within forty-five (45) days of receipt."';
function startScriptedModel() {
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', chunk => { body += chunk; });
    request.on('end', () => {
      const asked = JSON.parse(body || '{}');
      const content = JSON.stringify(asked.messages ?? []).includes('list the sentences') ? FACT : ANSWER;
      const base = { id: 'scripted', created: 0, model: 'scripted' };
      if (!asked.stream) {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ ...base, object: 'chat.completion',
          choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }] }));
        return;
      }
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      const chunk = (delta, finish) => `data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk',
        choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
      for (const piece of content.match(/\S+\s*/g) ?? []) response.write(chunk({ content: piece }, null));
      response.write(chunk({}, 'stop'));
      response.end('data: [DONE]\n\n');
    });
  });
  return new Promise(resolve => server.listen(0, '127.0.0.1', () => resolve(server)));
}
const scriptedModel = await startScriptedModel();

function startServer() {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ['serve', '--bind', '127.0.0.1:0'], {
      env: {
        ...process.env, FOLIO_DATA_DIR: dataDir, FOLIO_LOG: 'warn',
        FOLIO__GENERATOR__BACKEND: 'openai',
        FOLIO__GENERATOR__BASE_URL: `http://127.0.0.1:${scriptedModel.address().port}/v1`,
        FOLIO__GENERATOR__MODEL: 'scripted',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let buffer = '';
    child.stdout.on('data', chunk => {
      buffer += chunk;
      const match = buffer.match(/folio listening on (\S+)/);
      // The first start prints an admin key for the default tenant.
      const key = buffer.match(/^\s+(folio_[0-9a-f]+_[0-9a-f]+)\s*$/m);
      if (match) resolve({ child, base: match[1], key: key && key[1] });
    });
    child.once('exit', code => reject(new Error(`folio serve exited with ${code}`)));
  });
}

const { child, base, key } = await startServer();
assert.ok(key, 'the first start printed an API key');
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox'],
});
const page = await browser.newPage();
const errors = [];
page.on('pageerror', e => errors.push(e.message));
// Anything the content security policy blocks is a bug in the page.
await page.addInitScript(() => {
  window.__cspViolations = [];
  document.addEventListener('securitypolicyviolation', e => window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
});
let failed = false;
try {
  await page.goto(base);
  // A wrong key is refused with the server's message; the right one signs in.
  await page.fill('#api-key', 'folio_0000000000000000_' + '0'.repeat(64));
  await page.click('#signin button');
  await page.locator('#signin-error').filter({ hasText: 'not valid' }).waitFor();
  assert.ok(await page.locator('#app').isHidden(), 'nothing is shown without a valid key');
  await page.fill('#api-key', key);
  await page.keyboard.press('Enter');
  await page.locator('#identity').filter({ hasText: 'admin' }).waitFor();
  // A collection of its own, chosen before the upload.
  await page.fill('#collection-name', 'contracts');
  await page.click('#new-collection button');
  await page.waitForFunction(() => document.getElementById('collection').value === 'contracts');
  await page.setInputFiles('#files', docPath);
  await page.locator('#upload-status').filter({ hasText: 'uploaded 1 file(s) to contracts' }).waitFor();
  await page.getByRole('cell', { name: 'ready', exact: true }).waitFor({ timeout: 120_000 });

  await page.fill('#question', 'Within how many days must the Buyer pay each invoice?');
  // `extract` (the default with the built-in model): the evidence itself, led
  // by the period the question asks for.
  await page.selectOption('#pipeline', 'extract');
  await page.click('#ask button');
  await page.locator('#citations button').first().waitFor({ timeout: 180_000 });
  const stage = await page.textContent('#stage');
  assert.match(stage, /^extract · /, `final status line: ${stage}`);
  const extracted = await page.textContent('#answer');
  assert.match(extracted, /^forty-five \(45\) days \[S\d+\]: “The Buyer shall pay each invoice within forty-five \(45\) days of receipt\.”/, extracted);

  await page.locator('#citations button').first().click();
  const mark = page.locator('#viewer mark');
  await mark.waitFor({ state: 'visible' });
  assert.ok(await mark.isVisible(), 'the cited span is highlighted and visible');
  const marked = await mark.textContent();
  const label = await page.locator('#citations button').first().textContent();
  assert.ok(label.includes(marked.slice(0, 40)), `the highlighted text is the cited quote: ${marked} / ${label}`);
  // The section outline lists the document's headings and jumps to them.
  const outline = page.locator('#outline button');
  assert.ok(await outline.count() >= 2, 'the outline lists the sections');
  assert.match(await outline.allTextContents().then(t => t.join(' | ')), /Payment/);
  if (process.env.FOLIO_UI_SCREENSHOT) {
    // The README's picture: the default answer with its citation highlighted.
    await page.screenshot({ path: process.env.FOLIO_UI_SCREENSHOT, fullPage: true });
  }
  await outline.filter({ hasText: 'Notices' }).first().click();

  // `plain` through the generator: the supported sentence is shown as written,
  // the one whose figure the clause lacks is struck through and labelled.
  await page.selectOption('#pipeline', 'plain');
  await page.click('#ask button');
  await page.waitForFunction(() => /^plain · /.test(document.getElementById('stage').textContent), null, { timeout: 180_000 });
  const flagged = page.locator('#answer .unsupported');
  assert.equal(await flagged.count(), 1, `one claim flagged: ${await page.innerHTML('#answer')}`);
  assert.match(await flagged.textContent(), /late fee of 5%/);
  assert.match(await flagged.getAttribute('title'), /^Not supported by its sources: not in the cited text: 5%/);
  assert.match(await page.textContent('#answer'), /within forty-five \(45\) days of receipt \[P1\]\. A late fee/);
  await page.locator('#citations button').first().waitFor();

  // Markup inside the document is text: shown, never run.
  const viewer = await page.textContent('#viewer');
  assert.ok(viewer.includes('<script>window.__xss = 1</script>'), 'script tag shown as text');
  assert.ok(viewer.includes('<img src=x onerror='), 'img tag shown as text');
  assert.equal(await page.evaluate(() => window.__xss), undefined, 'no document markup ran');
  assert.equal(await page.locator('#viewer script, #viewer img').count(), 0);
  // The evidence panel shows ALR²'s verified and rejected facts.
  await page.selectOption('#pipeline', '+alr2');
  await page.click('#ask button');
  await page.waitForFunction(() => /^\+alr2 · /.test(document.getElementById('stage').textContent), null, { timeout: 180_000 });
  await page.locator('#evidence summary').click();
  assert.match(await page.textContent('#trace'), /Facts: \d+ verified, \d+ rejected/);
  // The PDF view: a link that opens the original at the cited page in a tab of
  // its own (nothing is framed), shown by the browser's PDF viewer.
  await page.setInputFiles('#files', pdfPath);
  await page.locator('#upload-status').filter({ hasText: 'uploaded 1 file(s) to contracts' }).waitFor();
  await page.getByRole('cell', { name: 'ready', exact: true }).nth(1).waitFor({ timeout: 120_000 });
  const listed = await (await fetch(`${base}/v1/documents`, { headers: { authorization: `Bearer ${key}` } })).json();
  const pdfDoc = listed.documents.find(d => d.name === 'delivery.pdf');
  assert.ok(pdfDoc, 'the PDF is listed');
  await page.evaluate(id => showPage({ document_id: id, page: 1 }), pdfDoc.id);
  const link = page.locator('#pdf-link');
  await link.waitFor({ state: 'visible' });
  assert.equal(await link.textContent(), 'Open the PDF at page 1');
  assert.equal(await page.locator('iframe').count(), 0, 'nothing is framed');
  const [tab] = await Promise.all([page.context().waitForEvent('page'), link.click()]);
  await tab.waitForLoadState();
  assert.match(tab.url(), /^blob:.*#page=1$/);
  await tab.waitForTimeout(2000);
  const pdfViewer = tab.frames().some(f => f.url().startsWith('chrome-extension://'));
  if (process.env.FOLIO_UI_SCREENSHOT) {
    await tab.screenshot({ path: process.env.FOLIO_UI_SCREENSHOT.replace(/\.png$/, '-pdf.png') });
  }
  assert.ok(pdfViewer, `the PDF viewer shows the original: ${tab.frames().map(f => f.url())}`);
  await tab.close();
  assert.deepEqual(await page.evaluate(() => window.__cspViolations), [], 'nothing was blocked by the content security policy');
  assert.deepEqual(errors, [], 'no script errors on the page');
  console.log('web UI: upload, streamed answer, highlighted citation, evidence panel, markup as text, PDF page in its own tab, no CSP violation: ok');
} catch (error) {
  failed = true;
  mkdirSync(artifacts, { recursive: true });
  const shot = join(artifacts, 'ui-failure.png');
  await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
  console.error(`web UI test failed (screenshot: ${shot}):`, error);
} finally {
  await browser.close();
  // Let the server shut down cleanly before its data directory goes.
  const exited = new Promise(resolve => child.once('exit', resolve));
  child.kill('SIGTERM');
  scriptedModel.close();
  await exited;
  rmSync(dataDir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
