# shellcheck shell=bash
# CPU quotas for the scripts' servers and clients, as a pod's `limits.cpu` or docker's `--cpus`
# set one: each process in a cgroup of its own with a CFS quota, not pinned. Sourced by
# scripts/go_vs_rust.sh and scripts/grpc_bench.sh (bash; the caller sets `set -euo pipefail`).
#
# Linux has two cgroup interfaces and a machine may mount both (hybrid): v2 (one `cgroup2`
# mount; a group's `cpu.max` = "QUOTA PERIOD" in µs, there only when the parent's
# `cgroup.subtree_control` hands the cpu controller on; `cpu.stat` counts `nr_periods`,
# `nr_throttled`, `throttled_usec`) and v1 (a `cgroup` mount per controller set; the cpu
# controller's `cpu.cfs_quota_us` and `cpu.cfs_period_us`; `cpu.stat` counts `nr_periods`,
# `nr_throttled` and `throttled_time` in ns). As `compare --server-cpus` does
# (crates/compare/src/run/cgroup.rs): v2 when our own group hands the cpu controller on (or lets us
# enable it), else v1's cpu controller, else a refusal naming what is missing. The mounts come
# from /proc/self/mountinfo, our group from /proc/self/cgroup; the groups are made under ours,
# named rpc-vs-rest-<script>-<pid>-<name>.
#
#   cgroup_init SCRIPT          find the interface (or print why not, return 1)
#   cgroup_create VAR NAME CPUS make a group with a quota of CPUS cores; its directory in $VAR
#   "${CGROUP_ENTER[@]}" GROUP COMMAND ARGS...
#                               runs COMMAND inside GROUP from its first instruction (the shell
#                               joins, then execs: the pid stays the command's, so `$!` after
#                               `&` is the command's own)
#   cgroup_stat GROUP           prints "PERIODS THROTTLED_PERIODS THROTTLED_US" so far
#   cgroup_remove GROUP         removes a group, once its processes are gone (waits up to 5 s,
#                               then kills what is still inside: only processes the script put
#                               there)
#   cgroup_remove_all           removes every group made

CGROUP_VERSION=""
CGROUP_HOME=""
CGROUP_SCRIPT=""
CGROUP_GROUPS=()
CGROUP_PERIOD_US=100000
# shellcheck disable=SC2016,SC2034 # $$ and $1 are the inner shell's; the callers use it.
CGROUP_ENTER=(sh -c 'echo $$ > "$1/cgroup.procs" || { echo "cannot join the cgroup $1" >&2; exit 125; }; shift; exec "$@"' cgroup-enter)

# A comma-separated list holds a token.
cgroup_has_token() { [[ ",$1," == *",$2,"* ]]; }

# Our group's directory under a mount (which may show a group below the root: a container's
# view). Args: mount point, mount root, our group's path.
cgroup_home() {
    local below=$3
    [[ $2 == / ]] || below=${3#"$2"}
    below=${below#/}
    if [[ -z $below ]]; then echo "$1"; else echo "$1/$below"; fi
}

cgroup_init() {
    CGROUP_SCRIPT=$1
    local mountinfo=${CGROUP_MOUNTINFO:-/proc/self/mountinfo} line pre post root point fstype super
    local v2_point="" v2_root="" v1_point="" v1_root="" v2_own="" v1_own="" id controllers path
    local missing=() home delegated available
    [[ -r $mountinfo ]] || { echo "$CGROUP_SCRIPT: cannot read $mountinfo" >&2; return 1; }
    while IFS= read -r line; do
        pre=${line%% - *} post=${line#* - }
        read -r _ _ _ root point _ <<<"$pre"
        read -r fstype _ super <<<"$post"
        if [[ $fstype == cgroup2 && -z $v2_point ]]; then
            v2_point=$point v2_root=$root
        elif [[ $fstype == cgroup && -z $v1_point ]] && cgroup_has_token "$super" cpu; then
            v1_point=$point v1_root=$root
        fi
    done <"$mountinfo"
    while IFS=: read -r id controllers path; do
        if [[ $id == 0 && -z $controllers ]]; then v2_own=$path
        elif cgroup_has_token "$controllers" cpu; then v1_own=$path; fi
    done </proc/self/cgroup

    if [[ -z $v2_point ]]; then missing+=("v2: no cgroup2 mount")
    elif [[ -z $v2_own ]]; then missing+=("v2: /proc/self/cgroup has no v2 line (0::)")
    else
        home=$(cgroup_home "$v2_point" "$v2_root" "$v2_own")
        delegated=$(cat "$home/cgroup.subtree_control" 2>/dev/null || true)
        available=$(cat "$home/cgroup.controllers" 2>/dev/null || true)
        if ! cgroup_has_token "${delegated// /,}" cpu && cgroup_has_token "${available// /,}" cpu; then
            # Allowed at the root, or in a group without processes of its own.
            echo +cpu >"$home/cgroup.subtree_control" 2>/dev/null || true
            delegated=$(cat "$home/cgroup.subtree_control" 2>/dev/null || true)
        fi
        if cgroup_has_token "${delegated// /,}" cpu && [[ -w $home ]]; then
            CGROUP_VERSION=v2 CGROUP_HOME=$home
            return 0
        fi
        missing+=("v2: the cpu controller is not enabled for the groups under $home (its cgroup.subtree_control is \"$delegated\", cgroup.controllers \"$available\") or it is not writable")
    fi
    if [[ -z $v1_point ]]; then missing+=("v1: no cgroup mount with the cpu controller")
    elif [[ -z $v1_own ]]; then missing+=("v1: /proc/self/cgroup names no group of the cpu controller")
    else
        home=$(cgroup_home "$v1_point" "$v1_root" "$v1_own")
        if [[ -w $home && -e $home/cpu.cfs_quota_us ]]; then
            CGROUP_VERSION=v1 CGROUP_HOME=$home
            return 0
        fi
        missing+=("v1: $home is not writable or has no cpu.cfs_quota_us")
    fi
    local why
    why=$(printf '%s; ' "${missing[@]}")
    echo "$CGROUP_SCRIPT: a CPU quota needs a writable cgroup (root, usually): no cgroup v2 with the cpu controller and no v1 cpu controller that can be written (${why%; }; mounts read from $mountinfo)" >&2
    return 1
}

cgroup_create() { # var name cpus
    local var=$1 dir="$CGROUP_HOME/rpc-vs-rest-$CGROUP_SCRIPT-$$-$2" quota
    quota=$(awk -v c="$3" 'BEGIN { printf "%d", c * 100000 + 0.5 }')
    mkdir "$dir" || { echo "$CGROUP_SCRIPT: cannot make the cgroup $dir" >&2; return 1; }
    CGROUP_GROUPS+=("$dir")
    if [[ $CGROUP_VERSION == v2 ]]; then
        echo "$quota $CGROUP_PERIOD_US" >"$dir/cpu.max"
    else
        # The period first: a quota is checked against the period in force.
        echo "$CGROUP_PERIOD_US" >"$dir/cpu.cfs_period_us"
        echo "$quota" >"$dir/cpu.cfs_quota_us"
    fi
    printf -v "$var" '%s' "$dir"
}

cgroup_stat() { # group
    awk -v v="$CGROUP_VERSION" '
        $1 == "nr_periods" { p = $2 }
        $1 == "nr_throttled" { t = $2 }
        $1 == "throttled_usec" && v == "v2" { us = $2 }
        $1 == "throttled_time" && v == "v1" { us = int($2 / 1000) }
        END { print p + 0, t + 0, us + 0 }' "$1/cpu.stat"
}

# A line for the scripts' footers: where the quotas are.
cgroup_describe() {
    local file=cpu.cfs_quota_us
    [[ $CGROUP_VERSION == v2 ]] && file=cpu.max
    echo "cgroup $CGROUP_VERSION ($file) under $CGROUP_HOME"
}

# Whether a group still holds processes (cgroupfs files read as size 0: read them).
cgroup_busy() { [[ -n $(cat "$1/cgroup.procs" 2>/dev/null) ]]; }

# Removes one group made by cgroup_create, once its processes are gone.
cgroup_remove() {
    local dir=$1 pid _ kept=()
    if [[ -d $dir ]]; then
        for _ in $(seq 50); do
            cgroup_busy "$dir" || break
            sleep 0.1
        done
        if cgroup_busy "$dir"; then
            while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$dir/cgroup.procs"
            for _ in $(seq 20); do
                cgroup_busy "$dir" || break
                sleep 0.1
            done
        fi
        rmdir "$dir" 2>/dev/null || echo "$CGROUP_SCRIPT: could not remove the cgroup $dir" >&2
    fi
    for pid in "${CGROUP_GROUPS[@]}"; do [[ $pid == "$dir" ]] || kept+=("$pid"); done
    CGROUP_GROUPS=("${kept[@]}")
}

cgroup_remove_all() {
    while ((${#CGROUP_GROUPS[@]})); do cgroup_remove "${CGROUP_GROUPS[0]}"; done
}
