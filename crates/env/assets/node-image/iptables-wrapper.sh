#!/bin/sh
# inferbench iptables wrapper: installed as iptables, iptables-save,
# iptables-restore and their ip6tables twins in images that manage the node's
# rules (kube-proxy, the CNI daemon). It uses whichever backend (legacy or
# nft) already holds more rules on the node, nft when neither does, and
# remembers the choice for the life of the container.
set -eu
name=$(basename "$0")
state=/tmp/.inferbench-iptables-mode
if [ -s "$state" ]; then
    mode=$(cat "$state")
else
    count() { { "$1" 2>/dev/null || true; } | grep -c '^-' || true; }
    legacy=$(($(count iptables-legacy-save) + $(count ip6tables-legacy-save)))
    nft=$(($(count iptables-nft-save) + $(count ip6tables-nft-save)))
    if [ "$legacy" -gt "$nft" ]; then mode=legacy; else mode=nft; fi
    echo "$mode" >"$state" 2>/dev/null || true
fi
case "$name" in
iptables) exec "iptables-$mode" "$@" ;;
iptables-save) exec "iptables-$mode-save" "$@" ;;
iptables-restore) exec "iptables-$mode-restore" "$@" ;;
ip6tables) exec "ip6tables-$mode" "$@" ;;
ip6tables-save) exec "ip6tables-$mode-save" "$@" ;;
ip6tables-restore) exec "ip6tables-$mode-restore" "$@" ;;
*) echo "iptables-wrapper: unknown name $name" >&2; exit 2 ;;
esac
