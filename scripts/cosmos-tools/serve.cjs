'use strict';
// Starts @vercel/cosmosdb-server 1.0.1 (an in-memory Cosmos DB for NoSQL emulator) over plain HTTP
// on 127.0.0.1 (scripts/lib/cosmos.sh copies this file next to the node_modules it installs).
//
//   node serve.cjs PORT [HOST]      PORT 0 picks a free port; HOST defaults to 127.0.0.1
//
// Prints "listening PORT" (the real port) on stdout once it accepts connections; exits 0 on
// SIGTERM or SIGINT, 2 on bad arguments, 1 if it cannot listen. Every start is empty.
//
// HTTP, not HTTPS: the library's HTTPS server uses a bundled self-signed certificate (CN=cosmosdb,
// no subjectAltName) that expired on 2021-01-28, so no client could trust it anyway.
// keepAlive: the library answers "connection: close" on every response unless asked otherwise.
//
// Note: GET / (the database account) names https://HOST:PORT/ as its writable and readable
// location even over HTTP (hard-coded in the library); a client that follows those locations
// must be told not to (or rewrite the scheme).

const { createHttpServer } = require('@vercel/cosmosdb-server');

const portArg = process.argv[2];
const host = process.argv[3] || '127.0.0.1';
const port = Number(portArg);
if (portArg === undefined || !Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write('usage: serve.cjs PORT [HOST]\n');
  process.exit(2);
}

const server = createHttpServer({ keepAlive: true });
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
