/**
 * Child process of logger_test.ts: logs one line at each level through
 * jsonLogger with the level given as the first argument.
 */

import { isLogLevel, jsonLogger } from "../../raft/logger.ts";

const level = Deno.args[0] ?? "";
if (!isLogLevel(level)) throw new Error(`not a level: ${level}`);
const logger = jsonLogger(level, { node: 7 });
logger.debug("debug line", { detail: 1 });
logger.info("info line", { detail: 2 });
logger.warn("warn line", { detail: 3 });
logger.error("error line", { detail: 4 });
