// The recovery partition's image store (docs/recovery-store.md): slot choice never overwrites
// the factory image or the only good image, the table is committed atomically (a torn table
// copy leaves the previous one in force), manifests are checked.
import t from "tap";
import { ImageStore, StoreError, TABLE_BYTES } from "../firmware-module/src/ops/image-store";
import { RamDevice } from "../host-shim/src/native/devices";

const MiB = 1 << 20;
const commit = (s: ImageStore, slot: number, name: string) =>
  s.commit(slot, {
    kind: slot === 0 ? "factory" : "backup",
    imageBytes: 4096,
    created: 1,
    headerCrc: 7,
    name,
    sourcePartition: 1,
    manifest: new TextEncoder().encode(`{"n":"${name}"}`),
  });

for (const sectorSize of [512, 4096]) {
  t.test(`${sectorSize}-byte sectors: backups rotate over slots 1.., never over the factory image`, async (t) => {
    const dev = new RamDevice(sectorSize, (16 * MiB) / sectorSize);
    let s = ImageStore.format(dev, 3);
    t.equal(s.slotBytes, 5 * MiB, "(16 - 1) MiB / 3 slots");
    t.equal(s.manifest(0).length, 0, "an empty slot has no manifest");
    commit(s, s.pickSlot(true), "factory");
    const order: number[] = [];
    for (let i = 0; i < 5; i++) {
      const slot = s.pickSlot();
      order.push(slot);
      s.beginWrite(slot);
      commit(s, slot, `b${i}`);
      s = ImageStore.open(dev); // what a reboot sees
    }
    t.same(order, [1, 2, 1, 2, 1], "free slots first, then the oldest backup");
    t.same(
      s.images().map((i) => i.name),
      ["b4", "b3", "factory"],
      "newest first; the factory image stays",
    );
    t.equal(new TextDecoder().decode(s.manifest(0)), '{"n":"factory"}');
  });
}

t.test("the only good image is never overwritten; a one-slot store takes no backup", async (t) => {
  const dev = new RamDevice(512, (8 * MiB) / 512);
  const s = ImageStore.format(dev, 2);
  commit(s, 1, "only");
  t.throws(() => s.beginWrite(1), StoreError, "slot 1 holds the only good image");
  const one = ImageStore.format(new RamDevice(512, (4 * MiB) / 512), 1);
  t.throws(() => one.pickSlot(), /only the factory slot/);
});

t.test("a torn or lost table write leaves the previous table in force", async (t) => {
  const dev = new RamDevice(512, (8 * MiB) / 512);
  const s = ImageStore.format(dev, 2);
  commit(s, 0, "factory");
  const before = ImageStore.open(dev)
    .images()
    .map((i) => i.name);
  const seq = s.sequence;
  // the next commit goes to copy (seq + 1) % 2: tear it (half of it written)
  const copy = (seq + 1) % 2;
  const saved = dev.bytes.slice(copy * TABLE_BYTES, (copy + 1) * TABLE_BYTES);
  commit(s, 1, "new");
  dev.bytes.set(saved.subarray(TABLE_BYTES / 2), copy * TABLE_BYTES + TABLE_BYTES / 2);
  t.same(
    ImageStore.open(dev)
      .images()
      .map((i) => i.name),
    before,
    "the torn copy fails its CRC: the old table is in force",
  );
  dev.bytes.fill(0, 0, 2 * TABLE_BYTES);
  t.throws(() => ImageStore.open(dev), /no image store/, "no valid copy: a named error");
});

t.test("a manifest that fails its check is refused by name", async (t) => {
  const dev = new RamDevice(512, (8 * MiB) / 512);
  const s = ImageStore.format(dev, 2);
  const info = commit(s, 0, "factory");
  dev.bytes[MiB + info.manifestOffset] ^= 1;
  t.throws(() => s.manifest(0), /slot 0's manifest fails its check/);
});
