// The hub's read-only aggregate services over gRPC-Web, on the origin that served this page
// (the hub's dashboard listener). Every call carries the signed-in agency's bearer token; the
// hub checks it, asks the firewall and audits the call.

import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { DefinitionService } from "./gen/vawg/v1/definition_pb";
import { MetricsService } from "./gen/vawg/v1/metrics_pb";

/** The clients of one signed-in session. */
export interface Hub {
  metrics: Client<typeof MetricsService>;
  definitions: Client<typeof DefinitionService>;
}

/** Clients that send `token` as `authorization: Bearer …` on every call. */
export function connect(token: string): Hub {
  const bearer: Interceptor = (next) => async (req) => {
    req.header.set("authorization", `Bearer ${token}`);
    return next(req);
  };
  const transport = createGrpcWebTransport({
    baseUrl: window.location.origin,
    interceptors: [bearer],
    // Ask for binary protobuf: the hub speaks gRPC-Web, not JSON.
    useBinaryFormat: true,
  });
  return {
    metrics: createClient(MetricsService, transport),
    definitions: createClient(DefinitionService, transport),
  };
}

/** A readable message for a failed call (the hub's own words for refusals). */
export function describeError(e: unknown): string {
  if (e instanceof ConnectError) {
    const what: Partial<Record<Code, string>> = {
      [Code.Unauthenticated]: "Not signed in",
      [Code.PermissionDenied]: "Refused by the hub's firewall",
      [Code.InvalidArgument]: "The hub rejected the query",
      [Code.Unavailable]: "The hub is unavailable",
      [Code.ResourceExhausted]: "Too many requests",
    };
    return `${what[e.code] ?? Code[e.code]}: ${e.rawMessage}`;
  }
  return e instanceof Error ? e.message : String(e);
}

/** The agency a token names (its `sub`), for display only: the hub does the checking. */
export function tokenSubject(token: string): string | undefined {
  const payload = token.split(".")[1];
  if (!payload) return undefined;
  try {
    const json = atob(payload.replace(/-/g, "+").replace(/_/g, "/"));
    const sub = (JSON.parse(json) as { sub?: unknown }).sub;
    return typeof sub === "string" ? sub : undefined;
  } catch {
    return undefined;
  }
}
