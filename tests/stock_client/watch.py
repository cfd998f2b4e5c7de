"""A stock Python client doing what client-side health checking does: a Health.Watch held
open, with code grpcio-tools generates from gRPC's health.proto. Prints one JSON line per
status as it comes, then one for how the stream ended.

Usage: python watch.py HOST:PORT SERVICE
"""

import json
import sys
import tempfile

import grpc

from generated import generated


def say(line: dict) -> None:
    print(json.dumps(line), flush=True)


def main(target: str, service: str) -> None:
    with tempfile.TemporaryDirectory() as into:
        generated("health.proto", into)
        import health_pb2
        import health_pb2_grpc

        with grpc.insecure_channel(target) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            try:
                for reply in stub.Watch(health_pb2.HealthCheckRequest(service=service)):
                    say({"status": health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)})
                say({"end": "OK"})
            except grpc.RpcError as error:
                say({"end": error.code().name, "details": error.details()})


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
