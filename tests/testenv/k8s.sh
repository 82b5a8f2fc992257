# Component k8s: a real Kubernetes control plane on loopback (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler) plus kwok, which plays one fake node so Pods become
# Running and Ready without a kubelet or container runtime. Sourced by tests/testenv.sh.
# shellcheck source-path=SCRIPTDIR source=k8s/go-build.sh
. "$TESTENV_DIR/k8s/go-build.sh"

K8S_KUBE_HOME="$CACHE/kubernetes-$KUBERNETES_VERSION"
K8S_ETCD_HOME="$CACHE/etcd-$ETCD_VERSION"
K8S_KWOK_HOME="$CACHE/kwok-$KWOK_VERSION"
K8S_DIR="$STATE/k8s"
# The one fake node kwok plays; kwok manages only nodes labelled type=kwok.
K8S_NODE=kwok-node-0
K8S_PROCS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)

# k8s_check_pin MODULE_DIR MODULE VERSION: the wrapper go.mod must build the pinned version.
k8s_check_pin() {
  grep -Eq "^[[:space:]]*(require )?$2 $3( // indirect)?\$" "$K8S_MODULES/$1/go.mod" ||
    die "$K8S_MODULES/$1/go.mod does not pin $2 $3: run tests/testenv/k8s/pin-kubernetes.sh"
}

k8s_build_kube() {
  local minor ldflags="-s -w" p
  minor="$(cut -d. -f2 <<<"$KUBERNETES_VERSION")"
  # Stamp the release into both version packages so /version and `kubectl version` are right.
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $p.gitVersion=$KUBERNETES_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    ldflags+=" -X $p.gitTreeState=clean"
  done
  # One build for all four so the packages they share compile once.
  (cd "$K8S_MODULES/kube" && go_env go build -trimpath -ldflags "$ldflags" -o "$1/bin/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)
}

k8s_build_etcd() {
  (cd "$K8S_MODULES/etcd" && go_env go build -trimpath -ldflags "-s -w" -o "$1/bin/etcd" .)
}

k8s_build_kwok() {
  local src f
  GOBIN="$1/bin" go_env go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  # Plain kwok has no built-in behaviour: it runs the Stages it is given. Use the release's own
  # "fast" stages (what kwokctl uses): nodes turn Ready with a lease, Pods turn Running and Ready.
  src="$(go_module_dir "sigs.k8s.io/kwok@$KWOK_VERSION")/kustomize/stage"
  for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
    pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    printf -- '---\n'
    cat "$src/$f"
  done >"$1/stages.yaml"
}

k8s_installed() {
  [ -x "$K8S_KUBE_HOME/bin/kube-apiserver" ] && [ -x "$K8S_ETCD_HOME/bin/etcd" ] &&
    [ -x "$K8S_KWOK_HOME/bin/kwok" ]
}

k8s_install() {
  k8s_installed && return 0
  k8s_check_pin kube k8s.io/kubernetes "$KUBERNETES_VERSION"
  k8s_check_pin etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION"
  go_cached_build "etcd-$ETCD_VERSION" k8s_build_etcd
  go_cached_build "kwok-$KWOK_VERSION" k8s_build_kwok
  go_cached_build "kubernetes-$KUBERNETES_VERSION" k8s_build_kube
}

# k8s_sign NAME SUBJECT EXTENSIONS: issues NAME.crt/NAME.key (P-256) signed by the test CA in $PWD.
k8s_sign() {
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "$2" \
    -keyout "$1.key" -out "$1.csr" 2>/dev/null
  openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -set_serial "0x$(openssl rand -hex 16)" \
    -days 3650 -out "$1.crt" -extfile <(printf '%s\n' "$3") 2>/dev/null
  rm -f "$1.csr"
}

# k8s_pki DIR: a fresh CA, the API server's serving cert, client certs for each component, the
# service-account signing key pair. Fresh per `up`: nothing secret outlives the cluster.
k8s_pki() {
  local client='keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth'
  mkdir -p "$1"
  (
    cd "$1" || exit
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
      -subj /CN=skiff-testenv-ca -keyout ca.key -out ca.crt \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
      2>/dev/null
    k8s_sign apiserver /CN=kube-apiserver 'keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc'
    k8s_sign admin /O=system:masters/CN=skiff-admin "$client"
    k8s_sign kwok /O=system:masters/CN=kwok "$client"
    k8s_sign controller-manager /CN=system:kube-controller-manager "$client"
    k8s_sign scheduler /CN=system:kube-scheduler "$client"
    openssl ecparam -name prime256v1 -genkey -noout -out sa.key
    openssl ec -in sa.key -pubout -out sa.pub 2>/dev/null
  )
}

# k8s_kubeconfig FILE SERVER PKI USER: a self-contained kubeconfig (certificates embedded).
k8s_kubeconfig() {
  cat >"$1" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: skiff-testenv
  cluster:
    server: $2
    certificate-authority-data: $(base64 -w0 "$3/ca.crt")
users:
- name: $4
  user:
    client-certificate-data: $(base64 -w0 "$3/$4.crt")
    client-key-data: $(base64 -w0 "$3/$4.key")
contexts:
- name: skiff-testenv
  context:
    cluster: skiff-testenv
    user: $4
current-context: skiff-testenv
KUBECONFIG
}

# k8s_node: the Node object kwok plays. No taint, so any Pod may schedule onto it.
k8s_node() {
  cat <<NODE
apiVersion: v1
kind: Node
metadata:
  name: $K8S_NODE
  labels:
    type: kwok
    kubernetes.io/hostname: $K8S_NODE
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
  annotations:
    node.alpha.kubernetes.io/ttl: "0"
status:
  allocatable: {cpu: "32", memory: 256Gi, pods: "110"}
  capacity: {cpu: "32", memory: 256Gi, pods: "110"}
NODE
}

k8s_kubectl() { "$K8S_KUBE_HOME/bin/kubectl" --kubeconfig "$K8S_DIR/admin.kubeconfig" --request-timeout=10s "$@"; }

k8s_node_ready() {
  [ "$(k8s_kubectl get node "$K8S_NODE" \
    -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]
}

k8s_up() {
  k8s_installed || die "k8s is not installed: run \`make testenv\`"
  k8s_down
  local d="$K8S_DIR" bin="$K8S_KUBE_HOME/bin" etcd_port peer_port api_port server
  mkdir -p "$d"
  etcd_port="$(free_port)"; peer_port="$(free_port)"; api_port="$(free_port)"
  server="https://127.0.0.1:$api_port"
  k8s_pki "$d/pki"
  for u in admin kwok controller-manager scheduler; do
    k8s_kubeconfig "$d/$u.kubeconfig" "$server" "$d/pki" "$u"
  done

  log "starting etcd on 127.0.0.1:$etcd_port"
  start_bg "$d/etcd.pid" "$d/etcd.log" "$K8S_ETCD_HOME/bin/etcd" --name skiff \
    --data-dir "$d/etcd" --unsafe-no-fsync \
    --listen-client-urls "http://127.0.0.1:$etcd_port" \
    --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "skiff=http://127.0.0.1:$peer_port"
  wait_for 30 "$d/etcd.log" etcd curl -fsS --max-time 2 "http://127.0.0.1:$etcd_port/health" ||
    { k8s_down_keep_logs; die "etcd did not start"; }

  log "starting kube-apiserver on $server"
  start_bg "$d/kube-apiserver.pid" "$d/kube-apiserver.log" "$bin/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
    --endpoint-reconciler-type none \
    --service-cluster-ip-range 10.96.0.0/16 \
    --authorization-mode Node,RBAC \
    --client-ca-file "$d/pki/ca.crt" \
    --requestheader-client-ca-file "$d/pki/ca.crt" --requestheader-allowed-names front-proxy \
    --requestheader-username-headers X-Remote-User --requestheader-group-headers X-Remote-Group \
    --requestheader-extra-headers-prefix X-Remote-Extra- \
    --tls-cert-file "$d/pki/apiserver.crt" --tls-private-key-file "$d/pki/apiserver.key" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$d/pki/sa.pub" \
    --service-account-signing-key-file "$d/pki/sa.key" \
    --profiling=false
  wait_for 90 "$d/kube-apiserver.log" kube-apiserver k8s_kubectl get --raw /readyz ||
    { k8s_down_keep_logs; die "kube-apiserver did not start"; }

  log "starting kube-controller-manager, kube-scheduler and kwok"
  # '*' is every on-by-default controller; none of them needs a cloud provider any more.
  start_bg "$d/kube-controller-manager.pid" "$d/kube-controller-manager.log" \
    "$bin/kube-controller-manager" \
    --kubeconfig "$d/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$d/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$d/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$(free_port)" --cert-dir "$d/controller-manager" \
    --controllers '*' --leader-elect=false \
    --use-service-account-credentials \
    --service-account-private-key-file "$d/pki/sa.key" \
    --root-ca-file "$d/pki/ca.crt" \
    --cluster-signing-cert-file "$d/pki/ca.crt" --cluster-signing-key-file "$d/pki/ca.key" \
    --profiling=false
  start_bg "$d/kube-scheduler.pid" "$d/kube-scheduler.log" "$bin/kube-scheduler" \
    --kubeconfig "$d/scheduler.kubeconfig" \
    --authentication-kubeconfig "$d/scheduler.kubeconfig" \
    --authorization-kubeconfig "$d/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$(free_port)" --cert-dir "$d/scheduler" \
    --leader-elect=false --profiling=false
  start_bg "$d/kwok.pid" "$d/kwok.log" "$K8S_KWOK_HOME/bin/kwok" \
    --kubeconfig "$d/kwok.kubeconfig" --config "$K8S_KWOK_HOME/stages.yaml" \
    --manage-all-nodes=false --manage-nodes-with-label-selector type=kwok \
    --node-lease-duration-seconds 40 --cidr 10.244.0.0/16 --node-ip 127.0.0.1 \
    --server-address "127.0.0.1:$(free_port)"
  k8s_node | k8s_kubectl apply -f - >/dev/null ||
    { k8s_down_keep_logs; die "could not create node $K8S_NODE"; }

  # Ready means: controllers run (they create the default ServiceAccount) and kwok runs the node.
  wait_for 60 "$d/kube-controller-manager.log" kube-controller-manager \
    k8s_kubectl -n default get serviceaccount default ||
    { k8s_down_keep_logs; die "kube-controller-manager did not start"; }
  wait_for 60 "$d/kwok.log" "kwok node" k8s_node_ready ||
    { k8s_down_keep_logs; die "kwok did not make node $K8S_NODE ready"; }
  pid_alive "$d/kube-scheduler.pid" || { k8s_down_keep_logs; die "kube-scheduler exited"; }

  printf 'KUBECONFIG=%s\nKUBECTL=%s\n' "$d/admin.kubeconfig" "$bin/kubectl" >"$STATE/k8s.env"
  log "k8s is up: KUBECONFIG=$d/admin.kubeconfig"
}

# k8s_down_keep_logs: stops every process but keeps $K8S_DIR for a look at the logs. Each takes a
# second or two to shut down, so the API server and its clients stop together, then etcd.
k8s_down_keep_logs() {
  local p stoppers=()
  rm -f "$STATE/k8s.env"
  for p in "${K8S_PROCS[@]:1}"; do
    stop_pid "$K8S_DIR/$p.pid" &
    stoppers+=("$!")
  done
  # Wait for these stoppers only: a bare `wait` would also wait for the servers this shell
  # started before (Kafka, S3, Connect in `up kafka s3 connect k8s`), forever.
  wait "${stoppers[@]}"
  stop_pid "$K8S_DIR/etcd.pid"
}

k8s_down() {
  k8s_down_keep_logs
  rm -rf "$K8S_DIR"
}

k8s_status() {
  local p
  [ -f "$STATE/k8s.env" ] || return 1
  for p in "${K8S_PROCS[@]}"; do pid_alive "$K8S_DIR/$p.pid" || return 1; done
}
