#!/usr/bin/env bash
# Refresh the browser libraries of the SMART app (cds_service/smart/static/vendor/) from npm.
# The app has no build step: it loads these files as they are. The versions are pinned here;
# change them, run this script, check the app (tests/e2e/test_smart_app.py) and commit the diff.
#   scripts/vendor-smart-libs.sh
set -euo pipefail
cd "$(dirname "$0")/.."

FHIRCLIENT_VERSION=2.6.3
UPLOT_VERSION=1.6.32
VENDOR=cds_service/smart/static/vendor

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

unpack() {  # unpack NAME VERSION -> prints the directory of the unpacked package
  local name=$1 version=$2 tarball
  tarball=$(cd "$work" && npm pack --silent "$name@$version" | tail -n 1)
  mkdir -p "$work/$name"
  tar -xzf "$work/$tarball" -C "$work/$name" --strip-components=1
  local got
  got=$(node -p "require('$work/$name/package.json').version")
  [[ $got == "$version" ]] || { echo "vendor: $name is $got, wanted $version" >&2; exit 1; }
  echo "$work/$name"
}

fhirclient=$(unpack fhirclient "$FHIRCLIENT_VERSION")
uplot=$(unpack uplot "$UPLOT_VERSION")

rm -rf "$VENDOR"
mkdir -p "$VENDOR/fhirclient" "$VENDOR/uplot"
cp "$fhirclient/build/fhir-client.pure.min.js" "$fhirclient/LICENSE" "$VENDOR/fhirclient/"
# The minified bundle's third-party notices travel with it.
cp "$fhirclient/build/fhir-client.pure.min.js.LICENSE.txt" "$VENDOR/fhirclient/"
cp "$uplot/dist/uPlot.iife.min.js" "$uplot/dist/uPlot.min.css" "$uplot/LICENSE" "$VENDOR/uplot/"

{
  echo "# Vendored browser libraries of the SMART app"
  echo
  echo "Written by \`scripts/vendor-smart-libs.sh\` (npm pack, copy); do not edit by hand."
  echo
  echo "| package | version | licence | file | sha256 |"
  echo "| --- | --- | --- | --- | --- |"
  for file in "$VENDOR"/fhirclient/* "$VENDOR"/uplot/*; do
    case $file in
      */fhirclient/*) pkg=fhirclient; version=$FHIRCLIENT_VERSION; dir=$fhirclient ;;
      *) pkg=uplot; version=$UPLOT_VERSION; dir=$uplot ;;
    esac
    licence=$(node -p "require('$dir/package.json').license")
    sum=$(sha256sum "$file" | cut -d' ' -f1)
    echo "| $pkg | $version | $licence | \`${file#"$VENDOR"/}\` | \`$sum\` |"
  done
} > "$VENDOR/VERSIONS.md"
echo "vendor: wrote $VENDOR (fhirclient $FHIRCLIENT_VERSION, uplot $UPLOT_VERSION)" >&2
