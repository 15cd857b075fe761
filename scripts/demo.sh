#!/usr/bin/env bash
# The main job, end to end on this machine: start a private Postfix with
# Dovecot SASL on 127.0.0.1, then send mail through it with the built
# `smtpsend` command — STARTTLS, certificate checked against a throwaway CA,
# SCRAM-SHA-256 from a config file — and show the trace and the delivered
# message. Run `bash scripts/setup.sh` once first (or use the README command).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "build (tsup): dist/mod.js and bin/smtpsend.js"
tsup --silent

step "start a private Postfix + Dovecot on 127.0.0.1"
scripts/test-servers.sh start
trap 'scripts/test-servers.sh stop >/dev/null' EXIT
set -a; . "${SMTPSEND_TEST_DIR:-/tmp/smtpsend-test}/env"; set +a

work=$(mktemp -d)
trap 'rm -rf "$work"; scripts/test-servers.sh stop >/dev/null' EXIT
conf="$work/smtpsendrc"
# An esmtp-style configuration file with one identity (mode 0600: it holds a password).
install -m 600 /dev/null "$conf"
cat >"$conf" <<RC
identity $SMTPSEND_TEST_USER
  hostname 127.0.0.1:$SMTPSEND_TEST_SUBMISSION_PORT
  username "$SMTPSEND_TEST_USER"
  password "$SMTPSEND_TEST_PASSWORD"
  starttls required
  ca_file "$SMTPSEND_TEST_CA"
  default
RC
echo "configuration ($conf, password hidden):"
sed 's/^\(\s*password\).*/\1 "<hidden>"/' "$conf"

step "what the server offers: smtpsend --serverinfo"
node bin/smtpsend.js -C "$conf" --serverinfo

subject="smtpsend demo $(date +%H:%M:%S)"
step "compose and send a message (-v shows the conversation; secrets are redacted)"
printf 'Hello from smtpsend!\n\nThis message was composed by the CLI, sent over STARTTLS\nwith SASL authentication, and delivered by Postfix.\n' |
  node bin/smtpsend.js -C "$conf" -v -f "$SMTPSEND_TEST_USER" --subject "$subject" "user@$SMTPSEND_TEST_DOMAIN"
echo "exit status: $?"

step "a raw message through sendmail mode (-t reads To:/Cc:/Bcc:, Bcc: is removed)"
printf 'From: Alice <%s>\nTo: user@%s\nBcc: bob@%s\nSubject: %s (raw)\n\nSent with -t.\n' \
  "$SMTPSEND_TEST_USER" "$SMTPSEND_TEST_DOMAIN" "$SMTPSEND_TEST_DOMAIN" "$subject" |
  node bin/smtpsend.js -C "$conf" -t
echo "exit status: $?"

step "delivered into the maildir of user@$SMTPSEND_TEST_DOMAIN"
for i in $(seq 50); do
  f=$(grep -l "Subject: $subject\$" "$SMTPSEND_TEST_MAIL_BASE"/user/new/* 2>/dev/null | head -1 || true)
  [ -n "$f" ] && break
  sleep 0.1
done
[ -n "${f:-}" ] || { echo "the message did not arrive"; exit 1; }
echo "$f:"
sed 's/^/  | /' "$f"
