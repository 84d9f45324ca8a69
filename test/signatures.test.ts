// Signed images (issue 15; docs/image-format.md section 14). A forger who changes a file's cluster,
// a FAT entry or the boot sector and recomputes every check gets an image that the checks alone
// accept; with --key, verify and restore refuse it and the target is left as it was. Wrong keys,
// truncated and copied signatures, a security version below the minimum and unsigned images are
// refused by name, with nothing written. OpenSSL verifies clusterback's signatures and makes keys
// clusterback accepts (skipped where openssl is not installed; CI installs it).
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import t from "tap";
import { S, SIG_SECTION_BYTES, signedMessage } from "../firmware-module/src/ops/signature";
import * as api from "../host-shim/src/cli/api";
import { Core } from "../host-shim/src/native/core";
import { forgeCluster, forgeMeta, layout } from "./helpers/image-forge";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cb-sig-"));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
const core = new Core({ backgroundWrites: false });
const CLI = path.join(__dirname, "..", "dist", "host-shim", "src", "cli", "cli.js");
const sha = (f: string) => crypto.createHash("sha256").update(fs.readFileSync(f)).digest("hex");
const file = (name: string) => path.join(tmp, name);
const hasOpenssl = spawnSync("openssl", ["version"]).status === 0;

const volume = file("vol.img");
fs.writeFileSync(
  volume,
  zlib.gunzipSync(fs.readFileSync(path.join(__dirname, "fixtures", "volumes", "fat16-full.img.gz"))),
);
const factory = api.generateKeys(file("factory"));
const other = api.generateKeys(file("other"));
const trust = (keyFile: string, minVersion?: number) => ({ keys: [api.readPublicKey(keyFile)], minVersion });

const signed = file("signed.cbi");
const b = api.backup(core, volume, { image: signed, sign: { keyFile: factory.privateFile, securityVersion: 7 } });
const imageBytes = fs.readFileSync(signed);
const g = layout(imageBytes);

function cli(args: string[], input?: Buffer): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { input, encoding: "latin1", maxBuffer: 1 << 28 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** A restore target that differs from the volume (a file overwritten), to see whether anything is written. */
function damagedTarget(name: string): string {
  const f = file(name);
  const bytes = fs.readFileSync(volume);
  bytes.fill(0xa5, bytes.length - 8 * g.clusterBytes);
  bytes.fill(0x5a, g.metaBytes, g.metaBytes + 4 * g.clusterBytes);
  fs.writeFileSync(f, bytes);
  return f;
}

/** The image's refusal by restore --key: the message matches, and the target is byte for byte as it was. */
function refusedRestore(tt: typeof t, image: string, keyFile: string, re: RegExp, minVersion?: number): void {
  const target = damagedTarget(`target-${path.basename(image)}.img`);
  const before = sha(target);
  tt.throws(() => api.restore(core, image, target, { trust: trust(keyFile, minVersion) }), re, "restore refuses it");
  tt.equal(sha(target), before, "the target is as it was");
}

t.test("a backup signs as it writes: the section follows the commit record, and the key accepts it", (t) => {
  t.same(b.signature, {
    keyId: Buffer.from(factory.keyId.subarray(0, 16)).toString("hex"),
    securityVersion: 7,
    checked: false,
  });
  t.equal(imageBytes.length, g.length + SIG_SECTION_BYTES, "image, then one sector of signature");
  t.equal(imageBytes.subarray(g.length, g.length + 8).toString("latin1"), "CBSIGNAT");
  const v = api.verify(core, signed, { trust: trust(factory.publicFile, 7) });
  t.ok(v.ok);
  t.same(v.signature, { ...b.signature, checked: true });
  const target = damagedTarget("good-target.img");
  const r = api.restore(core, signed, target, { trust: trust(factory.publicFile) });
  t.ok(r.verified && r.signature?.checked, "restored, signature checked");
  t.equal(api.info(core, signed).signature?.securityVersion, 7, "info shows the security version");
  t.end();
});

t.test("with the writer thread, the digest is taken on it: the same signature, accepted", (t) => {
  const threaded = new Core({ backgroundWrites: true });
  t.teardown(() => threaded.dispose());
  const f = file("threaded.cbi");
  api.backup(threaded, volume, { image: f, sign: { keyFile: factory.privateFile, securityVersion: 7 } });
  t.ok(api.verify(core, f, { trust: trust(factory.publicFile, 7) }).ok, "signed on the thread, checked here");
  const target = damagedTarget("threaded-target.img");
  const r = api.restore(threaded, signed, target, { trust: trust(factory.publicFile) });
  t.ok(r.signature?.checked && r.verified, "checked on the thread while the restore read");
  const forged = file("threaded-forged.cbi");
  fs.writeFileSync(
    forged,
    Buffer.concat([
      forgeCluster(Uint8Array.from(imageBytes.subarray(0, g.length)), 0, new Uint8Array(g.clusterBytes)),
      imageBytes.subarray(g.length),
    ]),
  );
  const t2 = damagedTarget("threaded-target2.img"),
    before = sha(t2);
  t.throws(() => api.restore(threaded, forged, t2, { trust: trust(factory.publicFile) }), /do not match what key/);
  t.equal(sha(t2), before, "refused on the thread's digest too: the target is as it was");
  t.end();
});

t.test("a forger who recomputes every check is accepted by the checks, refused by the key", (t) => {
  const cluster = new Uint8Array(g.clusterBytes).fill(0x66);
  const forgeries: Record<string, Uint8Array> = {
    "a file's cluster": forgeCluster(Uint8Array.from(imageBytes.subarray(0, g.length)), 1, cluster),
    "a FAT entry": forgeMeta(Uint8Array.from(imageBytes.subarray(0, g.length)), 512 + 8, new Uint8Array([0xff, 0xff])),
    "the boot sector": forgeMeta(Uint8Array.from(imageBytes.subarray(0, g.length)), 3, Buffer.from("EVIL4YOU")),
  };
  for (const [what, forged] of Object.entries(forgeries)) {
    // the forger keeps the signature section of the real image (it would not help to drop it)
    const f = file(`forged-${what.replace(/\W+/g, "-")}.cbi`);
    fs.writeFileSync(f, Buffer.concat([forged, imageBytes.subarray(g.length)]));
    const plain = api.verify(core, f);
    t.ok(plain.ok, `${what}: without --key, every check passes`);
    t.equal(plain.signature?.checked, false, `${what}: ...and the result says the signature was not checked`);
    t.throws(
      () => api.verify(core, f, { trust: trust(factory.publicFile) }),
      /do not match what key [0-9a-f]{32} signed/,
      `${what}: verify --key refuses it`,
    );
    refusedRestore(t, f, factory.publicFile, /do not match what key .* signed.*nothing was written/);
    // the forger strips the signature instead: unsigned
    const stripped = file(`stripped-${what.replace(/\W+/g, "-")}.cbi`);
    fs.writeFileSync(stripped, forged);
    t.throws(
      () => api.verify(core, stripped, { trust: trust(factory.publicFile) }),
      /is not signed/,
      `${what}, stripped: refused`,
    );
    const r = cli(["verify", stripped]);
    t.equal(r.status, 0, `${what}, stripped: accepted without --key...`);
    t.match(r.stdout, /unsigned: its origin is not checked/, "...saying it is unsigned");
  }
  t.end();
});

t.test("each bad signature is refused by name, and nothing is written", (t) => {
  const cases: Array<[string, Buffer, string, RegExp, number?]> = [];
  cases.push(["another key", imageBytes, other.publicFile, /signed by key [0-9a-f]{32}, which is not trusted here/]);
  cases.push([
    "truncated section",
    imageBytes.subarray(0, g.length + 100),
    factory.publicFile,
    /truncated \(100 of 512 bytes\)/,
  ]);
  const damaged = Buffer.from(imageBytes);
  damaged[g.length + S.signature + 5] ^= 1;
  cases.push(["a flipped bit in the section", damaged, factory.publicFile, /signature section .* is damaged/]);
  // the signature bytes changed and the section's check recomputed: only Ed25519 catches it
  cases.push([
    "a forged signature",
    resealSection(damaged),
    factory.publicFile,
    /Ed25519 signature by key .* is not valid/,
  ]);
  cases.push([
    "below the minimum security version",
    imageBytes,
    factory.publicFile,
    /security version 7, below the minimum 8/,
    8,
  ]);
  cases.push([
    "unsigned",
    imageBytes.subarray(0, g.length),
    factory.publicFile,
    /is not signed: nothing follows its commit record/,
  ]);
  // a section copied from another image of the same length: its digest is the other image's
  const twin = file("twin.cbi");
  api.backup(core, volume, { image: twin, name: "a twin", sign: { keyFile: factory.privateFile } });
  const twinBytes = fs.readFileSync(twin);
  t.equal(twinBytes.length, imageBytes.length, "a twin image of the same length (another name in its header)");
  cases.push([
    "a signature copied from another image",
    Buffer.concat([imageBytes.subarray(0, g.length), twinBytes.subarray(g.length)]),
    factory.publicFile,
    /do not match what key .* signed/,
  ]);
  for (const [what, bytes, key, re, min] of cases) {
    const f = file(`bad-${what.replace(/\W+/g, "-")}.cbi`);
    fs.writeFileSync(f, bytes);
    t.throws(() => api.verify(core, f, { trust: trust(key, min) }), re, `${what}: verify refuses`);
    refusedRestore(t, f, key, re, min);
    const r = cli([
      "restore",
      f,
      damagedTarget(`cli-${path.basename(f)}.img`),
      "--key",
      key,
      ...(min ? ["--min-version", String(min)] : []),
    ]);
    t.equal(r.status, 1, `${what}: the CLI exits 1`);
    t.match(r.stderr, re, `${what}: and says why`);
  }
  t.end();
});

/** The section with its check made to match again (a forger's last step). */
function resealSection(img: Buffer): Buffer {
  const out = Buffer.from(img);
  const section = out.subarray(g.length, g.length + SIG_SECTION_BYTES);
  section.fill(0, S.check, S.check + 8);
  const check = BigInt(`0x${core.checkOf(Uint8Array.from(section), 5)}`);
  new DataView(section.buffer, section.byteOffset, 512).setBigUint64(S.check, check, true);
  return out;
}

t.test("signing after the fact, streams, and the CLI's checks of its arguments", (t) => {
  const unsigned = file("later.cbi");
  api.backup(core, volume, { image: unsigned });
  const s = api.sign(core, unsigned, factory.privateFile, 9);
  t.equal(s.signature.securityVersion, 9);
  t.ok(api.verify(core, unsigned, { trust: trust(factory.publicFile, 9) }).ok, "signed after the fact: accepted");
  t.equal(fs.readFileSync(unsigned).subarray(0, g.length).compare(imageBytes.subarray(0, g.length)) !== 0, true);
  const resigned = api.sign(core, unsigned, other.privateFile, 10);
  t.equal(resigned.replaced?.securityVersion, 9, "signing again replaces the signature, and says so");
  // a stream: signed on the way out, checked on the way in
  const out = cli(["backup", volume, "--image", "-", "--sign", factory.privateFile, "--security-version", "2"]);
  t.equal(out.status, 0, out.stderr);
  const stream = Buffer.from(out.stdout, "latin1");
  const v = cli(["verify", "-", "--key", factory.publicFile, "--min-version", "2"], stream);
  t.equal(v.status, 0, v.stderr);
  t.match(v.stdout, /signed by trusted key/);
  const target = damagedTarget("stream-target.img");
  const bad = cli(["restore", "-", target, "--key", other.publicFile], stream);
  t.equal(bad.status, 1);
  t.match(
    bad.stderr,
    /not trusted here.*the target keeps its restore mark/,
    "one pass: refused before the boot sector",
  );
  t.match(cli(["info", target]).stdout, /was interrupted here/, "the target is marked, not mountable");
  const good = cli(["restore", "-", target, "--key", factory.publicFile], stream);
  t.equal(good.status, 0, good.stderr);
  t.equal(cli(["verify", signed, "--against", target]).status, 0, "the restored target matches the image");
  // arguments
  t.match(cli(["verify", signed, "--min-version", "3"]).stderr, /--min-version goes with --key/);
  t.match(cli(["restore", signed, target, "--sign", factory.privateFile]).stderr, /--sign goes with backup/);
  t.match(cli(["verify", signed, "--key", file("nope.pub")]).stderr, /key .*nope\.pub: no such file/);
  t.match(
    cli(["backup", volume, "--image", file("x.cbi"), "--sign", factory.publicFile]).stderr,
    /is not a private key/,
  );
  t.notOk(fs.existsSync(file("x.cbi")), "a bad signing key fails before the image is made");
  t.match(cli(["keygen", file("factory")]).stderr, /exists: keygen does not replace a key/);
  t.equal((fs.statSync(factory.privateFile).mode & 0o777).toString(8), "600", "the private key is its owner's only");
  t.end();
});

t.test(
  "OpenSSL verifies clusterback's signatures and makes keys clusterback accepts",
  { skip: !hasOpenssl && "openssl is not installed" },
  (t) => {
    const section = imageBytes.subarray(g.length, g.length + SIG_SECTION_BYTES);
    fs.writeFileSync(file("message.bin"), signedMessage(section, imageBytes.subarray(0, 512)));
    fs.writeFileSync(file("signature.bin"), section.subarray(S.signature, S.signature + 64));
    const ok = spawnSync(
      "openssl",
      [
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        factory.publicFile,
        "-rawin",
        "-in",
        file("message.bin"),
        "-sigfile",
        file("signature.bin"),
      ],
      { encoding: "utf8" },
    );
    t.equal(ok.status, 0, ok.stderr);
    t.match(ok.stdout, /Signature Verified Successfully/);
    const no = spawnSync(
      "openssl",
      [
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        other.publicFile,
        "-rawin",
        "-in",
        file("message.bin"),
        "-sigfile",
        file("signature.bin"),
      ],
      { encoding: "utf8" },
    );
    t.not(no.status, 0, "and refuses it with another key");
    // a key OpenSSL made signs images clusterback accepts
    t.equal(spawnSync("openssl", ["genpkey", "-algorithm", "ed25519", "-out", file("ossl.key")]).status, 0);
    t.equal(spawnSync("openssl", ["pkey", "-in", file("ossl.key"), "-pubout", "-out", file("ossl.pub")]).status, 0);
    const img = file("ossl.cbi");
    api.backup(core, volume, { image: img, sign: { keyFile: file("ossl.key") } });
    t.ok(api.verify(core, img, { trust: trust(file("ossl.pub")) }).ok, "an OpenSSL key's signature is accepted");
    // and the public key clusterback exports is OpenSSL's (same DER)
    const pem = spawnSync("openssl", ["pkey", "-in", factory.privateFile, "-pubout"], { encoding: "utf8" }).stdout;
    t.equal(
      pem.trim(),
      fs.readFileSync(factory.publicFile, "utf8").trim(),
      "keygen's public key is what OpenSSL derives",
    );
    t.end();
  },
);
