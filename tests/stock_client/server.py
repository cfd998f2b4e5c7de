"""gRPC's own Python helloworld server, as a grpcio user writes it from the stock
helloworld.proto: SayHello only. Listens on 127.0.0.1, port 0, and prints the port.

Usage: python server.py
"""

import tempfile
from concurrent import futures

import grpc

from generated import generated


def main() -> None:
    with tempfile.TemporaryDirectory() as into:
        generated("helloworld.proto", into)
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
