#!/usr/bin/env bash
# End to end on a local kind cluster, for machines with Docker, kind, kubectl and helm:
# create the cluster, build both images and load them into it, install the chart, run the
# digits example (its data ship in the worker image) and wait until it has succeeded.
#   hack/kind-e2e.sh                       # cluster "trainjob", kept afterwards
#   CLUSTER=dev TIMEOUT=20m hack/kind-e2e.sh
#   kind delete cluster --name trainjob    # when done
set -euo pipefail
cd "$(dirname "$0")/.."

cluster=${CLUSTER:-trainjob}
timeout=${TIMEOUT:-10m}
context=kind-$cluster
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' pyproject.toml)
operator_image=ghcr.io/trainjob/operator:$version
trainer_image=ghcr.io/trainjob/trainer:$version # the image examples/*.yaml name

for tool in docker kind kubectl helm; do
  command -v "$tool" >/dev/null || { echo "kind-e2e: needs $tool" >&2; exit 1; }
done

kind get clusters | grep -qx "$cluster" || kind create cluster --name "$cluster" --wait 2m
docker build --tag "$operator_image" .
docker build --file trainer_image/Dockerfile --tag "$trainer_image" .
kind load docker-image --name "$cluster" "$operator_image" "$trainer_image"

helm upgrade --install trainjob-operator charts/trainjob-operator --kube-context "$context" \
  --namespace trainjob-system --create-namespace --set image.pullPolicy=Never --wait --timeout 5m
kubectl --context "$context" delete trainjob digits --ignore-not-found --wait
kubectl --context "$context" apply --filename examples/digits-ddp.yaml

if ! kubectl --context "$context" wait trainjob/digits --for=condition=Ready --timeout "$timeout"; then
  kubectl --context "$context" get trainjob digits --output yaml >&2
  kubectl --context "$context" logs --selector trainjob.dev/name=digits --prefix --tail 40 >&2 || true
  kubectl --context "$context" --namespace trainjob-system logs deployment/trainjob-operator --tail 40 >&2
  echo "kind-e2e: digits did not succeed within $timeout" >&2
  exit 1
fi
kubectl --context "$context" get trainjob digits
echo "kind-e2e: digits succeeded on kind cluster $cluster"
