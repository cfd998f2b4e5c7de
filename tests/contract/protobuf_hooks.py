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

PROTOBUF = "application/x-protobuf"


def _message(content):
    """The protobuf message class of a body: the document names each body's schema after the
    message of proto/helloworld.proto it describes (`#/components/schemas/HelloRequest`)."""
    reference = content[PROTOBUF]["schema"]["$ref"]
    return getattr(pb, reference.rsplit("/", 1)[-1])


@schemathesis.serializer("application/x-protobuf")
def to_protobuf(ctx, value):
    message = _message(ctx.case.operation.definition.raw["requestBody"]["content"])()
    try:
        json_format.ParseDict(value, message)
    except (json_format.ParseError, TypeError, ValueError, AttributeError):
        # Negative data a message cannot hold (a number for a name, say): send it as it is,
        # JSON text under a protobuf Content-Type, which the server must refuse.
        return json.dumps(value).encode()
    return message.SerializeToString()


@schemathesis.deserializer("application/x-protobuf")
def from_protobuf(ctx, response):
    responses = ctx.operation.definition.raw["responses"]
    message = _message(responses[str(response.status_code)]["content"])()
    message.ParseFromString(response.content)
    return json_format.MessageToDict(message, preserving_proto_field_name=True)
