'use strict';
// Starts @vercel/cosmosdb-server 1.0.1 (an in-memory Cosmos DB for NoSQL emulator) over HTTPS on
// 127.0.0.1, with two answers corrected so that the Azure SDK for Rust (azure_data_cosmos 1.0)
// can talk to it (scripts/lib/cosmos.sh copies this file next to the node_modules it installs).
//
//   node serve.cjs PORT [HOST]      PORT 0 picks a free port; HOST defaults to 127.0.0.1
//
// Prints "listening PORT" (the real port) on stdout once it accepts connections; exits 0 on
// SIGTERM or SIGINT, 2 on bad arguments, 1 if it cannot listen. Every start is empty.
//
// HTTPS because the database account (GET /) names https://HOST:PORT/ as its only location
// (hard-coded in the library) and the SDK follows it. The certificate is the library's bundled
// self-signed one (CN=cosmosdb, no subjectAltName, expired 2021-01-28): clients must skip
// validation, which the SDK does only for emulator hosts such as 127.0.0.1 and only when asked.
// keepAlive: the library answers "connection: close" on every response unless asked otherwise.
//
// What this front corrects (the library's behaviour is written down in probe.py):
// 1. GET .../pkranges: the library's one partition key range has the number 0 as its id, where
//    Cosmos DB sends the string "0"; the SDK rejects the number and cannot route any request.
//    Every range id (and parent id) in the answer is turned into a string.
// 2. GET .../docs/{id} of a missing document: the library's partition check reads a property of
//    the missing document and answers 500. The request is sent on with
//    x-ms-documentdb-query-enablecrosspartition: true, which skips only that check: the lookup
//    itself still uses the partition key header, and a miss is the 404 Cosmos DB answers. (A
//    read without a partition key header is left alone: the library answers 400, as it should.)
// Nothing else is changed.

const { createHttpsServer } = require('@vercel/cosmosdb-server');

const portArg = process.argv[2];
const host = process.argv[3] || '127.0.0.1';
const port = Number(portArg);
if (portArg === undefined || !Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write('usage: serve.cjs PORT [HOST]\n');
  process.exit(2);
}

const PKRANGES = /^\/dbs\/[^/]+\/colls\/[^/]+\/pkranges\/?(\?.*)?$/;
const DOCUMENT = /^\/dbs\/[^/]+\/colls\/[^/]+\/docs\/[^/?]+\/?(\?.*)?$/;

function stringRangeIds(text) {
  let body;
  try {
    body = JSON.parse(text);
  } catch (_) {
    return text;
  }
  if (body && Array.isArray(body.PartitionKeyRanges)) {
    for (const range of body.PartitionKeyRanges) {
      if (range.id !== undefined) range.id = String(range.id);
      if (Array.isArray(range.parents)) range.parents = range.parents.map(String);
    }
  }
  return JSON.stringify(body);
}

// The library answers with one res.end(JSON text); rewrite that text for pkranges.
function fixRangeIds(res) {
  const end = res.end.bind(res);
  res.end = (chunk, ...rest) => {
    if (typeof chunk === 'string' || Buffer.isBuffer(chunk)) {
      const fixed = stringRangeIds(chunk.toString());
      if (!res.headersSent) res.setHeader('content-length', Buffer.byteLength(fixed));
      return end(fixed, ...rest);
    }
    return end(chunk, ...rest);
  };
}

const server = createHttpsServer({ keepAlive: true });
const [libraryHandler] = server.listeners('request');
server.removeAllListeners('request');
server.on('request', (req, res) => {
  if (req.method === 'GET' && PKRANGES.test(req.url)) {
    fixRangeIds(res);
  } else if (req.method === 'GET' && DOCUMENT.test(req.url) &&
             req.headers['x-ms-documentdb-partitionkey']) {
    req.headers['x-ms-documentdb-query-enablecrosspartition'] = 'true';
  }
  libraryHandler(req, res);
});
server.on('error', (err) => {
  process.stderr.write(`cosmosdb-server: ${err.message}\n`);
  process.exit(1);
});
server.listen(port, host, () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => process.exit(0));
}
