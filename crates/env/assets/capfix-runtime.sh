#!/bin/sh
# inferbench capfix: an OCI runtime wrapper for hosts whose capability
# bounding set is smaller than the list of capabilities the container engine
# asks for (seen on Firecracker VMs lacking CAP_SYS_RESOURCE, where every
# `docker run --privileged` fails with "unable to apply caps").
#
# For `create`/`run` it edits the bundle's config.json and for `exec` the
# --process file, keeping only capabilities that this host's bounding set
# holds; then it hands every argument unchanged to the real runc.
# Installed by harness::docker::ensure_engine only when that failure is seen.
set -eu

RUNC="${INFERBENCH_CAPFIX_RUNC:-@RUNC@}"
JQ="${INFERBENCH_CAPFIX_JQ:-@JQ@}"

# Capability names by bit number (linux/capability.h).
NAMES="CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF CHECKPOINT_RESTORE"

allowed_json() {
    bnd_hex=$(sed -n 's/^CapBnd:[[:space:]]*//p' /proc/self/status)
    bnd=$((0x$bnd_hex))
    i=0
    out=""
    for n in $NAMES; do
        if [ $(((bnd >> i) & 1)) -eq 1 ]; then
            out="$out\"CAP_$n\","
        fi
        i=$((i + 1))
    done
    echo "[${out%,}]"
}

# filter_file FILE PATH: keep only allowed capabilities under jq PATH.
filter_file() {
    file=$1
    path=$2
    [ -f "$file" ] || return 0
    tmp="$file.capfix.$$"
    "$JQ" -c --argjson allowed "$(allowed_json)" \
        "if $path then $path |= with_entries(.value |= map(select(. as \$c | \$allowed | index(\$c)))) else . end" \
        "$file" >"$tmp"
    mv "$tmp" "$file"
}

cmd=""
bundle=""
process=""
prev=""
for a in "$@"; do
    case "$prev" in
    --bundle | -b) bundle=$a ;;
    --process | -p) process=$a ;;
    esac
    case "$a" in
    --bundle=*) bundle=${a#--bundle=} ;;
    --process=*) process=${a#--process=} ;;
    create | run | exec) [ -z "$cmd" ] && cmd=$a ;;
    esac
    prev=$a
done

case "$cmd" in
create | run) filter_file "${bundle:-.}/config.json" ".process.capabilities" ;;
exec) [ -n "$process" ] && filter_file "$process" ".capabilities" ;;
esac

exec "$RUNC" "$@"
