// Headless Chromium as the browser tests run it (no background network:
// this machine's network is closed), and a record of every request a page
// sends outside 127.0.0.1 (the playground must work offline).
import { chromium } from 'playwright-core';

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

// Pushes to `outside` the URL of every request of `page` that leaves 127.0.0.1.
export function recordOutside(page, outside) {
  page.on('request', (request) => {
    const url = new URL(request.url());
    if (['http:', 'https:', 'ws:', 'wss:'].includes(url.protocol) && url.hostname !== '127.0.0.1') {
      outside.push(request.url());
    }
  });
}
