#!/usr/bin/env bash
# Real mail servers on 127.0.0.1 for the smtpsend interop tests.
#
#   scripts/test-servers.sh start   stop old instances, wipe the state dir, start everything,
#                                   wait until every port answers, write $STATE/env
#   scripts/test-servers.sh stop    stop everything (safe when nothing runs)
#   scripts/test-servers.sh status  show which ports answer
#
# Environment: SMTPSEND_TEST_DIR (state dir, default /tmp/smtpsend-test),
# SMTPSEND_TEST_PORT_BASE (default 20025; ports base+0..base+38, base+40..base+42 and base+50..base+54 are used),
# SMTPSEND_TEST_SINK_DELAY (seconds for the slow smtp-sink ports, default 3),
# SMTPSEND_EXIM_ROOT (where scripts/setup.sh unpacked Exim, default /var/cache/smtpsend/exim4).
# Needs root (Postfix and Dovecot); re-runs itself through `sudo -n` otherwise.
#
# Servers: a private Postfix instance (own config/queue/data dirs), Dovecot as its
# SASL server only, smtp-sink instances for faults, an aiosmtpd OAuth server, and
# Exim (Debian's exim4-daemon-heavy, GnuTLS) run from the .deb that setup.sh unpacked.
# The port table is in tests/fixtures/servers/README.md and in the env file.
set -euo pipefail
umask 022

ROOT=$(cd "$(dirname "$0")/.." && pwd)
FIX="$ROOT/tests/fixtures/servers"
STATE=${SMTPSEND_TEST_DIR:-/tmp/smtpsend-test}
BASE=${SMTPSEND_TEST_PORT_BASE:-20025}
DELAY=${SMTPSEND_TEST_SINK_DELAY:-3}
PYTHON=/usr/bin/python3 # Debian's python3 has python3-aiosmtpd; a pyenv python3 on PATH does not
PF_CONF="$STATE/postfix/conf"
DC_CONF="$STATE/dovecot/dovecot.conf"
export PATH="/usr/sbin:/usr/bin:/sbin:/bin:$PATH"

log() { printf 'test-servers: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

case "$STATE" in /*) ;; *) die "SMTPSEND_TEST_DIR must be an absolute path: $STATE" ;; esac
case "$STATE" in /|/tmp|/var|/etc|/usr|/root|/home) die "refusing to use $STATE as the state dir" ;; esac
[[ "$BASE" =~ ^[0-9]+$ ]] && [ "$BASE" -ge 1024 ] && [ "$BASE" -le 65490 ] || die "bad SMTPSEND_TEST_PORT_BASE: $BASE"
[[ "$DELAY" =~ ^[0-9]+$ ]] || die "bad SMTPSEND_TEST_SINK_DELAY: $DELAY"

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    exec sudo -n --preserve-env=SMTPSEND_TEST_DIR,SMTPSEND_TEST_PORT_BASE,SMTPSEND_TEST_SINK_DELAY,SMTPSEND_EXIM_ROOT "$0" "$@"
  fi
  die "must run as root (Postfix and Dovecot need it); no passwordless sudo"
fi

# ---------------------------------------------------------------------------
# Ports. NAME:offset. Sinks: NAME:offset:smtp-sink flags (see README.md).
PORTS=(PLAIN:0 STARTTLS:1 SUBMISSION:2 SUBMISSIONS:3 WRONGNAME:4 UNKNOWNCA:5 CLEARAUTH:6 CLIENTCERT:7 OAUTH:8 OAUTH_TLS:9
  POP3:50 NO8BIT:52 SMALL:53 SMALL_NOSIZE:54)
SINKS=(
  "SINK:20:"                                   # normal, every message dumped to SINK_DUMP_DIR
  "SINK_HELO:21:-e"                            # no ESMTP: EHLO -> 500 5.5.1, HELO works
  "SINK_PIX:22:-P"                             # greeting "220 ********" (Cisco PIX), implies -e
  "SINK_NOPIPELINING:23:-p"                    # EHLO without PIPELINING
  "SINK_NOENH:24:-E"                           # EHLO without ENHANCEDSTATUSCODES
  "SINK_DROP_CONNECT:25:-q CONNECT"            # closes at once, no greeting
  "SINK_DROP_DOT:26:-q ."                      # closes without reply after end-of-data "."
  "SINK_421_CONNECT:27:-Q CONNECT"             # greeting 421 4.0.0, then close
  "SINK_421_MAIL:28:-Q MAIL"                   # MAIL -> 421 4.0.0, then close
  "SINK_TEMPFAIL_RCPT:29:-r RCPT"              # every RCPT -> 450 4.3.0
  "SINK_TEMPFAIL_DOT:30:-r ."                  # end-of-data -> 450 4.3.0
  "SINK_REJECT_CONNECT:31:-f CONNECT -B 554 5.3.0 No SMTP service here"  # greeting 554
  "SINK_REJECT_MAIL:32:-f MAIL"                # MAIL -> 500 5.3.0
  "SINK_REJECT_RCPT:33:-f RCPT -B 550 5.1.1 Recipient address rejected: User unknown"
  "SINK_REJECT_DOT:34:-f ."                    # end-of-data -> 500 5.3.0
  "SINK_SLOW_GREETING:35:-W CONNECT:$DELAY"    # greeting after DELAY s
  "SINK_SLOW_DATA:36:-w $DELAY"                # 354 after DELAY s
  "SINK_SLOW_DOT:37:-W .:$DELAY"               # end-of-data reply after DELAY s
  "SINK_ABORT_DATA:38:-A 0"                    # after 354: "550 This violates SMTP", close
)
# --- Exim (tests/fixtures/servers/exim.conf.in): NAME:offset, offsets 40-49 reserved for it.
EXIM_PORTS=(EXIM:40 EXIM_TLS:41 EXIM_SMALL:42)
EXIM_ROOT=${SMTPSEND_EXIM_ROOT:-/var/cache/smtpsend/exim4}
EXIM_BIN="$EXIM_ROOT/usr/sbin/exim4"
EXIM_SIZE_LIMIT=65536 # message_size_limit on EXIM_SMALL (64K in exim.conf.in)
# --- end Exim
port_of() { echo $((BASE + $1)); }

all_ports() {
  local e
  for e in "${PORTS[@]}"; do port_of "${e#*:}"; done
  for e in "${SINKS[@]}"; do local r=${e#*:}; port_of "${r%%:*}"; done
  for e in "${EXIM_PORTS[@]}"; do port_of "${e#*:}"; done
}

answers() { # port: true if something accepts a TCP connection on 127.0.0.1:port
  timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# ---------------------------------------------------------------------------
alive() { # pid: running and not a zombie (a container's PID 1 may reap slowly)
  local st
  st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "${st%% *}" != Z ]
}

wait_gone() { # pid [tenths of a second]
  local i
  for i in $(seq "${2:-100}"); do alive "$1" || return 0; sleep 0.1; done
  return 1
}

do_stop() {
  [ -d "$STATE" ] || return 0
  local pid f want groups=() pids=()
  # Postfix and Dovecot masters: ours only (pid files in our queue dir / base_dir).
  # SIGTERM is what `postfix stop` and `dovecot stop` send; they then poll in 1 s
  # steps, we poll faster. Both masters lead their own process group.
  for f in "$STATE/postfix/queue/pid/master.pid" "$STATE/dovecot/run/master.pid"; do
    pid=$(tr -dc 0-9 2>/dev/null <"$f" || true)
    if [ -n "$pid" ] && alive "$pid" && grep -qE 'master|dovecot' "/proc/$pid/comm"; then
      kill -TERM "$pid" 2>/dev/null && groups+=("$pid")
    fi
  done
  # Background servers we started: a pid counts only if its command line still
  # holds the string recorded at start (the port or script name), so a reused pid
  # is never killed.
  for f in "$STATE"/pids/*.pid; do
    [ -e "$f" ] || continue
    pid=$(tr -dc 0-9 <"$f")
    want=$(cat "$f.match" 2>/dev/null || echo "$STATE")
    if [ -n "$pid" ] && alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$want"; then
      kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
    fi
    rm -f "$f" "$f.match"
  done
  for pid in "${pids[@]}"; do wait_gone "$pid" 30 || kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "${groups[@]}"; do wait_gone "$pid" 50 || kill -KILL -- "-$pid" 2>/dev/null || true; done
}

# ---------------------------------------------------------------------------
render() { # template output: replaces @NAME@ with $NAME (exported), fails on unknown names
  perl -pe 's/@([A-Z][A-Z0-9_]*)@/exists $ENV{$1} ? $ENV{$1} : die "unset template variable $1\n"/ge' "$1" >"$2"
}

make_tls() {
  local d="$STATE/tls"
  mkdir -p "$d"
  cd "$d"
  local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  cat >ext.cnf <<'EOF'
[server_localhost]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[server_other]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:other.example
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = email:alice@smtpsend.test
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
  local caext=(-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -addext "subjectKeyIdentifier=hash")
  openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days 30 -subj "/O=smtpsend tests/CN=smtpsend test CA" "${caext[@]}" 2>/dev/null
  openssl req -x509 "${ec[@]}" -keyout unknown-ca.key -out unknown-ca.pem -days 30 -subj "/O=smtpsend tests/CN=smtpsend UNKNOWN CA" "${caext[@]}" 2>/dev/null
  leaf() { # name subject ca extsection
    openssl req -new "${ec[@]}" -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
    openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial -days 30 \
      -extfile ext.cnf -extensions "$4" -out "$1.pem" 2>/dev/null
    rm -f "$1.csr"
    cat "$1.key" "$1.pem" >"$1.chain.pem"
  }
  leaf localhost "/O=smtpsend tests/CN=localhost" ca server_localhost
  leaf other "/O=smtpsend tests/CN=other.example" ca server_other
  leaf unknown-localhost "/O=smtpsend tests/CN=localhost" unknown-ca server_localhost
  leaf client "/O=smtpsend tests/CN=alice@smtpsend.test" ca client
  rm -f ext.cnf ./*.srl ca.key unknown-ca.key
  # Throwaway keys, readable so tests need not run as root.
  chmod 0644 ./*.key ./*.pem
  cd - >/dev/null
}

start_bg() { # name match-string log command...  (runs in background, pid file in $STATE/pids)
  local name=$1 match=$2 logf=$3; shift 3
  setsid "$@" </dev/null >>"$logf" 2>&1 &
  echo $! >"$STATE/pids/$name.pid"
  echo "$match" >"$STATE/pids/$name.pid.match"
}

rand() { openssl rand -hex "$1"; }

do_start() {
  local t0=$SECONDS e name off port
  do_stop
  # Wipe only a state dir this script made (marker file), never someone's data.
  if [ -d "$STATE" ] && [ -n "$(ls -A "$STATE")" ] && [ ! -f "$STATE/.smtpsend-test-state" ] \
    && [ ! -f "$STATE/postfix/conf/main.cf" ]; then
    die "$STATE exists and was not made by this script; set SMTPSEND_TEST_DIR to another path"
  fi
  rm -rf "$STATE"
  mkdir -p "$STATE"/{log,pids,mail,sink,oauth/messages,postfix/conf,postfix/data,dovecot/run,dovecot/state}
  touch "$STATE/.smtpsend-test-state"
  chmod 0755 "$STATE"

  # Refuse ports that something else already holds (e.g. a second checkout).
  local busy=()
  for port in $(all_ports); do answers "$port" && busy+=("$port"); done
  [ ${#busy[@]} -eq 0 ] || die "ports already in use on 127.0.0.1: ${busy[*]} (set SMTPSEND_TEST_PORT_BASE)"

  # The user that owns delivered mail and runs the unprivileged servers: the
  # sudo caller if any (so tests can read the maildir), else nobody.
  local mail_user
  if [ -n "${SUDO_UID:-}" ] && [ "${SUDO_UID}" != 0 ]; then mail_user=$(id -nu "$SUDO_UID"); else mail_user=nobody; fi
  export MAIL_UID; MAIL_UID=$(id -u "$mail_user")
  export MAIL_GID; MAIL_GID=$(id -g "$mail_user")
  export STATE TLS="$STATE/tls"
  id postfix >/dev/null 2>&1 || die "system user 'postfix' missing (is the postfix package installed?)"
  getent group postdrop >/dev/null || die "group 'postdrop' missing (is the postfix package installed?)"
  # Exim (checked before anything starts): unpacked by scripts/setup.sh.
  [ -x "$EXIM_BIN" ] || die "Exim not found at $EXIM_BIN: run scripts/setup.sh (or set SMTPSEND_EXIM_ROOT)"
  id Debian-exim >/dev/null 2>&1 || die "system user 'Debian-exim' missing (the Exim binary needs it): run scripts/setup.sh"
  export DOVECOT_INTERNAL_USER=dovecot DOVECOT_INTERNAL_GROUP=dovecot DOVECOT_LOGIN_USER=dovenull
  id dovecot >/dev/null 2>&1 || DOVECOT_INTERNAL_USER=nobody
  getent group dovecot >/dev/null || DOVECOT_INTERNAL_GROUP=nogroup
  id dovenull >/dev/null 2>&1 || DOVECOT_LOGIN_USER=nobody
  for e in "${PORTS[@]}"; do export "PORT_${e%%:*}=$(port_of "${e#*:}")"; done

  make_tls

  # Users and secrets, fresh on every start.
  local alice_pw bob_pw carol_pw carol_hash pop_pw token
  alice_pw="a-$(rand 12)"; bob_pw="b-$(rand 12)"; carol_pw="c-$(rand 12)"; pop_pw="p-$(rand 12)"; token="ya29.$(rand 24)"
  # carol's password is stored only as a hash: SCRAM and CRAM-MD5 cannot work
  # for her, PLAIN and LOGIN can (tests the client's mechanism fallback).
  carol_hash=$(doveadm pw -s SHA512-CRYPT -p "$carol_pw") || die "doveadm pw failed"
  # popper: a POP3 mailbox (maildir $STATE/mail/popper) that Postfix does not deliver to; tests put mail in it.
  printf 'alice@smtpsend.test:{PLAIN}%s\nbob@smtpsend.test:{PLAIN}%s\ncarol@smtpsend.test:%s\npopper@smtpsend.test:{PLAIN}%s\n' \
    "$alice_pw" "$bob_pw" "$carol_hash" "$pop_pw" >"$STATE/dovecot/users"
  chgrp "$DOVECOT_INTERNAL_GROUP" "$STATE/dovecot/users"; chmod 0640 "$STATE/dovecot/users"
  local u
  : >"$PF_CONF/vmailbox"
  for u in user alice bob postmaster; do
    printf '%s@smtpsend.test %s/\n%s@localhost %s/\n' "$u" "$u" "$u" "$u" >>"$PF_CONF/vmailbox"
    mkdir -p "$STATE/mail/$u"/{new,cur,tmp}
  done
  mkdir -p "$STATE/mail/popper"/{new,cur,tmp}
  chown -R "$MAIL_UID:$MAIL_GID" "$STATE/mail" "$STATE/sink" "$STATE/oauth"

  # Dovecot (SASL only). Start it first so the auth socket exists before Postfix answers.
  mkdir -p "$STATE/postfix/queue/private"
  chown postfix "$STATE/postfix/queue/private" "$STATE/postfix/data"
  chmod 0700 "$STATE/postfix/queue/private" "$STATE/postfix/data"
  render "$FIX/dovecot.conf.in" "$DC_CONF"
  # (stdio away from the caller's: the daemons must not hold a pipe such as `start | tee` open)
  dovecot -c "$DC_CONF" </dev/null >>"$STATE/log/dovecot-start.log" 2>&1 \
    || { tail -n 20 "$STATE/log/dovecot-start.log" "$STATE/log/dovecot.log" >&2 || true; die "dovecot failed to start"; }

  # Postfix.
  render "$FIX/main.cf.in" "$PF_CONF/main.cf"
  render "$FIX/master.cf.in" "$PF_CONF/master.cf"
  : >"$STATE/log/postfix.log"
  # Postfix re-reads a config or texthash file until its mtime is in the past
  # (~2 s of waiting for files written just now): backdate them.
  touch -d '-1 minute' "$PF_CONF"/*
  postfix -c "$PF_CONF" start </dev/null >>"$STATE/log/postfix-start.log" 2>&1 \
    || { tail -n 20 "$STATE/log/postfix-start.log" "$STATE/log/postfix.log" >&2 || true; die "postfix failed to start"; }

  # smtp-sink instances (root must name a user to switch to: -u).
  mkdir -p "$STATE/sink/dump"; chown "$MAIL_UID:$MAIL_GID" "$STATE/sink/dump"
  local r flags
  for e in "${SINKS[@]}"; do
    name=${e%%:*}; r=${e#*:}; off=${r%%:*}; flags=${r#*:}; port=$(port_of "$off")
    local args=(-4 -u "$mail_user" -h sink.smtpsend.test)
    local words=()
    if [[ "$flags" == *" -B "* ]]; then # -B takes a multi-word reply text: keep it whole
      read -r -a words <<<"${flags%% -B *}"
      words+=(-B "${flags#* -B }")
    else
      read -r -a words <<<"$flags"
    fi
    args+=("${words[@]}")
    [ "$name" = SINK ] && args+=(-d "$STATE/sink/dump/%Y%m%d%H%M%S.")
    start_bg "$(tr A-Z a-z <<<"$name")" "127.0.0.1:$port" "$STATE/log/$(tr A-Z a-z <<<"$name").log" \
      smtp-sink "${args[@]}" "127.0.0.1:$port" 64
    export "PORT_${name}=$port"
  done

  # aiosmtpd OAuth server, unprivileged.
  [ -x "$PYTHON" ] && "$PYTHON" -c 'import aiosmtpd' 2>/dev/null || die "$PYTHON cannot import aiosmtpd (apt-get install python3-aiosmtpd)"
  start_bg oauth "oauth_smtpd.py" "$STATE/log/oauth.log" \
    env OAUTH_TOKEN="$token" setpriv --reuid "$MAIL_UID" --regid "$MAIL_GID" --clear-groups \
    "$PYTHON" -u "$FIX/oauth_smtpd.py" --port "$PORT_OAUTH" --tls-port "$PORT_OAUTH_TLS" \
    --cert "$TLS/localhost.pem" --key "$TLS/localhost.key" --user alice@smtpsend.test \
    --spool "$STATE/oauth/messages"

  # --- Exim, from the unpacked .deb, with its own config; no mount namespace is needed:
  # exim_path in the config replaces the compiled-in /usr/sbin/exim4 for its re-execs, and
  # every other compiled-in path (spool, log, pid) is set in the config or by -oP. Started
  # by root with -C (a non-root caller would make it drop privilege), in the foreground
  # (-bdf) so the pid machinery above can stop it. It runs as the mail user (exim_user).
  for e in "${EXIM_PORTS[@]}"; do export "PORT_${e%%:*}=$(port_of "${e#*:}")"; done
  export EXIM_BIN EXIM_RUN_USER="$mail_user" EXIM_RUN_GROUP
  EXIM_RUN_GROUP=$(id -gn "$mail_user")
  export EXIM_AUTH_USER=exim-user@smtpsend.test EXIM_AUTH_PASSWORD
  EXIM_AUTH_PASSWORD="e-$(rand 12)"
  mkdir -p "$STATE/exim/spool" "$STATE/exim/mail"
  for u in user alice bob postmaster; do mkdir -p "$STATE/exim/mail/$u"/{new,cur,tmp}; done
  : >"$STATE/log/exim-main.log"; : >"$STATE/log/exim-reject.log"; : >"$STATE/log/exim-panic.log"
  chown -R "$MAIL_UID:$MAIL_GID" "$STATE/exim/spool" "$STATE/exim/mail" "$STATE"/log/exim-*.log
  render "$FIX/exim.conf.in" "$STATE/exim/exim.conf" # root-owned, 0644: Exim refuses a config others can write
  "$EXIM_BIN" -C "$STATE/exim/exim.conf" -bV >"$STATE/log/exim-start.log" 2>&1 \
    || { cat "$STATE/log/exim-start.log" >&2; do_stop; die "Exim rejects its config (see above)"; }
  start_bg exim "$STATE/exim/exim.conf" "$STATE/log/exim-start.log" \
    "$EXIM_BIN" -C "$STATE/exim/exim.conf" -bdf -oP "$STATE/exim/exim.pid"
  # --- end Exim

  # Wait for every port and the Dovecot auth socket; probe each port until it
  # answers (one "lost connection after CONNECT" line per port in the logs).
  # A background server that has exited fails the start at once.
  local deadline=$((SECONDS + 20)) pending=() still dead=() logs=()
  for port in $(all_ports); do pending+=("$port"); done
  pending+=(dovecot-auth)
  while :; do
    still=()
    for port in "${pending[@]}"; do
      if [ "$port" = dovecot-auth ]; then
        [ -S "$STATE/postfix/queue/private/auth" ] || still+=("$port")
      else
        answers "$port" || still+=("$port")
      fi
    done
    pending=("${still[@]}")
    [ ${#pending[@]} -eq 0 ] && break
    dead=()
    for f in "$STATE"/pids/*.pid; do
      [ -e "$f" ] && ! alive "$(tr -dc 0-9 <"$f")" && dead+=("$(basename "$f" .pid)")
    done
    if [ ${#dead[@]} -gt 0 ] || [ $SECONDS -ge $deadline ]; then
      [ ${#dead[@]} -gt 0 ] && log "exited: ${dead[*]}"
      log "not answering: ${pending[*]}"
      # The logs of what failed: postfix/dovecot for their ports, else the server's own log.
      logs=()
      for port in "${pending[@]}"; do
        case $port in
          dovecot-auth) logs+=(dovecot-start dovecot) ;;
          *) off=$((port - BASE))
             if [ "$off" -eq 50 ]; then logs+=(dovecot-start dovecot)
             elif [ "$off" -lt 8 ] || [ "$off" -gt 50 ]; then logs+=(postfix-start postfix)
             elif [ "$off" -lt 10 ]; then logs+=(oauth)
             elif [ "$off" -ge 40 ] && [ "$off" -lt 50 ]; then logs+=(exim-start exim-main exim-panic)
             else for e in "${SINKS[@]}"; do r=${e#*:}; [ "${r%%:*}" = "$off" ] && logs+=("$(tr A-Z a-z <<<"${e%%:*}")"); done
             fi ;;
        esac
      done
      for name in $(printf '%s\n' "${logs[@]}" "${dead[@]}" | awk '!seen[$0]++'); do
        f="$STATE/log/$name.log"
        [ -s "$f" ] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }
      done
      do_stop
      die "test servers did not come up (state and logs kept in $STATE)"
    fi
    sleep 0.05
  done

  # The env file for tests (KEY=value, sourced by scripts/test.sh).
  {
    echo "# smtpsend interop test servers, written by scripts/test-servers.sh start on $(date -u +%FT%TZ)"
    echo "# All servers listen on 127.0.0.1 only. See tests/fixtures/servers/README.md."
    echo "SMTPSEND_TEST_DIR=$STATE"
    echo "SMTPSEND_TEST_HOST=127.0.0.1"
    echo "SMTPSEND_TEST_DOMAIN=smtpsend.test"
    echo "# Postfix: PLAIN no TLS/no AUTH, relay from 127/8 | STARTTLS optional TLS, no AUTH"
    echo "# SUBMISSION STARTTLS required + SASL required | SUBMISSIONS implicit TLS + SASL"
    echo "# WRONGNAME STARTTLS, cert for other.example | UNKNOWNCA STARTTLS, localhost cert from an unknown CA"
    echo "# CLEARAUTH AUTH offered without TLS | CLIENTCERT STARTTLS + client cert from the test CA required"
    echo "# NO8BIT as PLAIN without 8BITMIME, SMTPUTF8, CHUNKING | SMALL as PLAIN with a 100000-octet message_size_limit"
    echo "# SMALL_NOSIZE as SMALL, but EHLO does not advertise SIZE (the limit shows only as a 552 mid-message)"
    echo "# aiosmtpd: OAUTH STARTTLS then AUTH XOAUTH2 OAUTHBEARER | OAUTH_TLS the same over implicit TLS"
    echo "# Dovecot: POP3 cleartext POP3 (USER/PASS), mailbox POP3_USER = maildir POP3_MAILDIR"
    for e in "${PORTS[@]}"; do name=${e%%:*}; echo "SMTPSEND_TEST_${name}_PORT=$(port_of "${e#*:}")"; done
    echo "# smtp-sink fault ports (flags in brackets; DELAY=${DELAY}s)"
    for e in "${SINKS[@]}"; do
      name=${e%%:*}; r=${e#*:}; off=${r%%:*}; flags=${r#*:}
      echo "# ${name}: [${flags:-none}]"
      echo "SMTPSEND_TEST_${name}_PORT=$(port_of "$off")"
    done
    echo "SMTPSEND_TEST_SINK_DELAY=$DELAY"
    echo "SMTPSEND_TEST_SINK_DUMP_DIR=$STATE/sink/dump"
    echo "SMTPSEND_TEST_CA=$TLS/ca.pem"
    echo "SMTPSEND_TEST_UNKNOWN_CA=$TLS/unknown-ca.pem"
    echo "SMTPSEND_TEST_CLIENT_CERT=$TLS/client.pem"
    echo "SMTPSEND_TEST_CLIENT_KEY=$TLS/client.key"
    echo "SMTPSEND_TEST_TLS_NAME=localhost"
    echo "SMTPSEND_TEST_WRONG_TLS_NAME=other.example"
    echo "SMTPSEND_TEST_MAILDIR=$STATE/mail/user"
    echo "SMTPSEND_TEST_MAIL_BASE=$STATE/mail"
    echo "SMTPSEND_TEST_USER=alice@smtpsend.test"
    echo "SMTPSEND_TEST_PASSWORD=$alice_pw"
    echo "SMTPSEND_TEST_USER2=bob@smtpsend.test"
    echo "SMTPSEND_TEST_PASSWORD2=$bob_pw"
    echo "SMTPSEND_TEST_USER3=carol@smtpsend.test"
    echo "SMTPSEND_TEST_PASSWORD3=$carol_pw"
    echo "SMTPSEND_TEST_SASL_MECHANISMS=PLAIN,LOGIN,CRAM-MD5,SCRAM-SHA-1,SCRAM-SHA-256"
    echo "SMTPSEND_TEST_POP3_USER=popper@smtpsend.test"
    echo "SMTPSEND_TEST_POP3_PASSWORD=$pop_pw"
    echo "SMTPSEND_TEST_POP3_MAILDIR=$STATE/mail/popper"
    echo "SMTPSEND_TEST_OAUTH_USER=alice@smtpsend.test"
    echo "SMTPSEND_TEST_OAUTH_TOKEN=$token"
    echo "SMTPSEND_TEST_OAUTH_SPOOL=$STATE/oauth/messages"
    echo "# Exim 4.96 (Debian exim4-daemon-heavy, GnuTLS): EXIM STARTTLS optional, AUTH only after it"
    echo "# EXIM_TLS implicit TLS + AUTH required | EXIM_SMALL as EXIM with message_size_limit 64K"
    echo "# AUTH PLAIN LOGIN NTLM (spa) for EXIM_USER; CHUNKING everywhere; mailboxes EXIM_MAIL_BASE/<local-part>/"
    for e in "${EXIM_PORTS[@]}"; do name=${e%%:*}; echo "SMTPSEND_TEST_${name}_PORT=$(port_of "${e#*:}")"; done
    echo "SMTPSEND_TEST_EXIM_USER=$EXIM_AUTH_USER"
    echo "SMTPSEND_TEST_EXIM_PASSWORD=$EXIM_AUTH_PASSWORD"
    echo "SMTPSEND_TEST_EXIM_SIZE_LIMIT=$EXIM_SIZE_LIMIT"
    echo "SMTPSEND_TEST_EXIM_MAIL_BASE=$STATE/exim/mail"
    echo "SMTPSEND_TEST_EXIM_LOG=$STATE/log/exim-main.log"
  } >"$STATE/env.tmp"
  chmod 0644 "$STATE/env.tmp"; mv "$STATE/env.tmp" "$STATE/env"
  log "up in $((SECONDS - t0)) s: postfix $PORT_PLAIN-$PORT_CLIENTCERT, oauth $PORT_OAUTH/$PORT_OAUTH_TLS, pop3 $PORT_POP3, smtp-sink $(port_of 20)-$(port_of 38), exim $PORT_EXIM-$PORT_EXIM_SMALL; env: $STATE/env"
}

do_status() { # ports as written in the env file (else as computed from the base)
  local name port rc=0
  if [ -f "$STATE/env" ]; then
    while IFS='=' read -r name port; do
      case "$name" in SMTPSEND_TEST_*_PORT) ;; *) continue ;; esac
      name=${name#SMTPSEND_TEST_}
      if answers "$port"; then echo "$port up   ${name%_PORT}"; else echo "$port DOWN ${name%_PORT}"; rc=1; fi
    done <"$STATE/env"
  else
    for port in $(all_ports); do
      if answers "$port"; then echo "$port up"; else echo "$port DOWN"; rc=1; fi
    done
  fi
  return $rc
}

case "${1:-}" in
  start) do_start ;;
  stop) do_stop; log "stopped" ;;
  status) do_status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
