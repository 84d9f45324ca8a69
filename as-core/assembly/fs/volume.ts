// The part of a volume's parameters every file system has, filled by its probe (fs/probe.ts):
// the sizes, and where cluster numbers meet sectors. What one file system alone has stays in its
// own record (fat/volume.ts `fat`, exfat/volume.ts `exfat`, ntfs/volume.ts `ntfs`).

export const MAX_CLUSTER_BYTES: u32 = 512 << 10; // 128 sectors of 4096 bytes

export class Volume {
  fsType: u32 = 0; // FS_FAT12/16/32 (fat/layout.ts), FS_EXFAT (exfat/layout.ts), FS_NTFS (ntfs/volume.ts)
  bytesPerSector: u32 = 0;
  sectorsPerCluster: u32 = 0;
  clusterBytes: u32 = 0;
  totalSectors: f64 = 0; // the file system's own extent, in sectors
  clusterCount: u32 = 0; // clusters numbered firstCluster .. firstCluster + clusterCount - 1
  firstCluster: u32 = 0; // the number of the first cluster: 2 on FAT and exFAT, 0 on NTFS
  firstDataSector: u32 = 0; // the sector of cluster firstCluster (FAT: the system area's length; NTFS: 0)

  // LBA (in volume sectors) of a cluster number >= firstCluster
  clusterLba(cluster: f64): f64 {
    return <f64>this.firstDataSector + (cluster - <f64>this.firstCluster) * <f64>this.sectorsPerCluster;
  }
}

export const volume = new Volume();
