// Background writes: a worker thread that performs file writes from the core's shared memory,
// in order, while the core reads and checks the next block (partclone overlaps its reads and
// writes with threads too). The host keeps the core's view consistent: a read into memory that
// a queued write still uses, a read from a file with queued writes, and a flush all wait first.
// The same thread can take an image's SHA-256 (a signed image, docs/image-format.md section 14)
// off the job's thread: ranges of the core's memory, and bytes copied to a scratch area, hashed
// in the order they were queued.
import * as fs from "node:fs";
import { Worker } from "node:worker_threads";
import { DeviceCode, DeviceError } from "../../../firmware-module/src/ops/errors";

const SLOTS = 64;
const SCRATCH_BYTES = 1 << 20;
// a slot's operation: bits of its sixth int
const OP_WRITE = 1,
  OP_HASH_MEMORY = 2,
  OP_HASH_SCRATCH = 4,
  OP_DIGEST = 8;
const HEAD = 0,
  DONE = 1,
  ERROR = 2,
  STOP = 3,
  READY = 4,
  FIRST_SLOT = 8,
  SLOT_INTS = 6;

const workerSource = `
const { workerData } = require("node:worker_threads");
const fs = require("node:fs");
const crypto = require("node:crypto");
const mem = new Uint8Array(workerData.memory);
const scratch = new Uint8Array(workerData.scratch);
const digestOut = new Uint8Array(workerData.digest);
const ctl = new Int32Array(workerData.control);
let next = 0, hash = null;
Atomics.store(ctl, ${READY}, 1);
for (;;) {
  while (Atomics.load(ctl, ${HEAD}) === next) {
    if (Atomics.load(ctl, ${STOP})) process.exit(0);
    Atomics.wait(ctl, ${HEAD}, next, 1000);
  }
  const s = ${FIRST_SLOT} + (next % ${SLOTS}) * ${SLOT_INTS};
  const fd = ctl[s], ptr = ctl[s + 1] >>> 0, len = ctl[s + 2] >>> 0;
  const pos = (ctl[s + 3] >>> 0) + (ctl[s + 4] >>> 0) * 4294967296;
  const op = ctl[s + 5];
  try {
    if (op & ${OP_WRITE}) {
      let done = 0;
      while (done < len) done += fs.writeSync(fd, mem, ptr + done, len - done, pos + done);
    }
    if (op & ${OP_HASH_MEMORY}) (hash ??= crypto.createHash("sha256")).update(mem.subarray(ptr, ptr + len));
    if (op & ${OP_HASH_SCRATCH}) (hash ??= crypto.createHash("sha256")).update(scratch.subarray(ptr, ptr + len));
    if (op & ${OP_DIGEST}) {
      digestOut.set((hash ?? crypto.createHash("sha256")).digest());
      hash = null;
    }
  } catch (e) {
    Atomics.store(ctl, ${ERROR}, Math.abs(e.errno || 5));
  }
  next++;
  Atomics.store(ctl, ${DONE}, next);
  Atomics.notify(ctl, ${DONE});
}`;

interface Pending {
  seq: number;
  fd: number;
  ptr: number;
  end: number;
  position: number;
  positionEnd: number;
}

export class AsyncWriter {
  private readonly control = new Int32Array(new SharedArrayBuffer((FIRST_SLOT + SLOTS * SLOT_INTS) * 4));
  private readonly worker: Worker;
  private enqueued = 0;
  private pending: Pending[] = [];
  private readonly scratch = new SharedArrayBuffer(SCRATCH_BYTES);
  private readonly digestArea = new SharedArrayBuffer(32);
  /** The last queued operation that reads the scratch area. */
  private scratchSeq = 0;

  constructor(private readonly memory: SharedArrayBuffer) {
    this.worker = new Worker(workerSource, {
      eval: true,
      workerData: { memory, control: this.control.buffer, scratch: this.scratch, digest: this.digestArea },
    });
    this.worker.unref();
  }

  private get done(): number {
    return Atomics.load(this.control, DONE);
  }

  private waitFor(seq: number): void {
    for (let d = this.done; d < seq; d = this.done) Atomics.wait(this.control, DONE, d, 1000);
    this.pending = this.pending.filter((p) => p.seq > seq);
    const err = Atomics.exchange(this.control, ERROR, 0);
    if (err) throw new DeviceError(DeviceCode.io, `background write failed (errno ${err})`);
  }

  /**
   * Queues a write of memory[ptr, ptr + byteCount) to fd at position. Until the thread has
   * started (tens of milliseconds), writes are made here and now, so that a job never waits
   * for the thread; once it runs, every write goes through it, in order.
   */
  enqueue(fd: number, ptr: number, byteCount: number, position: number): void {
    if (this.enqueued === 0 && !Atomics.load(this.control, READY) && !this.hashing) {
      const mem = new Uint8Array(this.memory);
      try {
        for (let done = 0; done < byteCount; )
          done += fs.writeSync(fd, mem, ptr + done, byteCount - done, position + done);
      } catch (e) {
        throw new DeviceError(DeviceCode.io, `write error at byte ${position}: ${(e as Error).message}`);
      }
      return;
    }
    if (this.enqueued - this.done >= SLOTS) this.waitFor(this.enqueued - SLOTS + 1);
    const s = FIRST_SLOT + (this.enqueued % SLOTS) * SLOT_INTS;
    const c = this.control;
    c[s] = fd;
    c[s + 1] = ptr;
    c[s + 2] = byteCount;
    c[s + 3] = position % 4294967296;
    c[s + 4] = Math.floor(position / 4294967296);
    c[s + 5] = OP_WRITE;
    this.enqueued++;
    this.pending.push({
      seq: this.enqueued,
      fd,
      ptr,
      end: ptr + byteCount,
      position,
      positionEnd: position + byteCount,
    });
    Atomics.store(c, HEAD, this.enqueued);
    Atomics.notify(c, HEAD);
  }

  /** A SHA-256 is being taken (hashMemory, hashBytes): every write goes through the queue, in order with it. */
  private hashing = false;

  /** Queues an operation that is not a write (a hash): memory[ptr, ptr + byteCount) is in use until it is done. */
  private enqueueOp(op: number, ptr: number, byteCount: number, memory: boolean): number {
    if (this.enqueued - this.done >= SLOTS) this.waitFor(this.enqueued - SLOTS + 1);
    const s = FIRST_SLOT + (this.enqueued % SLOTS) * SLOT_INTS;
    const c = this.control;
    c[s] = -1;
    c[s + 1] = ptr;
    c[s + 2] = byteCount;
    c[s + 3] = 0;
    c[s + 4] = 0;
    c[s + 5] = op;
    this.enqueued++;
    if (memory)
      this.pending.push({ seq: this.enqueued, fd: -1, ptr, end: ptr + byteCount, position: 0, positionEnd: 0 });
    Atomics.store(c, HEAD, this.enqueued);
    Atomics.notify(c, HEAD);
    return this.enqueued;
  }

  /** Adds the core's memory[ptr, ptr + byteCount) to the SHA-256 being taken (the memory stays in use until it is hashed). */
  hashMemory(ptr: number, byteCount: number): void {
    this.hashing = true;
    this.enqueueOp(OP_HASH_MEMORY, ptr, byteCount, true);
  }

  /** Adds bytes from this thread to the SHA-256 being taken, in order with what is queued. */
  hashBytes(bytes: Uint8Array): void {
    this.hashing = true;
    const scratch = new Uint8Array(this.scratch);
    for (let at = 0; at < bytes.length; at += SCRATCH_BYTES) {
      if (this.scratchSeq) this.waitFor(this.scratchSeq);
      const n = Math.min(SCRATCH_BYTES, bytes.length - at);
      scratch.set(bytes.subarray(at, at + n), 0);
      this.scratchSeq = this.enqueueOp(OP_HASH_SCRATCH, 0, n, false);
    }
  }

  /** The SHA-256 of everything hashed since the last digest (waits for it); the next hash starts afresh. */
  digest(): Uint8Array {
    this.waitFor(this.enqueueOp(OP_DIGEST, 0, 0, false));
    this.hashing = false;
    return new Uint8Array(this.digestArea).slice();
  }

  /** Waits for every queued write that still uses memory[ptr, ptr + byteCount). */
  beforeMemoryUse(ptr: number, byteCount: number): void {
    let last = 0;
    for (const p of this.pending) if (p.ptr < ptr + byteCount && ptr < p.end) last = p.seq;
    if (last) this.waitFor(last);
  }

  /** Waits for every queued write to fd that overlaps bytes [position, position + byteCount). */
  beforeFileRead(fd: number, position: number, byteCount: number): void {
    let last = 0;
    for (const p of this.pending)
      if (p.fd === fd && p.position < position + byteCount && position < p.positionEnd) last = p.seq;
    if (last) this.waitFor(last);
  }

  /** Waits for every queued write to fd. */
  beforeFileUse(fd: number): void {
    let last = 0;
    for (const p of this.pending) if (p.fd === fd) last = p.seq;
    if (last) this.waitFor(last);
  }

  drain(): void {
    if (this.enqueued > this.done || this.pending.length) this.waitFor(this.enqueued);
  }

  close(): void {
    this.drain();
    Atomics.store(this.control, STOP, 1);
    Atomics.notify(this.control, HEAD);
  }
}
