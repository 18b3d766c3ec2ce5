#!/usr/bin/env bash
# Refresh the vendored build of the CDS Hooks reference Sandbox (tests/e2e/vendor/cds-hooks-sandbox/),
# the EHR client of tests/e2e/test_cds_hooks_sandbox.py (docs/decisions/0027). The tests never
# build it: CI has no network but the package registries at install time, and a webpack build
# there would cost a minute per run. The commit is pinned here; change it, run this script, run
# the test and commit the diff.
#   scripts/refresh_cds_hooks_sandbox.sh [GIT_SOURCE]
# GIT_SOURCE: a clone or bare mirror of cds-hooks/sandbox, or its URL (default: GitHub).
set -euo pipefail
cd "$(dirname "$0")/.."

SANDBOX_COMMIT=3b7e25546771c6e7fc5e360aa7db6eb64af0b8b6
SOURCE=${1:-https://github.com/cds-hooks/sandbox.git}
VENDOR=tests/e2e/vendor/cds-hooks-sandbox
# what a browser loads (index.html, its scripts, the logo), the SMART launch page and the
# Sandbox's public JWKS (pinned by the test's clients file); not the source map, CNAME, .nojekyll
FILES=(
  index.html
  app.bundle.js
  app.bundle.js.LICENSE.txt
  fhir-client.min.js
  launch.html
  smart-launch.bundle.js
  cds-hooks-logo.png
  .well-known/jwks.json
)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [[ -d $SOURCE ]]; then
  repo=$SOURCE
else
  git clone --quiet --bare "$SOURCE" "$work/repo.git"
  repo=$work/repo.git
fi
mkdir "$work/src"
git -C "$repo" archive "$SANDBOX_COMMIT" | tar -x -C "$work/src"
(cd "$work/src" && npm ci --no-audit --no-fund --ignore-scripts && npm run build) >&2

rm -rf "$VENDOR"
mkdir -p "$VENDOR/.well-known"
for file in "${FILES[@]}"; do
  cp "$work/src/build/$file" "$VENDOR/$file"
done
cp "$work/src/LICENSE" "$work/src/NOTICE" "$VENDOR/"

(cd "$VENDOR" && sha256sum LICENSE NOTICE "${FILES[@]}") > "$VENDOR/SHA256SUMS"
{
  echo "# Vendored build of the CDS Hooks Sandbox (test-only)"
  echo
  echo "Written by \`scripts/refresh_cds_hooks_sandbox.sh\`; do not edit by hand."
  echo
  echo "- source: https://github.com/cds-hooks/sandbox, commit \`$SANDBOX_COMMIT\`"
  echo "- licence: Apache-2.0 (\`LICENSE\`, \`NOTICE\`); bundled third-party notices:"
  echo "  \`app.bundle.js.LICENSE.txt\`"
  echo "- built with: \`npm ci --ignore-scripts && npm run build\` (node $(node --version)," \
    "npm $(npm --version))"
  echo "- sha256 of every file: \`SHA256SUMS\` (checked by tests/e2e/test_cds_hooks_sandbox.py)"
} > "$VENDOR/VERSIONS.md"
echo "refresh: wrote $VENDOR (cds-hooks/sandbox $SANDBOX_COMMIT)" >&2
