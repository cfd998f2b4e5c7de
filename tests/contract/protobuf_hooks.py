"""schemathesis hooks: write and read `application/x-protobuf` bodies with the messages of
proto/helloworld.proto, so the contract test covers the protobuf encoding of every operation
as well as the JSON one. Loaded through SCHEMATHESIS_HOOKS by scripts/contract-test.sh.
"""

import json
import pathlib
import sys
import tempfile

import schemathesis
from google.protobuf import json_format
from grpc_tools import protoc

ROOT = pathlib.Path(__file__).resolve().parents[2]
_GENERATED = tempfile.mkdtemp(prefix="rpc-vs-rest-pb-")
_status = protoc.main(["protoc", f"-I{ROOT / 'proto'}", f"--python_out={_GENERATED}", "helloworld.proto"])
if _status != 0:
    raise RuntimeError(f"protoc failed on proto/helloworld.proto: {_status}")
sys.path.insert(0, _GENERATED)
import helloworld_pb2 as pb  # noqa: E402

# Which message each operation sends and answers with, as in the RPC ↔ route table.
REQUESTS = {
    "/v1/greeter/hello": pb.HelloRequest,
    "/v1/greeter/hello-again": pb.HelloRequest,
    "/v1/greeter/batch": pb.BatchHelloRequest,
}
REPLIES = {
    "/v1/greeter/hello": pb.HelloReply,
    "/v1/greeter/hello/{name}": pb.HelloReply,
    "/v1/greeter/hello-again": pb.HelloReply,
    "/v1/greeter/batch": pb.BatchHelloReply,
}


@schemathesis.serializer("application/x-protobuf")
def to_protobuf(ctx, value):
    message = REQUESTS[ctx.case.operation.path]()
    try:
        json_format.ParseDict(value, message)
    except (json_format.ParseError, TypeError, ValueError, AttributeError):
        # Negative data a message cannot hold (a number for a name, say): send it as it is,
        # JSON text under a protobuf Content-Type, which the server must refuse.
        return json.dumps(value).encode()
    return message.SerializeToString()


@schemathesis.deserializer("application/x-protobuf")
def from_protobuf(ctx, response):
    message = REPLIES[ctx.operation.path]()
    message.ParseFromString(response.content)
    return json_format.MessageToDict(message, preserving_proto_field_name=True)
