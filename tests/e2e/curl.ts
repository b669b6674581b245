/**
 * Running `curl` as users do, for the tests of raftexample's README
 * commands and scripts/cluster.sh.
 *
 * @module
 */

/** Whether a `curl` binary is on PATH (checked once, at load). */
export const HAS_CURL: boolean = (() => {
  try {
    return new Deno.Command("curl", { args: ["--version"], stdout: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
})();

/** What a curl command printed, and the HTTP status it got. */
export interface CurlResult {
  /** curl's exit status (0 unless it could not talk to the server). */
  code: number;
  /** The HTTP status of the (last) answer. */
  status: number;
  /** The answer's body. */
  body: string;
}

/**
 * Runs `curl` with `args` exactly as a user would type them after `curl`,
 * adding only `-sS` (no progress meter) and a `-w` that reports the status.
 */
export async function curl(args: string[]): Promise<CurlResult> {
  const out = await new Deno.Command("curl", {
    args: ["-sS", "--max-time", "30", ...args, "-w", "\n%{http_code}"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const cut = text.lastIndexOf("\n");
  return {
    code: out.code,
    status: Number(text.slice(cut + 1)),
    body: text.slice(0, cut),
  };
}
