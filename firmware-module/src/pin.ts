// The service PIN (issue 15, item 4): restores and backups from the front panel ask for it. The
// profile holds its salted, slow hash (service.pin: PBKDF2-HMAC-SHA256 through the host); the PIN
// itself is handed to the host's pbkdf2Sha256 and forgotten when the check returns. After
// PIN_TRIES wrong PINs in a row the check refuses every PIN for LOCK_FIRST_MS, and each further
// wrong PIN doubles the wait (up to LOCK_MAX_MS). The count lives as long as the firmware: a
// reboot is slower than the lock, and a printer that must count across reboots keeps it in its
// own non-volatile memory.

import { fromHex } from "./ops/bytes";

export const PIN_TRIES = 5;
export const LOCK_FIRST_MS = 30_000;
export const LOCK_MAX_MS = 3_600_000;

export interface PinSpec {
  digits: number;
  salt: string;
  iterations: number;
  hash: string;
}

export type PinAnswer = { ok: true } | { ok: false; triesLeft: number; lockedMs: number };

export class PinGuard {
  private failures = 0;
  private lockedUntil = Number.NEGATIVE_INFINITY;

  constructor(
    readonly spec: PinSpec,
    /** PBKDF2-HMAC-SHA256(password, salt, iterations, 32): the host's. */
    private readonly pbkdf2: (password: Uint8Array, salt: Uint8Array, iterations: number) => Uint8Array,
    private readonly now: () => number,
  ) {}

  get digits(): number {
    return this.spec.digits;
  }

  /** Milliseconds the check still refuses every PIN (0: not locked). */
  lockedMs(): number {
    return Math.max(0, this.lockedUntil - this.now());
  }

  /** Checks a PIN (its digits, wiped here whatever the answer). */
  check(digits: number[]): PinAnswer {
    const locked = this.lockedMs();
    if (locked > 0) {
      digits.fill(0);
      return { ok: false, triesLeft: 0, lockedMs: locked };
    }
    const pin = new Uint8Array(digits.map((d) => 0x30 + d));
    digits.fill(0);
    const derived = this.pbkdf2(pin, fromHex(this.spec.salt), this.spec.iterations);
    pin.fill(0);
    const want = fromHex(this.spec.hash);
    let diff = derived.length ^ want.length;
    for (let i = 0; i < want.length; i++) diff |= (derived[i] ?? 0) ^ want[i]; // every byte, whatever differs first
    if (diff === 0) {
      this.failures = 0;
      return { ok: true };
    }
    this.failures++;
    if (this.failures >= PIN_TRIES) {
      const wait = Math.min(LOCK_MAX_MS, LOCK_FIRST_MS * 2 ** (this.failures - PIN_TRIES));
      this.lockedUntil = this.now() + wait;
      return { ok: false, triesLeft: 0, lockedMs: wait };
    }
    return { ok: false, triesLeft: PIN_TRIES - this.failures, lockedMs: 0 };
  }
}
