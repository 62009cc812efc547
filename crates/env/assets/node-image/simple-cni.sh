#!/bin/sh
# inferbench simple CNI daemon: one per node (hostNetwork, privileged).
# - writes a ptp + host-local CNI configuration for this node's podCIDR,
# - routes every other node's podCIDR via that node's InternalIP,
# - masquerades traffic leaving the pod network.
# It needs kubectl, iproute2 and iptables, and the environment variables
# NODE_NAME, POD_SUBNET and CONTROL_PLANE_ENDPOINT (host:port).
set -u
CONF_DIR=${CNI_CONF_DIR:-/etc/cni/net.d}
CONF="$CONF_DIR/10-inferbench.conflist"
SA=/var/run/secrets/kubernetes.io/serviceaccount
MTU=${MTU:-1500}

log() { echo "$(date -u +%H:%M:%S) $*"; }

kc() {
    kubectl --server "https://${CONTROL_PLANE_ENDPOINT}" \
        --certificate-authority "$SA/ca.crt" --token "$(cat "$SA/token")" \
        --request-timeout 10s "$@"
}

write_conf() {
    cidr=$1
    tmp="$CONF.tmp"
    cat >"$tmp" <<JSON
{
  "cniVersion": "0.4.0",
  "name": "inferbench",
  "plugins": [
    {
      "type": "ptp",
      "ipMasq": false,
      "mtu": $MTU,
      "ipam": {
        "type": "host-local",
        "dataDir": "/run/cni-ipam-state",
        "routes": [{ "dst": "0.0.0.0/0" }],
        "ranges": [[{ "subnet": "$cidr" }]]
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
JSON
    if cmp -s "$tmp" "$CONF"; then
        rm -f "$tmp"
    else
        mv "$tmp" "$CONF"
        log "wrote $CONF for $cidr"
    fi
}

ensure_masq() {
    iptables -t nat -N INFERBENCH-MASQ 2>/dev/null || true
    iptables -t nat -C POSTROUTING -j INFERBENCH-MASQ 2>/dev/null ||
        iptables -t nat -A POSTROUTING -j INFERBENCH-MASQ
    iptables -t nat -C INFERBENCH-MASQ -d "$POD_SUBNET" -j RETURN 2>/dev/null ||
        iptables -t nat -A INFERBENCH-MASQ -d "$POD_SUBNET" -j RETURN
    iptables -t nat -C INFERBENCH-MASQ -s "$POD_SUBNET" -j MASQUERADE 2>/dev/null ||
        iptables -t nat -A INFERBENCH-MASQ -s "$POD_SUBNET" -j MASQUERADE
}

mkdir -p "$CONF_DIR"
log "simple CNI on $NODE_NAME, pod subnet $POD_SUBNET, API https://$CONTROL_PLANE_ENDPOINT"
while true; do
    nodes=$(kc get nodes -o jsonpath='{range .items[*]}{.metadata.name}{" "}{.spec.podCIDR}{" "}{range .status.addresses[?(@.type=="InternalIP")]}{.address}{" "}{end}{"\n"}{end}') || {
        log "cannot list nodes yet"
        sleep 3
        continue
    }
    echo "$nodes" | while read -r name cidr ip _rest; do
        [ -n "$cidr" ] || continue
        if [ "$name" = "$NODE_NAME" ]; then
            write_conf "$cidr"
        elif [ -n "$ip" ]; then
            current=$(ip route show "$cidr" 2>/dev/null)
            case "$current" in
            *"via $ip "*) ;;
            *) ip route replace "$cidr" via "$ip" && log "route $cidr via $ip ($name)" ;;
            esac
        fi
    done
    ensure_masq
    sleep 10
done
