// The gateway driven by the JavaScript GraphQL clients dashboards use, as a
// dashboard would use them. tests/clients.rs starts the test upstream and a
// gateway, then runs this with GATEWAY (the /graphql URL), TOKEN (a good
// credential) and SCHEMA (the path of schema.graphql). Each case has a
// deadline; the last line counts the passes and failures.
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import WebSocket from 'ws'
import { createClient as createWsClient } from 'graphql-ws'
import { createClient as createSseClient } from 'graphql-sse'
import { GraphQLClient, ClientError, gql as requestGql } from 'graphql-request'
import { Client as UrqlClient, fetchExchange, subscriptionExchange, gql as urqlGql } from '@urql/core'
import { ApolloClient, InMemoryCache, HttpLink, gql as apolloGql } from '@apollo/client/core/index.js'
import { createPersistedQueryLink } from '@apollo/client/link/persisted-queries/index.js'
import {
  buildClientSchema, buildSchema, getIntrospectionQuery, lexicographicSortSchema, printSchema,
} from 'graphql'

const GATEWAY = process.env.GATEWAY
const TOKEN = process.env.TOKEN
const WS_URL = GATEWAY.replace(/^http/, 'ws')
const AUTH = { Authorization: `Bearer ${TOKEN}` }
const REFUSED = { Authorization: 'Bearer nope' }
const SUBSCRIPTION = 'subscription Board { inbox(id: 1, everySeconds: 1) { id name } }'
const sha256 = text => createHash('sha256').update(text).digest('hex')

function assert (condition, message) {
  if (!condition) throw new Error(message)
}

const within = (ms, promise) => Promise.race([
  promise,
  new Promise((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)),
])

/** fetch, noting each request and response. */
function recordingFetch () {
  const seen = []
  const fetchImpl = async (url, init = {}) => {
    const response = await fetch(url, init)
    seen.push({ url: String(url), init, status: response.status, headers: response.headers })
    return response
  }
  return { seen, fetchImpl }
}

const cases = {
  async 'Apollo Client: persisted-query link and cache' () {
    const { seen, fetchImpl } = recordingFetch()
    const link = createPersistedQueryLink({ sha256 }).concat(new HttpLink({ uri: GATEWAY, headers: AUTH, fetch: fetchImpl }))
    const client = new ApolloClient({ link, cache: new InMemoryCache() })
    const query = apolloGql`query ApolloInbox { inbox(id: 1) { id name } }`
    const first = await client.query({ query })
    assert(first.data.inbox.id === 1, `first answer: ${JSON.stringify(first.data)}`)
    // The hash alone first (not known yet), then the hash with the text.
    const bodies = seen.map(s => JSON.parse(s.init.body))
    assert(bodies.length === 2 && !bodies[0].query && bodies[0].extensions.persistedQuery, 'hash first')
    assert(bodies[1].query && bodies[1].extensions.persistedQuery, 'then the text with its hash')
    const again = await client.query({ query })
    assert(again.data.inbox.name === first.data.inbox.name && seen.length === 2, 'answered from the cache')
    // A new client sends the hash alone, and the gateway knows it now.
    const other = new ApolloClient({
      link: createPersistedQueryLink({ sha256 }).concat(new HttpLink({ uri: GATEWAY, headers: AUTH, fetch: fetchImpl })),
      cache: new InMemoryCache(),
    })
    const known = await other.query({ query })
    assert(known.data.inbox.id === 1 && seen.length === 3, 'the hash alone is enough once known')
  },

  async 'urql: GET queries with an ETag, subscriptions over graphql-ws' () {
    const { seen, fetchImpl } = recordingFetch()
    const ws = createWsClient({ url: WS_URL, webSocketImpl: WebSocket, connectionParams: AUTH })
    const client = new UrqlClient({
      url: GATEWAY,
      preferGetMethod: 'force',
      fetch: fetchImpl,
      fetchOptions: { headers: AUTH },
      exchanges: [fetchExchange, subscriptionExchange({
        forwardSubscription: request => ({
          subscribe: sink => ({ unsubscribe: ws.subscribe({ ...request, query: request.query || '' }, sink) }),
        }),
      })],
    })
    const result = await client.query(urqlGql`query UrqlInbox { inbox(id: 1) { id } }`, {}).toPromise()
    assert(!result.error && result.data.inbox.id === 1, `query: ${result.error}`)
    const sent = seen[0]
    assert(sent.init.method === 'GET' || !sent.init.method, 'sent as GET')
    assert(/json/.test(sent.headers.get('content-type')), `JSON for urql's Accept: ${sent.headers.get('content-type')}`)
    assert(sent.headers.get('etag'), 'with an ETag')
    const first = await within(10000, new Promise((resolve, reject) => {
      const { unsubscribe } = client.subscription(urqlGql(SUBSCRIPTION), {}).subscribe(r => {
        unsubscribe()
        r.error ? reject(r.error) : resolve(r.data)
      })
    }))
    assert(first.inbox.id === 1, 'subscription result')
    await ws.dispose()
  },

  async 'graphql-ws: next, dispose closes with 1000, refusal reaches error' () {
    let closed
    const client = createWsClient({
      url: WS_URL, webSocketImpl: WebSocket, connectionParams: AUTH, on: { closed: event => { closed = event } },
    })
    const first = await within(10000, new Promise((resolve, reject) => {
      const stop = client.subscribe({ query: SUBSCRIPTION }, {
        next: r => { stop(); resolve(r) }, error: reject, complete: () => {},
      })
    }))
    assert(first.data.inbox.id === 1, 'first result')
    await client.dispose()
    await within(5000, (async () => { while (!closed) await new Promise(r => setTimeout(r, 20)) })())
    assert(closed.code === 1000, `closed with ${closed.code}`)
    const refused = createWsClient({ url: WS_URL, webSocketImpl: WebSocket, connectionParams: REFUSED })
    const errors = await within(10000, new Promise((resolve, reject) => {
      refused.subscribe({ query: SUBSCRIPTION }, {
        next: r => reject(new Error(`a result: ${JSON.stringify(r)}`)), error: resolve, complete: () => reject(new Error('completed')),
      })
    }))
    assert(Array.isArray(errors) && errors[0].extensions.code === 'UNAUTHENTICATED', JSON.stringify(errors))
    await refused.dispose()
  },

  async 'graphql-sse: next, then a refusal as next with the error and complete' () {
    const client = createSseClient({ url: GATEWAY, headers: AUTH })
    const first = await within(10000, new Promise((resolve, reject) => {
      const stop = client.subscribe({ query: SUBSCRIPTION }, { next: r => { stop(); resolve(r) }, error: reject, complete: () => {} })
    }))
    assert(first.data.inbox.id === 1, 'first result')
    client.dispose()
    const refused = createSseClient({ url: GATEWAY, headers: REFUSED, retryAttempts: 0 })
    const results = []
    await within(10000, new Promise((resolve, reject) => {
      refused.subscribe({ query: SUBSCRIPTION }, { next: r => results.push(r), error: reject, complete: resolve })
    }))
    assert(results.length === 1 && results[0].errors[0].extensions.code === 'UNAUTHENTICATED', JSON.stringify(results))
    refused.dispose()
  },

  async 'graphql-request: data, and a request error as ClientError' () {
    const client = new GraphQLClient(GATEWAY, { headers: AUTH })
    const data = await client.request(requestGql`query Req($id: Int!) { inbox(id: $id) { id } }`, { id: 1 })
    assert(data.inbox.id === 1, 'data')
    try {
      await client.request(requestGql`{ conversation(id: 2147483648) { id } }`)
      throw new Error('accepted an Int outside 32 bits')
    } catch (error) {
      // A request error: 400 under application/graphql-response+json, which
      // this library asks for (it reads no body from a 4xx).
      assert(error instanceof ClientError && error.response.status === 400, `${error}`)
    }
  },

  async 'graphql-js: introspection equals schema.graphql' () {
    const options = {
      descriptions: true, specifiedByUrl: true, directiveIsRepeatable: true,
      schemaDescription: true, inputValueDeprecation: true, oneOf: true,
    }
    const response = await fetch(GATEWAY, {
      method: 'POST',
      headers: { ...AUTH, 'content-type': 'application/json', accept: 'application/graphql-response+json' },
      body: JSON.stringify({ query: getIntrospectionQuery(options) }),
    })
    const body = await response.json()
    assert(!body.errors, JSON.stringify(body.errors))
    const served = printSchema(lexicographicSortSchema(buildClientSchema(body.data)))
    const file = printSchema(lexicographicSortSchema(buildSchema(readFileSync(process.env.SCHEMA, 'utf8'))))
    if (served !== file) {
      const a = served.split('\n')
      const b = file.split('\n')
      const at = a.findIndex((line, i) => line !== b[i])
      throw new Error(`drift at line ${at + 1}:\n  served: ${a[at]}\n  file:   ${b[at]}`)
    }
  },
}

let passed = 0
let failed = 0
for (const [name, run] of Object.entries(cases)) {
  try {
    await within(30000, run())
    passed++
    console.log(`ok - ${name}`)
  } catch (error) {
    failed++
    console.log(`not ok - ${name}: ${error.stack || error}`)
  }
}
console.log(`${passed} passed, ${failed} failed`)
process.exit(failed ? 1 : 0)
