// Build-time switches of the firmware bundle (npm run build:firmware). esbuild's --define
// replaces them; anywhere else (Node, the tests) they are undefined, which means "built in".
//
// __CB_NTFS__: false in dist/firmware/firmware-nontfs.js, the bundle for a printer whose profile
// names no NTFS partition: the NTFS ghost, health and manifest code is left out of it, and with
// it about a hundred KB of the QuickJS heap the bundle occupies once loaded. Test it where it is
// used as `(typeof __CB_NTFS__ === "undefined" || __CB_NTFS__)`, so that esbuild folds it away.
declare const __CB_NTFS__: boolean | undefined;
