import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A real, small file system (a tmpfs of its own) that a test can fill to the last byte and free
 * again: what a database sees when its disk runs out. Mounting needs root; elsewhere `mount`
 * resolves to the reason it could not, for the test to say and skip.
 */
export class SmallDisk {
  private constructor(readonly dir: string) {}

  static mount(sizeMiB: number): SmallDisk | string {
    if (process.getuid?.() !== 0) return 'mounting a small tmpfs needs root';
    const dir = mkdtempSync(join(tmpdir(), 'small-disk-'));
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m`, 'tmpfs', dir], { stdio: 'pipe' });
      return new SmallDisk(dir);
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      return `mount -t tmpfs failed: ${String((error as { stderr?: Buffer }).stderr ?? error).trim()}`;
    }
  }

  private get ballast(): string {
    return join(this.dir, 'ballast');
  }

  /** Writes a file until the disk has no byte left. */
  fill(): void {
    const fd = openSync(this.ballast, 'a');
    const chunk = Buffer.alloc(64 * 1024);
    try {
      for (let size = chunk.length; size >= 1;) {
        try {
          writeSync(fd, chunk, 0, size);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
          size = Math.floor(size / 2);
        }
      }
    } finally {
      closeSync(fd);
    }
  }

  free(): void {
    rmSync(this.ballast, { force: true });
  }

  unmount(): void {
    execFileSync('umount', ['-l', this.dir], { stdio: 'pipe' });
    rmSync(this.dir, { recursive: true, force: true });
  }
}
