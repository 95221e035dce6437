// Loads the playground in headless Chromium, puts a token in the headers
// editor, runs the default query and checks the answer. Fails when any
// request leaves 127.0.0.1 (the playground must work offline).
// Usage: node playground.mjs <gateway base URL> <token>
import { launch, recordOutside } from './chromium.mjs';

const [base, token] = process.argv.slice(2);
if (!base || !token) {
  console.error('usage: node playground.mjs <gateway base URL> <token>');
  process.exit(2);
}

const browser = await launch();
const outside = [];
try {
  const page = await browser.newPage();
  recordOutside(page, outside);
  await page.goto(base + '/', { waitUntil: 'load' });
  await page.waitForSelector('.graphiql-container .graphiql-query-editor .CodeMirror', { timeout: 30000 });

  // The headers editor comes prefilled with an Authorization placeholder.
  const placeholder = await page.evaluate((token) => {
    const editors = [...document.querySelectorAll('.graphiql-editor-tool .CodeMirror')].map((el) => el.CodeMirror);
    const headers = editors.find((cm) => cm.getValue().includes('Authorization'));
    if (!headers) return null;
    const before = headers.getValue();
    headers.setValue(JSON.stringify({ Authorization: `Bearer ${token}` }));
    return before;
  }, token);
  if (!placeholder || !placeholder.includes('<your Live Agent access token>')) {
    throw new Error(`headers editor not prefilled as expected: ${placeholder}`);
  }

  await page.click('.graphiql-execute-button');
  const text = await page.waitForFunction(() => {
    const cm = document.querySelector('.graphiql-response .CodeMirror');
    const value = cm && cm.CodeMirror.getValue();
    return value && value.includes('"data"') ? value : null;
  }, null, { timeout: 30000 }).then((handle) => handle.jsonValue());
  const result = JSON.parse(text);
  const nodes = result.data?.conversations?.nodes ?? [];
  if (result.errors || nodes.length === 0 || typeof result.data.conversations.totalCount !== 'number') {
    throw new Error(`unexpected result: ${text.slice(0, 500)}`);
  }
  if (outside.length) throw new Error(`requests left 127.0.0.1: ${outside.join(', ')}`);
  console.log(`playground ok: ${nodes.length} conversations of ${result.data.conversations.totalCount}, no request left 127.0.0.1`);
} finally {
  await browser.close();
}
