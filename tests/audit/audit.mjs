// Runs the graphql-http server audit suite (GraphQL over HTTP spec) against
// a running gateway. Prints every result; exits 1 when a MUST audit fails.
// Usage: node audit.mjs <graphql URL>
import { auditServer } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs <graphql URL>');
  process.exit(2);
}
const results = await auditServer({ url });
const counts = {};
let mustFailures = 0;
for (const r of results) {
  const level = r.name.split(' ')[0]; // MUST, SHOULD or MAY
  const key = `${level} ${r.status}`;
  counts[key] = (counts[key] || 0) + 1;
  if (r.status !== 'ok') {
    console.log(`${r.status.toUpperCase()} ${r.name}: ${r.reason}`);
    if (level === 'MUST') mustFailures++;
  }
}
console.log('summary ' + JSON.stringify(counts));
process.exit(mustFailures > 0 ? 1 : 0);
