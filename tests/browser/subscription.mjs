// Runs a subscription in the playground (headless Chromium): its first
// result must show, then, after a row changes upstream (the test upstream's
// write hook), the pushed result; the stop button ends it. Fails when any
// request leaves 127.0.0.1.
// Usage: node subscription.mjs <gateway base URL> <token> <upstream base URL>
import { launch, recordOutside } from './chromium.mjs';

const [base, token, upstream] = process.argv.slice(2);
if (!base || !token || !upstream) {
  console.error('usage: node subscription.mjs <gateway base URL> <token> <upstream base URL>');
  process.exit(2);
}
const SUBSCRIPTION = 'subscription WatchInbox { inbox(id: 1, everySeconds: 1) { id name } }';
const RENAMED = 'Renamed in the playground';

const browser = await launch();
const outside = [];
const sockets = [];
try {
  const page = await browser.newPage();
  recordOutside(page, outside);
  page.on('websocket', (ws) => {
    const url = new URL(ws.url());
    if (url.hostname !== '127.0.0.1') outside.push(ws.url());
    const socket = { url: ws.url(), frames: 0, closed: false };
    ws.on('framereceived', () => { socket.frames += 1; });
    ws.on('close', () => { socket.closed = true; });
    sockets.push(socket);
  });
  await page.goto(base + '/', { waitUntil: 'load' });
  await page.waitForSelector('.graphiql-container .graphiql-query-editor .CodeMirror', { timeout: 30000 });

  await page.evaluate(({ token, query }) => {
    const editors = [...document.querySelectorAll('.graphiql-editor-tool .CodeMirror')].map((el) => el.CodeMirror);
    const headers = editors.find((cm) => cm.getValue().includes('Authorization'));
    headers.setValue(JSON.stringify({ Authorization: `Bearer ${token}` }));
    document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue(query);
  }, { token, query: SUBSCRIPTION });
  // GraphiQL parses the edited document after a short debounce.
  await page.waitForTimeout(1000);
  await page.click('.graphiql-execute-button');

  const response = (predicate) => page.waitForFunction((predicate) => {
    const cm = document.querySelector('.graphiql-response .CodeMirror');
    const value = cm && cm.CodeMirror.getValue();
    return value && new Function('value', predicate)(value) ? value : null;
  }, predicate, { timeout: 30000 }).then((handle) => handle.jsonValue());

  const first = JSON.parse(await response('return value.includes(\'"inbox"\')'));
  if (first.errors || first.data?.inbox?.id !== 1 || typeof first.data.inbox.name !== 'string') {
    throw new Error(`unexpected first result: ${JSON.stringify(first).slice(0, 500)}`);
  }
  if (first.data.inbox.name === RENAMED) throw new Error('the row was renamed before the test changed it');

  const changed = await fetch(upstream + '/_test/update', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ entity: 'Inbox', id: 1, set: { name: RENAMED } }),
  });
  if (changed.status !== 200) throw new Error(`the write hook answered ${changed.status}`);
  const written = Date.now();
  const pushed = JSON.parse(await response(`return value.includes(${JSON.stringify(RENAMED)})`));
  const after = Date.now() - written;
  if (pushed.errors || pushed.data?.inbox?.id !== 1) {
    throw new Error(`unexpected pushed result: ${JSON.stringify(pushed).slice(0, 500)}`);
  }

  const live = sockets.filter((s) => new URL(s.url).pathname === '/graphql');
  if (live.length !== 1) throw new Error(`expected one WebSocket to /graphql, saw ${JSON.stringify(sockets)}`);
  // The stop button ends the subscription and closes its socket.
  await page.click('.graphiql-execute-button');
  for (let i = 0; i < 50 && !live[0].closed; i++) await page.waitForTimeout(100);
  if (!live[0].closed) throw new Error('the stop button left the WebSocket open');
  if (outside.length) throw new Error(`requests left 127.0.0.1: ${outside.join(', ')}`);
  console.log(`playground subscription ok: first "${first.data.inbox.name}", pushed "${pushed.data.inbox.name}" ${after} ms after the write, stopped`);
} finally {
  await browser.close();
}
