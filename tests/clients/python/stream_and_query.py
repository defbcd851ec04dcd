#!/usr/bin/env python3
"""Stream records to vawg-hub and query a metric: the Python integrator's starting point.

Usage:
  stream_and_query.py HOST:PORT --ca CA.pem --cert AGENCY.pem --key AGENCY.key --token TOKEN
                      [--agency police-e23000001] [--area E23000001] [--count 12] [--prefix py]

1. Opens a channel with mutual TLS (the agency's certificate, the hub's CA) and the agency's
   bearer token (JWT) on every call.
2. StreamRecords (bidirectional streaming): sends synthetic crimes in chunks; the hub answers
   each chunk, in order, once its records are committed, with one result per record.
3. Streams the first chunk again: ingest is idempotent, so every record comes back DUPLICATE.
4. QueryMetric: recorded crimes in the agency's area, with disclosure control on every cell.

Exits non-zero if any answer is not what the contract promises, so CI can run it as a check.
The people are synthetic (obviously fake names); never point this at a production hub.
"""
import argparse
import os
import sys
from datetime import datetime, timezone

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "generated"))

import grpc  # noqa: E402
from google.protobuf.timestamp_pb2 import Timestamp  # noqa: E402
from vawg.v1 import common_pb2, ingest_pb2, ingest_pb2_grpc, metrics_pb2, metrics_pb2_grpc, record_pb2  # noqa: E402

CHUNK = 5


def channel(args):
    """A channel with mutual TLS and the bearer token on every call."""
    with open(args.ca, "rb") as f:
        ca = f.read()
    with open(args.cert, "rb") as f:
        cert = f.read()
    with open(args.key, "rb") as f:
        key = f.read()
    tls = grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)
    creds = grpc.composite_channel_credentials(tls, grpc.access_token_call_credentials(args.token))
    # The development PKI's server certificate names "localhost".
    return grpc.secure_channel(args.target, creds, options=[("grpc.ssl_target_name_override", args.server_name)])


def ts(day):
    t = Timestamp()
    t.FromDatetime(datetime(2025, 3, day, 12, 0, tzinfo=timezone.utc))
    return t


def letters(n):
    """Names are normalised to letters only, so a number becomes letters (0 -> a, 1 -> b…)."""
    return "".join(chr(ord("a") + int(d)) for d in str(n))


def crime(args, i):
    """One synthetic stalking crime (Home Office offence code 8Q) recorded by the agency."""
    def person(role):
        return common_pb2.PersonReference(
            identifiers=common_pb2.PersonIdentifiers(
                given_name=f"Py{role}given{letters(i)}",
                family_name=f"Py{role}family",
                date_of_birth=common_pb2.Date(year=1990, month=1, day=1 + i % 28),
            ),
            demographics=common_pb2.Demographics(sex=common_pb2.SEX_FEMALE if role == "v" else common_pb2.SEX_MALE, age_at_event=35),
        )

    return record_pb2.VawgRecord(
        source_record_id=f"{args.prefix}-{i:04d}",
        revision=1,
        source_agency_id=args.agency,
        event_time=ts(1 + i % 20),
        recorded_time=ts(2 + i % 20),
        reference_period=common_pb2.ReferencePeriod(
            start=common_pb2.Date(year=2025, month=3, day=1), end=common_pb2.Date(year=2025, month=3, day=31)
        ),
        counting_unit=record_pb2.COUNTING_UNIT_CRIME,
        area=common_pb2.Area(gss_code=args.area, level=common_pb2.AREA_LEVEL_POLICE_FORCE_AREA),
        classification=record_pb2.LocalClassification(scheme="HO_OFFENCE", code="8Q"),
        victim=person("v"),
        suspect=person("s"),
        case_references=common_pb2.CaseReferences(police_crime_reference=f"{args.prefix}/CR/{i:04d}"),
        crime_recorded=record_pb2.CrimeRecorded(domestic_abuse_flag=True, relationship=record_pb2.RELATIONSHIP_EX_PARTNER),
    )


def stream(ingest, chunks):
    """Streams the chunks; returns every acknowledgement, checked against what was sent."""
    requests = (ingest_pb2.StreamRecordsRequest(records=c) for c in chunks)
    acks = list(ingest.StreamRecords(requests, timeout=60))
    assert len(acks) == len(chunks), f"{len(acks)} acknowledgements for {len(chunks)} chunks"
    for n, (ack, sent) in enumerate(zip(acks, chunks)):
        assert ack.chunk == n, f"acknowledgement {n} is for chunk {ack.chunk}"
        assert [r.source_record_id for r in ack.results] == [r.source_record_id for r in sent]
        for r in ack.results:
            if r.status not in (ingest_pb2.RECORD_STATUS_ACCEPTED, ingest_pb2.RECORD_STATUS_DUPLICATE):
                reasons = "; ".join(f"{v.field}: {v.reason}" for v in r.violations)
                raise AssertionError(f"{r.source_record_id}: {ingest_pb2.RecordStatus.Name(r.status)} {reasons}")
    return acks


def main():
    p = argparse.ArgumentParser()
    p.add_argument("target")
    p.add_argument("--ca", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--server-name", default="localhost")
    p.add_argument("--agency", default="police-e23000001")
    p.add_argument("--area", default="E23000001")
    p.add_argument("--count", type=int, default=12)
    p.add_argument("--prefix", default="py")
    args = p.parse_args()

    records = [crime(args, i) for i in range(args.count)]
    chunks = [records[i : i + CHUNK] for i in range(0, len(records), CHUNK)]
    with channel(args) as ch:
        grpc.channel_ready_future(ch).result(timeout=15)
        ingest = ingest_pb2_grpc.IngestServiceStub(ch)

        acks = stream(ingest, chunks)
        accepted = sum(a.summary.accepted for a in acks)
        print(f"StreamRecords: {len(acks)} chunks acknowledged, {accepted} accepted")
        assert accepted == args.count, f"{accepted} of {args.count} accepted"

        again = stream(ingest, chunks[:1])
        print(f"StreamRecords again: {again[0].summary.duplicate} duplicate (idempotent)")
        assert again[0].summary.duplicate == len(chunks[0])

        metrics = metrics_pb2_grpc.MetricsServiceStub(ch)
        query = metrics_pb2.MetricQuery(
            metric_id="recorded_crimes",
            victim_scope=common_pb2.VICTIM_SCOPE_ALL_VICTIMS,
            counting_rule=common_pb2.COUNTING_RULE_ALL_OFFENCES,
            period=common_pb2.ReferencePeriod(
                start=common_pb2.Date(year=2025, month=1, day=1), end=common_pb2.Date(year=2025, month=12, day=31)
            ),
            grain=metrics_pb2.TIME_GRAIN_WHOLE_PERIOD,
            area_level=common_pb2.AREA_LEVEL_POLICE_FORCE_AREA,
            area_codes=[args.area],
        )
        table = metrics.QueryMetric(metrics_pb2.QueryMetricRequest(query=query), timeout=30).table
        assert table.totals, "no total row"
        total = table.totals[0].cell
        status = metrics_pb2.DisclosureStatus.Name(total.status)
        print(f"QueryMetric recorded_crimes in {args.area}: {total.value:g} ({status})")
        # An agency's figures are protected by cell-key perturbation (docs/disclosure.md): within
        # 5 of the true count, and the same in every query.
        assert total.status == metrics_pb2.DISCLOSURE_STATUS_PERTURBED, status
        assert total.value >= args.count - 5, f"total {total.value} is not within 5 of {args.count}"
        again = metrics.QueryMetric(metrics_pb2.QueryMetricRequest(query=query), timeout=30).table
        assert again.totals[0].cell.value == total.value, "the same query, the same answer"
    print("python stream_and_query: ok")


if __name__ == "__main__":
    main()
