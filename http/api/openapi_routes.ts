/**
 * `GET /v1/openapi.json`: the OpenAPI 3.1 document of the API
 * (docs/openapi.json, kept by hand beside docs/API.md; tests/http/
 * openapi_test.ts fails when it and the route table differ). Serialized
 * once when the module loads, and part of the compiled binary.
 *
 * @module
 */

import type { Hono } from "hono";
import openapi from "../../docs/openapi.json" with { type: "json" };

/** The path of the document. */
export const OPENAPI_PATH = "/v1/openapi.json";

const BODY = JSON.stringify(openapi);

/** Registers `GET /v1/openapi.json`. */
export function registerOpenapiRoutes(app: Hono): void {
  app.get(OPENAPI_PATH, () =>
    new Response(BODY, {
      headers: {
        "content-type": "application/json",
        "cache-control": "no-cache",
      },
    }));
}
