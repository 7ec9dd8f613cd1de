#!/bin/sh
# Rebuild webapp/static/vendor/ from the versions pinned in package.json / package-lock.json.
#
# The site serves these files itself (no CDN at run time), so the built files are committed;
# node_modules/ is only a build cache and stays out of git. To update a library: change its
# version in package.json, run `npm install` once to refresh package-lock.json, then run this
# script and commit package.json, package-lock.json and webapp/static/vendor/.
#
# Output:
#   webapp/static/vendor/niivue/niivue.min.js   one self-contained, minified ES module (import { Niivue } from ...)
#   webapp/static/vendor/niivue/LICENSE         NiiVue's BSD-2-Clause licence
#   webapp/static/vendor/niivue/THIRD_PARTY_LICENSES.txt  licences of the packages bundled into niivue.min.js
#   webapp/static/vendor/tus/tus.min.js         tus-js-client's UMD build (classic script, global `tus`)
#   webapp/static/vendor/tus/LICENSE            tus-js-client's MIT licence
#   webapp/static/vendor/VERSIONS.txt           which versions these files were built from
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

VENDOR=webapp/static/vendor
MAX_BYTES=5242880   # 5 MiB: the most we commit for one vendored file

# --ignore-scripts: nothing from the registry runs at install time (esbuild works without its postinstall).
if [ -f package-lock.json ]; then
    npm ci --ignore-scripts --no-audit --no-fund
else
    npm install --ignore-scripts --no-audit --no-fund
fi

rm -rf "$VENDOR/niivue" "$VENDOR/tus"
mkdir -p "$VENDOR/niivue" "$VENDOR/tus"

# NiiVue's package entry (build/niivue/index.js) is an ES module with bare imports (gl-matrix,
# nifti-reader-js, ...), and its dist/index.min.js is not a loadable bundle (it exports the code
# as a URL-encoded string for NiiVue's demos). So we bundle the entry ourselves, with the
# dependency versions locked in package-lock.json, into one minified ES module.
METAFILE=$(mktemp)
trap 'rm -f "$METAFILE"' EXIT
echo 'export * from "@niivue/niivue";' | npx --no-install esbuild \
    --bundle --minify --format=esm --platform=browser --target=es2020 \
    --legal-comments=none --log-level=warning \
    --metafile="$METAFILE" \
    --outfile="$VENDOR/niivue/niivue.min.js"

if grep -Eq '(^|[;}])import *[{*"a-zA-Z_$][^;]*from *"[^./]' "$VENDOR/niivue/niivue.min.js"; then
    echo "niivue.min.js still contains bare imports: it would not load in a browser" >&2
    exit 1
fi

NIIVUE_PKG=node_modules/@niivue/niivue
if [ -f "$NIIVUE_PKG/LICENSE" ]; then
    cp "$NIIVUE_PKG/LICENSE" "$VENDOR/niivue/LICENSE"
else
    # The npm tarball does not ship a licence file; this is the text of LICENSE in github.com/niivue/niivue.
    cat > "$VENDOR/niivue/LICENSE" <<'LICENCE'
BSD 2-Clause License

Copyright (c) 2021, Niivue
All rights reserved.

Redistribution and use in source and binary forms, with or without
modification, are permitted provided that the following conditions are met:

1. Redistributions of source code must retain the above copyright notice, this
   list of conditions and the following disclaimer.

2. Redistributions in binary form must reproduce the above copyright notice,
   this list of conditions and the following disclaimer in the documentation
   and/or other materials provided with the distribution.

THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS"
AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE
IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE ARE
DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT HOLDER OR CONTRIBUTORS BE LIABLE
FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR CONSEQUENTIAL
DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF SUBSTITUTE GOODS OR
SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS INTERRUPTION) HOWEVER
CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY,
OR TORT (INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE
OF THIS SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.
LICENCE
fi

# The bundle carries code from several packages; their licences travel with it.
node - "$METAFILE" "$VENDOR/niivue/THIRD_PARTY_LICENSES.txt" <<'JS'
const fs = require('fs')
const path = require('path')
const [metafile, out] = process.argv.slice(2)
const inputs = Object.keys(JSON.parse(fs.readFileSync(metafile, 'utf8')).inputs)
const dirs = new Set()
for (const input of inputs) {
  const m = input.match(/^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//)
  if (m && !m[1].endsWith('node_modules/@niivue/niivue')) dirs.add(m[1])
}
const sections = [...dirs].sort().map((dir) => {
  const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'))
  const file = fs.readdirSync(dir).find((f) => /^(licen[cs]e|copying)(\.|$)/i.test(f))
  const text = file ? fs.readFileSync(path.join(dir, file), 'utf8').trim() : `License: ${pkg.license} (no licence file in the package)`
  return `${pkg.name} ${pkg.version}\n${'-'.repeat(60)}\n${text}\n`
})
fs.writeFileSync(out, 'Packages bundled into niivue.min.js besides @niivue/niivue itself:\n\n' + sections.join('\n'))
JS

TUS_PKG=node_modules/tus-js-client
cp "$TUS_PKG/dist/tus.min.js" "$VENDOR/tus/tus.min.js"
cp "$TUS_PKG/LICENSE" "$VENDOR/tus/LICENSE"

version_of() { node -p "require('./node_modules/$1/package.json').version"; }
{
    echo "Built by scripts/vendor-frontend.sh from package-lock.json; do not edit by hand."
    echo "@niivue/niivue $(version_of @niivue/niivue) -> niivue/niivue.min.js (ES module, bundled with esbuild $(version_of esbuild))"
    echo "tus-js-client $(version_of tus-js-client) -> tus/tus.min.js (UMD, global tus)"
} > "$VENDOR/VERSIONS.txt"

for f in "$VENDOR/niivue/niivue.min.js" "$VENDOR/tus/tus.min.js"; do
    size=$(wc -c < "$f")
    if [ "$size" -gt "$MAX_BYTES" ]; then
        echo "$f is $size bytes, over the $MAX_BYTES-byte limit for vendored files" >&2
        exit 1
    fi
    echo "$f: $size bytes"
done
