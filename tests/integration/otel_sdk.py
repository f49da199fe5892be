#!/usr/bin/env python3
"""otel_sdk.py — a small program instrumented with the OpenTelemetry SDK
(opentelemetry-sdk and opentelemetry-exporter-otlp-proto-http, from PyPI),
for tests/integration/otel_sdk.sh. It makes the same trace shapes every
time, with fresh ids:

  shop:  checkout -> cart, checkout -> pay (status ERROR, an exception),
         pay -> db                                   4 spans, 3 edges
  batch: batch -> read, batch -> merge, and merge links to read (a join)
                                                     3 spans, 3 edges
  odd:   checkout -> pay -> retry (--odd only)       3 spans, 2 edges

usage:
  otel_sdk.py http URL [--odd]     export with the SDK's OTLP/HTTP exporter
                                   (protobuf, gzip) to URL (/v1/traces)
  otel_sdk.py proto FILE [--odd]   the SDK's protobuf encoding of one export
                                   request, written to FILE (a Kafka message)
  otel_sdk.py framed FILE COPIES   COPIES requests, each prefixed by its
                                   size (4 bytes big-endian), for weft replay
  otel_sdk.py zipkin FILE COPIES   the shop trace COPIES times through
                                   py_zipkin's Zipkin v2 JSON encoder, one
                                   list per line
  otel_sdk.py partial URL          POST a protobuf request of two spans, the
                                   second with a 2-byte span id, to URL;
                                   print the response as opentelemetry-proto
                                   decodes it: "rejected N: MESSAGE"
"""
import struct
import sys

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, Status, StatusCode


def make_spans(provider, odd):
    t = provider.get_tracer("weft-test")
    with t.start_as_current_span("checkout"):
        with t.start_as_current_span("cart"):
            pass
        with t.start_as_current_span("pay") as pay:
            try:
                raise RuntimeError("card declined")
            except RuntimeError as e:
                pay.record_exception(e)
                pay.set_status(Status(StatusCode.ERROR, "declined"))
            with t.start_as_current_span("db"):
                pass
    with t.start_as_current_span("batch"):
        with t.start_as_current_span("read") as read:
            ctx = read.get_span_context()
        with t.start_as_current_span("merge", links=[Link(ctx)]):
            pass
    if odd:
        with t.start_as_current_span("checkout"):
            with t.start_as_current_span("pay"):
                with t.start_as_current_span("retry"):
                    pass


def provider_with(exporter):
    p = TracerProvider(resource=Resource.create(
        {"service.name": "shop", "host.name": "test-host"}))
    p.add_span_processor(SimpleSpanProcessor(exporter))
    return p


def request_bytes(odd):
    mem = InMemorySpanExporter()
    p = provider_with(mem)
    make_spans(p, odd)
    p.shutdown()
    return encode_spans(mem.get_finished_spans()).SerializeToString()


def zipkin_lists(copies):
    """The shop trace through py_zipkin (a Zipkin library from PyPI):
    its transport gets each trace's spans as one Zipkin v2 JSON list."""
    import json
    from py_zipkin.encoding import Encoding
    from py_zipkin.transport import BaseTransportHandler
    from py_zipkin.zipkin import zipkin_span

    out = []

    class Keep(BaseTransportHandler):
        def get_max_payload_bytes(self):
            return None

        def send(self, payload):
            out.append(json.dumps(json.loads(payload)))

    for _ in range(copies):
        with zipkin_span(service_name="shop", span_name="checkout",
                         transport_handler=Keep(), sample_rate=100.0,
                         encoding=Encoding.V2_JSON):
            with zipkin_span(service_name="shop", span_name="cart"):
                pass
            with zipkin_span(service_name="shop", span_name="pay") as pay:
                pay.update_binary_annotations({"error": "card declined"})
                with zipkin_span(service_name="shop", span_name="db"):
                    pass
    return out


def partial(url):
    """One good span and one with a short span id, as protobuf (the
    request built with opentelemetry-proto's own classes); the answer
    parsed by them too."""
    import os
    import urllib.request
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest, ExportTraceServiceResponse)
    req = ExportTraceServiceRequest()
    spans = req.resource_spans.add().scope_spans.add().spans
    tid = os.urandom(16)
    spans.add(trace_id=tid, span_id=os.urandom(8), name="ok")
    spans.add(trace_id=tid, span_id=os.urandom(2), name="short id")
    r = urllib.request.urlopen(urllib.request.Request(
        url, data=req.SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"}))
    resp = ExportTraceServiceResponse.FromString(r.read())
    ps = resp.partial_success
    return f"rejected {ps.rejected_spans}: {ps.error_message}"


def main():
    mode, arg = sys.argv[1], sys.argv[2]
    odd = "--odd" in sys.argv[3:]
    if mode == "http":
        exp = OTLPSpanExporter(endpoint=arg, compression=Compression.Gzip)
        mem = InMemorySpanExporter()
        p = provider_with(exp)
        p.add_span_processor(SimpleSpanProcessor(mem))
        make_spans(p, odd)
        p.shutdown()
        sent = len(mem.get_finished_spans())
        print(f"sent {sent} spans over HTTP")
    elif mode == "proto":
        with open(arg, "wb") as f:
            f.write(request_bytes(odd))
    elif mode == "framed":
        with open(arg, "wb") as f:
            for _ in range(int(sys.argv[3])):
                b = request_bytes(False)
                f.write(struct.pack(">I", len(b)) + b)
    elif mode == "zipkin":
        with open(arg, "w") as f:
            for line in zipkin_lists(int(sys.argv[3])):
                f.write(line + "\n")
    elif mode == "partial":
        print(partial(arg))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
