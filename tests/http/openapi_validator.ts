/**
 * Checks real answers against docs/openapi.json with ajv (JSON Schema
 * 2020-12, as OpenAPI 3.1 uses): finds the operation of a request, the
 * response of its status (or `default`, for errors), and validates a JSON
 * body against the response's schema. Tests wrap `fetch` with
 * {@linkcode validatingFetch} so every answer they get is checked.
 *
 * @module
 */

import { Ajv2020 } from "ajv/dist/2020.js";
import openapi from "../../docs/openapi.json" with { type: "json" };

/** The parsed document. */
export const OPENAPI = openapi as unknown as OpenApiDoc;

interface Operation {
  responses: Record<string, { content?: Record<string, unknown> }>;
}
interface OpenApiDoc {
  paths: Record<string, Record<string, Operation | unknown>>;
  [field: string]: unknown;
}

const ajv = new Ajv2020({ strict: false, allErrors: true });
ajv.addSchema(openapi, "openapi");

/** JSON-pointer escaping of one token. */
function pointer(token: string): string {
  return token.replaceAll("~", "~0").replaceAll("/", "~1");
}

/**
 * The document's path template that `path` (raw, no query) falls under. A
 * parameter may be empty here: the route answers that with a 400 (an empty
 * key), which the operation documents.
 */
export function templateOf(path: string): string | undefined {
  const paths = Object.keys(OPENAPI.paths);
  if (paths.includes(path)) return path;
  const segments = path.split("/");
  for (const template of paths) {
    const parts = template.split("/");
    if (parts.length !== segments.length) continue;
    if (parts.every((p, i) => p.startsWith("{") || p === segments[i])) {
      return template;
    }
  }
  return undefined;
}

/**
 * The problems of one answer against the document: undocumented path,
 * method or success status, or a JSON body its schema refuses. Empty when
 * the answer is as documented.
 */
export function checkAnswer(
  method: string,
  url: string,
  status: number,
  contentType: string | null,
  body: string,
): string[] {
  const path = new URL(url).pathname;
  const template = templateOf(path);
  if (template === undefined) return [`${path}: no such path in the document`];
  const op = OPENAPI.paths[template]![method.toLowerCase()] as
    | Operation
    | undefined;
  if (op === undefined) return [`${method} ${template}: not in the document`];
  const key = String(status) in op.responses ? String(status) : "default";
  if (key === "default" && status < 400) {
    return [`${method} ${template}: status ${status} is not documented`];
  }
  const isJson = contentType?.startsWith("application/json") ?? false;
  if (!isJson || method === "HEAD" || body === "") return [];
  const ref = `openapi#/paths/${pointer(template)}/${method.toLowerCase()}` +
    `/responses/${key}`;
  // Responses may be $refs to components; resolve one level by hand.
  let response = op.responses[key] as {
    $ref?: string;
    content?: Record<string, { schema: unknown }>;
  };
  let schemaRef = `${ref}/content/application~1json/schema`;
  if (response.$ref !== undefined) {
    const name = response.$ref.split("/").at(-1)!;
    response = (OPENAPI.components as {
      responses: Record<string, typeof response>;
    }).responses[name]!;
    schemaRef =
      `openapi#/components/responses/${name}/content/application~1json/schema`;
  }
  if (response.content?.["application/json"] === undefined) {
    return [`${method} ${template} ${status}: a JSON body is not documented`];
  }
  const validate = ajv.getSchema(schemaRef);
  if (validate === undefined) return [`${schemaRef}: no schema`];
  if (validate(JSON.parse(body))) return [];
  return (validate.errors ?? []).map((e) =>
    `${method} ${template} ${status}: ${e.instancePath} ${e.message}`
  );
}

/**
 * A fetch that checks every answer with {@linkcode checkAnswer} and records
 * the problems in `problems` (the body is read from a clone).
 */
export function validatingFetch(
  problems: string[],
  inner: typeof fetch = fetch,
): typeof fetch {
  return async (input, init) => {
    const res = await inner(input, init);
    const method = init?.method ?? "GET";
    const type = res.headers.get("content-type");
    const body = type?.startsWith("application/json")
      ? await res.clone().text()
      : "";
    problems.push(
      ...checkAnswer(method, String(input), res.status, type, body),
    );
    return res;
  };
}
