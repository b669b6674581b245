/**
 * Typed errors of the key-value state machine. Each has a stable `code`;
 * `http/errors.ts` maps codes to status codes. kv imports nothing from the
 * rest of raftkv, so these errors have their own root class.
 *
 * @module
 */

/** The root of the kv errors: `code` is stable and machine-readable. */
export class KvError extends Error {
  /** A stable snake_case identifier of the error kind. */
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A key that is not 1 to 4096 bytes of UTF-8. */
export class InvalidKeyError extends KvError {
  constructor(message: string) {
    super("invalid_key", message);
  }
}

/** Bytes that are not a well-formed command, or a command with bad fields. */
export class InvalidCommandError extends KvError {
  constructor(message: string) {
    super("invalid_command", message);
  }
}

/** Bytes that are not a snapshot this version of the store can restore. */
export class InvalidSnapshotError extends KvError {
  constructor(message: string) {
    super("invalid_snapshot", message);
  }
}

/**
 * An entry applied at an index not above the applied index: a bug in the
 * caller, which must apply each index once and in order.
 */
export class ApplyOrderError extends KvError {
  constructor(index: number, appliedIndex: number) {
    super(
      "apply_order",
      `cannot apply index ${index}: already applied up to ${appliedIndex}`,
    );
  }
}

/** The key does not exist (HTTP 404). */
export class KeyNotFoundError extends KvError {
  constructor() {
    super("key_not_found", "key not found");
  }
}

/**
 * A write's condition (`If-Match` / `If-None-Match`) did not hold (HTTP 412).
 * `currentIndex` is the index of the write that set the key, 0 when absent.
 */
export class PreconditionFailedError extends KvError {
  /** The key's current write index, 0 when the key is absent. */
  readonly currentIndex: number;
  constructor(currentIndex: number) {
    super(
      "precondition_failed",
      currentIndex === 0
        ? "precondition failed: the key is absent"
        : `precondition failed: the key was last written at index ${currentIndex}`,
    );
    this.currentIndex = currentIndex;
  }
}

/**
 * A watch position older than the history this node keeps (HTTP 410
 * `compacted`). `compactIndex` is the oldest index it can still deliver.
 */
export class CompactedError extends KvError {
  /** The oldest `from` this node can serve now. */
  readonly compactIndex: number;
  constructor(from: number, compactIndex: number) {
    super(
      "compacted",
      `index ${from} is compacted: this node keeps changes from index ${compactIndex} on`,
    );
    this.compactIndex = compactIndex;
  }
}

/** A JSON value field that is missing, doubled or not decodable (HTTP 400). */
export class InvalidValueError extends KvError {
  constructor(message: string) {
    super("invalid_value", message);
  }
}

/** A lease that does not exist (any more): HTTP 404 `lease_not_found`. */
export class LeaseNotFoundError extends KvError {
  /** The lease asked for. */
  readonly lease: number;
  constructor(lease: number) {
    super("lease_not_found", `lease ${lease} not found`);
    this.lease = lease;
  }
}
