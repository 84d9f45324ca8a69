// A second host for the portable core (as-core/build/core-portable.wasm) in a real interpreter
// without SIMD or threads: wabt's stack interpreter (libwabt.a, Debian's `wabt` package), the
// same engine as wasm-interp. It supplies what the Node host supplies: env.memory (64 pages,
// not shared), env.abort, and dev.read/dev.write/dev.flush over files with pread/pwrite. It
// drives the core's begin/step protocol and prints the job's 512 result slots (test/
// portable-core.test.ts compares them with the Node host's, so no slot number is written here).
//
//   cb-interp CORE.wasm verify  IMAGE [TARGET OFFSET SECTOR_BYTES SECTORS]
//   cb-interp CORE.wasm restore IMAGE  TARGET OFFSET SECTOR_BYTES SECTORS
//
// IMAGE is read as 512-byte sectors; TARGET is the partition at byte OFFSET of its file. Output:
// "ok <steps>" then one line of 512 result slots (f64 bytes as hex); a failure: "fail <code>
// <v0> <v1> <v2> <v3>" and exit status 2; an abort or trap: a message and exit status 3.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <unistd.h>
#include <vector>

#include "clusterback_core.h"  // the core's contract (generated from as-core/contract/core-abi.json)

#include "wabt/binary-reader.h"
#include "wabt/error-formatter.h"
#include "wabt/feature.h"
#include "wabt/interp/binary-reader-interp.h"
#include "wabt/interp/interp.h"

using namespace wabt;
using namespace wabt::interp;

struct Dev { int fd; off_t offset; u32 sectorBytes; double sectors; };
static std::vector<Dev> devs(1);  // handle 0 unused
static u8* mem;
static const u64 MEM_BYTES = (u64)CB_MEMORY_PAGES * 65536;

static int openDev(const char* path, bool writable, off_t offset, u32 sectorBytes, double sectors) {
  int fd = open(path, writable ? O_RDWR : O_RDONLY);
  if (fd < 0) { perror(path); exit(3); }
  if (sectors < 0) sectors = (double)(lseek(fd, 0, SEEK_END) / sectorBytes);
  devs.push_back(Dev{fd, offset, sectorBytes, sectors});
  return (int)devs.size() - 1;
}

// The contract's device codes (DeviceCode), negated.
static s32 io(bool write, u32 h, double lba, u32 count, u32 ptr) {
  if (h == 0 || h >= devs.size()) return -CB_DEV_CLOSED;
  Dev& d = devs[h];
  if (lba < 0 || lba + count > d.sectors) return -CB_DEV_RANGE;
  u64 bytes = (u64)count * d.sectorBytes;
  if ((u64)ptr + bytes > MEM_BYTES) return -CB_DEV_RANGE;
  off_t at = d.offset + (off_t)lba * d.sectorBytes;
  for (u64 done = 0; done < bytes;) {
    ssize_t n = write ? pwrite(d.fd, mem + ptr + done, bytes - done, at + done) : pread(d.fd, mem + ptr + done, bytes - done, at + done);
    if (n < 0) return -CB_DEV_IO;
    if (n == 0) {  // a read past the end of a sparse file's data: zeros
      if (write) return -CB_DEV_IO;
      memset(mem + ptr + done, 0, bytes - done);
      break;
    }
    done += (u64)n;
  }
  return 0;
}

static std::string utf16(u32 ptr) {  // an AssemblyScript string: its byte length sits before it
  if (ptr < 4 || ptr >= MEM_BYTES) return "?";
  u32 len; memcpy(&len, mem + ptr - 4, 4);
  std::string s;
  for (u32 i = 0; i + 1 < len && ptr + i + 1 < MEM_BYTES; i += 2) s += (char)mem[ptr + i];
  return s;
}

int main(int argc, char** argv) {
  if (argc < 4) { fprintf(stderr, "usage: %s CORE.wasm verify|restore IMAGE [TARGET OFFSET SECTOR_BYTES SECTORS]\n", argv[0]); return 3; }
  std::string cmd = argv[2];
  bool hasTarget = argc >= 8;
  if (cmd == "restore" && !hasTarget) { fprintf(stderr, "restore needs a target\n"); return 3; }

  FILE* f = fopen(argv[1], "rb");
  if (!f) { perror(argv[1]); return 3; }
  std::vector<u8> wasm;
  for (int c; (c = fgetc(f)) != EOF;) wasm.push_back((u8)c);
  fclose(f);

  Features features;  // wabt's defaults, less SIMD; threads are off by default
  features.disable_simd();
  features.disable_threads();
  Store store(features);
  Errors errors;
  ModuleDesc desc;
  ReadBinaryOptions options(features, nullptr, false, true, true);
  if (Failed(ReadBinaryInterp(argv[1], wasm.data(), wasm.size(), options, &errors, &desc))) {
    FormatErrorsToFile(errors, Location::Type::Binary);
    return 3;
  }
  Module::Ptr module = Module::New(store, desc);

  Memory::Ptr memory = Memory::New(store, MemoryType(Limits(CB_MEMORY_PAGES, CB_MEMORY_PAGES)));
  mem = memory->UnsafeData();
  RefVec imports;
  for (auto&& import : module->desc().imports) {
    const std::string& m = import.type.module, & n = import.type.name;
    if (m == "env" && n == "memory") { imports.push_back(memory.ref()); continue; }
    if (import.type.type->kind != ExternKind::Func) { fprintf(stderr, "unknown import %s.%s\n", m.c_str(), n.c_str()); return 3; }
    FuncType type = *cast<FuncType>(import.type.type.get());
    HostFunc::Callback cb;
    if (m == "env" && n == "abort") {
      cb = [](Thread&, const Values& p, Values&, Trap::Ptr*) -> Result {
        fprintf(stderr, "core aborted at %s:%u:%u: %s\n", utf16(p[1].Get<u32>()).c_str(), p[2].Get<u32>(), p[3].Get<u32>(), utf16(p[0].Get<u32>()).c_str());
        exit(3);
      };
    } else if (m == "dev" && (n == "read" || n == "write")) {
      bool w = n == "write";
      cb = [w](Thread&, const Values& p, Values& r, Trap::Ptr*) -> Result {
        r[0] = Value::Make(io(w, p[0].Get<u32>(), p[1].Get<f64>(), p[2].Get<u32>(), p[3].Get<u32>()));
        return Result::Ok;
      };
    } else if (m == "dev" && n == "flush") {
      cb = [](Thread&, const Values& p, Values& r, Trap::Ptr*) -> Result {
        u32 h = p[0].Get<u32>();
        r[0] = Value::Make(h == 0 || h >= devs.size() ? (s32)-CB_DEV_CLOSED : fsync(devs[h].fd) == 0 ? (s32)0 : (s32)-CB_DEV_IO);
        return Result::Ok;
      };
    } else { fprintf(stderr, "unknown import %s.%s\n", m.c_str(), n.c_str()); return 3; }
    imports.push_back(HostFunc::New(store, type, cb).ref());
  }
  Trap::Ptr trap;
  Instance::Ptr instance = Instance::Instantiate(store, module.ref(), imports, &trap);
  if (!instance) { fprintf(stderr, "instantiate: %s\n", trap ? trap->message().c_str() : "?"); return 3; }

  auto call = [&](const char* name, const Values& params) -> Value {
    const auto& exports = module->desc().exports;
    for (size_t i = 0; i < exports.size(); i++) {
      if (exports[i].type.name != name) continue;
      Func::Ptr fn = store.UnsafeGet<Func>(instance->exports()[i]);
      Values results;
      Trap::Ptr t;
      if (Failed(fn->Call(store, params, results, &t))) { fprintf(stderr, "%s trapped: %s\n", name, t ? t->message().c_str() : "?"); exit(3); }
      return results.empty() ? Value::Make(0u) : results[0];
    }
    fprintf(stderr, "no export %s\n", name);
    exit(3);
  };
  auto check = [&](s32 r) {
    if (r >= 0) return r;
    printf("fail %d", call("failureCode", {}).Get<s32>());
    for (u32 i = 0; i < 4; i++) printf(" %.17g", call("failureValue", {Value::Make(i)}).Get<f64>());
    printf("\n");
    exit(2);
  };

  call("init", {});
  bool restore = cmd == "restore";
  u32 img = (u32)openDev(argv[3], false, 0, CB_IMAGE_SECTOR, -1);
  u32 target = CB_NO_DEVICE, targetBytes = 0;
  double targetSectors = 0;
  if (hasTarget) {
    targetBytes = (u32)strtoul(argv[6], nullptr, 10);
    targetSectors = strtod(argv[7], nullptr);
    target = (u32)openDev(argv[4], restore, (off_t)strtoll(argv[5], nullptr, 10), targetBytes, targetSectors);
  }
  Values begin{Value::Make(img), Value::Make(devs[img].sectors), Value::Make(target), Value::Make(targetBytes), Value::Make(targetSectors)};
  if (restore) begin.push_back(Value::Make(0u));  // RestoreFlag: none
  check(call(restore ? "restoreBegin" : "verifyBegin", begin).Get<s32>());
  u32 steps = 0;
  for (;;) {
    steps++;
    if (check(call("step", {Value::Make(8u << 20)}).Get<s32>()) == 1) break;
  }
  u32 res = call("resultPtr", {}).Get<u32>();
  printf("ok %u\n", steps);
  for (u32 i = 0; i < CB_RESULT_BYTES; i++) printf("%02x", mem[res + i]);
  printf("\n");
  return 0;
}
