#!/usr/bin/env bash
# Builds the Go servers of baselines/go (the seed's grpc-go helloworld greeter, with the
# EchoComplex and EchoPeople echoes, a net/http JSON greeter, and grpc-gateway's reverse proxy,
# a REST front for any Greeter's gRPC port) into target/go/, offline, from Debian's packages:
# Go, grpc-go, grpc-gateway 1.6.4 (its generator and its runtime) and
# golang/protobuf's sources in GOPATH mode (no module download), and protoc with the
# protoc-gen-go built from golang/protobuf 1.3 (with its grpc plugin): the generator of the
# protobuf runtime grpc-go 1.33 marshals with (protobuf-go's newer protoc-gen-go writes
# messages that runtime cannot read). Their messages and stubs (every message and method of
# the file, grpc_bench's complex message among them) are generated from our
# proto/helloworld.proto as package `rpcvsrest/helloworld`, its one proto3 `optional` made
# plain (that generator predates proto3 optional; the field, a stream's count, is one the Go
# servers do not serve). The gateway's handlers are generated from the same file by
# protoc-gen-grpc-gateway, with its HTTP rules (our REST routes) in
# baselines/go/rest_gateway/greeter_http.yaml rather than in the proto. Installs the packages
# first when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(golang-go golang-google-grpc-dev golang-goprotobuf-dev protobuf-compiler
    golang-grpc-gateway golang-github-grpc-ecosystem-grpc-gateway-dev)

missing=()
for package in "${PACKAGES[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if ((${#missing[@]})); then
    sudo=()
    if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
    echo "go_baselines.sh: apt-get install ${missing[*]}" >&2
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
fi

out="$PWD/target/go"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out" "$work/bin"
export GO111MODULE=off GOPATH="/usr/share/gocode:$work" GOCACHE="$out/cache" GOFLAGS=

go build -o "$work/bin/protoc-gen-go" github.com/golang/protobuf/protoc-gen-go

package=rpcvsrest/helloworld
# The Timestamp of golang/protobuf 1.3, not the newer one protoc's own timestamp.proto names.
timestamp=Mgoogle/protobuf/timestamp.proto=github.com/golang/protobuf/ptypes/timestamp
mkdir -p "$work/src/$package" "$work/proto"
sed -E 's/^([[:space:]]*)optional /\1/' proto/helloworld.proto > "$work/proto/helloworld.proto"
PATH="$work/bin:$PATH" protoc -I "$work/proto" \
    --go_out="plugins=grpc,paths=source_relative,Mhelloworld.proto=$package,$timestamp:$work/src/$package" \
    helloworld.proto
# Debian's protoc-gen-grpc-gateway (/usr/bin), built from the runtime it generates for.
protoc -I "$work/proto" \
    --grpc-gateway_out="paths=source_relative,Mhelloworld.proto=$package,grpc_api_configuration=$PWD/baselines/go/rest_gateway/greeter_http.yaml:$work/src/$package" \
    helloworld.proto

go build -o "$out/grpc-greeter" ./baselines/go/grpc_greeter
go build -o "$out/rest-greeter" ./baselines/go/rest_greeter
go build -o "$out/rest-gateway" ./baselines/go/rest_gateway
echo "go_baselines.sh: built $out/grpc-greeter, $out/rest-greeter and $out/rest-gateway" >&2
