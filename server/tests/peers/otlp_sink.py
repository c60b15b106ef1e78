"""An OTLP/HTTP (protobuf) receiver on oteltap (PEERS.md) that prints each span it receives as
one JSON line: name, ids in hex, and string attributes. Prints `ready` once it listens.

usage: otlp_sink.py PORT
"""

import asyncio
import json
import sys

from oteltap import OtelTapHttpProtobufReceiver, OtelTapHttpProtobufReceiverSettings


async def main(port: int) -> None:
    settings = OtelTapHttpProtobufReceiverSettings(http_port=port)
    async with OtelTapHttpProtobufReceiver(settings) as receiver:
        print("ready", flush=True)
        async for span in receiver.stream_traces():
            attributes = {a.key: a.value.string_value for a in span.attributes}
            print(
                json.dumps(
                    {
                        "name": span.name,
                        "trace_id": span.trace_id.hex(),
                        "span_id": span.span_id.hex(),
                        "parent_span_id": span.parent_span_id.hex(),
                        "attributes": attributes,
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
