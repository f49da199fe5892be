#!/usr/bin/env bash
# A real single-node Apache Kafka broker (KRaft: one JVM is both broker and
# controller) on 127.0.0.1, for weft's tests and demos.
#
#   scripts/kafka.sh start DIR            start a broker whose state lives in
#                                         DIR; prints "127.0.0.1:PORT" (the
#                                         bootstrap address) as the one line
#                                         on stdout once it answers metadata
#   scripts/kafka.sh stop DIR [--clean]   stop it (SIGTERM, after 20 s
#                                         SIGKILL); idempotent; --clean also
#                                         removes DIR
#   scripts/kafka.sh bootstrap DIR        print the address of the running
#                                         broker in DIR
#   scripts/kafka.sh topic DIR NAME PARTITIONS
#                                         create a topic (replication 1) and
#                                         wait until every partition has a
#                                         leader
#   scripts/kafka.sh fetch                only download the jars (warm cache)
#   scripts/kafka.sh kill DIR             crash the broker: SIGKILL at once,
#                                         no clean shutdown; keeps DIR (its
#                                         data and ports); idempotent
#   scripts/kafka.sh restart DIR          start DIR's broker again on the
#                                         same ports with the same data
#                                         (stopping it first if it runs);
#                                         prints "127.0.0.1:PORT" once every
#                                         partition has a leader again
#   scripts/kafka.sh offsets DIR GROUP    the group's committed offsets, one
#                                         "TOPIC PARTITION OFFSET END" line
#                                         per partition (OFFSET - if none)
#
# e.g.  bs=$(scripts/kafka.sh start /tmp/k) && scripts/kafka.sh topic /tmp/k spans 3
#       ... kcat -b "$bs" ... ; scripts/kafka.sh stop /tmp/k --clean
#
# The broker runs from jars that Maven fetches from Maven Central
# (scripts/kafka/pom.xml, dependency:copy-dependencies) into a cache,
#   ${WEFT_KAFKA_CACHE:-$HOME/.cache/weft-kafka/<version>/libs},
# so only the first start needs the network. Installs what is missing with
# apt-get (default-jre-headless maven kcat; sudo when not root).
#
# DIR holds server.properties, log4j2*.properties, data/ (the log dirs),
# format.log (the storage tool's output),
# broker.log (the JVM's output), kafka.pid and port (the broker port;
# controller.port has the controller's). Only stdout (the one line of
# `start`, `restart` and `bootstrap`, the lines of `offsets`) is meant for
# callers; every message goes to stderr.
#
# Environment:
#   WEFT_KAFKA_VERSION    Kafka version (default: KAFKA_VERSION below; 4.x,
#                         needs Java 17+)
#   WEFT_KAFKA_CACHE      the jar directory (default above)
#   WEFT_KAFKA_JVM_OPTS   replaces the broker's JVM options
#   WEFT_KAFKA_TIMEOUT    seconds `start` waits for the broker (default 90)
set -euo pipefail

KAFKA_VERSION=${WEFT_KAFKA_VERSION:-4.3.1}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
POM="$HERE/kafka/pom.xml"
LIBS=${WEFT_KAFKA_CACHE:-$HOME/.cache/weft-kafka/$KAFKA_VERSION/libs}
START_TIMEOUT=${WEFT_KAFKA_TIMEOUT:-90}

# Small and quick to start: serial GC, C1 only (these are tests, not
# benchmarks of Kafka itself).
BROKER_JVM_OPTS=${WEFT_KAFKA_JVM_OPTS:--Xmx512m -Xms256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xss512k -XX:MaxMetaspaceSize=192m -Djava.awt.headless=true}
TOOL_JVM_OPTS="-Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true"

MAIN_BROKER=kafka.Kafka
MAIN_STORAGE=kafka.tools.StorageTool
MAIN_TOPIC=org.apache.kafka.tools.TopicCommand

log() { echo "kafka.sh: $*" >&2; }
die() { log "$*"; exit 1; }

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
}

# ---------------------------------------------------------------- packages --

# Installs the Debian packages behind the named commands when a command is
# missing: java -> default-jre-headless, mvn -> maven, kcat -> kcat.
# Quiet (and no apt-get at all) when everything is there.
ensure_cmds() {
  local c missing=()
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 && continue
    case $c in
      java) missing+=(default-jre-headless) ;;
      mvn)  missing+=(maven) ;;
      kcat) missing+=(kcat) ;;
      *)    die "unknown command $c" ;;
    esac
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 ||
      die "need root or sudo to install: ${missing[*]}"
    sudo=(sudo)
  fi
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq >&2
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || die "$c still missing after apt-get"
  done
}

# Kafka 4.x brokers need Java 17 or later.
check_java() {
  local v
  v=$(java -XX:-UsePerfData -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
  [ -n "$v" ] && [ "$v" -ge 17 ] ||
    die "Kafka $KAFKA_VERSION needs Java 17 or later (java -version says '${v:-?}')"
}

# -------------------------------------------------------------------- jars --

pom_stamp() { echo "$KAFKA_VERSION $(sha256sum "$POM" | cut -d' ' -f1)"; }

jars_ready() { [ -f "$LIBS/.complete" ] && [ "$(cat "$LIBS/.complete")" = "$(pom_stamp)" ]; }

# Copies the jars into $LIBS unless they are there already (for this version
# and this pom). Downloads into a fresh directory beside it and renames, under
# a lock, so concurrent starts and interrupted downloads are harmless.
fetch_jars() {
  jars_ready && return 0
  ensure_cmds mvn
  local parent; parent=$(dirname "$LIBS")
  mkdir -p "$parent"
  exec 9>"$parent/.lock"
  flock 9
  if ! jars_ready; then
    log "fetching Kafka $KAFKA_VERSION jars from Maven Central into $LIBS"
    local tmp; tmp=$(mktemp -d "$parent/.libs.XXXXXX")
    # Debian's Maven 3.8 writes bare ANSI resets even with -B -q; keep its
    # output and show it (cleaned) only when it fails.
    if ! mvn -B -q -ntp -Dstyle.color=never -f "$POM" \
         dependency:copy-dependencies -DincludeScope=runtime \
         -Dkafka.version="$KAFKA_VERSION" -DoutputDirectory="$tmp" \
         </dev/null >"$tmp.mvn.log" 2>&1; then
      sed 's/\x1b\[[0-9;]*m//g' "$tmp.mvn.log" >&2
      rm -rf "$tmp" "$tmp.mvn.log"
      die "mvn could not fetch the Kafka $KAFKA_VERSION jars"
    fi
    rm -f "$tmp.mvn.log"
    [ -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" ] || { rm -rf "$tmp"; die "no kafka_2.13-$KAFKA_VERSION.jar after mvn"; }
    pom_stamp >"$tmp/.complete"
    rm -rf "$LIBS"
    mv "$tmp" "$LIBS"
  fi
  flock -u 9
  exec 9>&-
}

# ------------------------------------------------------------------ helpers --

abs_dir() { mkdir -p "$1" && (cd "$1" && pwd); }

# Every TCP port in use on this machine (any state, v4 and v6), one a line.
ports_in_use() {
  cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
    awk 'NR > 0 && $2 ~ /:/ { split($2, a, ":"); print a[2] }' |
    while read -r h; do echo $((16#$h)); done
}

# A random loopback port that nothing uses now, below the ephemeral range
# (so that no outgoing connection grabs it before the broker binds), and not
# one of the ports given.
free_port() {
  local used p i
  used=" $(ports_in_use | tr '\n' ' ') $* "
  for i in $(seq 200); do
    p=$((20000 + (RANDOM * 32768 + RANDOM) % 12000))
    case $used in *" $p "*) continue ;; esac
    echo "$p"; return 0
  done
  die "no free port found"
}

# Kafka's cluster ids are 16 random bytes in URL-safe base64 without padding
# (22 characters); avoid a leading '-' that would read as an option.
cluster_id() {
  local id
  while :; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    case $id in -*) ;; *) echo "$id"; return ;; esac
  done
}

pid_of() { # DIR -> pid of its live broker JVM, or nothing (status 1)
  local pid
  [ -f "$1/kafka.pid" ] || return 1
  pid=$(cat "$1/kafka.pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  # The pid must still be this DIR's broker, not a reused pid.
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$1/server.properties" || return 1
  echo "$pid"
}

kill_jvm() { # DIR grace_seconds
  local pid i
  pid=$(pid_of "$1") || { rm -f "$1/kafka.pid"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < $2 * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "broker pid $pid still there after $2 s; SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$1/kafka.pid"
}

java_tool() { # DIR main args...
  local dir=$1 main=$2; shift 2
  java $TOOL_JVM_OPTS -Dlog4j2.configurationFile="$dir/log4j2-tools.properties" \
    -cp "$LIBS/*" "$main" "$@" </dev/null
}

write_log4j() { # file target(SYSTEM_OUT|SYSTEM_ERR) root-level
  cat >"$1" <<EOF
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.target = $2
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = $3
rootLogger.appenderRef.out.ref = OUT
logger.state.name = state.change.logger
logger.state.level = warn
logger.request.name = kafka.request.logger
logger.request.level = warn
EOF
}

# group.initial.rebalance.delay.ms: a new group's first rebalance waits
# this long for more members (Kafka's default is 3000). At 0, one of weft
# serve's per-worker consumers could complete the join alone and take
# every partition, and the next one's join a moment later revoked them a
# heartbeat (3 s) later: serve_kafka's part A then read its dead letters
# twice (CI, ASan stage, 2026-12-07). 300 ms keeps a fresh group quick.
write_properties() { # DIR port controller_port
  cat >"$1/server.properties" <<EOF
# Written by scripts/kafka.sh: a single-node KRaft broker on 127.0.0.1.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$3
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://127.0.0.1:$2,CONTROLLER://127.0.0.1:$3
advertised.listeners=PLAINTEXT://127.0.0.1:$2
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$1/data
metadata.log.dir=$1/data
num.partitions=1
default.replication.factor=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=300
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
background.threads=2
log.segment.bytes=16777216
log.retention.hours=24
log.retention.check.interval.ms=60000
EOF
}

# ---------------------------------------------------------------- commands --

START_DIR=""
START_OK=0
on_start_exit() {
  local rc=$?
  if [ "$START_OK" -ne 1 ] && [ -n "$START_DIR" ]; then
    if [ -f "$START_DIR/broker.log" ]; then
      log "broker did not start; last 40 lines of $START_DIR/broker.log:"
      tail -n 40 "$START_DIR/broker.log" >&2 || true
    fi
    kill_jvm "$START_DIR" 3
    [ $rc -ne 0 ] || rc=1
  fi
  exit $rc
}

# Starts the JVM on fresh ports (or on PORT and CPORT, as `restart` does)
# and waits until it answers metadata. Sets RETRY=1 when it died because one
# of its ports was taken meanwhile (the caller then tries other ports, or
# the same ones again); dies on any other failure.
RETRY=0
start_once() { # DIR [PORT CPORT]
  local dir=$1 port cport deadline out pid i
  RETRY=0
  if [ $# -eq 3 ]; then
    port=$2 cport=$3
  else
    port=$(free_port)
    cport=$(free_port "$port")
  fi
  write_properties "$dir" "$port" "$cport"
  echo "$port" >"$dir/port"
  echo "$cport" >"$dir/controller.port"

  if [ ! -f "$dir/data/meta.properties" ]; then
    if ! java_tool "$dir" "$MAIN_STORAGE" format --config "$dir/server.properties" \
         --cluster-id "$(cluster_id)" >"$dir/format.log" 2>&1; then
      cat "$dir/format.log" >&2
      die "formatting $dir/data failed"
    fi
  fi

  # The JVM gets its own session (no terminal signals) and none of our
  # stdout, so that $(kafka.sh start DIR) returns once we do.
  : >"$dir/broker.log"
  rm -f "$dir/kafka.pid"
  # shellcheck disable=SC2086
  (cd "$dir" && exec setsid bash -c 'echo $$ >kafka.pid; exec "$@"' kafka \
     java $BROKER_JVM_OPTS -Dlog4j2.configurationFile="$dir/log4j2.properties" \
       -cp "$LIBS/*" "$MAIN_BROKER" "$dir/server.properties" \
     </dev/null >>"$dir/broker.log" 2>&1 &)
  for ((i = 0; i < 100; i++)); do
    [ -s "$dir/kafka.pid" ] && break
    sleep 0.05
  done

  deadline=$((SECONDS + START_TIMEOUT))
  while :; do
    if ! pid=$(pid_of "$dir"); then
      if grep -q "Address already in use" "$dir/broker.log"; then
        log "port $port or $cport was taken meanwhile; trying other ports"
        rm -f "$dir/kafka.pid"
        RETRY=1
        return 0
      fi
      die "broker JVM exited"
    fi
    # kcat waits its whole -m timeout on a refused connection, so ask it
    # only once the listener accepts (it opens last, when the broker runs).
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      out=$(kcat -b "127.0.0.1:$port" -L -t __weft_probe -m 2 2>/dev/null) || out=""
      case $out in *"broker 1 at 127.0.0.1:$port"*) return 0 ;; esac
    fi
    [ $SECONDS -lt "$deadline" ] ||
      die "broker did not answer a metadata request within $START_TIMEOUT s"
    sleep 0.1
  done
}

cmd_start() {
  [ $# -eq 1 ] || usage
  ensure_cmds java kcat
  check_java
  fetch_jars
  local dir attempt
  dir=$(abs_dir "$1")
  if pid_of "$dir" >/dev/null; then
    die "a broker is already running in $dir ($(cmd_bootstrap "$dir")); stop it first"
  fi
  START_DIR=$dir
  trap on_start_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  mkdir -p "$dir/data"
  write_log4j "$dir/log4j2.properties" SYSTEM_OUT info
  write_log4j "$dir/log4j2-tools.properties" SYSTEM_ERR warn
  SECONDS=0
  for attempt in 1 2 3; do
    start_once "$dir"
    [ "$RETRY" -eq 0 ] || continue
    START_OK=1
    log "broker up in $dir (pid $(cat "$dir/kafka.pid"), ${SECONDS}s)"
    echo "127.0.0.1:$(cat "$dir/port")"
    return 0
  done
  die "could not bind free ports in 3 attempts"
}

cmd_kill() {
  [ $# -eq 1 ] || usage
  local dir pid i
  [ -d "$1" ] || return 0
  dir=$(cd "$1" && pwd)
  if pid=$(pid_of "$dir"); then
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    log "broker pid $pid in $dir killed (SIGKILL)"
  fi
  rm -f "$dir/kafka.pid"
}

# Waits (up to 60 s) until every partition of every topic has a leader:
# after a crash the broker answers metadata before its logs are recovered.
wait_leaders() { # bootstrap
  local deadline=$((SECONDS + 60)) out
  while :; do
    out=$(kcat -b "$1" -L -m 2 2>/dev/null) || out=""
    if grep -q "broker 1 at $1" <<<"$out" && ! grep -qE 'leader -1|Broker: |err: ' <<<"$out"; then
      return 0
    fi
    [ $SECONDS -lt "$deadline" ] ||
      die "partitions without leaders 60 s after the restart: $(grep -E 'leader -1|Broker: |err: ' <<<"$out" | head -3)"
    sleep 0.2
  done
}

cmd_restart() {
  [ $# -eq 1 ] || usage
  ensure_cmds java kcat
  check_java
  fetch_jars
  local dir port cport attempt
  [ -d "$1" ] || die "no broker directory $1"
  dir=$(cd "$1" && pwd)
  [ -f "$dir/data/meta.properties" ] && [ -f "$dir/port" ] && [ -f "$dir/controller.port" ] ||
    die "no broker was started in $dir (use start)"
  port=$(cat "$dir/port")
  cport=$(cat "$dir/controller.port")
  kill_jvm "$dir" 20
  START_DIR=$dir
  trap on_start_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  SECONDS=0
  # the previous run's log, for whoever looks into an outage
  [ ! -f "$dir/broker.log" ] || cat "$dir/broker.log" >>"$dir/broker.log.before-restart"
  # The same ports: the old JVM's sockets may hold them for a moment.
  for attempt in $(seq 1 20); do
    start_once "$dir" "$port" "$cport"
    [ "$RETRY" -eq 0 ] && break
    [ "$attempt" -lt 20 ] || die "ports $port and $cport stay taken"
    sleep 1
  done
  wait_leaders "127.0.0.1:$port"
  START_OK=1
  log "broker restarted in $dir (pid $(cat "$dir/kafka.pid"), ${SECONDS}s)"
  echo "127.0.0.1:$port"
}

cmd_offsets() {
  [ $# -eq 2 ] || usage
  local dir bs out
  dir=$(cd "$1" 2>/dev/null && pwd) || die "no broker directory $1"
  bs=$(cmd_bootstrap "$dir")
  jars_ready || die "no Kafka jars in $LIBS (run: scripts/kafka.sh fetch)"
  out=$(java_tool "$dir" org.apache.kafka.tools.consumer.group.ConsumerGroupCommand \
          --bootstrap-server "$bs" --describe --group "$2" 2>&1) ||
    die "describing group $2 failed: $out"
  # GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG ...
  awk -v g="$2" '$1 == g && $3 ~ /^[0-9]+$/ { print $2, $3, $4, $5 }' <<<"$out"
}

cmd_stop() {
  local dir="" clean=0 a
  for a in "$@"; do
    case $a in
      --clean) clean=1 ;;
      -*) usage ;;
      *) [ -z "$dir" ] || usage; dir=$a ;;
    esac
  done
  [ -n "$dir" ] || usage
  if [ -d "$dir" ]; then
    dir=$(cd "$dir" && pwd)
    kill_jvm "$dir" 20
    [ $clean -eq 0 ] || rm -rf "$dir"
  fi
  return 0
}

cmd_bootstrap() {
  [ $# -eq 1 ] || usage
  local dir
  [ -d "$1" ] || die "no broker directory $1"
  dir=$(cd "$1" && pwd)
  pid_of "$dir" >/dev/null || die "no broker running in $dir"
  echo "127.0.0.1:$(cat "$dir/port")"
}

cmd_topic() {
  [ $# -eq 3 ] || usage
  local dir name=$2 parts=$3 bs deadline out n
  [[ $parts =~ ^[1-9][0-9]*$ ]] || die "PARTITIONS must be a positive number"
  ensure_cmds java kcat
  dir=$(cd "$1" 2>/dev/null && pwd) || die "no broker directory $1"
  bs=$(cmd_bootstrap "$dir")
  jars_ready || die "no Kafka jars in $LIBS (run: scripts/kafka.sh fetch)"
  java_tool "$dir" "$MAIN_TOPIC" --bootstrap-server "$bs" --create \
    --if-not-exists --topic "$name" --partitions "$parts" \
    --replication-factor 1 >&2 || die "creating topic $name failed"
  deadline=$((SECONDS + 30))
  while :; do
    out=$(kcat -b "$bs" -L -t "$name" -m 2 2>/dev/null) || out=""
    n=$(grep -cE '^ *partition [0-9]+, leader [0-9]+,' <<<"$out" || true)
    if [ "$n" -ge "$parts" ] && ! grep -qE 'leader -1|Broker: ' <<<"$out"; then
      log "topic $name: $n partitions with leaders"
      return 0
    fi
    [ $SECONDS -lt "$deadline" ] ||
      die "topic $name: partitions without leaders after 30 s: $out"
    sleep 0.2
  done
}

cmd_fetch() {
  [ $# -eq 0 ] || usage
  ensure_cmds java
  fetch_jars
  log "Kafka $KAFKA_VERSION jars in $LIBS"
}

[ $# -ge 1 ] || usage
cmd=$1; shift
case $cmd in
  start)     cmd_start "$@" ;;
  stop)      cmd_stop "$@" ;;
  bootstrap) cmd_bootstrap "$@" ;;
  topic)     cmd_topic "$@" ;;
  fetch)     cmd_fetch "$@" ;;
  kill)      cmd_kill "$@" ;;
  restart)   cmd_restart "$@" ;;
  offsets)   cmd_offsets "$@" ;;
  -h|--help|help) usage ;;
  *) usage ;;
esac
