// A test's look inside a running firmware: evaluates an expression in its QuickJS context and
// returns the dumped value (the host API has no such function: a printer never needs one).
import type { Firmware } from "../../host-shim/src/native/quickjs-host";

export function evaluate(fw: Firmware, code: string): unknown {
  const h = fw.context.unwrapResult(fw.context.evalCode(code, "probe.js", { type: "global" }));
  try {
    return fw.context.dump(h);
  } finally {
    h.dispose();
  }
}
