"""A stock Python client doing what client-side health checking does: a Health.Watch held
open, with code grpcio-tools generates from gRPC's health.proto. Prints one JSON line per
status as it comes, then one for how the stream ended.

Usage: python watch.py HOST:PORT SERVICE
"""

import json
import pathlib
import sys
import tempfile

import grpc
from grpc_tools import protoc

HERE = pathlib.Path(__file__).parent


def say(line: dict) -> None:
    print(json.dumps(line), flush=True)


def main(target: str, service: str) -> None:
    with tempfile.TemporaryDirectory() as generated:
        status = protoc.main(
            ["protoc", f"-I{HERE}", f"--python_out={generated}", f"--grpc_python_out={generated}",
             str(HERE / "health.proto")]
        )
        if status != 0:
            sys.exit(f"protoc failed with status {status}")
        sys.path.insert(0, generated)
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
