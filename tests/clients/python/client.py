#!/usr/bin/env python3
"""A vawg-hub client in Python, generated from proto/ with grpcio-tools.

Usage: client.py HOST:PORT [--ca CA.pem --cert AGENCY.pem --key AGENCY.key --token TOKEN]

Lists the common definition versions and classifies a few local codes. Exits non-zero if the
hub's answers are not what the contract promises, so CI can run it as a check.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "generated"))

import grpc  # noqa: E402
from vawg.v1 import definition_pb2, definition_pb2_grpc  # noqa: E402


def channel(args):
    if not args.ca:
        return grpc.insecure_channel(args.target)
    with open(args.ca, "rb") as f:
        ca = f.read()
    with open(args.cert, "rb") as f:
        cert = f.read()
    with open(args.key, "rb") as f:
        key = f.read()
    creds = grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)
    if args.token:
        creds = grpc.composite_channel_credentials(creds, grpc.access_token_call_credentials(args.token))
    return grpc.secure_channel(args.target, creds, options=[("grpc.ssl_target_name_override", args.server_name)])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("target")
    p.add_argument("--ca")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--token")
    p.add_argument("--server-name", default="localhost")
    args = p.parse_args()

    with channel(args) as ch:
        grpc.channel_ready_future(ch).result(timeout=15)
        defs = definition_pb2_grpc.DefinitionServiceStub(ch)
        listing = defs.ListDefinitions(definition_pb2.ListDefinitionsRequest(), timeout=10)
        for d in listing.definitions:
            print(f"definition {d.version}{' (current)' if d.current else ''}: {d.title}, {len(d.categories)} categories")
        assert any(d.current for d in listing.definitions), "no current definition"

        rape = defs.Classify(definition_pb2.ClassifyRequest(scheme="HO_OFFENCE", code="19C"), timeout=10)
        print(f"HO_OFFENCE/19C -> {rape.category.id} under {rape.version}")
        assert rape.category.id == "rape", rape

        try:
            defs.Classify(definition_pb2.ClassifyRequest(scheme="HO_OFFENCE", code="999Z"), timeout=10)
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.NOT_FOUND, e.code()
            print(f"HO_OFFENCE/999Z -> refused ({e.code().name}): {e.details()}")
        else:
            raise AssertionError("an unknown code was classified")
    print("python client: ok")


if __name__ == "__main__":
    main()
