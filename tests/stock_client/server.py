"""gRPC's own Python helloworld server, as a grpcio user writes it from the stock
helloworld.proto: SayHello only. Listens on 127.0.0.1, port 0, and prints the port.

Usage: python server.py
"""

import pathlib
import sys
import tempfile
from concurrent import futures

import grpc
from grpc_tools import protoc

HERE = pathlib.Path(__file__).parent


def main() -> None:
    with tempfile.TemporaryDirectory() as generated:
        status = protoc.main(
            ["protoc", f"-I{HERE}", f"--python_out={generated}", f"--grpc_python_out={generated}",
             str(HERE / "helloworld.proto")]
        )
        if status != 0:
            sys.exit(f"protoc failed with status {status}")
        sys.path.insert(0, generated)
        import helloworld_pb2
        import helloworld_pb2_grpc

        class Greeter(helloworld_pb2_grpc.GreeterServicer):
            def SayHello(self, request, context):
                return helloworld_pb2.HelloReply(message=f"Hello {request.name}")

        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        helloworld_pb2_grpc.add_GreeterServicer_to_server(Greeter(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        print(port, flush=True)
        server.wait_for_termination()


if __name__ == "__main__":
    main()
