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

# --- Exim: a second real MTA (GnuTLS) beside Postfix -------------------------------------------
# Debian's exim4-daemon-heavy (heavy: it has the `spa` NTLM authenticator) is NOT installed as a
# package (it would replace postfix as the system MTA). Its .deb is downloaded and unpacked into
# EXIM_ROOT (shared by every checkout on the machine), its shared-library dependencies are
# installed with apt, and scripts/test-servers.sh runs EXIM_ROOT/usr/sbin/exim4 with its own
# config on loopback ports. Re-running does nothing unless Debian's candidate version changed.
EXIM_ROOT=${SMTPSEND_EXIM_ROOT:-/var/cache/smtpsend/exim4}
setup_exim() {
  local SUDO="" pkg=exim4-daemon-heavy want have="" tmp deb dep missing=()
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  want=$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ {print $2}')
  if [ -z "$want" ] || [ "$want" = "(none)" ]; then
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    want=$(apt-cache policy "$pkg" | awk '/Candidate:/ {print $2}')
    [ -n "$want" ] && [ "$want" != "(none)" ] || { echo "setup: no $pkg in the apt sources" >&2; return 1; }
  fi
  [ -f "$EXIM_ROOT/.version" ] && have=$(cat "$EXIM_ROOT/.version")
  if [ "$have" != "$want" ] || [ ! -x "$EXIM_ROOT/usr/sbin/exim4" ]; then
    echo "setup: fetching $pkg $want into $EXIM_ROOT"
    tmp=$(mktemp -d); chmod 0755 "$tmp"
    (cd "$tmp" && $SUDO apt-get download -qq -o APT::Sandbox::User=root "$pkg=$want")
    deb=$(ls "$tmp"/*.deb)
    $SUDO rm -rf "$EXIM_ROOT.new"; $SUDO mkdir -p "$EXIM_ROOT.new"
    $SUDO dpkg-deb -x "$deb" "$EXIM_ROOT.new"
    # Always started by root (test-servers.sh): the copy needs no setuid bit.
    $SUDO chmod u-s "$EXIM_ROOT.new/usr/sbin/exim4"
    dpkg-deb -f "$deb" Depends | $SUDO tee "$EXIM_ROOT.new/.depends" >/dev/null
    echo "$want" | $SUDO tee "$EXIM_ROOT.new/.version" >/dev/null
    $SUDO rm -rf "$EXIM_ROOT"; $SUDO mv "$EXIM_ROOT.new" "$EXIM_ROOT"
    rm -rf "$tmp"
  fi
  # Its Depends (first alternative of each), minus exim4-base and debconf: the shared libraries.
  for dep in $(tr ',' '\n' <"$EXIM_ROOT/.depends" | sed 's/|.*//; s/(.*)//; s/:any//; s/ //g'); do
    case "$dep" in exim4-*|debconf*|'') continue ;; esac
    dpkg -s "$dep" >/dev/null 2>&1 || missing+=("$dep")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing Exim's libraries: ${missing[*]}"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  if ldd "$EXIM_ROOT/usr/sbin/exim4" | grep -q 'not found'; then
    ldd "$EXIM_ROOT/usr/sbin/exim4" | grep 'not found' >&2
    echo "setup: $EXIM_ROOT/usr/sbin/exim4 lacks shared libraries" >&2; return 1
  fi
  # The binary looks its compiled-in user up at start, before reading any config.
  getent passwd Debian-exim >/dev/null || $SUDO useradd --system --user-group --no-create-home \
    --home-dir /var/spool/exim4 --shell /usr/sbin/nologin Debian-exim
  "$EXIM_ROOT/usr/sbin/exim4" -C /dev/null -bV 2>/dev/null | grep -q '^Exim version' \
    || { echo "setup: $EXIM_ROOT/usr/sbin/exim4 -bV failed" >&2; return 1; }
}
setup_exim
# --- end Exim -----------------------------------------------------------------------------------

# `npm install` (not `npm ci`): direct dev dependencies are pinned exactly and the lock file is used,
# but `npm ci` refuses lock files that lack other platforms' optional binaries (bun, deno, rollup),
# which npm cannot record when the registry does not serve them.
npm install --no-fund --no-audit --loglevel=error
echo "setup: done (node $(node --version), bun $(npx --no bun --version), $(npx --no deno --version | head -1))"
