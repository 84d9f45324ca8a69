#!/usr/bin/env python3
"""volgen.py - fill a freshly formatted FAT volume with realistic, seeded content (mtools only).

Used by make-volume.sh; every filesystem change goes through mtools (mmd, mcopy, mdel,
mdeltree) and every measurement through `fsck.fat -n -v`, so the on-disk structures are the
ones real tools produce.  This script only decides names, sizes, contents, timestamps and
the order of operations, all from the seed.

  volgen.py populate IMG --fill PCT --seed N --stage DIR     fill IMG, print key=value stats
  volgen.py stats IMG                                        used bytes, fragmentation

How the volume gets fragmented (mtools allocates from the FSInfo next-free hint, then wraps
round to cluster 2 and takes the first free clusters, like most FAT drivers):
  1. tree     directories (nested up to --depth), a few in the root, long/odd names
  2. first    files up to target*(1+--overshoot) of the capacity: laid out contiguously
  3. ballast  zero files up to ~98% of the capacity: moves the next-free hint to the end
  4. churn    delete the ballast and a seeded random subset of the files: holes of every
              size all over the used area (their stale data stays, as on a real disk)
  5. refill   new files (and a few new directories), with more big and medium ones; they
              wrap round and are split across the holes, so many of them are fragmented;
              4-5 repeat --cycles times (later cycles delete from every generation)
  6. top-up   small files until the used size is within ~0.3% of the target

Determinism: no set/dict-of-set iteration, sorted candidate lists, one random.Random per
purpose, mtimes from the seed (mcopy -m), SOURCE_DATE_EPOCH and TZ=UTC for mtools.
"""
import argparse
import os
import random
import re
import shutil
import struct
import subprocess
import sys

KIB, MIB = 1 << 10, 1 << 20
TOOL_ENV = dict(os.environ, MTOOLS_SKIP_CHECK="1", TZ="UTC", SOURCE_DATE_EPOCH="1600000000",
                LC_ALL="C.UTF-8")

VOCAB = """invoice quote order receipt statement payroll budget forecast ledger audit
minutes agenda memo proposal contract amendment appendix draft final review signed scan
photo portrait landscape sunset beach mountain lake city street party wedding birthday
concert rehearsal lecture seminar workshop course module lesson exercise solution exam
firmware bootloader driver kernel patch hotfix release build nightly snapshot config
profile preset template theme font icon sprite texture level save replay screenshot
customer supplier partner vendor team office branch region north south east west central
alpha bravo charlie delta echo foxtrot kilo lima oscar sierra tango victor zulu
printer scanner camera phone tablet laptop router switch sensor gauge meter controller
spring summer autumn winter morning evening weekend holiday trip journey visit return
""".split()

TOP = ["My Documents", "Photos", "Music Library", "Video", "Source Code", "Program Files (x86)",
       "Downloads", "Backup Sets", "Scans", "Games", "Projects 2019-2024", "DCIM",
       "Shared", "Print Jobs", "Firmware Updates", "temp"]

# extension -> content kind; a kind's compressibility is what matters to imaging tools
EXT = {
    "random": [".jpg", ".JPG", ".mp3", ".zip", ".7z", ".png", ".mp4", ".mov", ".gz", ".pdf", ".heic"],
    "text": [".txt", ".log", ".csv", ".html", ".xml", ".json", ".ini", ".c", ".h", ".py", ".md", ".gcode"],
    "lowent": [".bmp", ".wav", ".exe", ".dll", ".doc", ".xls", ".tif", ".bin", ".dbf"],
    "sparse": [".img", ".vhd", ".db", ".sqlite", ".iso", ".pst", ".dat", ".raw"],
}
ODD_SUFFIX = [" (1)", " (2)", " - Copy", " copy 2", " v2.1.3", ", rev B", "; old", " (draft)",
              " {backup}", " #12", " 50%", " a+b=c", " Tom's", " & co", " -1", " !!", " @home",
              " ($)", "...final", " x  y"]
# No "[ ]" (mdel reads them as a wildcard class) and no " ~" (mtools 4.0.32 turns "sprite ~1.html"
# into the bare short name "SPRITE~" without its long name); mtools makes ~N aliases itself.
ACCENT = ["café", "Müller", "résumé", "Ångström", "niño", "façade", "Zürich", "Øresund"]


def say(*a):
    print("[volgen]", *a, file=sys.stderr, flush=True)


def tool(args):
    p = subprocess.run(args, env=TOOL_ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode:
        sys.stderr.write(p.stdout[-4000:])
        raise SystemExit("volgen: %s failed (exit %d)" % (" ".join(args[:4]), p.returncode))
    return p.stdout


def fsck_stats(img):
    """fsck.fat -n -v: cluster size, data clusters, used clusters, entries, data offset."""
    out = subprocess.run(["fsck.fat", "-n", "-v", img], env=TOOL_ENV, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True).stdout
    try:
        cl = int(re.search(r"^\s*(\d+) bytes per cluster", out, re.M).group(1))
        data = int(re.search(r"Data area starts at byte (\d+)", out).group(1))
        m = re.search(r"(\d+) files, (\d+)/(\d+) clusters", out)
    except AttributeError:
        m = None
    if not m:
        sys.stderr.write(out)
        raise SystemExit("volgen: cannot parse fsck.fat -n -v output for %s" % img)
    return {"cluster": cl, "data_start": data, "entries": int(m.group(1)),
            "used": int(m.group(2)), "clusters": int(m.group(3))}


def fat32_geometry(img):
    """(bytes per sector, bytes per cluster, data start byte, cluster count, FAT #1 offset)."""
    with open(img, "rb") as f:
        bs = f.read(512)
    bps, spc, rsv, nfats = struct.unpack_from("<HBHB", bs, 11)
    rootents, tot16, _media, fat16sz = struct.unpack_from("<HHBH", bs, 17)
    tot = tot16 or struct.unpack_from("<I", bs, 32)[0]
    fatsz = fat16sz or struct.unpack_from("<I", bs, 36)[0]
    rootsec = (rootents * 32 + bps - 1) // bps
    data = (rsv + nfats * fatsz + rootsec) * bps
    nclus = (tot - rsv - nfats * fatsz - rootsec) // spc
    if bps not in (512, 1024, 2048, 4096) or not spc or nclus < 65525:
        raise SystemExit("volgen: %s is not a FAT32 volume" % img)
    return bps, spc * bps, data, nclus, rsv * bps


def allocated_runs(img):
    """Runs (first cluster, count) of allocated clusters (FAT #1 entry neither 0 nor bad)."""
    _bps, _cl, _data, nclus, fatoff = fat32_geometry(img)
    with open(img, "rb") as f:
        f.seek(fatoff)
        fat = memoryview(f.read((nclus + 2) * 4)).cast("I")
    runs, start = [], None
    for c in range(2, nclus + 2):
        v = fat[c] & 0x0FFFFFFF
        if v != 0 and v != 0x0FFFFFF7:
            if start is None:
                start = c
        elif start is not None:
            runs.append((start, c - start))
            start = None
    if start is not None:
        runs.append((start, nclus + 2 - start))
    return runs


def usedcmp(a):
    """Compare the used area (everything before the data area + every cluster allocated in
    SOURCE's FAT) of SOURCE and TARGET; free clusters are not compared."""
    _bps, cl, data, _n, _f = fat32_geometry(a.source)
    spans = [(0, data)] + [(data + (c - 2) * cl, n * cl) for c, n in allocated_runs(a.source)]
    total = 0
    with open(a.source, "rb") as fs, open(a.target, "rb") as ft:
        for off, length in spans:
            fs.seek(off)
            ft.seek(off)
            while length:
                n = min(length, 8 * MIB)
                x, y = fs.read(n), ft.read(n)
                if x != y:
                    i = next(k for k in range(min(len(x), len(y))) if x[k] != y[k]) if len(x) == len(y) else min(len(x), len(y))
                    print("used_area_identical=no first_difference_at_byte=%d compared_bytes=%d" % (off + i, total + i))
                    return 1
                off += n
                length -= n
                total += n
    print("used_area_identical=yes compared_bytes=%d" % total)
    return 0


def fat_fragmentation(img):
    """From FAT #1: (fragment boundaries in chains, fragmented chains, chains)."""
    _bps, _cl, _data, nclus, fatoff = fat32_geometry(img)
    with open(img, "rb") as f:
        f.seek(fatoff)
        raw = f.read((nclus + 2) * 4)
    fat = memoryview(raw).cast("I")
    breaks = 0
    heads = set(range(2, nclus + 2))
    frag_heads = 0
    nxt_of = {}
    for c in range(2, nclus + 2):
        v = fat[c] & 0x0FFFFFFF
        if v == 0 or v == 0x0FFFFFF7:
            heads.discard(c)
            continue
        if 2 <= v < nclus + 2:
            heads.discard(v)
            nxt_of[c] = v
            if v != c + 1:
                breaks += 1
    for h in sorted(heads):
        c, fragmented = h, False
        while c in nxt_of:
            if nxt_of[c] != c + 1:
                fragmented = True
            c = nxt_of[c]
        frag_heads += fragmented
    return breaks, frag_heads, len(heads)


class Namer:
    """Long file names, unique per directory case-insensitively (as FAT requires)."""

    def __init__(self, rng):
        self.r = rng
        self.used = {}

    def _stem(self):
        r = self.r
        x = r.random()
        if x < 0.12:  # plain 8.3-style, upper or lower case
            s = "".join(r.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") for _ in range(r.randint(1, 8)))
            return s if r.random() < 0.5 else s.lower()
        if x < 0.20:  # a family sharing its first 6 characters: colliding ~N short aliases
            return "%s %s %03d" % (r.choice(["Holiday", "Invoice", "Scan_0", "IMG_20", "Report"]),
                                   r.choice(VOCAB), r.randint(0, 40))
        if x < 0.22:
            return "%s %s" % (r.choice(ACCENT), r.choice(VOCAB))
        words = [r.choice(VOCAB) for _ in range(r.randint(1, 3) if x < 0.75 else r.randint(4, 14))]
        case = r.random()
        if case < 0.4:
            words = [w.capitalize() for w in words]
        elif case < 0.5:
            words = [w.upper() for w in words]
        s = r.choice([" ", " ", "_", "-", ".", " - ", "  "]).join(words)
        if r.random() < 0.1:
            s = "%04d-%02d-%02d %s" % (r.randint(1995, 2025), r.randint(1, 12), r.randint(1, 28), s)
        if r.random() < 0.35:
            s += r.choice(ODD_SUFFIX)
        return s[:r.choice([40, 80, 120, 200])]

    def new(self, parent, ext=""):
        taken = self.used.setdefault(parent, set())
        for attempt in range(200):
            stem = self._stem()
            if attempt > 10:
                stem += " %d" % self.r.randint(0, 999999)
            stem = stem.strip(" .")
            name = (stem + ext)[:250]
            if stem and name.casefold() not in taken:
                taken.add(name.casefold())
                return name
        raise SystemExit("volgen: could not make a unique name in %r" % parent)


class Writer:
    """Writes one file's content into the staging directory (deterministic per file seed)."""

    def __init__(self, seed):
        r = random.Random(seed ^ 0x5EED)
        parts, n = [], 0
        while n < 3 * MIB:
            line = " ".join(r.choice(VOCAB) for _ in range(r.randint(2, 16)))
            if r.random() < 0.25:
                line = "%d,%s,%0.3f,%s" % (r.randint(0, 10 ** 7), line.replace(" ", ","),
                                           r.random() * 1000, r.choice("ABCDEFGH"))
            elif r.random() < 0.2:
                line = "[%02d:%02d:%02d.%03d] %s: %s" % (r.randint(0, 23), r.randint(0, 59), r.randint(0, 59),
                                                          r.randint(0, 999), r.choice(["INFO", "WARN", "DEBUG"]), line)
            else:
                line = line.capitalize() + r.choice(".!?;:")
            parts.append(line + r.choice(["\n", "\n", "\r\n"]))
            n += len(parts[-1])
        self.corpus = "".join(parts).encode()

    def write(self, path, kind, size, fseed):
        r = random.Random(fseed)
        with open(path, "wb") as f:
            if kind == "random":
                left = size
                while left:
                    n = min(left, MIB)
                    f.write(r.randbytes(n))
                    left -= n
            elif kind == "lowent":
                # 16 symbols, chosen per file, in runs: compresses about 2.5-3x
                alphabet = bytes(r.randrange(256) for _ in range(16))
                table = bytes(alphabet[(b >> 4) if b & 8 else b & 15] for b in range(256))
                left = size
                while left:
                    n = min(left, MIB)
                    f.write(r.randbytes(n).translate(table))
                    left -= n
            elif kind == "text":
                c, left = self.corpus, size
                while left:
                    n = min(left, r.randint(128, 16 * KIB))
                    o = r.randrange(len(c) - n)
                    f.write(c[o:o + n])
                    left -= n
            elif kind == "sparse":
                # mostly zero pages with a header and ~8% random 4 KiB pages (a database / VM disk)
                head = r.randbytes(min(size, 512))
                f.write(head)
                left = size - len(head)
                while left:
                    n = min(left, 4 * KIB)
                    f.write(r.randbytes(n) if r.random() < 0.08 else bytes(n))
                    left -= n
            else:
                raise ValueError(kind)
        t = 1104537600 + r.randrange(20 * 365 * 86400) // 2 * 2  # 2005..2025, FAT 2 s resolution
        os.utime(path, (t, t))


class Volume:
    def __init__(self, img, seed, stage, opt):
        self.img, self.stage, self.opt = img, stage, opt
        self.r = random.Random(seed)                 # plans (sizes, kinds, placement)
        self.names = Namer(random.Random(seed * 31 + 7))
        self.writer = Writer(seed)
        st = fsck_stats(img)
        self.cl = st["cluster"]
        self.cap = st["clusters"] * st["cluster"]
        self.dirs = []        # "" is the root; parents always before children
        self.files = {}       # path -> (size, generation), insertion ordered
        self.nfiles = 0

    def used(self):
        return fsck_stats(self.img)["used"] * self.cl

    def rounded(self, size):
        return -(-size // self.cl) * self.cl

    def size_pick(self, boost=1.0):
        r = self.r
        x = r.random()
        big, medium = self.opt.big * boost, self.opt.medium * boost
        big_cap = min(self.opt.max_big_mib * MIB, self.cap // 16)
        if x < big and big_cap > 8 * MIB:                     # video, disk images, archives
            return "big", int(8 * MIB * (big_cap / (8 * MIB)) ** r.random())
        if x < big + medium:                                  # photos, songs, documents
            hi = max(128 * KIB, min(6 * MIB, self.cap // 50))
            return "medium", int(64 * KIB * (hi / (64 * KIB)) ** r.random())
        if r.random() < 0.06:                                # edge sizes around sector/cluster
            return "small", r.choice([0, 0, 1, 2, 511, 512, 513, 1023, self.cl - 1, self.cl,
                                      self.cl + 1, 2 * self.cl - 1, 2 * self.cl + 1])
        return "small", int(200 * (64 * KIB / 200) ** r.random())

    def kind_pick(self, cls):
        x = self.r.random()
        if cls == "big":
            return "random" if x < 0.5 else "sparse" if x < 0.8 else "lowent"
        if cls == "medium":
            return "random" if x < 0.5 else "text" if x < 0.65 else "lowent" if x < 0.85 else "sparse"
        return "text" if x < 0.5 else "random" if x < 0.75 else "lowent" if x < 0.9 else "sparse"

    def mkdirs(self, count):
        r, made = self.r, []
        if not self.dirs:
            self.dirs.append("")
            for t in r.sample(TOP, min(len(TOP), max(3, min(12, count // 5)))):
                self.names.used.setdefault("", set()).add(t.casefold())
                self.dirs.append("/" + t)
                made.append("/" + t)
        while len(made) < count:
            parent = r.choice(self.dirs)
            if parent.count("/") >= self.opt.depth:
                continue
            p = parent + "/" + self.names.new(parent)
            self.dirs.append(p)
            made.append(p)
        for i in range(0, len(made), 200):
            tool(["mmd", "-i", self.img] + ["::" + p for p in made[i:i + 200]])
        return made

    def plan(self, budget, gen, small_only=False, boost=1.0):
        out, total = [], 0
        while total < budget:
            cls, size = self.size_pick(boost)
            if small_only and cls != "small":
                continue
            if cls != "small" and total + self.rounded(size) > budget * 1.01 + self.cl:
                continue
            kind = self.kind_pick(cls)
            d = self.r.choice(self.dirs)
            out.append((d, self.names.new(d, self.r.choice(EXT[kind])), size, kind, self.r.getrandbits(62)))
            total += self.rounded(size)
        return out

    def copy(self, plan, gen):
        """Stage and mcopy the planned files, grouped per directory in first-seen order."""
        groups = {}
        for item in plan:
            groups.setdefault(item[0], []).append(item)
        for gi, (d, items) in enumerate(groups.items()):
            sd = os.path.join(self.stage, "g%d" % gi)
            os.mkdir(sd)
            for i in range(0, len(items), 300):
                batch, paths, staged = items[i:i + 300], [], 0
                for (_, name, size, kind, fseed) in batch:
                    p = os.path.join(sd, name)
                    self.writer.write(p, kind, size, fseed)
                    paths.append(p)
                tool(["mcopy", "-i", self.img, "-m", "-o"] + paths + ["::" + d + "/"])
                for (_, name, size, _k, _s), p in zip(batch, paths):
                    os.unlink(p)
                    self.files[d + "/" + name] = (size, gen)
            os.rmdir(sd)
        self.nfiles += len(plan)

    def ballast(self, upto):
        want = int(self.cap * upto) - self.used()
        if want <= 16 * self.cl:
            return False
        tool(["mmd", "-i", self.img, "::/BALLAST.$$$"])
        sd = os.path.join(self.stage, "ballast")
        os.mkdir(sd)
        i = 0
        while want > 16 * self.cl:
            n = min(want, 512 * MIB) // self.cl * self.cl
            p = os.path.join(sd, "B%03d.BIN" % i)
            with open(p, "wb") as f:
                f.truncate(n)  # sparse staging file, cheap
            tool(["mcopy", "-i", self.img, "-o", p, "::/BALLAST.$$$/"])
            os.unlink(p)
            want -= n + self.cl
            i += 1
        os.rmdir(sd)
        return True

    def delete(self, paths):
        for i in range(0, len(paths), 200):
            tool(["mdel", "-i", self.img] + ["::" + p for p in paths[i:i + 200]])
        for p in paths:
            del self.files[p]


def populate(a):
    os.makedirs(a.stage, exist_ok=True)
    v = Volume(a.image, a.seed, a.stage, a)
    target = int(v.cap * a.fill / 100)
    say("capacity %d B (%d clusters of %d), target %d B (%.1f%%)" % (v.cap, v.cap // v.cl, v.cl, target, a.fill))
    ndirs = max(4, min(3000, int(target / (130 * KIB) / a.files_per_dir)))
    v.mkdirs(ndirs)

    budget1 = min(target * (1 + a.overshoot), v.cap * 0.94) - v.used()
    v.copy(v.plan(budget1, 1), 1)
    say("first: %d files, %.1f%% used" % (v.nfiles, 100.0 * v.used() / v.cap))

    if v.ballast(0.985):
        say("ballast: %.1f%% used" % (100.0 * v.used() / v.cap))
        tool(["mdeltree", "-i", a.image, "::/BALLAST.$$$"])
    for cycle in range(a.cycles):
        # delete random files (any generation) down to the goal, then refill to the target;
        # refills favour bigger files (downloads, recordings), which get split across holes
        used = v.used()
        goal = target * (1 - (a.refill if cycle == 0 else a.refill / 2))
        cand = sorted(v.files)
        v.r.shuffle(cand)
        dels = []
        for p in cand:
            if used <= goal:
                break
            size = v.files[p][0]
            if size > 4 * MIB and used - v.rounded(size) < goal - 0.02 * target:
                continue  # do not overshoot the goal with one big file
            dels.append(p)
            used -= v.rounded(size)
        v.delete(dels)
        say("churn %d: deleted %d files, %.1f%% used" % (cycle + 1, len(dels), 100.0 * v.used() / v.cap))
        v.mkdirs(max(1, ndirs // 10))
        budget = (target - v.used()) * 0.995
        if budget > 0:
            v.copy(v.plan(budget, 2 + cycle, boost=a.refill_boost), 2 + cycle)
        say("refill %d: %.1f%% used" % (cycle + 1, 100.0 * v.used() / v.cap))

    for _ in range(4):
        gap = target - v.used()
        if gap <= max(0.003 * v.cap, 8 * v.cl):
            break
        v.copy(v.plan(gap, 9, small_only=True), 9)
    shutil.rmtree(a.stage, ignore_errors=True)
    st = fsck_stats(a.image)
    print("files=%d dirs=%d fill_pct=%.2f" % (len(v.files), len(v.dirs) - 1, 100.0 * st["used"] / st["clusters"]))


def stats(a):
    st = fsck_stats(a.image)
    used = st["data_start"] + st["used"] * st["cluster"]
    extra = " chain_breaks=%d fragmented_chains=%d chains=%d" % fat_fragmentation(a.image)
    print("used_bytes=%d data_start=%d cluster=%d used_clusters=%d data_clusters=%d entries=%d%s" % (
        used, st["data_start"], st["cluster"], st["used"], st["clusters"], st["entries"], extra))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("populate")
    p.add_argument("image")
    p.add_argument("--fill", type=float, required=True, help="target used share of the data area, %%")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--stage", required=True, help="scratch directory for file contents")
    p.add_argument("--overshoot", type=float, default=0.15, help="first pass goes this far over the target")
    p.add_argument("--refill", type=float, default=0.28, help="share of the target written after the churn")
    p.add_argument("--cycles", type=int, default=2, help="delete/refill cycles")
    p.add_argument("--refill-boost", type=float, default=3.0, help="big/medium share multiplier in refills")
    p.add_argument("--files-per-dir", type=float, default=18.0)
    p.add_argument("--depth", type=int, default=6)
    p.add_argument("--big", type=float, default=0.003, help="share of files 8 MiB and up")
    p.add_argument("--medium", type=float, default=0.07, help="share of files 64 KiB - 6 MiB")
    p.add_argument("--max-big-mib", type=int, default=48)
    p.set_defaults(fn=populate)
    s = sub.add_parser("stats")
    s.add_argument("image")
    s.set_defaults(fn=stats)
    u = sub.add_parser("usedcmp", help="compare the used area of two FAT32 volumes (exit 1 if it differs)")
    u.add_argument("source")
    u.add_argument("target")
    u.set_defaults(fn=usedcmp)
    a = ap.parse_args()
    sys.exit(a.fn(a) or 0)


if __name__ == "__main__":
    main()
