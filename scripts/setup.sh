#!/usr/bin/env bash
# Installs everything the tests and the demo need on a fresh Debian machine:
# Debian packages (real mail servers for interop tests) and the pinned npm dev
# dependencies (bun and deno come from npm). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

# Real servers (Postfix, Dovecot SASL and POP3, aiosmtpd), real MUAs (s-nail, git send-email; git-email needs
# libmailtools-perl, only a Recommends; mutt; fetchmail), openssl for throwaway certificates.
DEBS=(postfix dovecot-core dovecot-pop3d python3-aiosmtpd s-nail git git-email libmailtools-perl mutt fetchmail openssl)
missing=()
for p in "${DEBS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing Debian packages: ${missing[*]}"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The Debian postfix package may start a system instance on port 25; the tests
# run their own instances on loopback high ports and do not need it.

# `npm install` (not `npm ci`): direct dev dependencies are pinned exactly and the lock file is used,
# but `npm ci` refuses lock files that lack other platforms' optional binaries (bun, deno, rollup),
# which npm cannot record when the registry does not serve them.
npm install --no-fund --no-audit --loglevel=error
echo "setup: done (node $(node --version), bun $(npx --no bun --version), $(npx --no deno --version | head -1))"
